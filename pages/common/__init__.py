"""Streamlit helpers shared by the pages: settings, error display, map assets. No logic here."""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from apex_core import ApexError, Settings, user_message
from apex_core.aoi import (
    NOTEBOOK_DATE,
    Aoi,
    Footprint,
    Observation,
    cdse_observations,
    embedded_footprints,
    embedded_observations,
)
from apex_core.errors import ProcessGraphRefused, ServiceError
from apex_core.jobs import OpenEoTarget
from apex_core.jobs import openeo_target as openeo_target_for
from apex_core.local.contract import EmbeddedServices, LocalError
from apex_core.mapview import MapAssets

if TYPE_CHECKING:
    from pages.common.metadata import FormField

logger = logging.getLogger(__name__)

_SETTINGS_KEY = "apex_settings"


def load_settings() -> Settings:
    """Settings for this session: APEX_* env vars > .streamlit/secrets.toml > defaults."""
    secrets = st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}
    settings = Settings.load(secrets=secrets)
    st.session_state[_SETTINGS_KEY] = settings
    return settings


def settings() -> Settings:
    current = st.session_state.get(_SETTINGS_KEY)
    return current if isinstance(current, Settings) else load_settings()


def map_assets() -> MapAssets:
    return MapAssets.from_base_url_path(str(st.get_option("server.baseUrlPath") or ""))


def show_error(exc: BaseException) -> None:
    """The one way pages show an error: the table in apex_core.errors decides the words."""
    if not isinstance(exc, ApexError):
        logger.error("unexpected error", exc_info=exc)
    msg = user_message(exc)
    body = f"**{msg.title}.** {msg.detail}"
    if isinstance(exc, ProcessGraphRefused):  # each problem as the backend named it
        body += "".join(f"\n- `{code}`: {message}" for code, message in exc.problems)
    body += f"\n\n{msg.hint}"
    if msg.code or msg.request_id:
        body += f"\n\n`{msg.code or ''}` {('request id ' + msg.request_id) if msg.request_id else ''}"
    {"error": st.error, "warning": st.warning, "info": st.info}[msg.severity](body)


def save_upload(upload: UploadedFile, folder: Path) -> Path:
    """Write an uploaded file under ``folder`` as ``<sha256 of its bytes><suffix>`` (stable across
    reruns, so caches keyed on the path hold) and return the path. Writes only when it is new."""
    data = upload.getvalue()
    name = hashlib.sha256(data).hexdigest()[:32] + Path(upload.name).suffix.lower()
    path = folder / name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


@st.cache_resource(show_spinner=False)
def _embedded(state_dir: str, data_dir: str) -> EmbeddedServices:
    """One set of embedded services per server process (shared: it holds no user's token)."""
    services = EmbeddedServices(Path(state_dir), Path(data_dir))
    atexit.register(services.stop)
    return services


def embedded_services() -> EmbeddedServices | None:
    """The embedded services, started in the background when a service is not configured remotely."""
    cfg = settings()
    if not cfg.embedded_autostart or not (cfg.embedded_openeo or cfg.embedded_catalogue):
        return None
    try:
        return _embedded(str(cfg.state_dir), str(cfg.sample_data_dir)).start()
    except LocalError as exc:
        raise ServiceError.carrying(exc) from exc


# --- Area and Job pages (issue 5): per-session caches of what apex_core fetched ---------------------------


def openeo_target() -> OpenEoTarget:
    """The openEO backend this session uses by default (configured URL, else the embedded one)."""
    services = embedded_services()
    return openeo_target_for(settings().openeo_url, services.endpoints if services is not None else None)


def openeo_backend_url() -> str | None:
    """The default backend's URL; None while the embedded one is not ready."""
    return openeo_target().url


def area_footprints(url: str | None) -> tuple[tuple[Footprint, ...], ApexError | None]:
    """The backend's data footprints (embedded scene search), cached per session and URL. A backend
    without scene search (CDSE) has none; its error is cached too so it is asked only once."""
    if url is None:
        return (), None
    cache = st.session_state.setdefault("apex_area_footprints", {})
    if url not in cache:
        try:
            cache[url] = (embedded_footprints(url, timeout=min(settings().http_timeout, 10.0)), None)
        except ApexError as exc:
            if settings().openeo_url is None:
                return (), exc  # the embedded backend: retry on the next run
            cache[url] = ((), exc)
    found: tuple[tuple[Footprint, ...], ApexError | None] = cache[url]
    return found


