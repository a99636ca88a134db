"""Step 5, Publish: write the collection and its items to a STAC API catalogue, idempotently, resumably."""

from __future__ import annotations

import streamlit as st

from apex_core import ApexError, CatalogueConflict, MetadataError
from apex_core import publish as pub
from apex_core.assets import local_asset_files
from apex_core.catalogue import CatalogueClient
from apex_core.steps import StateKey
from pages.common import (
    catalogue_conformance,
    catalogue_sign_in,
    catalogue_target,
    settings,
    show_error,
    show_publish_result,
)

RUN = "apex_publish_run"  # this page's state: {"result": PublishResult, "base": metadata's collection id}

st.title("Publish")
# No st.stop() in pages: it would also stop app.py from drawing the stepper after the page.
base: pub.PublishPlan | None = None
try:
    base = pub.PublishPlan.from_metadata(st.session_state.get(StateKey.METADATA))
except MetadataError:
    st.warning("**Nothing to publish yet.** The Metadata step has no valid collection: finish it first.")
    st.page_link("pages/flow/4_metadata.py", label="Go to the Metadata step", icon=":material/edit_note:")
target = catalogue_target() if base is not None else None
if base is not None and target is None:
    off = "the embedded one is off (APEX_EMBEDDED_AUTOSTART=false): set APEX_CATALOGUE_URL"
    st.info(
        "No catalogue yet: " + ("the embedded one is starting…" if settings().embedded_autostart else off)
    )
if base is not None and target is not None:
    st.write(f"Catalogue: **{target.url}**" + (" (embedded, local)" if target.embedded else ""))
    st.write(f"Collection **{base.collection_id}** with {len(base.items)} items.")
    conformance, problem = catalogue_conformance(target.url)
    if problem is not None:
        show_error(problem)
    elif conformance is not None:
        (st.caption if conformance.transactions else st.error)(conformance.message)
    token = catalogue_sign_in(target)
    run = st.session_state.setdefault(RUN, {})
    if run.get("base") not in (None, base.collection_id):  # the metadata now names another collection
        run.clear()
    can_publish = token is not None and conformance is not None and conformance.transactions

    rehost = st.checkbox(
        "Re-host the GeoTIFFs as COGs in the catalogue's asset store first",
        value=bool(target.assets_url),
        disabled=not target.assets_url,
        help=None
        if target.assets_url
        else "No asset store for this catalogue (S3 buckets are not supported yet).",
    )
    if not rehost:
        for warning in pub.expiry_warnings(base):
            st.warning(warning, icon=":material/timer:")

    def go(plan: pub.PublishPlan, state: pub.PublishState | None) -> None:
        assert token is not None
        bar = st.progress(0.0, text="Starting…")
        with CatalogueClient(target.url, token.access_token, timeout=settings().http_timeout) as client:
            done = pub.publish(
                client,
                plan,
                state,
                progress=lambda d, t, m: bar.progress(min(d / max(t, 1), 1.0), text=m),
                bulk=conformance.bulk if conformance else None,
                rehost_to=target.assets_url if rehost else None,
                local_files=local_asset_files(plan, st.session_state.get(StateKey.JOB)),
            )
        run.update(result=done, base=base.collection_id)
        if done.ok:
            st.session_state[StateKey.PUBLISHED] = done.published(settings().stac_browser_url)

    if st.button("Publish", type="primary", disabled=not can_publish, key="pub_go"):
        go(base, None)
    result: pub.PublishResult | None = run.get("result")
    if result is not None and not result.ok and can_publish:
        if isinstance(result.error, CatalogueConflict):
            choice = st.radio(
                "The id exists already with other content:",
                ["update (PATCH)", "replace (PUT with `_auth`)", "publish under a new id"],
                key="pub_conflict",
            )
            new_id = st.text_input(
                "New collection id", value=f"{result.plan.collection_id}-2", key="pub_new_id"
            )
            if st.button("Continue", key="pub_conflict_go"):
                if choice == "publish under a new id":
                    go(result.plan.with_new_id(new_id), None)
                else:
                    go(
                        result.plan.with_conflict("update", "put" if "PUT" in choice else "patch"),
                        result.state,
                    )
                st.rerun()
        elif st.button("Resume", key="pub_resume", help="Continue from the last step that succeeded."):
            go(result.plan, result.state)
            st.rerun()

    result = run.get("result")
    if result is not None:
        show_publish_result(result, settings().stac_browser_url)
    current = result.plan if result is not None else base  # a new id, once chosen, is what exists

    with st.expander("Delete from the catalogue"):
        st.caption("Deletes the collection's items and then the collection (the notebook's clean-up).")
        confirm = st.text_input(f"Type {current.collection_id} to confirm", key="pub_delete_confirm")
        if st.button("Delete", disabled=token is None or confirm != current.collection_id, key="pub_delete"):
            assert token is not None
            try:
                with CatalogueClient(
                    target.url, token.access_token, timeout=settings().http_timeout
                ) as client:
                    gone = pub.delete_published(client, current.collection_id, list(current.item_ids))
                st.success(gone.message)
                st.session_state.pop(StateKey.PUBLISHED, None)
                run.pop("result", None)
            except ApexError as exc:
                show_error(exc)
