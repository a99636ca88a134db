"""Streamlit helpers of the Catalogue page and the shared view: the catalogue's collections (searchable,
paged, on a map), one collection for people (its metadata, its items on a timeline and on the map, an
item's quicklook with its legend, the JSON one click away), and, signed in, editing it in the Metadata
form (PATCH, the diff first), deleting an item or the collection behind a typed confirmation, adding the
current project's results to it.

No logic here: :mod:`apex_core.browse` reads, :mod:`apex_core.quicklook` draws, :mod:`apex_core.curate`
edits and deletes. What was read is kept in this session's state, keyed by the catalogue, the token and
the collection, and read again only on "Refresh" or after a write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import altair as alt
import pandas as pd
import streamlit as st

from apex_core import ApexError, browse, curate
from apex_core.catalogue import AccessToken, CatalogueClient, CatalogueTarget
from apex_core.flow import MetadataOutcome, StateKey, WidgetPrefix
from apex_core.publish import browser_link
from apex_core.quicklook import Quicklook, quicklook, quicklook_map
from pages.common.errors import show_error
from pages.common.foliummap import cached_st_folium
from pages.common.metadata import FormState, MetadataSession, edit_form
from pages.common.publish import add_to, forget_catalogue_reads
from pages.common.session import map_assets, settings

__all__ = [
    "CATALOGUE_PAGE",
    "SHARED_PAGE",
    "add_results_section",
    "choose_collection",
    "code",
    "collection_list",
    "collection_panel",
    "collection_view",
    "delete_section",
    "edit_section",
    "share_section",
]

T = TypeVar("T")
_KEPT = 8  # reads kept per kind (collection lists, collections, quicklooks) in a session
SHARED_PAGE = "shared"  # the shared view's url path: <app>/shared?collection=<id>
CATALOGUE_PAGE = "catalogue"  # the Catalogue page's url path
_EDIT_FORM_SECTIONS = ("main", "providers", "extent", "access", "render", "links")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _kept(key: StateKey, ident: tuple[str, ...], token: AccessToken | None, read: Callable[[], T]) -> T:
    """What ``read()`` gave for ``ident`` under this very token, kept in this session's state (the
    newest :data:`_KEPT` reads under ``key``); a signed-out read is never served to a signed-in page,
    nor the other way round."""
    cache: dict[tuple[object, ...], tuple[AccessToken | None, T]] = st.session_state.setdefault(key, {})
    full = (*ident, id(token))
    hit = cache.pop(full, None)
    value = hit[1] if hit is not None and hit[0] is token else read()
    cache[full] = (token, value)  # the newest last
    while len(cache) > _KEPT:
        del cache[next(iter(cache))]
    return value


def collection_list(target: CatalogueTarget, token: AccessToken | None) -> browse.CollectionList:
    """The collections this token (or anonymous) may read, read once per catalogue and token."""

    def read() -> browse.CollectionList:
        with st.spinner("Reading the catalogue's collections…"):
            return browse.read_collections(target.url, token, timeout=settings().http_timeout)

    return _kept(StateKey.CATALOGUE_LIST, (target.url,), token, read)


def collection_view(
    target: CatalogueTarget, token: AccessToken | None, collection_id: str
) -> browse.CollectionView | None:
    """One collection and its items as this token may read them (None: absent or not readable), read
    once per catalogue, token and collection."""

    def read() -> browse.CollectionView | None:
        with st.spinner(f"Reading {code(collection_id)} and its items…"):
            return browse.open_collection(target.url, token, collection_id, timeout=settings().http_timeout)

    return _kept(StateKey.CATALOGUE_VIEW, (target.url, collection_id), token, read)


def code(text: str) -> str:
    """``text`` (an id from a link or a catalogue) as inline code in markdown: never markup."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def _table(collections: tuple[browse.CollectionSummary, ...], prefix: str) -> None:
    st.dataframe(
        [
            {
                "id": c.id,
                "title": c.title,
                "from": (c.interval[0] or "open")[:10],
                "to": (c.interval[1] or "open")[:10],
                **({"access": "public" if c.public else "private"} if c.public is not None else {}),
            }
            for c in collections
        ],
        hide_index=True,
        key=prefix + "table",
    )