def area_observations(
    url: str | None, aoi: Aoi, footprints: tuple[Footprint, ...], around: str | None
) -> tuple[list[Observation], ApexError | None]:
    """Observation days for the AOI: the embedded scene search, else the CDSE STAC catalogue around
    the day ``around`` (ISO; the notebook's day when None); cached per session, errors included."""
    if footprints and url:
        key = ("embedded", url, aoi.bbox)
    else:
        day = dt.date.fromisoformat(around) if around else NOTEBOOK_DATE
        key = ("cdse", day.isoformat(), aoi.bbox)
    cache = st.session_state.setdefault("apex_area_observations", {})
    if key not in cache:
        try:
            if key[0] == "embedded" and url:
                cache[key] = (embedded_observations(url, aoi, timeout=settings().http_timeout), None)
            else:
                day = dt.date.fromisoformat(key[1])
                span = dt.timedelta(days=20)
                cache[key] = (cdse_observations(aoi, day - span, day + span, timeout=5.0), None)
        except ApexError as exc:
            cache[key] = ([], exc)
    found: tuple[list[Observation], ApexError | None] = cache[key]
    return found


# --- Forms described in apex_core (Metadata page) --------------------------------------------------------


def render_field(field: FormField, key: str | None = None) -> Any:
    """The widget for one :class:`pages.common.metadata.FormField`, in the current container, keyed ``key``
    (default ``field.key``; seed ``st.session_state[key]`` for its value); returns the widget's value."""
    kw: dict[str, Any] = {"key": key or field.key, "help": field.help}
    labels = dict(zip(field.options, field.option_labels, strict=False))
    value: Any
    if field.kind == "textarea":
        write, show = st.tabs([f"{field.label} (markdown)", "Preview"]) if field.markdown else (st, None)
        value = write.text_area(field.label, height=120, **kw)
        if show is not None:
            show.markdown(value)
    elif field.kind == "select":
        value = st.selectbox(field.label, field.options, format_func=lambda o: labels.get(o, o), **kw)
    elif field.kind == "radio":
        value = st.radio(field.label, field.options, horizontal=True, **kw)
    elif field.kind == "multiselect":
        value = st.multiselect(field.label, field.options, **kw)
    elif field.kind == "number":
        value = st.number_input(field.label, format=field.number_format, **kw)
    elif field.kind == "checkbox":
        value = st.checkbox(field.label, **kw)
    else:  # text, list (comma-separated); live_text is sent while the person types (250 ms pause)
        value = st.text_input(field.label, live=field.kind == "live_text", **kw)
    if field.caption:
        st.caption(field.caption)
    return value


# --- Publish page (issue 8): the catalogue target, sign-in widgets, conformance per session -------------
from apex_core.catalogue import (  # noqa: E402
    AccessToken,
    CatalogueClient,
    CatalogueTarget,
    Conformance,
    poll_device_flow,
    start_device_flow,
)
from apex_core.metadata import format_time_left  # noqa: E402
from apex_core.publish import PublishResult, log_json  # noqa: E402

_TOKENS_KEY = "apex_catalogue_tokens"  # {catalogue url: AccessToken}; only ever in session state
_DEVICE_KEY = "apex_catalogue_device_flow"


def catalogue_target() -> CatalogueTarget | None:
    """The catalogue this session publishes to (configured, else embedded; None while it starts)."""
    services = embedded_services()
    return CatalogueTarget.from_settings(settings(), services.endpoints if services is not None else None)


def catalogue_token(target: CatalogueTarget) -> AccessToken | None:
    """The session's token for ``target``, or None (signed out)."""
    token = st.session_state.get(_TOKENS_KEY, {}).get(target.url)
    return token if isinstance(token, AccessToken) else None


def _keep_token(target: CatalogueTarget, token: AccessToken | None) -> None:
    tokens = st.session_state.setdefault(_TOKENS_KEY, {})
    if token is None:
        tokens.pop(target.url, None)
    else:
        tokens[target.url] = token
    st.session_state.pop(_DEVICE_KEY, None)


