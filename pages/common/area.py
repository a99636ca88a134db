"""Streamlit rendering for the Area page (step 1): map, footprints, bbox form, upload, observation day;
the per-session caches of the footprints and observations apex_core fetched.

The logic (parsing, validation, place names, footprints, observations) is in :mod:`apex_core.aoi`;
this module keeps the page's widgets and session-state keys in one place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import streamlit as st
from streamlit_folium import st_folium

from apex_core import ApexError, Settings
from apex_core.aoi import (
    DEFAULT_VIEW,
    NOTEBOOK_DATE,
    Aoi,
    Footprint,
    Observation,
    accept_aoi,
    aoi_layer,
    cdse_observations,
    default_aoi,
    drawn_geometry,
    embedded_footprints,
    embedded_observations,
    initial_view,
    observation_index,
    parse_bbox,
    parse_geojson,
    place_name,
    validate_aoi,
)
from apex_core.flow import AreaChoice, StateKey
from apex_core.local.contract import EmbeddedServices
from apex_core.mapview import base_map
from pages.common.errors import show_error
from pages.common.session import map_assets, settings

__all__ = [
    "BBOX_KEYS",
    "ERROR",
    "SEEN",
    "area_choice",
    "area_footprints",
    "area_map",
    "area_observations",
    "area_status",
    "bbox_and_upload",
    "current_aoi",
    "data_notice",
    "footprints_and_default",
    "observation_day",
    "starting_notice",
    "use",
]

SEEN, ERROR = StateKey.AREA_SEEN_DRAWING, StateKey.AREA_ERROR
BBOX_KEYS = ("area_w", "area_s", "area_e", "area_n")


def data_notice(services: EmbeddedServices | None) -> None:
    """Why the embedded backend offers no (or not every) area, and what to do: never a silently empty
    map. Its sample could not be put in place (:attr:`EmbeddedEndpoints.sample_data`), or it failed."""
    if services is None or settings().openeo_url is not None:
        return
    if services.status == "failed":
        st.error(
            f"The embedded backend could not start: {services.error or 'see the log'} "
            f"The log is {services.log_path}. Restart the app once the cause is fixed.",
            icon=":material/error:",
        )
        return
    endpoints = services.endpoints
    sample = endpoints.sample_data if endpoints is not None else None
    if sample is None or sample.ok:
        return
    what = (
        "has no Sentinel-2 data: there is no area to start from"
        if sample.empty
        else "is missing part of its Sentinel-2 sample: some areas are not offered"
    )
    why = "\n".join(f"- {problem}" for problem in sample.problems)
    body = f"The embedded backend ({sample.data_dir}) {what}.\n\n{why}\n\n**What to do:** {sample.remedy}"
    if sample.empty:
        st.error(body, icon=":material/database_off:")
    else:
        st.warning(body, icon=":material/database:")


def area_choice() -> AreaChoice:
    """The session's area choice (:attr:`StateKey.AREA`; an empty one before any)."""
    return AreaChoice.from_state(st.session_state)


def _choose(**parts: Any) -> None:
    """Keep the area choice with ``parts`` (aoi, place, day, end) replaced."""
    st.session_state[StateKey.AREA] = dataclasses.replace(area_choice(), **parts)


def area_footprints(url: str | None) -> tuple[tuple[Footprint, ...], ApexError | None]:
    """The backend's data footprints (embedded scene search), cached per session and URL. A backend
    without scene search (CDSE) has none; its error is cached too so it is asked only once."""
    if url is None:
        return (), None
    cache = st.session_state.setdefault(StateKey.AREA_FOOTPRINTS, {})
    if url not in cache:
        try:
            cache[url] = (embedded_footprints(url, timeout=min(settings().http_timeout, 10.0)), None)
        except ApexError as exc:
            if settings().openeo_url is None:
                return (), exc  # the embedded backend: retry on the next run
            cache[url] = ((), exc)
    found: tuple[tuple[Footprint, ...], ApexError | None] = cache[url]
    return found


def area_observations(
    url: str | None,
    aoi: Aoi,
    footprints: tuple[Footprint, ...],
    around: str | None,
    until: str | None = None,
) -> tuple[list[Observation], ApexError | None]:
    """Observation days for the AOI: the embedded scene search, else the CDSE STAC catalogue around
    the day ``around`` (ISO; the notebook's day when None), or from ``around`` to ``until`` (a range);
    cached per session, errors included."""
    if footprints and url:
        key: tuple[str, ...] = ("embedded", url, str(aoi.bbox))
    else:
        day = dt.date.fromisoformat(around) if around else NOTEBOOK_DATE
        span = dt.timedelta(days=20)
        first, last = (day, dt.date.fromisoformat(until)) if until else (day - span, day + span)
        key = ("cdse", first.isoformat(), last.isoformat(), str(aoi.bbox))
    cache = st.session_state.setdefault(StateKey.AREA_OBSERVATIONS, {})
    if key not in cache:
        try:
            if key[0] == "embedded" and url:
                cache[key] = (embedded_observations(url, aoi, timeout=settings().http_timeout), None)
            else:
                first, last = dt.date.fromisoformat(key[1]), dt.date.fromisoformat(key[2])
                cache[key] = (cdse_observations(aoi, first, last, timeout=5.0), None)
        except ApexError as exc:
            cache[key] = ([], exc)
    found: tuple[list[Observation], ApexError | None] = cache[key]
    return found


