"""Step 2, Job: run the notebook's NDVI batch job on an openEO backend."""

from __future__ import annotations

import streamlit as st

from pages import coming_next, settings

st.title("Job")
cfg = settings()
backend = cfg.openeo_url or "the embedded openEO backend (local, offline, no account needed)"
st.write(f"Backend in use: **{backend}**.")
coming_next(
    "Connect to the backend (basic auth, OIDC device flow, pasted token or client credentials), "
    "submit the notebook's Sentinel-2 NDVI batch job for your area and date, follow it live "
    "(status, logs, cancel), re-attach to any job by id, and download its results.",
    "Area and Job pages: draw the AOI, connect, submit the notebook's NDVI job and follow it live",
)