def catalogue_sign_in(target: CatalogueTarget) -> AccessToken | None:
    """Sign-in widgets for ``target``; returns the session's token. Tokens stay in session state."""
    token = catalogue_token(target)
    left = token.seconds_left() if token is not None else None
    if token is not None and left is not None and left <= 0:
        _keep_token(target, None)
        st.warning("Your session has expired: sign in again; your work is kept.", icon=":material/key_off:")
        token = None
    if token is not None:
        when = format_time_left(left) if left is not None else "no expiry known"
        st.success(f"Signed in ({token.source}); token {when}.", icon=":material/key:")
        st.button("Sign out", key="pub_sign_out", on_click=_keep_token, args=(target, None))
        return token
    timeout = settings().http_timeout
    method = st.radio("Sign in with", target.sign_in_methods, horizontal=True, key="pub_sign_in_method")
    try:
        if method == "local account":
            names = [c.name for c in target.local_clients]
            name = st.selectbox(
                "Local account",
                names,
                index=names.index("editor") if "editor" in names else 0,
                format_func=lambda n: (
                    f"{n} (roles: {', '.join(target.local_clients[names.index(n)].roles) or 'none'})"
                ),
                key="pub_local_account",
            )
            if st.button("Sign in", key="pub_sign_in_local"):
                _keep_token(target, target.local_token(name, timeout=timeout))
                st.rerun()
        elif method == "client credentials":
            st.caption(f"Client `{settings().oidc_client_id}` from the settings, at {target.oidc_issuer}.")
            if st.button("Sign in", key="pub_sign_in_client"):
                _keep_token(target, target.settings_token(settings(), timeout=timeout))
                st.rerun()
        elif method == "device sign-in":
            _device_sign_in(target, timeout)
        else:
            pasted = st.text_input("Access token", type="password", key="pub_pasted_token")
            if st.button("Use this token", key="pub_use_token", disabled=not pasted):
                _keep_token(target, AccessToken.pasted(pasted))
                st.session_state.pop("pub_pasted_token", None)
                st.rerun()
    except ApexError as exc:
        show_error(exc)
    return None


def _device_sign_in(target: CatalogueTarget, timeout: float) -> None:
    assert target.oidc_issuer is not None
    client_id = st.text_input(
        "Client id",
        value=target.device_client_id or "",
        help="For APEx: <project>-catalogue-prod.",
        key="pub_device_client",
    )
    flow = st.session_state.get(_DEVICE_KEY)
    if flow is None:
        if st.button("Start sign-in", key="pub_device_start", disabled=not client_id):
            st.session_state[_DEVICE_KEY] = start_device_flow(target.oidc_issuer, client_id, timeout=timeout)
            st.rerun()
        return
    st.info(f"Open [{flow.verification_uri}]({flow.link}) and enter the code **{flow.user_code}**.")
    if st.button("I have approved: continue", key="pub_device_poll"):
        token = poll_device_flow(flow, timeout=timeout)
        if token is None:
            st.warning("Not approved yet: approve in the sign-in page, then continue.")
        else:
            _keep_token(target, token)
            st.rerun()
    st.button("Cancel", key="pub_device_cancel", on_click=st.session_state.pop, args=(_DEVICE_KEY, None))


def catalogue_conformance(url: str) -> tuple[Conformance | None, ApexError | None]:
    """The catalogue's conformance (transactions, bulk), asked once per session and URL."""
    cache = st.session_state.setdefault("apex_catalogue_conformance", {})
    if url not in cache:
        try:
            with CatalogueClient(url, timeout=min(settings().http_timeout, 10.0)) as client:
                cache[url] = (client.conformance(), None)
        except ApexError as exc:
            return None, exc  # not cached: retried on the next run
    found: tuple[Conformance | None, ApexError | None] = cache[url]
    return found


def show_publish_result(result: PublishResult, browser_url: str | None) -> None:
    """Where a publish got to: the URLs when done, else the error and the steps done; notes, the log."""
    if result.ok:
        published = result.published(browser_url)
        st.success(
            f"Published: [{result.collection_url}]({result.collection_url})", icon=":material/done_all:"
        )
        if "browser_url" in published:
            st.markdown(f"[Open in the STAC Browser]({published['browser_url']})")
        with st.expander(f"{len(result.item_urls)} item URLs"):
            st.markdown("\n".join(f"- {u}" for u in result.item_urls))
    elif result.error is not None:
        show_error(result.error)
        st.caption(f"Done so far: {', '.join(result.state.done) or 'nothing'}.")
    for note in result.notes:
        st.caption(note)
    st.dataframe([e.to_dict() for e in result.state.log], hide_index=True, key="pub_log")
    st.download_button(
        "Download the publish log (JSON)", log_json(result.state), "publish-log.json", "application/json"
    )
