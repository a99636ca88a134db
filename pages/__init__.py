"""Streamlit helpers shared by the pages: settings, error display, map assets. No logic here."""

from __future__ import annotations

import atexit
import hashlib
import logging
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from apex_core import ApexError, Settings, user_message
from apex_core.local.embedded import EmbeddedServices
from apex_core.mapview import MapAssets

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
    body = f"**{msg.title}.** {msg.detail}\n\n{msg.hint}"
    if msg.code or msg.request_id:
        body += f"\n\n`{msg.code or ''}` {('request id ' + msg.request_id) if msg.request_id else ''}"
    {"error": st.error, "warning": st.warning, "info": st.info}[msg.severity](body)


def coming_next(what: str, issue_title: str) -> None:
    """A plain statement of what this page will do, until its own work lands. No fake data."""
    st.info(
        f"**Not built yet.** {what}\n\nThis arrives with: *{issue_title}*.", icon=":material/construction:"
    )


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
    return _embedded(str(cfg.state_dir), str(cfg.sample_data_dir)).start()
