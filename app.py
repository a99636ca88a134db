"""APEx Publisher: publish openEO results into an APEx-style STAC product catalogue.

Entry point: page config, logging, settings, navigation over the five steps and the stepper.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from apex_core import ConfigError
from apex_core.logs import configure_logging
from apex_core.steps import STEPS, flow_status
from pages import load_settings, show_error

ATTRIBUTION = "Contains modified Copernicus Sentinel data 2022, processed by openEO Platform"

st.set_page_config(page_title="APEx Publisher", page_icon=":material/satellite_alt:", layout="wide")

try:
    settings = load_settings()
except ConfigError as exc:
    configure_logging()
    show_error(exc)
    st.stop()
configure_logging(settings.log_level)

pages = {
    step.key: st.Page(step.page, title=step.title, icon=step.icon, url_path=step.key.value, default=i == 0)
    for i, step in enumerate(STEPS)
}
current = st.navigation(list(pages.values()), position="sidebar")


def render_stepper(where: DeltaGenerator) -> None:
    """Which steps are done, read after the page ran so its changes show at once."""
    statuses = flow_status(st.session_state, current=current.url_path)
    done = sum(s.done for s in statuses)
    with where:
        cols = st.columns(len(statuses))
        for col, status in zip(cols, statuses, strict=True):
            mark = ":material/check_circle:" if status.done else ":material/radio_button_unchecked:"
            label = f"{status.number}. {status.step.title}" + (" (done)" if status.done else "")
            col.page_link(pages[status.step.key], label=label, icon=mark, help=status.step.purpose)
        st.progress(done / len(statuses), text=f"{done} of {len(statuses)} steps done")


with st.sidebar:
    st.caption("openEO backend: " + (settings.openeo_url or "embedded (local, offline)"))
    st.caption("Catalogue: " + (settings.catalogue_url or "embedded (local, offline)"))
    st.caption(ATTRIBUTION)

stepper = st.container(border=True, key="apex_stepper")
try:
    current.run()
finally:
    render_stepper(stepper)
