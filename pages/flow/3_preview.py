"""Step 3, Preview: a raster result on the map, with its legend and statistics (a histogram for
continuous data such as NDVI, class shares for categorical data), one band at a time."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from apex_core import ApexError, DataError
from apex_core.categorical import legend_for
from apex_core.flow import JobOutcome, StateKey
from apex_core.mapview import check_assets
from apex_core.preview import (
    KIND_LABELS,
    BandInfo,
    Preview,
    RasterKind,
    band_infos,
    compute_preview,
    is_raster_file,
    legend_hints,
    preview_map,
    value_at,
)
from pages.common.errors import show_error
from pages.common.foliummap import cached_st_folium
from pages.common.preview import save_upload, series_slider, statistics_panel, upload_folder
from pages.common.session import map_assets, settings


@st.cache_data(max_entries=8, show_spinner="Reading the GeoTIFF at screen resolution…")
def _preview(
    path: Path,
    asset_key: str,
    band: int,
    kind: RasterKind | None,
    hints: tuple[str, ...],
    mtime: float,
    colormap: str,
) -> Preview:
    return compute_preview(path, asset_key, band=band, kind=kind, legend=legend_for(hints), colormap=colormap)


@st.cache_data(max_entries=16, show_spinner=False)
def _bands(path: Path, mtime: float) -> tuple[BandInfo, ...]:
    return band_infos(path)


@st.cache_data(max_entries=16, show_spinner=False)
def _hints(
    job_id: str, assets: tuple[str, ...], items: int, metadata_mtime: float, _job: JobOutcome
) -> tuple[str, ...]:
    return legend_hints(_job)


def _source(job: JobOutcome | None) -> tuple[Path, str, tuple[str, ...]] | None:
    """The GeoTIFF to show, with the names that may tell its legend: a raster result of the finished
    job, else an uploaded file (or none)."""
    if job is not None and job.assets:
        st.caption(f"Results of job `{job.id}`" + (f": {job.title}" if job.title else ""))
        rasters = tuple(a for a in job.assets if is_raster_file(a.path))
        others = ", ".join(f"`{a.key}`" for a in job.assets if not is_raster_file(a.path))
        if not rasters:
            st.info(
                f"**No map preview for these results.** The job's results are not rasters ({others}), "
                "so there is nothing to draw on a map. Go on to the Metadata step to describe them."
            )
            return None
        if others:
            st.caption(f"Results that are not rasters have no preview: {others}.")
        asset = series_slider(rasters) if len(rasters) > 1 else rasters[0]
        if asset.datetime and asset.end:
            st.caption(f"A composite: one map for {asset.datetime[:10]} to {asset.end[:10]}.")
        meta = job.metadata_path
        mtime = meta.stat().st_mtime if meta is not None and meta.is_file() else 0.0
        return (
            asset.path,
            asset.key,
            _hints(job.id, tuple(a.key for a in job.assets), len(job.items), mtime, job),
        )
    st.info(
        "**No job result yet.** When the job on the Job page has finished, its GeoTIFF results show here. "
        "Meanwhile you can preview a GeoTIFF of your own (it does not count as the flow's result)."
    )
    upload = st.file_uploader("GeoTIFF", type=["tif", "tiff"], key="preview_upload")
    return None if upload is None else (save_upload(upload, upload_folder()), upload.name, (upload.name,))


def _choose(path: Path, asset_key: str, hints: tuple[str, ...]) -> Preview:
    """The band (when the file has several) and how to show it (its detected kind unless changed)."""
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    bands = _bands(path, mtime)
    band_col, kind_col = st.columns(2)
    band = 1
    if len(bands) > 1:
        picked = band_col.selectbox(
            "Band", bands, format_func=lambda b: b.label, key=f"preview_band_{asset_key}"
        )
        band = picked.index
    colormap = settings().ndvi_colormap  # NDVI's ramp, as the render hints and quicklooks have it
    detected = _preview(path, asset_key, band, None, hints, mtime, colormap)
    kind = kind_col.radio(
        "Show as",
        detected.kinds,
        index=detected.kinds.index(detected.kind),
        format_func=lambda k: KIND_LABELS[k],
        horizontal=True,
        key=f"preview_kind_{asset_key}_{band}",
    )
    return (
        detected if kind == detected.kind else _preview(path, asset_key, band, kind, hints, mtime, colormap)
    )


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
    what = {"ndvi": "NDVI value", "categorical": "class"}.get(preview.kind, f"{preview.value_name} value")
    if not (isinstance(clicked, dict) and {"lat", "lng"} <= clicked.keys()):
        st.caption(f"Click the map to read the full-resolution {what} at a point.")
        return
    try:
        point = value_at(preview.path, float(clicked["lng"]), float(clicked["lat"]), band=preview.band.index)
    except DataError as exc:
        if exc.field == "point":
            st.info(exc.message)
        else:
            show_error(exc)
        return
    st.success(
        f"{preview.value_name} at {point.lon:.5f}, {point.lat:.5f} (lon, lat): "
        f"**{preview.format_value(point.value)}** (full resolution)"
    )


def main() -> None:
    st.title("Preview")
    try:
        check_assets()
        job: JobOutcome | None = st.session_state.get(StateKey.JOB)
        job = job if job is not None and job.finished else None
        source = _source(job)
        if source is None:
            return
        preview = _choose(*source)
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
