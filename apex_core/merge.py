"""Adding a job's collection and items to a collection that exists: the merge rule of openEO's STAC-API
workspace (geopyspark's ``export_workspace`` with ``merge=``), made to lose nothing.

- The collection keeps what it has: its id, title, description, license, providers, keywords, access
  rules (``_auth``, never echoed by the catalogue: the merge is written by PATCH, which keeps them) and
  STAC version. Its spatial extent becomes the union of the old and the new (the overall box first, the
  existing sub-boxes kept), its temporal extent runs from the earliest start to the latest end (an open
  end stays open), ``summaries`` are merged per field (ranges by min/max, lists unioned), and the
  ``derived_from`` links, ``item_assets`` and ``stac_extensions`` of both are kept.
- Each new item is ``new`` (its id is not in the collection), ``same`` (the catalogue holds this content
  already, server links and timestamps aside: nothing to write) or ``differs`` (another document under
  that id: a unified diff of the two shows how; it is kept unless the person chose to replace that id).
- New items take the collection's STAC version (the issue's rule; geopyspark refuses to merge instead):
  when the versions differ the plan says so in a note.

No I/O here: :mod:`apex_core.publish` reads the catalogue and writes what :func:`plan_merge` decides.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "SERVER_LINK_PREFIX",
    "SERVER_LINK_RELS",
    "ItemPlan",
    "ItemStatus",
    "MergePlan",
    "Metadata",
    "comparable_item",
    "item_diff",
    "merge_collection",
    "merge_summaries",
    "plan_merge",
    "stored_links",
    "union_bboxes",
    "union_intervals",
]

ItemStatus = Literal["new", "same", "differs"]
Metadata = Literal["existing", "new"]

# Links a STAC API generates itself on every response: never stored, never written back.
SERVER_LINK_RELS = frozenset({"self", "root", "parent", "items", "collection", "next", "prev", "queryables"})
# stac-fastapi names its own links by OGC API relation URIs too (``…/ogc/1.0/queryables``)
SERVER_LINK_PREFIX = "http://www.opengis.net/def/rel/ogc/"
# Item fields a STAC API adds or rewrites itself: not part of "the same content".
_SERVER_ITEM_FIELDS = frozenset({"links"})
_SERVER_PROPERTIES = frozenset({"created", "updated"})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def stored_links(links: Any) -> list[dict[str, Any]]:
    """The links a collection stores: a response's links without the ones the server generates."""
    if not isinstance(links, list):
        return []
    return [
        dict(link)
        for link in links
        if isinstance(link, Mapping)
        and link.get("rel") not in SERVER_LINK_RELS
        and not str(link.get("rel") or "").startswith(SERVER_LINK_PREFIX)
    ]


# --------------------------------------------------------------------------------------------------
# Extents
# --------------------------------------------------------------------------------------------------


def _boxes(extent: Any) -> list[list[float]]:
    spatial = extent.get("spatial") if isinstance(extent, Mapping) else None
    raw = spatial.get("bbox") if isinstance(spatial, Mapping) else None
    if not isinstance(raw, list):
        return []
    return [
        list(box)
        for box in raw
        if isinstance(box, list) and len(box) in (4, 6) and all(isinstance(v, int | float) for v in box)
    ]


def _flat(box: Sequence[float]) -> tuple[float, float, float, float]:
    """A 2D box of a 2D or 3D one (``[w, s, zmin, e, n, zmax]``)."""
    if len(box) == 6:
        return box[0], box[1], box[3], box[4]
    return box[0], box[1], box[2], box[3]


def union_bboxes(old: Sequence[Sequence[float]], new: Sequence[Sequence[float]]) -> list[list[float]]:
    """STAC's spatial ``bbox`` list of the union: the overall box first (it covers every box of both),
    then the existing collection's sub-boxes, kept as they were. 3D boxes are unioned in 2D when the
    other side is 2D."""
    everything = [*old, *new]
    if not everything:
        return []
    if all(len(b) == 6 for b in everything):
        overall = [
            min(b[0] for b in everything),
            min(b[1] for b in everything),
            min(b[2] for b in everything),
            max(b[3] for b in everything),
            max(b[4] for b in everything),
            max(b[5] for b in everything),
        ]
    else:
        flat = [_flat(b) for b in everything]
        overall = [
            min(b[0] for b in flat),
            min(b[1] for b in flat),
            max(b[2] for b in flat),
            max(b[3] for b in flat),
        ]
    return [overall, *(list(b) for b in old[1:])]


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _intervals(extent: Any) -> list[list[Any]]:
    temporal = extent.get("temporal") if isinstance(extent, Mapping) else None
    raw = temporal.get("interval") if isinstance(temporal, Mapping) else None
    if not isinstance(raw, list):
        return []
    return [list(i) for i in raw if isinstance(i, list) and len(i) == 2]


