"""Streamlit rendering for the Job page (step 2): sign-in, graph, submit (or create, see the estimate,
then start), live follow, rename, re-attach.

The logic (connections, jobs, logs, downloads) is in :mod:`apex_core.jobs` and :mod:`apex_core.ndvi`;
a running device sign-in is shown by :mod:`pages.common.signin`, as on the Publish page. The connection
(it holds the token) and a running device sign-in live in this session's ``st.session_state`` only; the
connection *choice* kept across pages never holds a secret.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import streamlit as st

from apex_core import ApexError, UnauthorizedError
from apex_core.aoi import Aoi, cloud_mask_available
from apex_core.device import DeviceSignIn
from apex_core.flow import AreaChoice, JobOutcome, StateKey
from apex_core.jobs import (
    FINAL_STATUSES,
    LOG_LEVELS,
    BackendInfo,
    ConnectionChoice,
    Follow,
    JobEstimate,
    JobInfo,
    backend_info,
    cancel_job,
    connect,
    create_job,
    device_sign_in,
    filter_logs,
    follow_job,
    job_estimate,
    job_headline,
    job_info,
    job_progress,
    recent_jobs,
    rename_job,
    start_job,
    submit_job,
    work_folder,
)
from apex_core.ndvi import (
    Composite,
    NdviRequest,
    build_ndvi_cube,
    default_title,
    python_snippet,
    required_processes,
)
from apex_core.workspace import ExportChoice, effective_workspace, snippet_with_export, with_export
from pages.common.area import area_footprints, area_observations
from pages.common.errors import show_error
from pages.common.export import EXPORT, export_option, export_outcome_panel
from pages.common.projects import autosave
from pages.common.services import openeo_target
from pages.common.session import settings
from pages.common.signin import DeviceSignInUi, show_sign_in, start_sign_in

__all__ = [
    "CHOICE",
    "CON",
    "DEVICE",
    "DEVICE_UI",
    "ERR",
    "ESTIMATE",
    "FOLLOW",
    "INFO",
    "RENAME_ERR",
    "attach",
    "connected",
    "connection_banner",
    "create",
    "graph_panel",
    "job_panel",
    "place",
    "processes_check",
    "range_options",
    "reattach_panel",
]

CON, INFO, CHOICE, FOLLOW, ERR = (
    StateKey.JOB_CON,
    StateKey.JOB_INFO,
    StateKey.JOB_CHOICE,
    StateKey.JOB_FOLLOW,
    StateKey.JOB_ERR,
)
DEVICE = StateKey.JOB_DEVICE  # the running DeviceSignIn of this session (holds the token once approved)
DEVICE_UI = DeviceSignInUi(
    DEVICE,
    " to sign in; this page continues by itself once you have approved.",
    "Cancel sign-in",
    "job_device_cancel",
    icon=":material/key:",
)
RENAME_ERR = StateKey.JOB_RENAME_ERR  # an unusable new title (InputError), shown at the rename field
ESTIMATE = StateKey.JOB_ESTIMATE  # (job id, JobEstimate or the ApexError that explains why there is none)
KINDS = {
    "basic": "User name and password",
    "oidc_device": "Sign in in the browser (OIDC device flow)",
    "token": "Paste an access token",
    "client_credentials": "Client credentials (from settings)",
}


def place() -> str:
    return AreaChoice.from_state(st.session_state).place or "custom area"


def _keep(con: object, info: BackendInfo, choice: ConnectionChoice) -> None:
    st.session_state[INFO], st.session_state[CON], st.session_state[CHOICE] = info, con, choice.to_dict()
    st.session_state[ERR] = None


def _login(url: str, choice: ConnectionChoice, **secrets: str | None) -> None:
    """Connect (basic, pasted token, client credentials: a few quick requests)."""
    cfg = settings()
    try:
        con = connect(
            url,
            choice.kind,
            username=choice.username,
            client_id=cfg.oidc_client_id,
            client_secret=cfg.oidc_client_secret,
            timeout=cfg.http_timeout,
            **secrets,
        )
        _keep(con, backend_info(con), choice)
    except ApexError as exc:
        show_error(exc)


@st.fragment(run_every=2)
def _starting() -> None:
    if openeo_target().url is not None:
        st.rerun(scope="app")
    st.info("Embedded backend starting…", icon=":material/hourglass:")


def _device_approved(flow: DeviceSignIn[tuple[Any, BackendInfo]]) -> None:
    result = flow.result()
    assert result is not None
    _keep(result[0], result[1], ConnectionChoice("oidc_device", flow.url))


def _device_failed(exc: ApexError) -> None:
    st.session_state[ERR] = exc


def _sign_in_form(default_url: str | None) -> None:
    cfg = settings()
    saved = ConnectionChoice.from_dict(st.session_state.get(CHOICE) or {"kind": "basic"})
    with st.form("job_connect"):
        url = st.text_input("openEO backend URL", value=saved.url or default_url or "", key="job_url").strip()
        kind = st.radio(
            "Sign in",
            list(KINDS),
            format_func=KINDS.__getitem__,
            key="job_auth",
            index=list(KINDS).index(saved.kind) if saved.kind in KINDS else 0,
        )
        user = st.text_input("User name", value=saved.username or "", key="job_user")
        password = st.text_input("Password", type="password", key="job_password")
        token = st.text_input("Access token", type="password", key="job_token")
        if cfg.oidc_client_id:
            st.caption(
                f"Client credentials and the device flow use the client `{cfg.oidc_client_id}` (settings)."
            )
        if not st.form_submit_button("Connect"):
            return
    choice = ConnectionChoice(kind, url, user or None)
    if kind == "oidc_device":
        st.session_state[ERR] = None
        st.session_state[CHOICE] = choice.to_dict()
        start_sign_in(
            DEVICE_UI,
            device_sign_in(
                url,
                client_id=cfg.oidc_client_id,
                client_secret=cfg.oidc_client_secret,
                timeout=cfg.http_timeout,
            ),
        )
        return  # it failed at once (shown): the form again
    _login(url, choice, password=password, access_token=token)
    if st.session_state.get(CON) is not None:
        st.rerun()


def connected() -> bool:
    """The embedded backend's demo account (no login), else a sign-in (the device flow runs in the
    background and this page polls it). True once the session has a connection."""
    target = openeo_target()
    if st.session_state.get(CON) is None and target.embedded and st.session_state.get(DEVICE) is None:
        if target.url is None:
            _starting()
            return False
        choice = ConnectionChoice("embedded", target.url, target.username)
        _login(target.url, choice, password=target.password)
    if st.session_state.get(CON) is not None:
        return True
    if st.session_state.get(ERR) is not None:
        show_error(st.session_state[ERR])
    job: JobOutcome | None = st.session_state.get(StateKey.JOB)
    if job is not None:
        st.caption(f"Your job `{job.id}` is kept: sign in again to follow it.")
    if not show_sign_in(DEVICE_UI, _device_approved, _device_failed):
        _sign_in_form(target.url)
    return False


def _disconnect() -> None:
    st.session_state[CON] = st.session_state[FOLLOW] = None


def connection_banner(info: BackendInfo) -> None:
    cols = st.columns([5, 1])
    cols[0].success(
        f"Connected to **{info.title}** (version {info.version}, API {info.api_version}) at {info.url}."
    )
    cols[1].button("Disconnect", key="job_disconnect", on_click=_disconnect)


def processes_check(info: BackendInfo, request: NdviRequest) -> None:
    """Which processes of this request's graph (mask, composite ...) the backend lacks, if any."""
    if missing := info.missing(required_processes(request)):
        st.error("This backend lacks processes the job needs: " + ", ".join(missing))


