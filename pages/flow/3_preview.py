"""Step 3, Preview: the NDVI result on the map."""

from __future__ import annotations

import streamlit as st

from pages import coming_next

st.title("Preview")
coming_next(
    "Show the job's NDVI GeoTIFF on the map with a colour-blind-safe colormap and legend, "
    "a histogram, statistics (min, max, mean, valid %, vegetation classes) and the value at a clicked point.",
    "Preview page: the NDVI GeoTIFF on the map with legend, histogram and statistics",
)