def use(aoi: Aoi, place: str | None = None, footprints: tuple[Footprint, ...] = ()) -> None:
    """Validate and keep ``aoi`` (and its bbox in the form); on error keep the previous one and say why."""
    try:
        aoi, name = accept_aoi(aoi, max_km2=settings().max_aoi_km2, footprints=footprints, place=place)
    except ApexError as exc:
        st.session_state[ERROR] = exc
        return
    st.session_state.pop(ERROR, None)
    _choose(aoi=aoi.to_dict(), place=name)
    st.session_state.update(dict(zip(BBOX_KEYS, aoi.bbox, strict=True)))


def _use_bbox(footprints: tuple[Footprint, ...]) -> None:
    try:
        use(parse_bbox([st.session_state.get(k) for k in BBOX_KEYS]), footprints=footprints)
    except ApexError as exc:
        st.session_state[ERROR] = exc


def _use_upload(footprints: tuple[Footprint, ...]) -> None:
    upload = st.session_state.get("area_upload")
    if upload is not None:
        try:
            use(parse_geojson(upload.getvalue()), footprints=footprints)
        except ApexError as exc:
            st.session_state[ERROR] = exc


def starting_notice(services: EmbeddedServices | None) -> None:
    """While the embedded backend starts: a notice that refreshes the page once it is ready."""
    if services is None or services.status != "starting":
        return

    @st.fragment(run_every=2)
    def _starting() -> None:
        if services.status != "starting":
            st.rerun(scope="app")
        st.info(
            "Embedded backend starting… you can already draw or type the area.", icon=":material/hourglass:"
        )

    _starting()


def footprints_and_default(url: str | None, cfg: Settings) -> tuple[Footprint, ...]:
    """The backend's data footprints, each offered as a starting AOI; with a remote backend and no
    area yet, the notebook's Gran Canaria rectangle and day."""
    footprints, fp_error = area_footprints(url)
    if area_choice().aoi is None and cfg.openeo_url and not footprints:
        aoi0, place0, day0 = default_aoi(cfg.openeo_url, footprints)
        use(aoi0, place0)
        if area_choice().day is None and day0 is not None:
            _choose(day=day0.isoformat())
    if footprints:
        cols = st.columns(len(footprints) + 1)
        cols[0].caption("Data footprints of the embedded backend:")
        for col, fp in zip(cols[1:], footprints, strict=True):
            label, key = f"Start from {fp.title}", f"area_fp_{fp.area_id}"
            col.button(label, key=key, on_click=use, args=(fp.aoi, fp.title, footprints))
    elif fp_error is not None and cfg.openeo_url is None:
        show_error(fp_error)
    return footprints


def current_aoi() -> Aoi | None:
    current = area_choice().aoi
    return Aoi.from_dict(current) if current else None


