"""Step 5, Publish: write the collection and its items to a STAC API catalogue."""

from __future__ import annotations

import streamlit as st

from pages import coming_next, settings

st.title("Publish")
cfg = settings()
target = cfg.catalogue_url or "the embedded STAC catalogue (local, offline)"
st.write(f"Catalogue in use: **{target}**.")
coming_next(
    "Publish the collection and its items through the STAC API Transactions extension with a bearer "
    "token, idempotently and resumably, with a downloadable publish log; optionally re-host the "
    "GeoTIFFs as COGs first; delete with confirmation.",
    "Publish page: write the collection and its items to a STAC API catalogue, safely and idempotently",
)
