"""Streamlit helpers of the Publish page: asset hosting choice, publish/resume, conflict answer, delete.

No logic here: :mod:`apex_core.publish`, :mod:`apex_core.assets` and :mod:`apex_core.storage` decide.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from apex_core import ApexError, CatalogueConflict
from apex_core import publish as pub
from apex_core.assets import local_asset_files
from apex_core.catalogue import AccessToken, CatalogueClient, CatalogueTarget, Conformance
from apex_core.steps import StateKey
from apex_core.storage import S3AssetStore, asset_store
from pages.common import settings, show_error

__all__ = ["RUN", "conflict_or_resume", "delete_section", "publish_run", "rehost_choice", "run_publish"]

RUN = "apex_publish_run"  # this page's state: {"result": PublishResult, "base": metadata's collection id}


def publish_run(base: pub.PublishPlan) -> dict[str, Any]:
    """This session's publish run for ``base`` (forgotten when the metadata names another collection)."""
    run: dict[str, Any] = st.session_state.setdefault(RUN, {})
    if run.get("base") not in (None, base.collection_id):
        run.clear()
    return run


def rehost_choice(target: CatalogueTarget, base: pub.PublishPlan) -> bool:
    """The re-host checkbox (S3 bucket from the settings, else the catalogue's asset store); without
    re-hosting, a warning per link that will expire."""
    s3 = S3AssetStore.from_settings(settings())
    where = s3.label if s3 is not None else "the catalogue's asset store"
    available = s3 is not None or bool(target.assets_url)
    rehost = st.checkbox(
        f"Re-host the GeoTIFFs as COGs in {where} first",
        value=available,
        disabled=not available,
        key="pub_rehost",
        help=None
        if available
        else "No asset store for this catalogue: set APEX_S3_BUCKET (and its settings).",
    )
    if not rehost:
        for warning in pub.expiry_warnings(base):
            st.warning(warning, icon=":material/timer:")
    return rehost


def run_publish(
    target: CatalogueTarget,
    token: AccessToken,
    conformance: Conformance | None,
    plan: pub.PublishPlan,
    state: pub.PublishState | None,
    *,
    rehost: bool,
    run: dict[str, Any],
    base_id: str,
) -> None:
    """Publish (or resume) with a progress bar; keeps the result in ``run`` and the published URLs."""
    bar = st.progress(0.0, text="Starting…")
    with CatalogueClient(target.url, token.access_token, timeout=settings().http_timeout) as client:
        done = pub.publish(
            client,
            plan,
            state,
            progress=lambda d, t, m: bar.progress(min(d / max(t, 1), 1.0), text=m),
            bulk=conformance.bulk if conformance else None,
            rehost_to=asset_store(settings(), client, target.assets_url) if rehost else None,
            local_files=local_asset_files((plan.collection, *plan.items), st.session_state.get(StateKey.JOB)),
        )
    run.update(result=done, base=base_id)
    if done.ok:
        st.session_state[StateKey.PUBLISHED] = done.published(settings().stac_browser_url)


def conflict_or_resume(result: pub.PublishResult) -> tuple[pub.PublishPlan, pub.PublishState | None] | None:
    """After a stopped publish: the conflict's answer (update / replace / new id) or Resume; returns
    the plan and state to publish with when the user chose, else None."""
    if not isinstance(result.error, CatalogueConflict):
        if st.button("Resume", key="pub_resume", help="Continue from the last step that succeeded."):
            return result.plan, result.state
        return None
    choice = st.radio(
        "The id exists already with other content:",
        ["update (PATCH)", "replace (PUT with `_auth`)", "publish under a new id"],
        key="pub_conflict",
    )
    new_id = st.text_input("New collection id", value=f"{result.plan.collection_id}-2", key="pub_new_id")
    if not st.button("Continue", key="pub_conflict_go"):
        return None
    if choice == "publish under a new id":
        return result.plan.with_new_id(new_id), None
    return result.plan.with_conflict("update", "put" if "PUT" in choice else "patch"), result.state


def delete_section(
    target: CatalogueTarget, token: AccessToken | None, current: pub.PublishPlan, run: dict[str, Any]
) -> None:
    """The notebook's clean-up, behind typing the collection id."""
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
