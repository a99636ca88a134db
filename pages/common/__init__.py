"""Streamlit helpers of the pages, one module per concern (no logic here: :mod:`apex_core` decides).

Shared by the pages: :mod:`~pages.common.session` (this session's settings, the map assets),
:mod:`~pages.common.errors` (``show_error``), :mod:`~pages.common.services` (the embedded services, the
default openEO backend and catalogue) and :mod:`~pages.common.signin` (a running OIDC device sign-in, on
the Job and Publish pages). Each page's own helpers live next to them: ``projects``, ``area``, ``job``
(with ``export``), ``preview``, ``metadata``, ``publish``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:
    from pages.common.metadata import FormField

__all__ = ["render_field"]


def render_field(field: FormField, key: str | None = None) -> Any:
    """The widget for one :class:`pages.common.metadata.FormField`, in the current container, keyed ``key``
    (default ``field.key``; seed ``st.session_state[key]`` for its value); returns the widget's value."""
    kw: dict[str, Any] = {"key": key or field.key, "help": field.help}
    labels = dict(zip(field.options, field.option_labels, strict=False))
    value: Any
    if field.kind == "textarea":
        write, show = st.tabs([f"{field.label} (markdown)", "Preview"]) if field.markdown else (st, None)
        value = write.text_area(field.label, height=120, **kw)
        if show is not None:
            show.markdown(value)
    elif field.kind == "select":
        value = st.selectbox(field.label, field.options, format_func=lambda o: labels.get(o, o), **kw)
    elif field.kind == "radio":
        value = st.radio(field.label, field.options, horizontal=True, **kw)
    elif field.kind == "multiselect":
        value = st.multiselect(field.label, field.options, **kw)
    elif field.kind == "number":
        value = st.number_input(field.label, format=field.number_format, **kw)
    elif field.kind == "checkbox":
        value = st.checkbox(field.label, **kw)
    else:  # text, list (comma-separated); live_text is sent while the person types (250 ms pause)
        value = st.text_input(field.label, live=field.kind == "live_text", **kw)
    if field.caption:
        st.caption(field.caption)
    return value
