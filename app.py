"""APEx Publisher: publish openEO results into an APEx-style STAC product catalogue.

Entry point: page config, logging, settings, the session's project (``?project=<id>``: loaded before the
page runs, saved after it), navigation over the start screen and the five steps, and the stepper.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from apex_core import ConfigError
from apex_core.flow import WidgetPrefix
from apex_core.logs import configure_logging
from apex_core.steps import STEPS, flow_status
from pages.common.catalogue import CATALOGUE_PAGE, SHARED_PAGE
from pages.common.errors import show_error
from pages.common.projects import autosave, conflict_notice, project_query, sync_from_url
from pages.common.services import embedded_services
from pages.common.session import load_settings

ATTRIBUTION = "Contains modified Copernicus Sentinel data 2022, processed by openEO Platform"
CATALOGUE_SCRIPT = "pages/flow/6_catalogue.py"
SHARED_PAGE_SCRIPT = "pages/flow/7_shared.py"

st.set_page_config(page_title="APEx Publisher", page_icon=":material/satellite_alt:", layout="wide")

try:
    settings = load_settings()
except ConfigError as exc:
    configure_logging()
    show_error(exc)
    st.stop()
configure_logging(settings.log_level)

sync_from_url()
start = st.Page("pages/flow/0_projects.py", title="Projects", icon=":material/folder_open:", default=True)
pages = {
    step.key: st.Page(step.page, title=step.title, icon=step.icon, url_path=step.key.value) for step in STEPS
}
catalogue = st.Page(
    CATALOGUE_SCRIPT, title="Catalogue", icon=":material/travel_explore:", url_path=CATALOGUE_PAGE
)
shared = st.Page(SHARED_PAGE_SCRIPT, title="Shared view", icon=":material/share:", url_path=SHARED_PAGE)
# The shared view is what a stakeholder is sent: that collection alone, without the app's navigation.
viewing_shared = urlsplit(str(st.context.url or "")).path.rstrip("/").endswith("/" + SHARED_PAGE)
current = st.navigation(
    [start, *pages.values(), catalogue, shared], position="hidden" if viewing_shared else "sidebar"
)
viewing_shared = current.url_path == SHARED_PAGE


def render_stepper(where: DeltaGenerator) -> None:
    """Which steps are done, read after the page ran so its changes show at once."""
    statuses = flow_status(st.session_state, current=current.url_path)
    done = sum(s.done for s in statuses)
    with where:
        cols = st.columns(len(statuses))
        for col, status in zip(cols, statuses, strict=True):
            mark = ":material/check_circle:" if status.done else ":material/radio_button_unchecked:"
            label = f"{status.number}. {status.step.title}" + (" (done)" if status.done else "")
            col.page_link(
                pages[status.step.key],
                label=label,
                icon=mark,
                help=status.step.purpose,
                query_params=project_query(),
            )
        st.progress(done / len(statuses), text=f"{done} of {len(statuses)} steps done")


services = embedded_services()
status_at_run = services.status if services is not None else None


@st.fragment(run_every=2.0 if status_at_run == "starting" else None)
def service_status() -> None:
    """Where the app sends its requests; refreshes itself while the embedded services start, and reruns
    the whole page once they are up (a page drawn while they started says so and waits for them)."""
    if services is not None and services.status != status_at_run:
        st.rerun()
    text = "embedded (not started: APEX_EMBEDDED_AUTOSTART is off)"
    if services is not None:
        text = {"starting": "embedded, starting…", "ready": "embedded (local, offline)"}.get(
            services.status, "embedded, " + services.status
        )
        if services.status == "failed":
            text = "embedded, failed to start: " + (services.error or "see the log")
    st.caption("openEO backend: " + (settings.openeo_url or text))
    st.caption("Catalogue: " + (settings.catalogue_url or text))


with st.sidebar:
    if not viewing_shared:  # a stakeholder's view names no service
        service_status()
    st.caption(ATTRIBUTION)

if viewing_shared:  # read-only: no project, no stepper
    current.run()
else:
    stepper = st.container(border=True, key=WidgetPrefix.APP + "stepper")
    notice = st.container()  # above the page: "changed in another tab", when a save finds that
    try:
        current.run()
    finally:
        autosave()
        with notice:
            conflict_notice()
        render_stepper(stepper)
