"""This session's settings (``APEX_*`` env vars > ``.streamlit/secrets.toml`` > defaults) and the server's
map assets. No logic here: :class:`apex_core.Settings` and :mod:`apex_core.mapview` decide."""

from __future__ import annotations

import streamlit as st

from apex_core import Settings
from apex_core.config import use_ndvi_colormap
from apex_core.flow import StateKey
from apex_core.mapview import MapAssets

__all__ = ["load_settings", "map_assets", "settings"]

_SETTINGS_KEY = StateKey.SETTINGS


def load_settings() -> Settings:
    """Settings for this session: APEX_* env vars > .streamlit/secrets.toml > defaults."""
    secrets = st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}
    settings = Settings.load(secrets=secrets)
    use_ndvi_colormap(settings.ndvi_colormap)  # the NDVI ramp of every page, from the secrets too
    st.session_state[_SETTINGS_KEY] = settings
    return settings


def settings() -> Settings:
    current = st.session_state.get(_SETTINGS_KEY)
    return current if isinstance(current, Settings) else load_settings()


def map_assets() -> MapAssets:
    return MapAssets.from_base_url_path(str(st.get_option("server.baseUrlPath") or ""))
