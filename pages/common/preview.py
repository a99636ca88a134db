"""Streamlit helpers of the Preview page (the numbers come from :mod:`apex_core.preview`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from apex_core.flow import JobOutcome, ResultAsset, StateKey
from apex_core.jobs import work_folder
from apex_core.preview import Preview
from apex_core.timeseries import SeriesPoint, series_points
from pages.common.session import settings

__all__ = ["save_upload", "series_slider", "statistics_panel", "upload_folder"]


def upload_folder() -> Path:
    """This session's work folder (the project's, once there is one): no upload is shared between users."""
    folder, sid = work_folder(settings().state_dir, st.session_state.get(StateKey.JOB_SESSION_ID))
    st.session_state[StateKey.JOB_SESSION_ID] = sid
    return folder / "uploads"


def save_upload(upload: UploadedFile, folder: Path) -> Path:
    """Write an uploaded file under ``folder`` as ``<sha256 of its bytes><suffix>`` (stable across
    reruns, so caches keyed on the path hold) and return the path. Writes only when it is new."""
    data = upload.getvalue()
    name = hashlib.sha256(data).hexdigest()[:32] + Path(upload.name).suffix.lower()
    path = folder / name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


_COLOUR = "colour"


@st.cache_data(max_entries=64, show_spinner=False)
def _table_and_chart(
    table: tuple[tuple[tuple[str, str | float | int], ...], ...],
    chart: tuple[tuple[str | float | int, float | int, str], ...],
    x: str,
    y: str,
    edges: tuple[float, ...] = (),
) -> None:
    """A table and a bar chart, each bar in its colour on the map (``chart``: x, y, ``#rrggbb``): a
    histogram over its bins' ``edges`` when given, else one bar per class. The elements are built (the
    chart's Vega-Lite spec made and validated) once per preview's numbers, then replayed by the cache."""
    if table:
        st.dataframe([dict(row) for row in table], hide_index=True)
    rows = [{x: a, y: b, _COLOUR: c} for a, b, c in chart]
    encoding: dict[str, Any] = {
        "x": {"field": x, "type": "nominal", "sort": None},
        "y": {"field": y, "type": "quantitative"},
        "color": {"field": _COLOUR, "type": "nominal", "scale": None, "legend": None},
        "tooltip": [{"field": x}, {"field": y}],
    }
    if edges:  # a histogram: each bar spans its bin on a value axis
        for row, low, high in zip(rows, edges[:-1], edges[1:], strict=True):
            row.update({"bin_start": low, "bin_end": high})
        encoding["x"] = {"field": "bin_start", "type": "quantitative", "title": x,
                         "scale": {"domain": [edges[0], edges[-1]], "nice": False}}  # fmt: skip
        encoding["x2"] = {"field": "bin_end"}
    spec = {
        "mark": {"type": "bar", "stroke": "#666", "strokeWidth": 0.3},
        "encoding": encoding,
        "height": 220,
    }
    st.vega_lite_chart(rows, spec)


def _continuous(preview: Preview) -> None:
    """NDVI or other continuous data: the statistics, the NDVI classes (NDVI only) and the histogram."""
    stats, style = preview.statistics, preview.style
    outside = ("Outside -1…1", f"{stats.clipped_percent:.2f}%")
    if preview.kind != "ndvi":
        outside = ("Colour range", f"{style.low:.4g} … {style.high:.4g}")
    metrics = {"Minimum": f"{stats.minimum:.3f}", "Maximum": f"{stats.maximum:.3f}",
               "Valid pixels": f"{stats.valid_percent:.1f}%", "Mean": f"{stats.mean:.3f}",
               "Std dev": f"{stats.stddev:.3f}", outside[0]: outside[1]}  # fmt: skip
    for col, (label, value) in zip(st.columns(2) * 3, metrics.items(), strict=True):
        col.metric(label, value)
    histogram = preview.histogram
    assert histogram is not None  # continuous data always has one
    x = histogram.x
    table = tuple(
        (("class", c.label), ("share %", round(c.percent, 2)), ("pixels", c.pixels)) for c in stats.classes
    )  # the NDVI classes (none for other data)
    colours = style.hex_colors(histogram.centers)  # each bin in the colour its values have on the map
    bars = tuple((row[x], row["pixels"], c) for row, c in zip(histogram.rows(), colours, strict=True))
    _table_and_chart(table, bars, x, "pixels", histogram.edges)
    if preview.kind == "ndvi":
        st.caption("Histogram of the valid values, clipped to -1…1 (outside values are drawn at the ends).")
    else:
        st.caption(
            f"Histogram of the valid values of {preview.band.name} over the colour range, their 2nd to 98th "
            "percentile (outside values are drawn at the ends)."
        )


def _categorical(preview: Preview) -> None:
    """Categorical data: the number of classes and each class's share (a table and a bar chart)."""
    stats, classes = preview.statistics, preview.style.classes
    for col, (label, value) in zip(
        st.columns(2),
        {"Classes": str(len(classes)), "Valid pixels": f"{stats.valid_percent:.1f}%"}.items(),
        strict=True,
    ):
        col.metric(label, value)
    st.markdown("**Class shares**")
    table = tuple(
        (("class", c.title), ("value", c.value), ("share %", round(c.percent, 2)), ("pixels", c.pixels))
        for c in classes
    )
    colours = preview.style.hex_colors([c.value for c in classes])
    bars = tuple((c.title, round(c.percent, 2), colour) for c, colour in zip(classes, colours, strict=True))
    _table_and_chart(table, bars, "class", "share %")
    st.caption("Share of the valid pixels in each class, counted exactly on every pixel of the file.")


def statistics_panel(preview: Preview, job: JobOutcome | None) -> None:
    """The statistics of ``preview`` (a histogram, or class shares for categorical data); downloads of
    the file and metadata."""
    stats, (rows, cols) = preview.statistics, preview.source_shape
    st.subheader("Statistics")
    band = f", band {preview.band.index} of {len(preview.bands)}" if len(preview.bands) > 1 else ""
    st.caption(f"{preview.asset_key}{band}: {cols}×{rows} pixels, {preview.crs}; {stats.source_note}.")
    if preview.kind == "categorical":
        _categorical(preview)
    else:
        _continuous(preview)
    st.download_button("Download the GeoTIFF", data=preview.path.read_bytes, file_name=preview.path.name,
                       mime="image/tiff", icon=":material/download:")  # fmt: skip
    if job is not None and job.metadata_path is not None and job.metadata_path.is_file():
        st.download_button("Download the job's STAC metadata", data=job.metadata_path.read_bytes,
                           file_name=job.metadata_path.name, mime="application/json")  # fmt: skip


@st.cache_data(max_entries=8, show_spinner="Reading every date of the series…")
def _points(
    results: tuple[tuple[str, Path, str | None], ...], mtimes: tuple[float, ...]
) -> tuple[SeriesPoint, ...]:
    return series_points(results)


def series_slider(rasters: tuple[ResultAsset, ...]) -> ResultAsset:
    """A series (one result per date): the mean and valid share per date, and a date slider choosing
    the result the map shows."""
    results = tuple((a.key, a.path, a.datetime) for a in rasters)
    points = _points(results, tuple(a.path.stat().st_mtime if a.path.is_file() else 0.0 for a in rasters))
    st.markdown(f"**{len(points)} results** from {points[0].date[:10]} to {points[-1].date[:10]}")
    st.line_chart([{"date": p.date[:10], "mean": p.mean} for p in points], x="date", y="mean", height=180)
    st.bar_chart(
        [{"date": p.date[:10], "valid (cloud-free) %": round(p.valid_percent, 1)} for p in points],
        x="date",
        y="valid (cloud-free) %",
        height=140,
    )
    by_key = {a.key: a for a in rasters}
    chosen = st.select_slider(
        "Date shown on the map",
        [p.key for p in points],
        format_func=lambda k: by_key[k].label,
        key="preview_asset",
    )
    return by_key[chosen]
