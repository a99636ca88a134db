"""The one way pages show an error: the table in :mod:`apex_core.errors` decides the words."""

from __future__ import annotations

import logging

import streamlit as st

from apex_core import ApexError, user_message
from apex_core.errors import ProcessGraphRefused

__all__ = ["show_error"]

logger = logging.getLogger(__name__)


def show_error(exc: BaseException) -> None:
    """The one way pages show an error: the table in apex_core.errors decides the words."""
    if not isinstance(exc, ApexError):
        logger.error("unexpected error", exc_info=exc)
    msg = user_message(exc)
    body = f"**{msg.title}.** {msg.detail}"
    if isinstance(exc, ProcessGraphRefused):  # each problem as the backend named it
        body += "".join(f"\n- `{code}`: {message}" for code, message in exc.problems)
    body += f"\n\n{msg.hint}"
    if msg.code or msg.request_id:
        body += f"\n\n`{msg.code or ''}` {('request id ' + msg.request_id) if msg.request_id else ''}"
    {"error": st.error, "warning": st.warning, "info": st.info}[msg.severity](body)