_OVER_RANGE = {
    "One NDVI per observation": None,
    "Maximum NDVI composite": "max",
    "Median NDVI composite": "median",
}


def _mask_available(area: AreaChoice, url: str | None) -> bool | None:
    """Whether the area's data has the SCL band over the chosen days (None: the backend does not say)."""
    if area.aoi is None or not area.day:
        return None
    aoi = Aoi.from_dict(area.aoi)
    footprints, _error = area_footprints(url)
    observations, _obs_error = area_observations(url, aoi, footprints, area.day, area.end)
    start = dt.date.fromisoformat(area.day)
    end = dt.date.fromisoformat(area.end) if area.end else start
    return cloud_mask_available(observations, start, end)


def range_options(area: AreaChoice, url: str | None = None) -> tuple[bool, Composite | None]:
    """The cloud mask (SCL) and, for a date range, one NDVI per observation or a composite over it.
    Where the area's data has no SCL band, the mask is not offered and the page says why."""
    available = _mask_available(area, url)
    if available is False:
        st.session_state["job_mask"] = False
    mask = st.checkbox(
        "Mask clouds, cloud shadows and cirrus (SCL band) before the NDVI",
        key="job_mask",
        disabled=available is False,
        help="openEO `mask` with the Sentinel-2 scene classification: those pixels become nodata.",
    )
    if available is False:
        st.caption(
            f":material/cloud_off: The cloud mask is unavailable for {area.place or 'this area'}: its data "
            "has no SCL (scene classification) band."
        )
    composite: Composite | None = None
    if area.is_range:
        how = st.radio(
            f"Over {area.day} to {area.end}",
            tuple(_OVER_RANGE),
            horizontal=True,
            key="job_composite",
            help="A composite is one NDVI for the whole range (openEO `reduce_dimension` over time).",
        )
        composite = _OVER_RANGE[how]  # type: ignore[assignment]
    return mask, composite


