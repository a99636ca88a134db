"""Step 1, Area: the area of interest on a map that works offline."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from apex_core import ApexError
from apex_core.mapview import base_map, check_assets
from apex_core.steps import StateKey
from pages import coming_next, map_assets, settings, show_error

st.title("Area")
st.caption("Draw the area of interest (rectangle or polygon) with the tools on the left of the map.")

try:
    check_assets()
except ApexError as exc:
    show_error(exc)
    st.stop()

cfg = settings()
fmap = base_map(
    map_assets(),
    center=(48.5, 11.0),
    zoom=5,
    tiles=cfg.basemap_url,
    attribution=cfg.basemap_attribution,
    draw=True,
)
event = st_folium(
    fmap, key="area_map", height=480, use_container_width=True, returned_objects=["last_active_drawing"]
)

drawing = (event or {}).get("last_active_drawing")
if isinstance(drawing, dict) and isinstance(drawing.get("geometry"), dict):
    st.session_state[StateKey.AOI] = drawing["geometry"]

aoi = st.session_state.get(StateKey.AOI)
if aoi:
    ring = aoi.get("coordinates", [[]])[0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    st.success(
        f"Area drawn: {aoi.get('type')} with {max(len(ring) - 1, 0)} vertices, "
        f"bounds W {min(xs):.4f}, S {min(ys):.4f}, E {max(xs):.4f}, N {max(ys):.4f}."
    )

coming_next(
    "This page will also take a typed bounding box or an uploaded GeoJSON, validate the area "
    "(polygon, size, inside the data), show the embedded backend's data footprints and offer the "
    "real observation dates for the area, with their cloud cover.",
    "Area and Job pages: draw the AOI, connect, submit the notebook's NDVI job and follow it live",
)
