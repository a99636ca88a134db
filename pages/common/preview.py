"""Streamlit helpers of the Preview page (the numbers come from :mod:`apex_core.preview`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from apex_core.jobs import work_folder
from apex_core.preview import JobResult, Preview
from pages.common import settings

__all__ = ["statistics_panel", "upload_folder"]


def upload_folder() -> Path:
    """This session's work folder (the project's, once there is one): no upload is shared between users."""
    folder, sid = work_folder(settings().state_dir, st.session_state.get("apex_job_session_id"))
    st.session_state["apex_job_session_id"] = sid
    return folder / "uploads"


def statistics_panel(preview: Preview, job: JobResult | None) -> None:
    """The pixel statistics, NDVI classes and histogram of ``preview``; downloads of the file and metadata."""
    stats, (rows, cols) = preview.statistics, preview.source_shape
    st.subheader("Statistics")
    st.caption(f"{preview.asset_key}: {cols}×{rows} pixels, {preview.crs}; {stats.source_note}.")
    metrics = {"Minimum": f"{stats.minimum:.3f}", "Maximum": f"{stats.maximum:.3f}",
               "Valid pixels": f"{stats.valid_percent:.1f}%", "Mean": f"{stats.mean:.3f}",
               "Std dev": f"{stats.std:.3f}", "Outside -1…1": f"{stats.clipped_percent:.2f}%"}  # fmt: skip
    for col, (label, value) in zip(st.columns(2) * 3, metrics.items(), strict=True):
        col.metric(label, value)
    classes = [{"class": c.label, "share %": round(c.percent, 2), "pixels": c.pixels} for c in stats.classes]
    st.dataframe(classes, hide_index=True)
    st.bar_chart(preview.histogram.rows(), x="ndvi", y="pixels", height=220)
    st.caption("Histogram of the valid values, clipped to -1…1 (outside values are drawn at the ends).")
    st.download_button("Download the GeoTIFF", data=preview.path.read_bytes, file_name=preview.path.name,
                       mime="image/tiff", icon=":material/download:")  # fmt: skip
    if job is not None and job.metadata_path is not None and job.metadata_path.is_file():
        st.download_button("Download the job's STAC metadata", data=job.metadata_path.read_bytes,
                           file_name=job.metadata_path.name, mime="application/json")  # fmt: skip