def choose_collection(found: browse.CollectionList, prefix: str, wanted: str | None = None) -> str | None:
    """Search box, one page of matches (a table, their footprints on the map while none is chosen) and
    the choice; ``wanted`` (a link's collection) is chosen once."""
    collections = found.collections
    query = st.text_input(
        "Search the collections", key=prefix + "query", placeholder="words in the id, title, keywords…"
    )
    size = 20
    pages = browse.search_collections(collections, query, 1, size).pages
    number = 1
    if pages > 1:
        if int(st.session_state.get(prefix + "page", 1)) > pages:  # fewer matches than before
            st.session_state[prefix + "page"] = pages
        number = int(st.number_input("Page", 1, pages, 1, key=prefix + "page"))
    page = browse.search_collections(collections, query, number, size)
    more = f" (the first {len(collections)}: the catalogue has more)" if found.truncated else ""
    st.caption(
        f"{page.total} of {len(collections)} collection(s){more} match"
        + (f"; page {page.page} of {page.pages}." if page.pages > 1 else ".")
    )
    if page.collections:
        _table(page.collections, prefix)
    key, linked = prefix + "collection", prefix + "linked"
    # The choice kept (a link's the first time); set again each run: the browser matches a choice by
    # its label, and a label changes when the collection's title is edited.
    current = st.session_state.get(key)
    if wanted and st.session_state.get(linked) != wanted:
        st.session_state[linked] = current = wanted
    ids = [c.id for c in page.collections]
    titles = {c.id: c.title for c in collections}
    if current is not None and current not in ids and current in titles:
        ids.insert(0, current)  # chosen, or linked to, though not on this page of matches
    if current in ids:
        st.session_state[key] = current
    else:
        st.session_state.pop(key, None)  # gone from the catalogue (deleted)
    chosen: str | None = st.selectbox(
        "Collection",
        ids,
        index=None,
        placeholder="Choose a collection…",
        format_func=lambda c: f"{titles[c]} ({c})" if titles.get(c) and titles[c] != c else c,
        key=key,
    )
    if chosen is None:
        _map(browse.footprints(page.collections), None, None, prefix)
    return chosen


def _map(footprints: dict[str, Any], look: Quicklook | None, selected: str | None, prefix: str) -> None:
    cfg, assets = settings(), map_assets()
    tiles, attribution = cfg.basemap_url, cfg.basemap_attribution
    cached_st_folium(
        lambda: quicklook_map(
            assets,
            footprints=footprints,
            quicklook=look,
            selected=selected,
            tiles=tiles,
            attribution=attribution,
        ),
        (json.dumps(footprints, sort_keys=True), look, selected, tiles, attribution, assets),
        state_key=prefix + "map_rendered",
        key=prefix + "map",
        height=460,
        returned_objects=[],
    )


def _metadata(view: browse.CollectionView) -> None:
    """The collection's metadata for people, the JSON one click away."""
    meta = browse.readable(view.collection)
    st.markdown(meta.description or "_No description._")
    licence = f"[{meta.license}]({meta.license_href})" if meta.license_href else (meta.license or "none")
    start, end = meta.temporal
    facts = [
        f"**Licence:** {licence}",
        f"**Time:** {(start or 'open')[:10]} to {(end or 'open')[:10]}",
    ]
    if meta.spatial is not None:
        facts.append("**Area (W, S, E, N):** " + ", ".join(f"{v:.4f}" for v in meta.spatial))
    if meta.keywords:
        facts.append("**Keywords:** " + ", ".join(meta.keywords))
    if meta.access is not None:
        read, write = meta.access
        facts.append(f"**Readable by:** {', '.join(read) or 'nobody'} · **writable by:** {', '.join(write)}")
    st.markdown("  \n".join(facts))
    for title, rows in (
        ("Providers", meta.providers),
        ("Bands", meta.bands),
        ("Statistics", meta.statistics),
        ("Links", meta.links),
    ):
        if rows:
            st.markdown(f"**{title}**")
            st.dataframe(list(rows), hide_index=True)
    with st.expander("The collection's JSON"):
        st.json(view.collection, expanded=2)


def _timeline(view: browse.CollectionView, chosen: str | None) -> None:
    """The items on one time line: a dot per date, a bar per interval (a composite); the chosen one
    stands out, each names its item on hover."""
    rows = browse.timeline_rows(view)
    if not rows:
        return
    frame = pd.DataFrame(rows)
    frame["start"] = pd.to_datetime(frame["start"], utc=True, errors="coerce")
    frame["end"] = pd.to_datetime(frame["end"], utc=True, errors="coerce")
    frame["chosen"] = frame["item"] == chosen
    color = alt.condition("datum.chosen", alt.value("#d9480f"), alt.value("#0b6bcb"))
    tooltip = [
        alt.Tooltip("item:N", title="Item"),
        alt.Tooltip("start:T", title="From", format="%Y-%m-%d"),
        alt.Tooltip("end:T", title="To", format="%Y-%m-%d"),
    ]
    base = alt.Chart(frame).encode(x=alt.X("start:T", title=None), color=color, tooltip=tooltip)
    chart = base.mark_rule(strokeWidth=6, strokeCap="round").encode(x2="end:T") + base.mark_point(
        filled=True, size=90, opacity=0.9
    ).encode(size=alt.condition("datum.chosen", alt.value(200), alt.value(90)))
    st.altair_chart(chart.properties(height=70), width="stretch")


