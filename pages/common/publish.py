"""Streamlit helpers of the Publish page: the catalogue's conformance, signing in to the catalogue,
new collection or add to an existing one (its preview: extents before/after, items new/same/differs with
their diffs and "replace" choices), asset hosting choice, publish/resume, conflict answer, the result, the
hand-over to the APEx Geospatial Explorer, delete.

No logic here: :mod:`apex_core.publish`, :mod:`apex_core.assets` and :mod:`apex_core.storage` decide.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import streamlit as st

from apex_core import ApexError, CatalogueConflict
from apex_core import publish as pub
from apex_core.assets import local_asset_files
from apex_core.catalogue import (
    AccessToken,
    CatalogueClient,
    CatalogueTarget,
    Conformance,
    device_sign_in,
)
from apex_core.device import DeviceSignIn
from apex_core.explorer import ExplorerHandover, check_cors, handover_of
from apex_core.flow import MetadataOutcome, Published, PublishRun, StateKey
from apex_core.merge import MergePlan
from apex_core.metadata import format_time_left
from apex_core.storage import S3AssetStore, asset_store
from pages.common.errors import show_error
from pages.common.session import settings
from pages.common.signin import DeviceSignInUi, cancel_sign_in, show_sign_in, start_sign_in

__all__ = [
    "ADD",
    "NEW",
    "RUN",
    "add_to",
    "add_to_existing",
    "apex_status",
    "catalogue_conformance",
    "catalogue_sign_in",
    "catalogue_token",
    "conflict_or_resume",
    "delete_section",
    "explorer_section",
    "forget_catalogue_reads",
    "publish_mode",
    "publish_run",
    "rehost_choice",
    "rehost_promise",
    "run_publish",
    "show_publish_result",
]

RUN = StateKey.PUBLISH_RUN  # this page's state: a PublishRun (result, and the metadata's collection id)
_TOKENS_KEY = StateKey.CATALOGUE_TOKENS  # {catalogue url: AccessToken}; only ever in session state
_DEVICE_KEY = StateKey.CATALOGUE_DEVICE_FLOW  # the running DeviceSignIn at the catalogue's issuer
_COLLECTIONS_KEY = StateKey.CATALOGUE_COLLECTIONS  # cache: {catalogue url: [(id, title)]}
_MERGE_KEY = StateKey.PUBLISH_MERGE  # (fingerprint of what was previewed, MergePlan)
NEW = "New collection"
ADD = "Add to an existing collection"
_DEVICE_UI = DeviceSignInUi(_DEVICE_KEY, ".", "Cancel", "pub_device_cancel", continue_key="pub_device_poll")


def catalogue_conformance(url: str) -> tuple[Conformance | None, ApexError | None]:
    """The catalogue's conformance (transactions, bulk), asked once per session and URL."""
    cache = st.session_state.setdefault(StateKey.CATALOGUE_CONFORMANCE, {})
    if url not in cache:
        try:
            with CatalogueClient(url, timeout=min(settings().http_timeout, 10.0)) as client:
                cache[url] = (client.conformance(), None)
        except ApexError as exc:
            return None, exc  # not cached: retried on the next run
    found: tuple[Conformance | None, ApexError | None] = cache[url]
    return found


def catalogue_token(target: CatalogueTarget) -> AccessToken | None:
    """The session's token for ``target``, or None (signed out)."""
    token = st.session_state.get(_TOKENS_KEY, {}).get(target.url)
    return token if isinstance(token, AccessToken) else None


def _keep_token(target: CatalogueTarget, token: AccessToken | None) -> None:
    tokens = st.session_state.setdefault(_TOKENS_KEY, {})
    if token is None:
        tokens.pop(target.url, None)
    else:
        tokens[target.url] = token
    cancel_sign_in(_DEVICE_KEY)


