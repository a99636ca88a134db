"""Start screen: recent projects with their step and status; new, open, duplicate, rename, delete."""

from __future__ import annotations

import streamlit as st

from apex_core import ApexError
from apex_core.projects import Project
from apex_core.steps import STEPS
from pages.common.errors import show_error
from pages.common.projects import (
    close_project,
    current_project,
    new_project,
    open_project,
    project_page,
    rename_project,
    store,
    whose,
)

st.title("Projects")
st.caption(
    "Each project keeps its area, day, job, preview, metadata edits and publish state, saved on every "
    "change; its link (the page URL) reopens it. Sign-ins are never saved: a reopened project asks again. "
    + whose()
)
go: tuple[str, str] | None = None  # (page, project id) to switch to after the buttons ran

cur = current_project()
if cur is not None:
    cols = st.columns([5, 1], vertical_alignment="center")
    cols[0].info(f"Open now: **{cur.name}**", icon=":material/folder_open:")
    if cols[1].button("Close", key="projects_close", help="Leave it (it stays saved) and start afresh."):
        close_project()
        st.rerun()

with st.form("projects_new_form", border=True):
    name = st.text_input("Name of a new project", key="projects_new_name", placeholder="e.g. Bolzano June")
    if st.form_submit_button("New project", type="primary", icon=":material/add:"):
        try:
            made = new_project(name or "Untitled project")
            go = (STEPS[0].page, made.id)
        except ApexError as exc:
            show_error(exc)


def row(project: Project) -> tuple[str, str] | None:
    """One project: what it is, where it stands, and its actions. Returns where to go when opened."""
    with st.container(border=True):
        widths = [4, 1, 1.4, 1.4, 1.3]  # wide enough for "Duplicate" and "Rename" in full
        info, open_col, dup_col, ren_col, del_col = st.columns(widths, vertical_alignment="center")
        here = " (open now)" if cur is not None and cur.id == project.id else ""
        info.markdown(f"**{project.name}**{here}  \nNext: {project.step} · {project.status}")
        info.caption(f"Updated {project.updated[:16].replace('T', ' ')} UTC · id `{project.id}`")
        if project.status == "damaged":
            info.warning("This project's saved record is damaged; delete it.")
        elif open_col.button("Open", key=f"projects_open_{project.id}", type="primary"):
            opened = open_project(project.id)
            return project_page(opened), opened.id
        if dup_col.button("Duplicate", key=f"projects_dup_{project.id}"):
            copy = store().duplicate(project.id)
            st.toast(f"Duplicated as {copy.name!r}.")
            st.rerun()
        with ren_col.popover("Rename"):
            new = st.text_input("New name", value=project.name, key=f"projects_name_{project.id}")
            if st.button("Save the name", key=f"projects_rename_{project.id}"):
                rename_project(project.id, new)
                st.rerun()
        with del_col.popover("Delete"):
            st.warning(f"Delete **{project.name}** and its downloaded files? This cannot be undone.")
            if st.button("Delete for good", key=f"projects_delete_{project.id}", type="primary"):
                store().delete(project.id)
                if cur is not None and cur.id == project.id:
                    close_project()
                st.rerun()
    return None


st.subheader("Recent projects")
try:
    projects = store().list_recent()
    if not projects:
        st.info("No project yet: start a new one above, or go to the Area step (a project is made for you).")
except ApexError as exc:
    show_error(exc)
    projects = []
for project in projects:
    try:
        go = row(project) or go
    except ApexError as exc:  # e.g. an empty new name: the other projects still show
        show_error(exc)
if go is not None:
    st.switch_page(go[0], query_params={"project": go[1]})