def _quicklook(
    target: CatalogueTarget, token: AccessToken | None, view: browse.CollectionView, item_id: str
) -> Quicklook | None:
    """The item's quicklook, read once per catalogue, collection, item and token."""
    item = view.item(item_id)
    if item is None:
        return None

    def read() -> Quicklook:
        with st.spinner(f"Reading a quicklook of {code(item_id)}…"):
            return quicklook(
                item,
                view.collection,
                token=token,
                token_origin=_origin(target.url),
                timeout=settings().http_timeout,
            )

    ident = (target.url, str(view.collection.get("id")), item_id)
    return _kept(StateKey.CATALOGUE_QUICKLOOKS, ident, token, read)


def collection_panel(
    target: CatalogueTarget, token: AccessToken | None, view: browse.CollectionView, prefix: str
) -> None:
    """One collection: title, metadata, its items on a timeline, the chosen item on the map with its
    quicklook and legend."""
    summary = view.collection
    st.subheader(str(summary.get("title") or summary.get("id")))
    st.caption(
        f"`{summary.get('id')}` · {len(view.items)} item(s)" + (" (first ones)" if view.truncated else "")
    )
    left, right = st.columns([3, 2], gap="large")
    with right:
        _metadata(view)
    with left:
        rasters = [i for i in view.items if i.raster_keys]
        look: Quicklook | None = None
        chosen: str | None = None
        if view.items:
            ids = [i.id for i in view.items]
            dates = {i.id: (i.start or "")[:10] for i in view.items}
            chosen = st.selectbox(
                "Item",
                ids,
                index=ids.index(rasters[0].id) if rasters else 0,
                format_func=lambda i: f"{i} ({dates[i]})" if dates.get(i) else i,
                key=prefix + "item",
            )
            if chosen is not None and any(i.id == chosen and i.raster_keys for i in view.items):
                try:
                    look = _quicklook(target, token, view, chosen)
                except ApexError as exc:
                    show_error(exc)
            elif chosen is not None:
                st.caption("This item has no raster to draw (e.g. statistics as CSV/JSON).")
        else:
            st.info("This collection has no items yet.")
        _timeline(view, chosen)
        _map(browse.item_footprints(view), look, chosen, prefix)
        if look is not None:
            st.caption(
                f"Quicklook of `{look.asset_key}`: read at {look.read_shape[1]}×{look.read_shape[0]} of "
                f"{look.source_shape[1]}×{look.source_shape[0]} pixels; legend from the {look.legend_source}."
            )


def share_url(collection_id: str, page: str = SHARED_PAGE) -> str:
    """The link to ``page`` (the read-only shared view) of ``collection_id`` in this app."""
    parts = urlsplit(str(st.context.url or ""))
    path = parts.path.rstrip("/")
    base = path.rsplit("/", 1)[0] if path.count("/") >= 1 else ""
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return f"{origin}{base}/{page}?collection={quote(collection_id, safe='')}"


def share_section(target: CatalogueTarget, view: browse.CollectionView) -> None:
    """The share link, for a collection anyone may read (asked of the catalogue without a token): the
    read-only shared view; for a private one, the Catalogue page, where its readers sign in. And the
    STAC Browser's, where one is configured."""
    cid = str(view.collection.get("id"))
    st.markdown("**Share**")
    if collection_view(target, None, cid) is not None:
        st.code(share_url(cid), language=None)
        st.caption("Opens a read-only view of this collection (map, timeline, legend, metadata), no sign-in.")
    else:
        st.code(share_url(cid, CATALOGUE_PAGE), language=None)
        st.caption(
            ":material/lock: This collection is private: the link opens it on the Catalogue page, where "
            "people whose roles may read it sign in. Make it readable by `anonymous` (catalogue "
            "administrators) for a view without sign-in."
        )
    link = browser_link(settings().stac_browser_url, cid)
    if link:
        st.markdown(f"[Open in the STAC Browser]({link})")


