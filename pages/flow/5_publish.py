"""Step 5, Publish: write the collection and its items to a STAC API catalogue, idempotently, resumably."""

from __future__ import annotations

import streamlit as st

from apex_core import MetadataError
from apex_core import publish as pub
from apex_core.steps import StateKey
from pages.common.errors import show_error
from pages.common.projects import project_query
from pages.common.publish import (
    ADD,
    add_to_existing,
    apex_status,
    catalogue_conformance,
    catalogue_sign_in,
    conflict_or_resume,
    delete_section,
    explorer_section,
    publish_mode,
    publish_run,
    rehost_choice,
    rehost_promise,
    run_publish,
    show_publish_result,
)
from pages.common.services import catalogue_target
from pages.common.session import settings

st.title("Publish")
# No st.stop() in pages: it would also stop app.py from drawing the stepper after the page.
base: pub.PublishPlan | None = None
try:
    base = pub.PublishPlan.from_metadata(st.session_state.get(StateKey.METADATA))
except MetadataError:
    st.warning("**Nothing to publish yet.** The Metadata step has no valid collection: finish it first.")
    st.page_link("pages/flow/4_metadata.py", label="Go to the Metadata step", icon=":material/edit_note:")
if base is not None:
    apex_status()
target = catalogue_target() if base is not None else None
if base is not None and target is None:
    off = "the embedded one is off (APEX_EMBEDDED_AUTOSTART=false): set APEX_CATALOGUE_URL"
    st.info(
        "No catalogue yet: " + ("the embedded one is starting…" if settings().embedded_autostart else off)
    )
if base is not None and target is not None:
    st.write(f"Catalogue: **{target.url}**" + (" (embedded, local)" if target.embedded else ""))
    n = len(base.items)
    st.write(f"Collection **{base.collection_id}** with {n} item{'' if n == 1 else 's'}.")
    conformance, problem = catalogue_conformance(target.url)
    if problem is not None:
        show_error(problem)
    elif conformance is not None:
        (st.caption if conformance.transactions else st.error)(conformance.message)
    token = catalogue_sign_in(target)
    can_publish = token is not None and conformance is not None and conformance.transactions
    rehost = rehost_choice(target, base)
    rehost_promise(rehost)
    # a new collection, or these items added to one the catalogue has (after seeing what changes)
    to_publish: pub.PublishPlan | None = base
    if publish_mode() == ADD:
        to_publish = add_to_existing(target, token, base)

    def go(plan: pub.PublishPlan, state: pub.PublishState | None) -> None:
        assert token is not None and base is not None and target is not None
        run_publish(
            target,
            token,
            conformance,
            plan,
            state,
            rehost=rehost,
            base_id=base.collection_id,
            base_items=base.item_ids,
        )

    if st.button("Publish", type="primary", disabled=not can_publish or to_publish is None, key="pub_go"):
        assert to_publish is not None
        go(to_publish, None)
    result = publish_run(base).result
    if result is not None and not result.ok and can_publish:
        assert token is not None
        chosen = conflict_or_resume(result, target, token)
        if chosen is not None:
            go(*chosen)
            st.rerun()

    result = publish_run(base).result  # the run the buttons above made, if they did
    if result is not None:
        show_publish_result(result, settings().stac_browser_url)
        if result.ok:
            st.page_link(
                "pages/flow/6_catalogue.py",
                label="See it in the Catalogue (map, legend, share link)",
                icon=":material/travel_explore:",
                query_params={**project_query(), "collection": result.plan.collection_id},
            )
            explorer_section(result)
    current = result.plan if result is not None else base  # a new id, once chosen, is what exists
    delete_section(target, token, current, result.state.kept if result is not None else ())
