"""Step 1, Area: the area of interest (map, bbox, GeoJSON) and the observation day."""

from __future__ import annotations

import streamlit as st

from apex_core import ApexError
from apex_core.mapview import check_assets
from pages.common import area
from pages.common.errors import show_error
from pages.common.services import embedded_services, openeo_backend_url
from pages.common.session import settings

st.title("Area")
st.caption(
    "Draw a rectangle or polygon (tools on the left of the map), type a bounding box or upload GeoJSON."
)
try:
    check_assets()
    assets_error: ApexError | None = None
except ApexError as exc:
    assets_error = exc

if assets_error is not None:
    show_error(assets_error)
else:
    cfg = settings()
    area.data_notice(embedded_services())
    area.starting_notice(embedded_services())
    url = openeo_backend_url()
    footprints = area.footprints_and_default(url, cfg)
    aoi = area.current_aoi()
    area.area_map(aoi, footprints, cfg)
    area.area_status(aoi, footprints, cfg)
    area.bbox_and_upload(aoi, footprints)
    st.subheader("Observation day")
    if aoi is not None:
        area.observation_day(url, aoi, footprints)
