"""The session's project: loaded from the URL's ``?project=<id>`` once per session, saved after each run.

``app.py`` calls :func:`sync_from_url` before the page runs, :func:`autosave` after it, then
:func:`conflict_notice` (in a container above the page) when another tab saved the project meanwhile.
A fragment re-run does not run ``app.py``: a page whose fragment changes the flow's state calls
:func:`autosave` at the end of the fragment. Only the allowlisted values of :mod:`apex_core.projects` are
stored (never a connection or a token); everything here lives in the session's own state, nothing in
globals or caches.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

import streamlit as st

from apex_core import ApexError
from apex_core.errors import ProjectConflict, ProjectError, ProjectNotFound
from apex_core.flow import AreaChoice, StateKey, WidgetPrefix
from apex_core.projects import (
    DERIVED_KEYS,
    PERSISTED_KEYS,
    WIDGET_PREFIXES,
    OpenProject,
    Project,
    ProjectState,
    ProjectStore,
    open_store,
    project_work_folder,
)
from apex_core.steps import STEPS
from pages.common.errors import show_error
from pages.common.session import settings

__all__ = [
    "autosave",
    "close_project",
    "conflict_notice",
    "current_project",
    "new_project",
    "open_project",
    "owner",
    "project_page",
    "project_query",
    "rename_project",
    "store",
    "sync_from_url",
    "whose",
]

logger = logging.getLogger(__name__)

PROJECT = StateKey.PROJECT  # OpenProject
CONFLICT = StateKey.PROJECT_CONFLICT  # True while another tab's save is newer than this session's
FAILED = StateKey.PROJECT_FAILED  # the id in the URL that could not be loaded this run (nothing is saved)
PARAM = "project"


def owner() -> str:
    """Whose projects this session sees: the user name the sign-in proxy passes in the header that
    ``APEX_USER_HEADER`` names, or ``""`` (no identity configured: the projects everyone shares)."""
    header = settings().user_header
    if not header:
        return ""
    user = str(st.context.headers.get(header) or "").strip()
    if not user:
        raise ProjectError(
            f"This app expects your user name in the {header} header from its sign-in proxy, and the "
            "request has none: open the app through the proxy. Your projects are kept.",
            field="project",
        )
    return user


def whose() -> str:
    """One line for the start screen: whose projects these are."""
    try:
        user = owner()
    except ApexError:
        return "Not signed in through the proxy: no project can be shown."
    if user:
        return f"Your projects, signed in as **{user}**: nobody else sees them."
    return "Projects on this server are shared by everyone who uses it (no sign-in proxy configured)."


def store() -> ProjectStore:
    """The project store the settings name, seeing this session's owner's projects only (a cheap
    object; opened per use, shared by no session)."""
    return open_store(settings(), owner())


def current_project() -> OpenProject | None:
    cur = st.session_state.get(PROJECT)
    return cur if isinstance(cur, OpenProject) else None


def rename_project(project_id: str, name: str) -> Project:
    """Rename a project (the open one keeps its new name too)."""
    renamed = store().rename(project_id, name)
    cur = current_project()
    if cur is not None and cur.id == project_id:
        st.session_state[PROJECT] = replace(cur, name=renamed.name)
    return renamed


def project_query() -> dict[str, str] | None:
    """Query parameters that keep the project in a page link."""
    cur = current_project()
    return {PARAM: cur.id} if cur else None


def project_page(project: Project) -> str:
    """The page of the project's next step (the Area page for a new one)."""
    return next((s.page for s in STEPS if s.title == project.step), STEPS[0].page)


def _clear_work() -> None:
    """Drop the flow's state and the pages' widget values (they reseed from the project's state)."""
    for key in list(st.session_state.keys()):
        name = str(key)
        if name in PERSISTED_KEYS or name in DERIVED_KEYS or name.startswith(WIDGET_PREFIXES):
            del st.session_state[key]
    st.session_state.pop(CONFLICT, None)