def union_intervals(old: Sequence[Sequence[Any]], new: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """STAC's temporal ``interval`` list of the union: the overall interval from the earliest start to
    the latest end (``None``, an open end, wins on its side), then the existing sub-intervals."""
    everything = [*old, *new]
    if not everything:
        return []
    starts = [i[0] for i in everything]
    ends = [i[1] for i in everything]
    start: Any = None
    if all(_instant(s) is not None for s in starts):
        start = min(starts, key=lambda s: _instant(s) or dt.datetime.min.replace(tzinfo=dt.UTC))
    end: Any = None
    if all(_instant(e) is not None for e in ends):
        end = max(ends, key=lambda e: _instant(e) or dt.datetime.min.replace(tzinfo=dt.UTC))
    return [[start, end], *(list(i) for i in old[1:])]


# --------------------------------------------------------------------------------------------------
# Summaries, links, item assets
# --------------------------------------------------------------------------------------------------


def _is_range(value: Any) -> bool:
    return isinstance(value, Mapping) and "minimum" in value and "maximum" in value


def _union_list(old: Sequence[Any], new: Iterable[Any]) -> list[Any]:
    seen = {_canonical(v) for v in old}
    out = list(old)
    for value in new:
        key = _canonical(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _min(a: Any, b: Any) -> Any:
    try:
        return b if b < a else a
    except TypeError:
        return a


def _max(a: Any, b: Any) -> Any:
    try:
        return b if b > a else a
    except TypeError:
        return a


def merge_summaries(old: Any, new: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The summaries of both, per field: ranges by min/max, lists unioned, a field of one side taken as
    it is; a field summarised differently on the two sides (a range and a list, two JSON Schemas) keeps
    the existing one, and a note says so."""
    merged: dict[str, Any] = copy.deepcopy(dict(old)) if isinstance(old, Mapping) else {}
    notes: list[str] = []
    for key, value in new.items() if isinstance(new, Mapping) else ():
        if key not in merged:
            merged[key] = copy.deepcopy(value)
            continue
        have = merged[key]
        if _is_range(have) and _is_range(value):
            merged[key] = {
                **have,
                "minimum": _min(have["minimum"], value["minimum"]),
                "maximum": _max(have["maximum"], value["maximum"]),
            }
        elif isinstance(have, list) and isinstance(value, list):
            merged[key] = _union_list(have, copy.deepcopy(value))
        elif _canonical(have) != _canonical(value):
            notes.append(
                f"Summary {key!r} is summarised differently in the collection: the collection's is kept."
            )
    return merged, tuple(notes)


def _merged_links(
    old: Any, new: Any, rels: frozenset[str] | None = frozenset({"derived_from"})
) -> list[dict[str, Any]]:
    """The collection's stored links, and the new links of ``rels`` (every rel: None) it does not have
    yet: a stored link is never lost."""
    links = stored_links(old)
    hrefs = {(str(link.get("rel")), str(link.get("href"))) for link in links}
    for link in stored_links(new):
        key = (str(link.get("rel")), str(link.get("href")))
        if (rels is None or link.get("rel") in rels) and key not in hrefs:
            hrefs.add(key)
            links.append(copy.deepcopy(link))
    return links


def _merged_item_assets(old: Any, new: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    merged: dict[str, Any] = copy.deepcopy(dict(old)) if isinstance(old, Mapping) else {}
    notes = []
    for key, value in new.items() if isinstance(new, Mapping) else ():
        if key not in merged:
            merged[key] = copy.deepcopy(value)
        elif _canonical(merged[key]) != _canonical(value):
            notes.append(f"item_assets {key!r} differs from the collection's: the collection's is kept.")
    return merged, tuple(notes)


def merge_collection(
    existing: Mapping[str, Any], new: Mapping[str, Any], metadata: Metadata = "existing"
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The existing collection (as read from the catalogue) with ``new`` merged into it, and notes.

    Everything but the merged fields (extent, summaries, derived_from links, item_assets,
    stac_extensions) is the existing collection's (``metadata="existing"``: adding to it): id, title,
    description, license, ``stac_version``; or the new one's (``"new"``: updating the collection's
    description while what it covers still grows). The result has no ``_auth`` (the catalogue never
    returns it; a PATCH keeps it) and only stored links.
    """
    if metadata == "new":
        merged = copy.deepcopy({k: v for k, v in new.items() if k != "_auth"})
        merged["id"] = existing.get("id", new.get("id"))
        merged["links"] = _merged_links(existing.get("links"), new.get("links"), rels=None)
        # where the two disagree, the new document wins
        first, second = new, existing
    else:
        merged = copy.deepcopy({k: v for k, v in existing.items() if k != "_auth"})
        merged["links"] = _merged_links(existing.get("links"), new.get("links"))
        first, second = existing, new
    old_extent, new_extent = existing.get("extent"), new.get("extent")
    extent = copy.deepcopy(dict(old_extent)) if isinstance(old_extent, Mapping) else {}
    extent["spatial"] = {
        **(extent.get("spatial") or {}),
        "bbox": union_bboxes(_boxes(old_extent), _boxes(new_extent)),
    }
    extent["temporal"] = {
        **(extent.get("temporal") or {}),
        "interval": union_intervals(_intervals(old_extent), _intervals(new_extent)),
    }
    merged["extent"] = extent
    notes: list[str] = []
    if "summaries" in existing or "summaries" in new:
        merged["summaries"], said = merge_summaries(first.get("summaries"), second.get("summaries"))
        notes.extend(said if metadata == "existing" else ())
    if "item_assets" in existing or "item_assets" in new:
        merged["item_assets"], said = _merged_item_assets(first.get("item_assets"), second.get("item_assets"))
        notes.extend(said if metadata == "existing" else ())
    extensions = _union_list(
        [str(e) for e in first.get("stac_extensions") or ()],
        [str(e) for e in second.get("stac_extensions") or ()],
    )
    if extensions:
        merged["stac_extensions"] = extensions
    if metadata == "new":
        return merged, (
            "The collection takes this job's description (title, description, license…); its extents, "
            "summaries, derived_from links and item_assets keep what it covered before.",
        )
    kept = [
        k for k in ("title", "description") if k in new and _canonical(new[k]) != _canonical(existing.get(k))
    ]
    if kept:
        notes.append(
            f"The collection keeps its own id and {' and '.join(kept)} (this job's are not used), as "
            "openEO's STAC-API workspace does."
        )
    return merged, tuple(notes)


# --------------------------------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------------------------------


def comparable_item(item: Mapping[str, Any], keys: Collection[str] | None = None) -> dict[str, Any]:
    """The item without what a STAC API writes itself (links, ``properties.created/updated``); only
    ``keys`` (top-level) when given."""
    out = {
        k: copy.deepcopy(v)
        for k, v in item.items()
        if k not in _SERVER_ITEM_FIELDS and (keys is None or k in keys)
    }
    props = out.get("properties")
    if isinstance(props, Mapping):
        out["properties"] = {k: v for k, v in props.items() if k not in _SERVER_PROPERTIES}
    return out


def item_diff(existing: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A unified diff from the catalogue's item to the new one (JSON, keys sorted; server fields out)."""
    iid = str(new.get("id"))
    ours = comparable_item(new)
    theirs = comparable_item(existing, ours.keys())
    before = json.dumps(theirs, indent=2, sort_keys=True, default=str).splitlines()
    after = json.dumps(ours, indent=2, sort_keys=True, default=str).splitlines()
    return "\n".join(
        difflib.unified_diff(before, after, f"catalogue: {iid}", f"this job: {iid}", lineterm="")
    )


@dataclass(frozen=True)
class ItemPlan:
    """What happens to one new item: written (``new``, or ``differs`` with ``replace``) or not."""

    id: str
    status: ItemStatus
    item: dict[str, Any]
    diff: str = ""
    replace: bool = False

    @property
    def writes(self) -> bool:
        return self.status == "new" or (self.status == "differs" and self.replace)

    @property
    def action(self) -> str:
        if self.status == "new":
            return "add"
        if self.status == "same":
            return "skip: already there, the same"
        return "replace" if self.replace else "skip: another item has this id (kept)"


@dataclass(frozen=True)
class MergePlan:
    """The merge of new documents into an existing collection, before anything is written."""

    collection_id: str
    before: dict[str, Any]
    collection: dict[str, Any]
    changes: dict[str, Any]
    items: tuple[ItemPlan, ...]
    notes: tuple[str, ...] = ()

    @property
    def patch(self) -> list[dict[str, Any]]:
        """The changes as JSON Patch operations (RFC 6902; ``add`` sets a member that exists too)."""
        return [{"op": "add", "path": f"/{k}", "value": v} for k, v in self.changes.items()]

    def ids(self, *statuses: ItemStatus) -> tuple[str, ...]:
        return tuple(p.id for p in self.items if p.status in statuses)

    @property
    def to_add(self) -> tuple[ItemPlan, ...]:
        return tuple(p for p in self.items if p.status == "new")

    @property
    def to_replace(self) -> tuple[ItemPlan, ...]:
        return tuple(p for p in self.items if p.status == "differs" and p.replace)

    @property
    def skipped(self) -> tuple[ItemPlan, ...]:
        return tuple(p for p in self.items if p.status == "differs" and not p.replace)

    def extent(self, which: Literal["before", "after"]) -> tuple[list[list[float]], list[list[Any]]]:
        """(spatial bboxes, temporal intervals) of the collection before or after the merge."""
        doc = self.before if which == "before" else self.collection
        return _boxes(doc.get("extent")), _intervals(doc.get("extent"))

    @property
    def summary(self) -> str:
        n_new, n_same, n_diff = len(self.to_add), len(self.ids("same")), len(self.ids("differs"))
        replaced = len(self.to_replace)
        return (
            f"{n_new} new item{'s' if n_new != 1 else ''} to add, {n_same} already there unchanged, "
            f"{n_diff} with an id the collection uses for other content ({replaced} to replace, "
            f"{n_diff - replaced} kept as they are); the collection "
            + ("changes: " + ", ".join(sorted(self.changes)) if self.changes else "is unchanged")
            + "."
        )


def plan_merge(
    existing: Mapping[str, Any],
    existing_items: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    replace: Collection[str] = (),
    metadata: Metadata = "existing",
) -> MergePlan:
    """The merge of ``new`` and its ``items`` into ``existing`` (as the catalogue returned it) whose
    items with the same ids are ``existing_items`` (id -> item). ``replace`` names the ids whose other
    content may be replaced; every other existing item is kept as it is. ``metadata``: whose title,
    description... the collection has afterwards (:func:`merge_collection`)."""
    cid = str(existing.get("id"))
    merged, notes = merge_collection(existing, new, metadata)
    before = {k: v for k, v in existing.items() if k != "_auth"}
    before["links"] = stored_links(existing.get("links"))
    changes = {k: v for k, v in merged.items() if k != "id" and _canonical(v) != _canonical(before.get(k))}
    version = merged.get("stac_version")
    said = list(notes)
    only_before = sorted(k for k in before if k not in merged and k not in ("links", "_auth"))
    if metadata == "new" and only_before:
        said.append(
            f"The collection has {', '.join(only_before)}, this job's metadata does not: an update (PATCH) "
            "keeps them, a replace (PUT) removes them."
        )
    planned = []
    relabelled: list[str] = []
    for raw in items:
        item = copy.deepcopy(dict(raw))
        item["collection"] = cid
        if isinstance(version, str) and item.get("stac_version") != version:
            relabelled.append(f"{item.get('id')} ({item.get('stac_version')})")
            item["stac_version"] = version
        iid = str(item.get("id"))
        have = existing_items.get(iid)
        if have is None:
            planned.append(ItemPlan(iid, "new", item))
            continue
        ours = comparable_item(item)
        if _canonical(ours) == _canonical(comparable_item(have, ours.keys())):
            planned.append(ItemPlan(iid, "same", item))
        else:
            planned.append(ItemPlan(iid, "differs", item, item_diff(have, item), iid in replace))
    if relabelled:
        said.append(
            f"{len(relabelled)} items take the collection's STAC version {version}: "
            + ", ".join(relabelled[:5])
            + (" …" if len(relabelled) > 5 else "")
            + ". (openEO's workspace refuses to merge different versions instead.)"
        )
    return MergePlan(cid, before, merged, changes, tuple(planned), tuple(dict.fromkeys(said)))
