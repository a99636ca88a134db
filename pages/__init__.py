"""Streamlit helpers shared by the pages: settings, error display, map assets. No logic here."""

from __future__ import annotations

import logging

import streamlit as st

from apex_core import ApexError, Settings, user_message
from apex_core.mapview import MapAssets

logger = logging.getLogger(__name__)

_SETTINGS_KEY = "apex_settings"


def load_settings() -> Settings:
    """Settings for this session: APEX_* env vars > .streamlit/secrets.toml > defaults."""
    secrets = st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}
    settings = Settings.load(secrets=secrets)
    st.session_state[_SETTINGS_KEY] = settings
    return settings


def settings() -> Settings:
    current = st.session_state.get(_SETTINGS_KEY)
    return current if isinstance(current, Settings) else load_settings()


def map_assets() -> MapAssets:
    return MapAssets.from_base_url_path(str(st.get_option("server.baseUrlPath") or ""))


def show_error(exc: BaseException) -> None:
    """The one way pages show an error: the table in apex_core.errors decides the words."""
    if not isinstance(exc, ApexError):
        logger.error("unexpected error", exc_info=exc)
    msg = user_message(exc)
    body = f"**{msg.title}.** {msg.detail}\n\n{msg.hint}"
    if msg.code or msg.request_id:
        body += f"\n\n`{msg.code or ''}` {('request id ' + msg.request_id) if msg.request_id else ''}"
    {"error": st.error, "warning": st.warning, "info": st.info}[msg.severity](body)


def coming_next(what: str, issue_title: str) -> None:
    """A plain statement of what this page will do, until its own work lands. No fake data."""
    st.info(
        f"**Not built yet.** {what}\n\nThis arrives with: *{issue_title}*.", icon=":material/construction:"
    )