def catalogue_sign_in(target: CatalogueTarget) -> AccessToken | None:
    """Sign-in widgets for ``target``; returns the session's token. Tokens stay in session state."""
    token = catalogue_token(target)
    left = token.seconds_left() if token is not None else None
    if token is not None and left is not None and left <= 0:
        _keep_token(target, None)
        st.warning("Your session has expired: sign in again; your work is kept.", icon=":material/key_off:")
        token = None
    if token is not None:
        when = format_time_left(left) if left is not None else "no expiry known"
        st.success(f"Signed in ({token.source}); token {when}.", icon=":material/key:")
        st.button("Sign out", key="pub_sign_out", on_click=_keep_token, args=(target, None))
        return token
    timeout = settings().http_timeout
    method = st.radio("Sign in with", target.sign_in_methods, horizontal=True, key="pub_sign_in_method")
    try:
        if method == "local account":
            names = [c.name for c in target.local_clients]
            name = st.selectbox(
                "Local account",
                names,
                index=names.index("editor") if "editor" in names else 0,
                format_func=lambda n: (
                    f"{n} (roles: {', '.join(target.local_clients[names.index(n)].roles) or 'none'})"
                ),
                key="pub_local_account",
            )
            if st.button("Sign in", key="pub_sign_in_local"):
                _keep_token(target, target.local_token(name, timeout=timeout))
                st.rerun()
        elif method == "client credentials":
            st.caption(f"Client `{settings().oidc_client_id}` from the settings, at {target.oidc_issuer}.")
            if st.button("Sign in", key="pub_sign_in_client"):
                _keep_token(target, target.settings_token(settings(), timeout=timeout))
                st.rerun()
        elif method == "device sign-in":
            _device_sign_in(target, timeout)
        else:
            pasted = st.text_input("Access token", type="password", key="pub_pasted_token")
            if st.button("Use this token", key="pub_use_token", disabled=not pasted):
                _keep_token(target, AccessToken.pasted(pasted))
                st.session_state.pop("pub_pasted_token", None)
                st.rerun()
    except ApexError as exc:
        show_error(exc)
    return None


def _device_sign_in(target: CatalogueTarget, timeout: float) -> None:
    assert target.oidc_issuer is not None
    client_id = st.text_input(
        "Client id",
        value=target.device_client_id or "",
        help="For APEx: <project>-catalogue-prod.",
        key="pub_device_client",
    )

    def approved(flow: DeviceSignIn[AccessToken]) -> None:
        _keep_token(target, flow.result())

    if show_sign_in(_DEVICE_UI, approved, wait=timeout):
        return
    if st.button("Start sign-in", key="pub_device_start", disabled=not client_id):
        flow = device_sign_in(target.oidc_issuer, client_id, timeout=timeout)
        start_sign_in(_DEVICE_UI, flow, wait=timeout)


def publish_run(base: pub.PublishPlan) -> PublishRun:
    """This session's publish run for ``base`` (forgotten when the metadata names another collection)."""
    run: PublishRun = st.session_state.get(RUN) or PublishRun()
    st.session_state[RUN] = run = run.for_base(base.collection_id, base.item_ids)
    return run


