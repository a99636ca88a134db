"""Step 4, Metadata: a clean, valid STAC Collection from the job's results."""

from __future__ import annotations

import streamlit as st

from pages import coming_next

st.title("Metadata")
coming_next(
    "Turn the job's STAC results into a clean STAC Collection (new id, licence, providers, extents, "
    "access rules), edit it in a form with validation against the STAC schemas, and download it.",
    "Metadata page: from openEO job results to a clean, valid STAC Collection, edited in a form",
)
