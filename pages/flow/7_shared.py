"""The shared view: one published collection, read-only, with no sign-in for public collections (map,
timeline, legend, metadata): the link a stakeholder is sent (``<app>/shared?collection=<id>``). Without
a collection in the link it lists the collections anyone may read."""

from __future__ import annotations

import streamlit as st

from apex_core import ApexError
from apex_core.flow import WidgetPrefix
from pages.common.catalogue import (
    choose_collection,
    code,
    collection_list,
    collection_panel,
    collection_view,
)
from pages.common.errors import show_error
from pages.common.services import catalogue_target

W = WidgetPrefix.SHARED

target = catalogue_target()
wanted = st.query_params.get("collection")
st.caption(":material/share: Shared from APEx Publisher: a read-only view of what was published.")
if target is None:
    st.info("The catalogue is starting…")
else:
    try:
        if wanted:
            view = collection_view(target, None, wanted)
            if view is None:
                st.title("Not found")
                st.warning(
                    f"The collection {code(wanted)} is not in the catalogue, or it is not public: open it "
                    "in the app's Catalogue page and sign in with a role that may read it."
                )
            else:
                collection_panel(target, None, view, W)
        else:
            st.title("Published collections")
            chosen = choose_collection(collection_list(target, None), W)
            if chosen is not None:
                st.query_params["collection"] = chosen
                st.rerun()
    except ApexError as exc:
        show_error(exc)
