"""Step 1, Area: the area of interest (map, bbox, GeoJSON) and the observation day."""

from __future__ import annotations

import datetime as dt
import json

import streamlit as st
from streamlit_folium import st_folium

from apex_core import ApexError
from apex_core.aoi import (
    NOTEBOOK_DATE,
    Aoi,
    aoi_layer,
    default_aoi,
    parse_bbox,
    parse_geojson,
    place_name,
    validate_aoi,
    view_for_bbox,
)
from apex_core.mapview import base_map, check_assets
from apex_core.steps import StateKey
from pages.common import (
    area_footprints,
    area_observations,
    embedded_services,
    map_assets,
    openeo_backend_url,
    settings,
    show_error,
)

PLACE, DAY, SEEN = "apex_area_place", "apex_area_date", "apex_area_seen_drawing"
st.title("Area")
st.caption(
    "Draw a rectangle or polygon (tools on the left of the map), type a bounding box or upload GeoJSON."
)
try:
    check_assets()
except ApexError as exc:
    show_error(exc)
    st.stop()
cfg, services = settings(), embedded_services()
if services is not None and services.status == "starting":

    @st.fragment(run_every=2)
    def _starting() -> None:
        if services.status != "starting":
            st.rerun(scope="app")
        st.info(
            "Embedded backend starting… you can already draw or type the area.", icon=":material/hourglass:"
        )

    _starting()
url = openeo_backend_url()
footprints, fp_error = area_footprints(url)


def use(aoi: Aoi, place: str | None = None) -> None:
    """Validate and keep ``aoi``; on error keep the previous one and say why."""
    try:
        validate_aoi(aoi, max_km2=cfg.max_aoi_km2, footprints=footprints if footprints else None)
    except ApexError as exc:
        st.session_state["apex_area_error"] = exc
        return
    st.session_state.pop("apex_area_error", None)
    st.session_state[StateKey.AOI] = aoi.to_dict()
    st.session_state[PLACE] = place or place_name(aoi, footprints)
    w, s, e, n = aoi.bbox
    st.session_state.update(area_w=w, area_s=s, area_e=e, area_n=n)


def use_bbox() -> None:
    try:
        use(parse_bbox([st.session_state.get(k) for k in ("area_w", "area_s", "area_e", "area_n")]))
    except ApexError as exc:
        st.session_state["apex_area_error"] = exc


def use_upload() -> None:
    upload = st.session_state.get("area_upload")
    if upload is not None:
        try:
            use(parse_geojson(upload.getvalue()))
        except ApexError as exc:
            st.session_state["apex_area_error"] = exc


if st.session_state.get(StateKey.AOI) is None and cfg.openeo_url and not footprints:
    aoi0, place0, day0 = default_aoi(cfg.openeo_url, footprints)  # the notebook's Gran Canaria, 2019-08-19
    use(aoi0, place0)
    st.session_state.setdefault(DAY, day0.isoformat() if day0 else None)

if footprints:
    cols = st.columns(len(footprints) + 1)
    cols[0].caption("Data footprints of the embedded backend:")
    for col, fp in zip(cols[1:], footprints, strict=True):
        col.button(
            f"Start from {fp.title}", key=f"area_fp_{fp.area_id}", on_click=use, args=(fp.aoi, fp.title)
        )
elif fp_error is not None and cfg.openeo_url is None:
    show_error(fp_error)

current = st.session_state.get(StateKey.AOI)
aoi = Aoi.from_dict(current) if current else None
center, zoom = view_for_bbox(aoi.bbox) if aoi else ((48.5, 11.0), 5)
fmap = base_map(
    map_assets(),
    center=(48.5, 11.0),
    zoom=5,
    tiles=cfg.basemap_url,
    attribution=cfg.basemap_attribution,
    draw=True,
)
event = st_folium(
    fmap,
    key="area_map",
    height=480,
    use_container_width=True,
    center=center,
    zoom=zoom,
    feature_group_to_add=aoi_layer(aoi, footprints),
    returned_objects=["last_active_drawing"],
)
drawing = (event or {}).get("last_active_drawing")
if isinstance(drawing, dict) and isinstance(drawing.get("geometry"), dict):
    key = json.dumps(drawing["geometry"], sort_keys=True)
    if st.session_state.get(SEEN) != key:
        st.session_state[SEEN] = key
        try:
            use(parse_geojson(drawing["geometry"]))
        except ApexError as exc:
            st.session_state["apex_area_error"] = exc
        st.rerun()

if st.session_state.get("apex_area_error") is not None:
    show_error(st.session_state["apex_area_error"])
if aoi is not None and footprints:  # an area typed while the backend was starting: check it now
    try:
        validate_aoi(aoi, max_km2=cfg.max_aoi_km2, footprints=footprints)
        if st.session_state.get(PLACE) in (None, "custom area"):
            st.session_state[PLACE] = place_name(aoi, footprints)
    except ApexError as exc:
        show_error(exc)
if aoi is not None:
    st.success(f"Area drawn: {aoi.describe()} ({st.session_state.get(PLACE, 'custom area')}).")

with st.expander("Type a bounding box or upload GeoJSON", expanded=aoi is None):
    with st.form("area_bbox_form", border=False):
        cols = st.columns(4)
        for i, (col, k) in enumerate(zip(cols, ("area_w", "area_s", "area_e", "area_n"), strict=True)):
            if k not in st.session_state:  # widget values are dropped between pages: refill from the AOI
                st.session_state[k] = aoi.bbox[i] if aoi else None
            col.number_input(("West", "South", "East", "North")[i], key=k, format="%.5f")
        st.form_submit_button("Use this bounding box", on_click=use_bbox)
    st.file_uploader(
        "GeoJSON (Feature, FeatureCollection with one polygon, or Polygon)",
        type=["geojson", "json"],
        key="area_upload",
        on_change=use_upload,
    )

st.subheader("Observation day")
if aoi is not None:
    around = None
    if not footprints:
        stored = st.session_state.get(DAY)
        pick = st.date_input(
            "Search observations around",
            value=dt.date.fromisoformat(stored) if stored else NOTEBOOK_DATE,
            key="area_around",
        )
        around = pick.isoformat() if isinstance(pick, dt.date) else None
    observations, obs_error = area_observations(url, aoi, footprints, around)
    if observations:
        stored = st.session_state.get(DAY)
        labels = [o.label() for o in observations]
        index = next((i for i, o in enumerate(observations) if o.date.isoformat() == stored), 0)
        choice = st.selectbox(
            "Day with data for this area (cloud cover)", labels, index=index, key="area_day_pick"
        )
        st.session_state[DAY] = observations[labels.index(choice)].date.isoformat()
    else:
        if obs_error is not None:
            st.caption(f"No observation list: {obs_error}. Type the day instead.")
        stored = st.session_state.get(DAY)
        day = st.date_input(
            "Day", value=dt.date.fromisoformat(stored) if stored else None, key="area_day_free"
        )
        st.session_state[DAY] = day.isoformat() if isinstance(day, dt.date) else None
    if st.session_state.get(DAY):
        st.caption(f"The job will use {st.session_state[DAY]} (one day, as in the notebook).")
