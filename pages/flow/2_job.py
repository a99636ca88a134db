"""Step 2, Job: connect, submit the notebook's NDVI batch job, follow it live, download its results."""

from __future__ import annotations

import datetime as dt
import json

import streamlit as st

from apex_core import ApexError
from apex_core.jobs import (
    LOG_LEVELS,
    ConnectionChoice,
    Follow,
    backend_info,
    cancel_job,
    connect,
    elapsed_seconds,
    filter_logs,
    follow_job,
    job_info,
    recent_jobs,
    submit_job,
    work_folder,
)
from apex_core.ndvi import NdviRequest, build_ndvi_cube, default_title, process_graph, python_snippet
from apex_core.steps import StateKey
from pages.common import openeo_target, settings, show_error

CON, INFO, CHOICE, FOLLOW, ERR = (
    "apex_job_con",
    "apex_job_info",
    "apex_job_choice",
    "apex_job_follow",
    "apex_job_err",
)
KINDS = {
    "basic": "User name and password",
    "oidc_device": "Sign in in the browser (OIDC device flow)",
    "token": "Paste an access token",
    "client_credentials": "Client credentials (from settings)",
}
cfg, target = settings(), openeo_target()
place = st.session_state.get("apex_area_place") or "custom area"


def login(url: str, choice: ConnectionChoice, **secrets: str | None) -> None:
    """Connect; the connection (it holds the token) lives in this session's state only."""
    where = st.empty()
    try:
        con = connect(
            url,
            choice.kind,
            username=choice.username,
            client_id=cfg.oidc_client_id,
            client_secret=cfg.oidc_client_secret,
            on_instructions=where.info,
            timeout=cfg.http_timeout,
            **secrets,
        )
        st.session_state[INFO], st.session_state[CON] = backend_info(con), con
        st.session_state[CHOICE] = choice.to_dict()
    except ApexError as exc:
        show_error(exc)


@st.fragment(run_every=2)
def starting() -> None:
    if openeo_target().url is not None:
        st.rerun(scope="app")
    st.info("Embedded backend starting…", icon=":material/hourglass:")


def connected() -> bool:
    """The embedded backend's demo account (no login), else a sign-in form."""
    if st.session_state.get(CON) is None and target.embedded:
        if target.url is None:
            starting()
            return False
        login(target.url, ConnectionChoice("embedded", target.url, target.username), password=target.password)
    if st.session_state.get(CON) is not None:
        return True
    saved = ConnectionChoice.from_dict(st.session_state.get(CHOICE) or {"kind": "basic"})
    with st.form("job_connect"):
        url = st.text_input("openEO backend URL", value=saved.url or target.url or "", key="job_url").strip()
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
        if st.form_submit_button("Connect"):
            login(url, ConnectionChoice(kind, url, user or None), password=password, access_token=token)
            if st.session_state.get(CON) is not None:
                st.rerun()
    return False


def attach(job_id: str | None, request: NdviRequest | None = None) -> None:
    """Submit the job (``request``) or re-attach to ``job_id``; then follow it (button callbacks)."""
    con, title = st.session_state[CON], st.session_state.get("job_title") or default_title(place)
    try:
        job = (
            submit_job(con, build_ndvi_cube(request, con), title) if request else job_info(con, job_id or "")
        )
        st.session_state[StateKey.JOB] = {"status": job.status, "id": job.id, "title": job.title or title}
        st.session_state[FOLLOW], st.session_state[ERR] = Follow(), None
    except ApexError as exc:
        st.session_state[ERR] = exc


def cancel() -> None:
    try:
        cancel_job(st.session_state[CON], st.session_state[StateKey.JOB]["id"])
    except ApexError as exc:
        st.session_state[ERR] = exc


