"""Step 2, Job: connect, submit the notebook's NDVI batch job, follow it live, download its results."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from apex_core.flow import AreaChoice
from apex_core.ndvi import NdviRequest, default_title
from pages.common import job as ui

st.title("Job")
area = AreaChoice.from_state(st.session_state)
aoi, day = area.aoi, area.day
if aoi is None or not day:
    st.warning("Choose the area and the day on the Area page first.", icon=":material/map:")
elif ui.connected():
    info = st.session_state[ui.INFO]
    ui.connection_banner(info)
    native = st.checkbox(
        "Native resolution and CRS (no resample_spatial to 38.2 m, EPSG:3857)", key="job_native"
    )
    mask_clouds, composite = ui.range_options(area, info.url)
    ui.export_panel(day)
    request = NdviRequest.for_backend(
        aoi,
        dt.date.fromisoformat(day),
        info.url,
        end=dt.date.fromisoformat(area.end) if area.end else None,
        native=native,
        mask_clouds=mask_clouds,
        composite=composite,
    )
    ui.processes_check(info, request)
    ui.graph_panel(request, info.url)
    st.text_input("Job title", value=default_title(ui.place()), key="job_title")
    st.button(
        "Submit the NDVI job", type="primary", key="job_submit", on_click=ui.attach, args=(None, request)
    )
    st.button(
        "Create it without starting (see the estimate first)",
        key="job_create",
        on_click=ui.create,
        args=(request,),
    )
    ui.reattach_panel()
    ui.job_panel()