def export_panel(day: str) -> None:
    """Use cases 2/3: ``export_workspace`` where the backend offers it (the embedded one does)."""
    cfg = effective_workspace(settings(), embedded=openeo_target().embedded)
    title = st.session_state.get("job_title") or default_title(place())
    export_option(st.session_state[CON], st.session_state[INFO].url, cfg, title=title, day=day)


def _export_choice() -> ExportChoice | None:
    choice = st.session_state.get(EXPORT)
    return ExportChoice.from_dict(choice) if choice else None


def _cube(request: NdviRequest, con: Any = None) -> Any:
    """The notebook's cube, ending in ``export_workspace`` when the user chose an export."""
    cube, choice = build_ndvi_cube(request, con), _export_choice()
    return with_export(cube, choice) if choice else cube


def graph_panel(request: NdviRequest, url: str) -> None:
    """The process graph (downloadable JSON) and a Python snippet that reproduces it."""
    with st.expander("Process graph and Python code"):
        graph = json.dumps(json.loads(_cube(request).to_json()), indent=2)
        st.download_button(
            "Download the process graph (JSON)", graph, "ndvi-process-graph.json", key="job_dl"
        )
        st.code(graph, language="json")
        snippet = python_snippet(request, url, title=default_title(place()))
        st.code(snippet_with_export(snippet, _export_choice()), language="python")


def _use_job(get: Callable[[Any, str], JobInfo], *, follow: bool) -> None:
    """Make the job ``get(connection, title)`` returns the session's job, followed live or not (a button
    callback); an :class:`ApexError` is the page's error instead."""
    con, title = st.session_state[CON], st.session_state.get("job_title") or default_title(place())
    try:
        job = get(con, title)
        st.session_state[StateKey.JOB] = JobOutcome(job.id, job.status, job.title or title)
        st.session_state[FOLLOW], st.session_state[ERR] = (Follow() if follow else None), None
        st.session_state[RENAME_ERR] = None
    except ApexError as exc:
        st.session_state[ERR] = exc


def attach(job_id: str | None, request: NdviRequest | None = None) -> None:
    """Submit the job (``request``) or re-attach to ``job_id``; then follow it (button callbacks)."""
    if request is not None:
        _use_job(lambda con, title: submit_job(con, _cube(request, con), title), follow=True)
    else:
        _use_job(lambda con, _title: job_info(con, job_id or ""), follow=True)


def create(request: NdviRequest) -> None:
    """Create the job without starting it (button callback): the page then shows its estimate."""
    _use_job(lambda con, title: create_job(con, _cube(request, con), title), follow=False)


def _start() -> None:
    job: JobOutcome = st.session_state[StateKey.JOB]
    try:
        info = start_job(st.session_state[CON], job.id)
        st.session_state[StateKey.JOB] = replace(job, status=info.status)
        st.session_state[FOLLOW], st.session_state[ERR] = Follow(), None
    except ApexError as exc:
        st.session_state[ERR] = exc


def _rename() -> None:
    job: JobOutcome = st.session_state[StateKey.JOB]
    st.session_state[RENAME_ERR] = None
    try:
        info = rename_job(st.session_state[CON], job.id, st.session_state.get("job_rename_title") or "")
        st.session_state[StateKey.JOB] = replace(job, title=info.title)
        st.session_state[ERR] = None
    except ApexError as exc:
        # A title that cannot be used is shown at its field; what the backend says, above the job.
        st.session_state[RENAME_ERR if exc.field == "title" else ERR] = exc


def _forget_estimate() -> None:
    st.session_state.pop(ESTIMATE, None)


def _estimate_panel(job: JobOutcome) -> None:
    """A created job: the backend's estimate (asked once per job; a failure can be asked again), then
    the button that starts it."""
    cached = st.session_state.get(ESTIMATE)
    if not (isinstance(cached, tuple) and cached[0] == job.id):
        try:
            cached = (job.id, job_estimate(st.session_state[CON], job.id))
        except ApexError as exc:
            cached = (job.id, exc)
        st.session_state[ESTIMATE] = cached
    if isinstance(cached[1], JobEstimate):
        st.info(f"Estimate: {cached[1].summary()}.", icon=":material/timer:")
    else:
        st.caption("No estimate for this job:")
        show_error(cached[1])
        # The failure may pass (the backend was busy, the job was changed): ask again on request.
        st.button("Ask for the estimate again", key="job_estimate_retry", on_click=_forget_estimate)
    st.button("Start the job", type="primary", key="job_start", on_click=_start)