def follow() -> None:
    """The job's status, progress, logs; while it runs, one poll per run (with back-off)."""
    job, state = st.session_state.get(StateKey.JOB), st.session_state.get(FOLLOW)
    running = isinstance(state, Follow) and not state.done
    if running:
        bar = st.empty()
        folder, sid = work_folder(cfg.state_dir, st.session_state.get("apex_job_session_id"))
        st.session_state["apex_job_session_id"] = sid
        job, state = follow_job(
            st.session_state[CON],
            job,
            state,
            folder=folder,
            timeout=cfg.http_timeout,
            on_progress=lambda p: bar.progress(p.fraction, text="Downloading the results…"),
        )
        st.session_state[StateKey.JOB], st.session_state[FOLLOW] = job, state
        if state.done:
            st.session_state[ERR] = state.error
            st.rerun(scope="app")
    elapsed = elapsed_seconds(job.get("created"))
    st.markdown(
        f"**{job.get('title') or job['id']}** · `{job['id']}` · status **{job['status']}**"
        + (f" · {elapsed:.0f} s since created" if elapsed is not None else "")
    )
    if isinstance(job.get("progress"), float | int) and job["status"] != "finished":
        st.progress(min(1.0, float(job["progress"]) / 100), text=f"{job['progress']:.0f} %")
    if running:
        st.button("Cancel the job", key="job_cancel", on_click=cancel)
    if job["status"] == "finished" and job.get("assets"):
        files = ", ".join(f"`{a['path']}`" for a in job["assets"])
        st.success(f"Job finished; {len(job['assets'])} result file(s) downloaded: {files}")
    if isinstance(state, Follow) and state.logs:
        level = st.selectbox("Log level", LOG_LEVELS, index=1, key="job_log_level")
        st.dataframe([e.to_dict() for e in filter_logs(state.logs, level)], hide_index=True, width="stretch")


def main(aoi: dict[str, object], day: str) -> None:
    con, info = st.session_state[CON], st.session_state[INFO]
    cols = st.columns([5, 1])
    cols[0].success(
        f"Connected to **{info.title}** (version {info.version}, API {info.api_version}) at {info.url}."
    )
    if cols[1].button("Disconnect", key="job_disconnect"):
        st.session_state[CON] = st.session_state[FOLLOW] = None
        st.rerun()
    if info.missing_processes:
        st.error("This backend lacks processes the job needs: " + ", ".join(info.missing_processes))
    native = st.checkbox(
        "Native resolution and CRS (no resample_spatial to 38.2 m, EPSG:3857)", key="job_native"
    )
    request = NdviRequest.for_backend(aoi, dt.date.fromisoformat(day), info.url, native=native)
    with st.expander("Process graph and Python code"):
        graph = json.dumps(process_graph(request), indent=2)
        st.download_button(
            "Download the process graph (JSON)", graph, "ndvi-process-graph.json", key="job_dl"
        )
        st.code(graph, language="json")
        st.code(python_snippet(request, info.url, title=default_title(place)), language="python")
    st.text_input("Job title", value=default_title(place), key="job_title")
    st.button("Submit the NDVI job", type="primary", key="job_submit", on_click=attach, args=(None, request))
    with st.expander("Re-attach to a job"):
        st.text_input("Job id", key="job_attach_id")
        st.button("Attach", key="job_attach", on_click=lambda: attach(st.session_state.get("job_attach_id")))
        if st.button("List my recent jobs", key="job_list"):
            try:
                st.session_state["apex_job_recent"] = recent_jobs(con)
            except ApexError as exc:
                show_error(exc)
        if recent := st.session_state.get("apex_job_recent"):
            pick = st.selectbox("Recent jobs", recent, format_func=lambda j: j.label(), key="job_recent_pick")
            st.button("Attach the selected job", key="job_attach_recent", on_click=attach, args=(pick.id,))
    if st.session_state.get(ERR) is not None:
        show_error(st.session_state[ERR])
    if st.session_state.get(StateKey.JOB):
        state = st.session_state.get(FOLLOW)
        (st.fragment(run_every=1.0)(follow) if isinstance(state, Follow) and not state.done else follow)()


st.title("Job")
aoi, day = st.session_state.get(StateKey.AOI), st.session_state.get("apex_area_date")
if aoi is None or not day:
    st.warning("Choose the area and the day on the Area page first.", icon=":material/map:")
elif connected():
    main(aoi, day)
