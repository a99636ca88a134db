"""Streamlit helpers of the Metadata page: the form, drawn from :mod:`apex_core.metadata`'s field list."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext

import streamlit as st

from apex_core import metadata as md
from pages.common import render_field

__all__ = ["edit_form", "notes"]


def notes(issues: Iterable[md.FieldIssue], *names: str) -> None:
    """The messages of ``issues`` (those about ``names``, when given), errors red, warnings orange."""
    for issue in (i for i in issues if not names or i.field in names):
        (st.error if issue.severity == "error" else st.warning)(issue.message, icon=":material/error:")


def edit_form(now: md.FormState, session: md.MetadataSession, prefix: str) -> None:
    """The form's sections, each field under ``prefix + field.key``, with its messages under it."""
    for section in md.FORM_SECTIONS:
        if section.heading:
            st.markdown(section.heading)
        if section.caption:
            st.caption(section.caption)
        providers = section.name == "providers"  # a provider's row ends with its delete button
        align = "bottom" if providers else "top"
        for n, row in enumerate(md.form_rows(now.fields, section.name)):
            widths = [f.width for f in row] + [1] * providers
            cols = st.columns(widths, vertical_alignment=align) if len(widths) > 1 else [nullcontext()]
            for col, field in zip(cols, row, strict=False):
                with col:
                    render_field(field, prefix + field.key)
            if providers:
                cols[-1].button(
                    "",
                    key=f"{prefix}remove_{n}",
                    icon=":material/delete:",
                    on_click=session.edit_providers,
                    args=(n,),
                )
            notes(i for f in row for i in f.issues)
        if providers:
            st.button("Add provider", on_click=session.edit_providers, icon=":material/add:")
            notes(now.evaluation.issues, "providers")