def rehost_choice(target: CatalogueTarget, base: pub.PublishPlan) -> bool:
    """The re-host checkbox (S3 bucket from the settings, else the catalogue's asset store); without
    re-hosting, a warning per link that will expire."""
    s3 = S3AssetStore.from_settings(settings())
    where = s3.label if s3 is not None else "the catalogue's asset store"
    available = s3 is not None or bool(target.assets_url)
    rehost = st.checkbox(
        f"Re-host the result files in {where} first (GeoTIFFs as COGs)",
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


def apex_status() -> None:
    """Whether what is about to be published is APEx-ready (the Metadata step's report), said plainly."""
    outcome = st.session_state.get(StateKey.METADATA)
    report = outcome.apex if isinstance(outcome, MetadataOutcome) else None
    if report is None:
        return
    if report.ready:
        st.caption(":green[:material/verified:] APEx-ready: every APEx rule that applies holds.")
        return
    rules = ", ".join(sorted({r.rule for r in report.failures}))
    st.warning(
        f"**Not APEx-ready**: {len(report.failures)} rule check(s) fail ({rules}). The Metadata step shows "
        "them with their fixes; publishing anyway is allowed.",
        icon=":material/rule:",
    )


def rehost_promise(rehost: bool) -> None:
    """The APEx report counted on re-hosting (its COG fix): say what is lost when it is not done."""
    outcome = st.session_state.get(StateKey.METADATA)
    if isinstance(outcome, MetadataOutcome) and outcome.rehost and not rehost:
        st.warning(
            "**Not APEx-ready without re-hosting**: the Metadata step's report counts on the files being "
            "re-hosted as COGs (EXPLORER-REC-01/02/03, `file:size`). Tick the box above, or publish the "
            "links as they are.",
            icon=":material/rule:",
        )


def local_files(plan: pub.PublishPlan) -> dict[str, Path]:
    """href -> the file on this machine: the Job step's downloads and the files attached on the Metadata
    page (re-hosting reads them instead of the href, whose signed link may have expired)."""
    found = local_asset_files((plan.collection, *plan.items), st.session_state.get(StateKey.JOB))
    outcome = st.session_state.get(StateKey.METADATA)
    if isinstance(outcome, MetadataOutcome):
        found.update({href: path for href, path in outcome.local_files if path.is_file()})
    return found


def run_publish(
    target: CatalogueTarget,
    token: AccessToken,
    conformance: Conformance | None,
    plan: pub.PublishPlan,
    state: pub.PublishState | None,
    *,
    rehost: bool,
    base_id: str,
    base_items: tuple[str, ...] | None = None,
) -> None:
    """Publish (or resume) with a progress bar; keeps the run (its result, for ``base_id`` and the
    Metadata step's ``base_items``) and the published URLs."""
    bar = st.progress(0.0, text="Starting…")
    with CatalogueClient(target.url, token.access_token, timeout=settings().http_timeout) as client:
        done = pub.publish(
            client,
            plan,
            state,
            progress=lambda d, t, m: bar.progress(min(d / max(t, 1), 1.0), text=m),
            bulk=conformance.bulk if conformance else None,
            rehost_to=asset_store(settings(), client, target.assets_url) if rehost else None,
            local_files=local_files(plan),
        )
    st.session_state[RUN] = PublishRun(base_id, done, base_items)
    st.session_state.pop(_MERGE_KEY, None)  # what it previewed has changed: preview again before more
    forget_catalogue_reads()
    if done.ok:
        st.session_state[StateKey.PUBLISHED] = Published.of(done, settings().stac_browser_url)


def forget_catalogue_reads() -> None:
    """After any write to the catalogue (publish, add, edit, delete): what this session read of it (the
    collection lists, the Catalogue page's view and quicklooks) is read again when next shown."""
    for key in (
        StateKey.CATALOGUE_COLLECTIONS,
        StateKey.CATALOGUE_LIST,
        StateKey.CATALOGUE_VIEW,
        StateKey.CATALOGUE_QUICKLOOKS,
    ):
        st.session_state.pop(key, None)


def add_to(collection_id: str) -> None:
    """Set this page to add the project's results to ``collection_id`` (the Catalogue page's button)."""
    st.session_state["pub_mode"] = ADD
    st.session_state["pub_add_to"] = collection_id
    st.session_state.pop(_MERGE_KEY, None)


def publish_mode() -> str:
    """New collection, or add to one the catalogue has."""
    mode: str = st.radio("Publish as", [NEW, ADD], horizontal=True, key="pub_mode")
    return mode


def _collections(target: CatalogueTarget, token: AccessToken, refresh: bool) -> list[tuple[str, str]]:
    """(id, title) of the collections this token can read, asked once per session (and on refresh)."""
    cache: dict[str, list[tuple[str, str]]] = st.session_state.setdefault(_COLLECTIONS_KEY, {})
    if refresh or target.url not in cache:
        with CatalogueClient(target.url, token.access_token, timeout=settings().http_timeout) as client:
            docs = client.collections()
        cache[target.url] = sorted((str(d["id"]), str(d.get("title") or "")) for d in docs)
    return cache[target.url]


def _fingerprint(target: CatalogueTarget, plan: pub.PublishPlan) -> str:
    """What a preview was made for: the catalogue, the collection, the documents to add."""
    doc: dict[str, Any] = {"url": target.url, "plan": plan.to_dict()}
    doc["plan"].pop("replace", None)
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _extent_rows(merged: MergePlan) -> list[dict[str, str]]:
    rows = []
    for which in ("before", "after"):
        boxes, intervals = merged.extent(which)
        rows.append(
            {
                "": which,
                "spatial (overall bbox)": ", ".join(f"{v:g}" for v in boxes[0]) if boxes else "none",
                "temporal (overall interval)": " to ".join(str(v or "open") for v in intervals[0])
                if intervals
                else "none",
            }
        )
    return rows


def _show_merge(merged: MergePlan) -> list[str]:
    """The preview; returns the item ids the person chose to replace."""
    st.markdown(f"**What adding changes in {merged.collection_id}**")
    st.dataframe(_extent_rows(merged), hide_index=True, key="pub_merge_extents")
    st.caption(merged.summary)
    if merged.skipped and st.session_state.get("pub_rehost"):
        st.caption(
            "Re-hosting is on: this job's file links are compared as they are now, so an item published "
            "before with re-hosted files shows here as differing in its asset links. Leave it unticked to "
            "keep it (its file is then not re-hosted either)."
        )
    for note in merged.notes:
        st.caption(note)
    replace = []
    for p in merged.items:
        if p.status != "differs":
            continue
        with st.expander(f"Item {p.id}: the collection holds other content under this id", expanded=True):
            st.code(p.diff, language="diff")
            if st.checkbox(
                f"Replace item {p.id} with this job's",
                value=False,
                key=f"pub_replace_{p.id}",
                help="Unticked, the collection's item is kept and this job's is not written.",
            ):
                replace.append(p.id)
    new, same = merged.ids("new"), merged.ids("same")
    if new or same:
        with st.expander(f"{len(new)} new items, {len(same)} already there unchanged"):
            st.markdown("\n".join([*(f"- {i}: add" for i in new), *(f"- {i}: already there" for i in same)]))
    return replace


def add_to_existing(
    target: CatalogueTarget, token: AccessToken | None, base: pub.PublishPlan
) -> pub.PublishPlan | None:
    """Choose a collection of the catalogue (searchable), preview what adding changes, choose which
    differing items to replace; returns the plan to publish once previewed, else None."""
    if token is None:
        st.info("Sign in to list the catalogue's collections.")
        return None
    refresh = st.button("Refresh the list", key="pub_add_refresh")
    try:
        found = _collections(target, token, refresh)
    except ApexError as exc:
        show_error(exc)
        return None
    titles = dict(found)
    chosen = st.selectbox(
        "Collection to add to",
        list(titles),
        index=None,
        placeholder="Type to search the collections you can read…",
        format_func=lambda c: f"{c} — {titles[c]}" if titles.get(c) else c,
        key="pub_add_to",
    )
    if chosen is None:
        return None
    merged = _preview(target, token, base.adding_to(chosen), auto=False)
    if merged is None:
        st.caption("Preview the changes before publishing: nothing is written until you press Publish.")
        return None
    return base.adding_to(chosen, replace=_show_merge(merged))


def _preview(
    target: CatalogueTarget, token: AccessToken, plan: pub.PublishPlan, *, auto: bool
) -> MergePlan | None:
    """The preview of ``plan`` (kept while the documents and the target stay the same), made on the
    button (or at once when ``auto``)."""
    key = _fingerprint(target, plan)
    kept = st.session_state.get(_MERGE_KEY)
    merged = kept[1] if isinstance(kept, tuple) and kept[0] == key else None
    clicked = st.button("Preview the changes" if merged is None else "Preview again", key="pub_preview")
    if clicked or (auto and merged is None):
        try:
            with CatalogueClient(target.url, token.access_token, timeout=settings().http_timeout) as client:
                merged = pub.preview_merge(client, plan)
        except ApexError as exc:
            show_error(exc)
            return None
        st.session_state[_MERGE_KEY] = (key, merged)
    return merged


def conflict_or_resume(
    result: pub.PublishResult, target: CatalogueTarget, token: AccessToken
) -> tuple[pub.PublishPlan, pub.PublishState | None] | None:
    """After a stopped publish: the conflict's answer (add to it / update / replace / new id; the first
    three after a preview of what changes, with a "replace" choice per item holding other content) or
    Resume; returns the plan and state to publish with when the user chose, else None."""
    if not isinstance(result.error, CatalogueConflict):
        if st.button("Resume", key="pub_resume", help="Continue from the last step that succeeded."):
            return result.plan, result.state
        return None
    choice = st.radio(
        "The id exists already with other content:",
        [
            "add to it (merge: nothing there is overwritten)",
            "update (PATCH)",
            "replace (PUT with `_auth`)",
            "publish under a new id",
        ],
        key="pub_conflict",
        help="Adding keeps the collection's title, description, access rules and items, and grows its "
        "extents; update and replace give it this job's description (its extents grow all the same). "
        "Items the collection holds with other content are replaced only where you tick it.",
    )
    if choice == "publish under a new id":
        new_id = st.text_input("New collection id", value=f"{result.plan.collection_id}-2", key="pub_new_id")
        if st.button("Continue", key="pub_conflict_go"):
            return result.plan.with_new_id(new_id), None
        return None
    if choice.startswith("add to it"):
        plan = result.plan.adding_to(result.plan.collection_id)
    else:
        plan = result.plan.with_conflict("update", "put" if "PUT" in choice else "patch")
    merged = _preview(target, token, plan, auto=True)
    if merged is None:
        return None
    replace = _show_merge(merged)
    if not st.button("Continue", key="pub_conflict_go"):
        return None
    return plan.with_conflict(plan.on_conflict, plan.update_method, replace), result.state


def delete_section(
    target: CatalogueTarget, token: AccessToken | None, current: pub.PublishPlan, kept: tuple[str, ...] = ()
) -> None:
    """The notebook's clean-up, behind typing the collection id. After adding to a collection: only
    this job's items (not ``kept``, the collection's own items under the same ids); the collection stays."""
    ids = [i for i in current.item_ids if i not in kept]
    with st.expander("Delete from the catalogue"):
        if current.merging:
            st.caption(
                f"Deletes this job's {len(ids)} items from {current.collection_id}; the collection and its "
                "other items stay."
            )
        else:
            st.caption("Deletes the collection's items and then the collection (the notebook's clean-up).")
        confirm = st.text_input(f"Type {current.collection_id} to confirm", key="pub_delete_confirm")
        if st.button("Delete", disabled=token is None or confirm != current.collection_id, key="pub_delete"):
            assert token is not None
            try:
                with CatalogueClient(
                    target.url, token.access_token, timeout=settings().http_timeout
                ) as client:
                    gone = pub.delete_published(
                        client, current.collection_id, ids, keep_collection=current.merging
                    )
                st.success(gone.message)
                forget_catalogue_reads()
                st.session_state.pop(StateKey.PUBLISHED, None)
                st.session_state[RUN] = PublishRun(st.session_state[RUN].base)
            except ApexError as exc:
                show_error(exc)


def show_publish_result(result: pub.PublishResult, browser_url: str | None) -> None:
    """Where a publish got to: the URLs when done, else the error and the steps done; notes, the log."""
    if result.ok:
        published = Published.of(result, browser_url)
        st.success(
            f"Published: [{result.collection_url}]({result.collection_url})", icon=":material/done_all:"
        )
        if published.browser_url:
            st.markdown(f"[Open in the STAC Browser]({published.browser_url})")
        with st.expander(f"{len(result.item_urls)} item URLs"):
            st.markdown("\n".join(f"- {u}" for u in result.item_urls))
    elif result.error is not None:
        show_error(result.error)
        st.caption(f"Done so far: {', '.join(result.state.done) or 'nothing'}.")
    for note in result.notes:
        st.caption(note)
    st.dataframe([e.to_dict() for e in result.state.log], hide_index=True, key="pub_log")
    st.download_button(
        "Download the publish log (JSON)", pub.log_json(result.state), "publish-log.json", "application/json"
    )


def explorer_section(result: pub.PublishResult) -> None:
    """After a publish: the APEx Geospatial Explorer's ``sources`` entry and whole configuration for the
    new layer, and what the Explorer needs that the catalogue does not give; CORS checked on request."""
    kept = st.session_state.get(StateKey.EXPLORER)
    handover = handover_of(result, kept if isinstance(kept, ExplorerHandover) else None)
    st.subheader("Open in the APEx Geospatial Explorer")
    st.caption(
        "The Explorer is configured by one JSON document: add the `sources` entry below to an existing "
        "configuration, or start from the whole configuration."
    )
    if st.button(
        "Check CORS" if handover.cors is None else "Check CORS again",
        key="pub_explorer_cors",
        help=f"Sends the browser's CORS preflight (OPTIONS, Origin {handover.origin}) to the layer's URLs.",
    ):
        handover = check_cors(handover, timeout=min(settings().http_timeout, 10.0))
    st.session_state[StateKey.EXPLORER] = handover
    for unmet in handover.unmet:
        st.warning(f"**{unmet.rule}**: {unmet.message}", icon=":material/warning:")
    if handover.cors is None:
        st.caption("CORS not checked yet.")
    else:
        for check in handover.cors:
            if check.allowed:
                st.caption(f"CORS: {check.url} admits {handover.origin} ({check.allow_origin}).")
    if not handover.unmet and handover.cors is not None:
        st.success("The catalogue meets the Explorer's requirements checked here.", icon=":material/done:")
    legend = handover.legend
    if legend is None:
        st.caption("No legend: the metadata has neither render hints nor classification classes.")
    else:
        st.caption(f"Legend ({legend.kind}, {len(legend.entries)} entries) from {legend.source}.")
    if handover.timeframe is not None:
        st.caption(f"A series of {len(handover.layers)} layers: the Explorer picks by {handover.timeframe}.")
    st.markdown("**The `sources` entry**")
    st.code(json.dumps(handover.source(), indent=2, ensure_ascii=False), language="json")
    with st.expander("The whole configuration"):
        st.code(handover.config_json(), language="json")
    st.download_button(
        "Download the Explorer configuration (JSON)",
        handover.config_json(),
        f"explorer-{handover.collection_id}.json",
        "application/json",
        key="pub_explorer_download",
    )
