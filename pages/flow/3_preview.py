"""Step 3, Preview: the NDVI result on the map, with legend, histogram and statistics."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from apex_core import ApexError, DataError
from apex_core.flow import JobOutcome, StateKey
from apex_core.mapview import check_assets
from apex_core.preview import Preview, compute_preview, preview_map, value_at
from pages.common.errors import show_error
from pages.common.foliummap import cached_st_folium
from pages.common.preview import save_upload, statistics_panel, upload_folder
from pages.common.session import map_assets, settings


@st.cache_data(max_entries=8, show_spinner="Reading the GeoTIFF at screen resolution…")
def _preview(path: Path, asset_key: str, _mtime: float) -> Preview:
    return compute_preview(path, asset_key)


def _source(job: JobOutcome | None) -> tuple[Path, str] | None:
    """The GeoTIFF to show: a result asset of the finished job, else an uploaded file (or none)."""
    if job is not None and job.assets:
        st.caption(f"Results of job `{job.id}`" + (f": {job.title}" if job.title else ""))
        asset = st.selectbox("Result", job.assets, format_func=lambda a: a.label, key="preview_asset")
        return asset.path, asset.key
    st.info(
        "**No job result yet.** When the NDVI job on the Job page has finished, its GeoTIFF shows here. "
        "Meanwhile you can preview a GeoTIFF of your own (it does not count as the flow's result)."
    )
    upload = st.file_uploader("NDVI GeoTIFF (one band)", type=["tif", "tiff"], key="preview_upload")
    return None if upload is None else (save_upload(upload, upload_folder()), upload.name)


def _map(preview: Preview) -> None:
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.8, 0.05, key="preview_opacity")
    cfg, assets = settings(), map_assets()
    tiles, attribution = cfg.basemap_url, cfg.basemap_attribution
    event = cached_st_folium(  # the map is built and rendered once per preview, opacity and basemap
        lambda: preview_map(assets, preview, opacity=opacity, tiles=tiles, attribution=attribution),
        (preview, opacity, tiles, attribution, assets),
        state_key="preview_map_rendered",
        key=f"preview_map_{preview.asset_key}",
        height=520,
        returned_objects=["last_clicked"],
    )
    clicked = (event or {}).get("last_clicked")
    if not (isinstance(clicked, dict) and {"lat", "lng"} <= clicked.keys()):
        st.caption("Click the map to read the full-resolution NDVI value at a point.")
        return
    try:
        point = value_at(preview.path, float(clicked["lng"]), float(clicked["lat"]))
    except DataError as exc:
        if exc.field == "point":
            st.info(exc.message)
        else:
            show_error(exc)
        return
    shown = "nodata" if point.value is None else f"{point.value:.4f}"
    st.success(f"NDVI at {point.lon:.5f}, {point.lat:.5f} (lon, lat): **{shown}** (full resolution)")


def main() -> None:
    st.title("Preview")
    try:
        check_assets()
        job: JobOutcome | None = st.session_state.get(StateKey.JOB)
        job = job if job is not None and job.finished else None
        source = _source(job)
        if source is None:
            return
        path, asset_key = source
        preview = _preview(path, asset_key, path.stat().st_mtime if path.is_file() else 0.0)
    except ApexError as exc:
        show_error(exc)
        return
    if job is not None:
        st.session_state[StateKey.PREVIEW] = preview.to_state(job.id)
    map_col, side = st.columns([3, 2])
    with map_col:
        _map(preview)
    with side:
        statistics_panel(preview, job)


main()