def _rename_panel(job: JobOutcome) -> None:
    """Rename the job (the backend refuses it while the job is queued or running)."""
    problem = st.session_state.get(RENAME_ERR)
    with st.expander("Rename the job", expanded=problem is not None):
        st.text_input("New title", value=job.title or "", key="job_rename_title")
        if problem is not None:
            show_error(problem)
        st.button("Rename", key="job_rename", on_click=_rename)


def _cancel() -> None:
    try:
        cancel_job(st.session_state[CON], st.session_state[StateKey.JOB].id)
    except ApexError as exc:
        st.session_state[ERR] = exc


def _list_recent() -> None:
    try:
        st.session_state[StateKey.JOB_RECENT] = recent_jobs(st.session_state[CON])
    except ApexError as exc:
        st.session_state[ERR] = exc


def reattach_panel() -> None:
    with st.expander("Re-attach to a job"):
        st.text_input("Job id", key="job_attach_id")
        st.button("Attach", key="job_attach", on_click=lambda: attach(st.session_state.get("job_attach_id")))
        st.button("List my recent jobs", key="job_list", on_click=_list_recent)
        if recent := st.session_state.get(StateKey.JOB_RECENT):
            pick = st.selectbox("Recent jobs", recent, format_func=lambda j: j.label(), key="job_recent_pick")
            st.button("Attach to the selected job", key="job_attach_recent", on_click=attach, args=(pick.id,))


def _poll(job: JobOutcome, state: Follow) -> tuple[JobOutcome, Follow]:
    """One step of the live follow (back-off in apex_core); a refused token drops the connection."""
    cfg, bar = settings(), st.empty()
    folder, sid = work_folder(cfg.state_dir, st.session_state.get(StateKey.JOB_SESSION_ID))
    st.session_state[StateKey.JOB_SESSION_ID] = sid
    job, state = follow_job(
        st.session_state[CON],
        job,
        state,
        folder=folder,
        timeout=cfg.http_timeout,
        on_progress=lambda p: bar.progress(p.fraction, text="Downloading the results…"),
    )
    st.session_state[StateKey.JOB], st.session_state[FOLLOW] = job, state
    autosave()  # a fragment run does not reach app.py's save: keep the project's job status current
    if state.done:
        st.session_state[ERR] = state.error
        if isinstance(state.error, UnauthorizedError):
            st.session_state[CON] = None  # sign in again; the job id is kept
        st.rerun(scope="app")
    return job, state


def _follow() -> None:
    """The job's status, progress, logs; while it runs, one poll per run (with back-off)."""
    job, state = st.session_state.get(StateKey.JOB), st.session_state.get(FOLLOW)
    running = isinstance(state, Follow) and not state.done
    if running:
        job, state = _poll(job, state)
    st.markdown(job_headline(job))
    if (progress := job_progress(job)) is not None:
        st.progress(progress, text=f"{progress * 100:.0f} %")
    if job.status == "created":
        _estimate_panel(job)
    elif running:
        st.button("Cancel the job", key="job_cancel", on_click=_cancel)
    elif job.status not in FINAL_STATUSES:
        st.button("Follow this job again", key="job_resume", on_click=attach, args=(job.id,))
    if job.status not in ("queued", "running"):
        _rename_panel(job)
    if job.finished and job.assets:
        files = ", ".join(f"`{a.path}`" for a in job.assets)
        st.success(f"Job finished; {len(job.assets)} result file(s) downloaded: {files}")
        export_outcome_panel(job)
    if isinstance(state, Follow) and state.logs:
        level = st.selectbox("Log level", LOG_LEVELS, index=1, key="job_log_level")
        st.dataframe([e.to_dict() for e in filter_logs(state.logs, level)], hide_index=True, width="stretch")


def job_panel() -> None:
    """The last error, then the session's job, polled live in a fragment while it runs."""
    if st.session_state.get(ERR) is not None:
        show_error(st.session_state[ERR])
    if st.session_state.get(StateKey.JOB) is not None:
        state = st.session_state.get(FOLLOW)
        (st.fragment(run_every=1.0)(_follow) if isinstance(state, Follow) and not state.done else _follow)()