def _remember(project: Project, saved: str) -> None:
    st.session_state[PROJECT] = OpenProject.of(project, saved)
    st.query_params[PARAM] = project.id


def open_project(project_id: str) -> Project:
    """Load the project into the session, replacing the flow's state; the URL then names it."""
    project, state = store().get(project_id)
    _clear_work()
    st.session_state.update(state.to_session())
    st.session_state[StateKey.JOB_SESSION_ID] = project.id  # the Job page downloads into its work folder
    _remember(project, state.to_json())
    logger.info("Opened project %s (version %d)", project.id, project.version)
    return project


def new_project(name: str) -> Project:
    """A new, empty project, now the session's."""
    project = store().create(name)
    _clear_work()
    st.session_state[StateKey.JOB_SESSION_ID] = project.id
    _remember(project, ProjectState().to_json())
    return project


def close_project() -> None:
    """Leave the project (it stays saved); the session starts from an empty flow."""
    _clear_work()
    st.session_state.pop(PROJECT, None)
    st.query_params.pop(PARAM, None)


def sync_from_url() -> None:
    """Before the page runs: load the URL's project once per session, or put the session's back in the URL
    (navigating between pages drops query parameters)."""
    st.session_state.pop(FAILED, None)
    wanted = st.query_params.get(PARAM)
    cur = current_project()
    if wanted and (cur is None or cur.id != wanted):
        try:
            open_project(wanted)
        except ProjectNotFound as exc:
            show_error(exc)
            st.query_params.pop(PARAM, None)
            if cur is not None:
                st.query_params[PARAM] = cur.id
        except ApexError as exc:
            show_error(exc)  # damaged or locked: the URL keeps the id, the next run retries
            st.session_state[FAILED] = wanted
    elif not wanted and cur is not None:
        st.query_params[PARAM] = cur.id


def _adopt_work_folder(project_id: str) -> None:
    """Downloads go to the project's work folder from now on, unless this session already has files."""
    sid = st.session_state.get(StateKey.JOB_SESSION_ID)
    if not sid or not project_work_folder(settings().state_dir, str(sid)).exists():
        st.session_state[StateKey.JOB_SESSION_ID] = project_id


def _default_name() -> str:
    if label := AreaChoice.from_state(st.session_state).label():
        return label
    return "Project of " + dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def autosave() -> None:
    """Save the session's allowlisted values when they changed (atomic, version-checked). Work done
    before any project was opened gets a new project, so it is not lost either."""
    if st.session_state.get(FAILED) or st.session_state.get(CONFLICT):
        return
    state = ProjectState.from_session(st.session_state)
    cur = current_project()
    try:
        if cur is None:
            if state.values:
                project = store().create(_default_name(), state)
                _adopt_work_folder(project.id)
                _remember(project, state.to_json())
            return
        text = state.to_json()
        if text == cur.saved:
            return
        project = store().save(cur.id, state, cur.version)
        st.session_state[PROJECT] = OpenProject.of(project, text)
    except ProjectConflict:
        st.session_state[CONFLICT] = True
    except ApexError as exc:
        show_error(exc)  # the work stays in this session; the next change retries


def conflict_notice() -> None:
    """When another tab saved this project meanwhile: keep this session's version, or load the saved one."""
    cur = current_project()
    if not st.session_state.get(CONFLICT) or cur is None:
        return
    show_error(ProjectConflict(f"The project {cur.name!r} was saved meanwhile in another tab or session."))
    keep, load = st.columns(2)
    try:
        if keep.button("Keep my version", key=WidgetPrefix.APP + "project_keep_mine"):
            project, _ = store().get(cur.id)
            st.session_state[PROJECT] = replace(cur, version=project.version, saved="")
            st.session_state.pop(CONFLICT, None)
            autosave()  # this session's values, over the other tab's
            st.rerun()
        if load.button("Load the saved version", key=WidgetPrefix.APP + "project_load_saved"):
            open_project(cur.id)
            st.rerun()
    except ApexError as exc:
        show_error(exc)
