"""After Publish, the Catalogue: what the catalogue holds (searchable, paged, on the map), one collection
for people (metadata, items on a timeline and on the map, a quicklook with its legend), and, signed in,
edit it (PATCH, the diff first), delete an item or the collection, add this project's results to it,
share a read-only view."""

from __future__ import annotations

import streamlit as st

from apex_core import ApexError
from apex_core.flow import StateKey, WidgetPrefix
from pages.common.catalogue import (
    add_results_section,
    choose_collection,
    code,
    collection_list,
    collection_panel,
    collection_view,
    delete_section,
    edit_section,
    share_section,
)
from pages.common.errors import show_error
from pages.common.publish import catalogue_sign_in, catalogue_token, forget_catalogue_reads
from pages.common.services import catalogue_target
from pages.common.session import settings

W = WidgetPrefix.CATALOGUE

st.title("Catalogue")
target = catalogue_target()
if target is None:
    off = "the embedded one is off (APEX_EMBEDDED_AUTOSTART=false): set APEX_CATALOGUE_URL"
    st.info(
        "No catalogue yet: " + ("the embedded one is starting…" if settings().embedded_autostart else off)
    )
else:
    st.write(f"Catalogue: **{target.url}**" + (" (embedded, local)" if target.embedded else ""))
    if catalogue_token(target) is not None:  # signed in (here or on the Publish page): say so
        token = catalogue_sign_in(target)
    else:
        with st.expander("Sign in to the catalogue", icon=":material/key:"):
            token = catalogue_sign_in(target)
    if token is None:
        st.caption(
            ":material/lock: Signed out: you see the collections anyone may read. Signing in may show "
            "more (private collections your roles may read), and lets you edit and delete."
        )
    if (done := st.session_state.pop(StateKey.CATALOGUE_DONE, None)) is not None:
        st.success(done, icon=":material/done:")
    st.button("Refresh", key=W + "refresh", icon=":material/refresh:", on_click=forget_catalogue_reads)
    try:
        collections = collection_list(target, token)
        chosen = choose_collection(collections, W, st.query_params.get("collection"))
        view = collection_view(target, token, chosen) if chosen is not None else None
    except ApexError as exc:
        show_error(exc)
        chosen = view = None
    if chosen is not None and view is None:
        st.warning(f"{code(chosen)} is no longer in the catalogue, or this sign-in may not read it.")
    if view is not None:
        collection_panel(target, token, view, W)
        share_section(target, view)
        if token is not None:
            actions = ("Edit", "Delete", "Add this project's results")  # only the chosen one runs
            action = st.segmented_control("Manage this collection", actions, default="Edit", key=W + "action")
            if action == actions[0]:
                edit_section(target, token, view)
            elif action == actions[1]:
                delete_section(target, token, view)
            elif action == actions[2]:
                add_results_section(view)
        else:
            st.caption("Sign in to edit or delete this collection, or to add results to it.")
