"""Streamlit helpers of the Job page for use cases 2/3: export the results to an openEO workspace.

:func:`export_option` offers ``save_result(format="GTiff", options={"filename_prefix": ...})
.export_workspace(workspace=..., merge=...)`` when the backend lists ``export_workspace`` and the settings
name a workspace (``APEX_OPENEO_WORKSPACE``), and returns the user's :class:`ExportChoice` (None: no
export). :func:`export_outcome_panel` explains what the finished job's results say about it. Logic lives
in :mod:`apex_core.workspace`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from apex_core import ApexError, Settings
from apex_core.flow import JobOutcome, StateKey
from apex_core.workspace import ExportChoice, backend_offers_export, default_prefix, saved_export_outcome
from pages.common.errors import show_error

__all__ = ["EXPORT", "ExportChoice", "export_option", "export_outcome_panel"]

EXPORT = StateKey.JOB_EXPORT  # the session's ExportChoice.to_dict(), or None
_OFFERS = StateKey.JOB_EXPORT_OFFERED  # {backend url: bool}, asked once per session and backend


def _offered(con: Any, url: str) -> bool:
    cache: dict[str, bool] = st.session_state.setdefault(_OFFERS, {})
    if url not in cache:
        try:
            cache[url] = backend_offers_export(con)
        except ApexError as exc:
            show_error(exc)
            return False  # not cached: asked again on the next run
    return cache[url]


def export_option(con: Any, url: str, cfg: Settings, *, title: str, day: str | None) -> ExportChoice | None:
    """The export widgets (when offered); the choice, also kept under ``st.session_state[EXPORT]``."""
    if not _offered(con, url):
        st.session_state[EXPORT] = None
        return None
    if not cfg.openeo_workspace:
        st.caption(
            "This backend offers `export_workspace`: set APEX_OPENEO_WORKSPACE to the workspace id its "
            "operator gave you to export the results there directly."
        )
        st.session_state[EXPORT] = None
        return None
    on = st.checkbox(
        f"Export the results to workspace **{cfg.openeo_workspace}** (`export_workspace`)",
        key="job_export",
        help="The backend copies the GeoTIFFs into the workspace; the results then link there.",
    )
    if not on:
        st.session_state[EXPORT] = None
        return None
    left, right = st.columns(2)
    merge = left.text_input(
        "Path in the workspace (merge)",
        value=default_prefix(title).lower(),
        key="job_export_merge",
        help="Files go under this path; leave empty for a folder named after the job.",
    )
    prefix = right.text_input("File name prefix", value=default_prefix(title, day), key="job_export_prefix")
    try:
        choice = ExportChoice.from_settings(cfg, merge, prefix)
    except ApexError as exc:
        show_error(exc)
        st.session_state[EXPORT] = None
        return None
    if choice is not None:
        st.info(choice.explanation, icon=":material/cloud_upload:")
    st.session_state[EXPORT] = choice.to_dict() if choice is not None else None
    return choice


def export_outcome_panel(job: JobOutcome | None) -> None:
    """After the download: which files went to a workspace (from the saved results metadata)."""
    outcome = saved_export_outcome(job.metadata_path if job is not None else None)
    if outcome is None:
        return
    if outcome.exported:
        st.info(outcome.message, icon=":material/cloud_done:")
        st.markdown("\n".join(f"- `{a.href}`" for a in outcome.assets))