def area_map(aoi: Aoi | None, footprints: tuple[Footprint, ...], cfg: Settings) -> None:
    """The map with the Draw tools, the footprints and the AOI; a new drawing becomes the AOI. It opens
    on the AOI, else on the data footprints (:func:`apex_core.aoi.initial_view`); st_folium moves it
    there, and again whenever that view changes (the footprints arrive, another AOI is chosen)."""
    center, zoom = initial_view(aoi, footprints)
    fmap = base_map(
        map_assets(),
        center=DEFAULT_VIEW[0],
        zoom=DEFAULT_VIEW[1],
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
    drawn = drawn_geometry(event)
    if drawn is not None and st.session_state.get(SEEN) != drawn[0]:
        st.session_state[SEEN] = drawn[0]
        try:
            use(parse_geojson(drawn[1]), footprints=footprints)
        except ApexError as exc:
            st.session_state[ERROR] = exc
        st.rerun()


def area_status(aoi: Aoi | None, footprints: tuple[Footprint, ...], cfg: Settings) -> None:
    """The last rejection, a re-check of an area typed while the backend was starting, the AOI."""
    if st.session_state.get(ERROR) is not None:
        show_error(st.session_state[ERROR])
    if aoi is not None and footprints:
        try:
            validate_aoi(aoi, max_km2=cfg.max_aoi_km2, footprints=footprints)
            if area_choice().place in (None, "custom area"):
                _choose(place=place_name(aoi, footprints))
        except ApexError as exc:
            show_error(exc)
    if aoi is not None:
        st.success(f"Area drawn: {aoi.describe()} ({area_choice().place or 'custom area'}).")


def bbox_and_upload(aoi: Aoi | None, footprints: tuple[Footprint, ...]) -> None:
    with st.expander("Type a bounding box or upload GeoJSON", expanded=aoi is None):
        with st.form("area_bbox_form", border=False):
            cols = st.columns(4)
            for i, (col, k) in enumerate(zip(cols, BBOX_KEYS, strict=True)):
                if k not in st.session_state:  # widget values are dropped between pages: refill from the AOI
                    st.session_state[k] = aoi.bbox[i] if aoi else None
                col.number_input(("West", "South", "East", "North")[i], key=k, format="%.5f")
            st.form_submit_button("Use this bounding box", on_click=_use_bbox, args=(footprints,))
        st.file_uploader(
            "GeoJSON (Feature, FeatureCollection with one polygon, or Polygon)",
            type=["geojson", "json"],
            key="area_upload",
            on_change=_use_upload,
            args=(footprints,),
        )


def _stored_day() -> dt.date | None:
    stored = area_choice().day
    return dt.date.fromisoformat(stored) if stored else None


def observation_day(url: str | None, aoi: Aoi, footprints: tuple[Footprint, ...]) -> None:
    """One day, from the observations that exist for the AOI (with cloud cover), else a free field; or
    a date range, with the observations in it listed."""
    span = st.radio(
        "When",
        ("One day", "A date range"),
        index=1 if area_choice().is_range else 0,
        horizontal=True,
        key="area_span",
        help="A range gives one NDVI per observation (a series), or a composite over it (Job step).",
    )
    around = None
    if not footprints:
        pick = st.date_input(
            "Search observations around", value=_stored_day() or NOTEBOOK_DATE, key="area_around"
        )
        around = pick.isoformat() if isinstance(pick, dt.date) else None
    observations, obs_error = area_observations(url, aoi, footprints, around)
    if span == "A date range":
        _date_range(url, aoi, footprints, observations, obs_error)
        return
    if observations:
        labels = [o.label() for o in observations]
        index = observation_index(observations, area_choice().day)
        choice = st.selectbox(
            "Day with data for this area (cloud cover)", labels, index=index, key="area_day_pick"
        )
        _choose(day=observations[labels.index(choice)].date.isoformat(), end=None)
    else:
        if obs_error is not None:
            st.caption(f"No observation list: {obs_error}. Type the day instead.")
        day = st.date_input("Day", value=_stored_day(), key="area_day_free")
        _choose(day=day.isoformat() if isinstance(day, dt.date) else None, end=None)
    if chosen := area_choice().day:
        st.caption(f"The job will use {chosen} (one day, as in the notebook).")


def _date_range(
    url: str | None,
    aoi: Aoi,
    footprints: tuple[Footprint, ...],
    observations: Sequence[Observation],
    obs_error: ApexError | None,
) -> None:
    """The first and last day (both included), and the observations of the AOI in between."""
    choice = area_choice()
    dates = sorted(o.date for o in observations)
    first = dt.date.fromisoformat(choice.day) if choice.day else (dates[0] if dates else NOTEBOOK_DATE)
    last = dt.date.fromisoformat(choice.end) if choice.end else (dates[-1] if dates else first)
    picked = st.date_input("From – to (both included)", value=(first, max(first, last)), key="area_range")
    if not (isinstance(picked, tuple) and len(picked) == 2):
        st.caption("Pick the last day of the range too.")
        return
    start, end = picked
    _choose(day=start.isoformat(), end=end.isoformat() if end != start else None)
    if not footprints:  # a remote backend: its catalogue searched over the range itself
        observations, obs_error = area_observations(url, aoi, footprints, start.isoformat(), end.isoformat())
    inside = [o for o in observations if start <= o.date <= end]
    if observations:
        clear = [o for o in inside if o.cloud_cover is not None and o.cloud_cover <= 20]
        st.caption(
            f"**{len(inside)} observation(s)** of this area from {start} to {end}"
            + (f", {len(clear)} with at most 20 % cloud cover." if inside else ".")
        )
        if inside:
            st.dataframe(
                [
                    {"day": o.date.isoformat(), "cloud cover %": o.cloud_cover, "scenes": o.scenes}
                    for o in inside
                ],
                hide_index=True,
                height=min(38 + 35 * len(inside), 260),
            )
    elif obs_error is not None:
        st.caption(f"No observation list: {obs_error}.")
