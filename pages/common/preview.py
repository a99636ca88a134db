"""Streamlit helpers of the Preview page (the numbers come from :mod:`apex_core.preview`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from apex_core.flow import JobOutcome, StateKey
from apex_core.jobs import work_folder
from apex_core.preview import Preview
from pages.common.session import settings

__all__ = ["save_upload", "statistics_panel", "upload_folder"]


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


@st.cache_data(max_entries=64, show_spinner=False)
def _classes_and_histogram(
    classes: tuple[tuple[str, float, int], ...], histogram: tuple[tuple[float | int, float | int], ...]
) -> None:
    """The NDVI classes table and the histogram chart: their elements are built (the chart's
    Vega-Lite spec made and validated) once per preview's numbers, then replayed by the cache."""
    st.dataframe([{"class": c, "share %": p, "pixels": n} for c, p, n in classes], hide_index=True)
    st.bar_chart([{"ndvi": x, "pixels": n} for x, n in histogram], x="ndvi", y="pixels", height=220)


def statistics_panel(preview: Preview, job: JobOutcome | None) -> None:
    """The pixel statistics, NDVI classes and histogram of ``preview``; downloads of the file and metadata."""
    stats, (rows, cols) = preview.statistics, preview.source_shape
    st.subheader("Statistics")
    st.caption(f"{preview.asset_key}: {cols}×{rows} pixels, {preview.crs}; {stats.source_note}.")
    metrics = {"Minimum": f"{stats.minimum:.3f}", "Maximum": f"{stats.maximum:.3f}",
               "Valid pixels": f"{stats.valid_percent:.1f}%", "Mean": f"{stats.mean:.3f}",
               "Std dev": f"{stats.stddev:.3f}", "Outside -1…1": f"{stats.clipped_percent:.2f}%"}  # fmt: skip
    for col, (label, value) in zip(st.columns(2) * 3, metrics.items(), strict=True):
        col.metric(label, value)
    _classes_and_histogram(
        tuple((c.label, round(c.percent, 2), c.pixels) for c in stats.classes),
        tuple((row["ndvi"], row["pixels"]) for row in preview.histogram.rows()),
    )
    st.caption("Histogram of the valid values, clipped to -1…1 (outside values are drawn at the ends).")
    st.download_button("Download the GeoTIFF", data=preview.path.read_bytes, file_name=preview.path.name,
                       mime="image/tiff", icon=":material/download:")  # fmt: skip
    if job is not None and job.metadata_path is not None and job.metadata_path.is_file():
        st.download_button("Download the job's STAC metadata", data=job.metadata_path.read_bytes,
                           file_name=job.metadata_path.name, mime="application/json")  # fmt: skip