def edit_section(target: CatalogueTarget, token: AccessToken, view: browse.CollectionView) -> None:
    """The published collection in the Metadata form; the diff, then PATCH on the button."""
    session = MetadataSession(
        st.session_state, StateKey.CATALOGUE_EDIT, WidgetPrefix.CATALOGUE_EDIT, keep=frozenset()
    )
    source = curate.published_source(view.collection)
    if session.remember(source.fingerprint) or session.work.source is None:
        session.load(source)
        st.session_state[WidgetPrefix.CATALOGUE_EDIT + "id"] = str(view.collection.get("id"))
    try:
        now = session.current()
    except ApexError as exc:
        show_error(exc)
        return
    # A catalogue that hides `_auth` (APEx, the embedded one) gives no rules to start from: the form
    # would overwrite them with its defaults, so they are edited only where the catalogue shows them.
    sections = (
        _EDIT_FORM_SECTIONS
        if "_auth" in view.collection
        else tuple(s for s in _EDIT_FORM_SECTIONS if s != "access")
    )
    fields = tuple(f for f in now.fields if f.key != "id")
    edit_form(
        FormState(now.source, now.draft, now.statistics, now.evaluation, fields),
        session,
        WidgetPrefix.CATALOGUE_EDIT,
        sections,
    )
    try:
        edit = curate.plan_edit(view.collection, now.draft)
    except ApexError as exc:
        show_error(exc)
        return
    if edit.empty:
        for note in edit.notes:
            st.caption(note)
        st.caption("No change yet: edit a field above; the changes show here before anything is written.")
        return
    st.markdown("**What the update changes** (" + ", ".join(f"`{m}`" for m in edit.changed) + ")")
    for note in edit.notes:
        st.caption(note)
    st.code(edit.diff(), language="diff")
    if st.button("Write the changes (PATCH)", type="primary", key=WidgetPrefix.CATALOGUE + "patch"):
        try:
            with CatalogueClient(target.url, token.access_token, timeout=settings().http_timeout) as client:
                curate.apply_edit(client, edit)
        except ApexError as exc:
            show_error(exc)
            return
        st.session_state[StateKey.CATALOGUE_DONE] = f"Updated {edit.collection_id}: " + ", ".join(
            edit.changed
        )
        st.session_state.pop(StateKey.CATALOGUE_EDIT, None)
        forget_catalogue_reads()
        st.rerun()


def _deleting(
    label: str,
    expected: str,
    key: str,
    run: Callable[[CatalogueClient, str], curate.Deletion],
    token: AccessToken,
    target: CatalogueTarget,
) -> None:
    typed = st.text_input(f"Type {expected} to confirm", key=key + "_confirm")
    if st.button(
        label,
        key=key,
        disabled=not curate.confirmation_matches(typed, expected),
        icon=":material/delete:",
    ):
        try:
            with CatalogueClient(target.url, token.access_token, timeout=settings().http_timeout) as client:
                done = run(client, typed)
        except ApexError as exc:
            show_error(exc)
            return
        st.session_state[StateKey.CATALOGUE_DONE] = done.message
        forget_catalogue_reads()
        st.session_state.pop(key + "_confirm", None)
        st.rerun()


def delete_section(target: CatalogueTarget, token: AccessToken, view: browse.CollectionView) -> None:
    """Delete one item, or the collection with all its items; each behind typing its id."""
    cid = str(view.collection.get("id"))
    prefix = WidgetPrefix.CATALOGUE
    if view.items:
        ids = [i.id for i in view.items]
        item = st.selectbox("Item to delete", ids, index=None, key=prefix + "delete_item_id")
        if item is not None:
            _deleting(
                f"Delete item {item}",
                item,
                prefix + "delete_item",
                lambda client, typed: curate.delete_item(client, cid, item, typed),
                token,
                target,
            )
    st.divider()
    n = f"at least {len(view.items)}" if view.truncated else str(len(view.items))
    st.caption(f"Deleting the collection deletes its {n} item(s) too. This cannot be undone.")
    _deleting(
        f"Delete the collection {cid}",
        cid,
        prefix + "delete_collection",
        lambda client, typed: curate.delete_collection(client, cid, typed),
        token,
        target,
    )


def add_results_section(view: browse.CollectionView) -> None:
    """The current project's results into this collection: the Publish page's add-to-existing flow,
    with this collection chosen (nothing is written before its preview and the Publish button)."""
    cid = str(view.collection.get("id"))
    meta = st.session_state.get(StateKey.METADATA)
    if not (isinstance(meta, MetadataOutcome) and meta.valid):
        st.caption("This project has no valid collection from the Metadata step yet: run the flow first.")
        return
    st.caption(
        "Opens the Publish page set to add this project's items to this collection; it shows what changes "
        "before anything is written."
    )
    if st.button(f"Add this project's results to {cid}", key=WidgetPrefix.CATALOGUE + "add"):
        add_to(cid)
        st.switch_page("pages/flow/5_publish.py")
