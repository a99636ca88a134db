"""Publishing a collection and its items to a STAC API, idempotently and resumably.

- A :class:`PublishPlan` is what to publish (the collection with ``_auth``, its items) and what to do
  when the collection id exists already (``on_conflict``: ``"ask"`` raises :class:`CatalogueConflict`
  for the caller to choose; ``"update"`` gives it this description by PATCH, or by PUT with ``_auth``
  sent again, its extents and items growing as when adding; ``"merge"`` adds to it:
  :meth:`PublishPlan.adding_to`). :meth:`PublishPlan.with_new_id` is the other choice.
- Adding to an existing collection (``"merge"``) follows :mod:`apex_core.merge`: the collection keeps its
  id, title, description and ``_auth`` (the merge is written by PATCH) and its extents, summaries,
  ``derived_from`` links and ``item_assets`` grow; an item id the collection already uses for other
  content is skipped unless it is named in ``replace`` (after the person saw its diff,
  :func:`preview_merge`); items already there unchanged are not written again.
- A :class:`PublishState` records which steps succeeded (``collection``, ``item:<id>``, ``verify``) and
  the publish log. :func:`publish` runs the steps not done yet and returns a :class:`PublishResult`
  whose ``error`` says why it stopped (network, 5xx, expired token...); calling it again with that
  state resumes. A 409 on something that exists identically counts as done, so publishing twice never
  duplicates.
- Items go in bulk (``/bulk_items``) when the catalogue offers it, else one by one. Verification reads
  the collection and its item ids back, polling until a deadline (search may lag a write).
- :func:`delete_published` is the notebook's clean-up: the items, then the collection.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as replace_fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from apex_core import errors
from apex_core.assets import rehost_assets
from apex_core.catalogue import CatalogueClient, RequestLogEntry
from apex_core.errors import (
    ApexError,
    CatalogueConflict,
    CatalogueError,
    DataError,
    MetadataError,
    NotFoundError,
)
from apex_core.merge import MergePlan, Metadata, plan_merge
from apex_core.metadata import ADMIN_ONLY_READ_ROLE, asset_expiries, format_time_left
from apex_core.progress import Progress, no_progress
from apex_core.storage import AssetStore

if TYPE_CHECKING:
    from apex_core.flow import MetadataOutcome

__all__ = [
    "ASSETS_STEP",
    "COLLECTION_STEP",
    "VERIFY_STEP",
    "ConflictChoice",
    "DeleteResult",
    "Progress",
    "PublishPlan",
    "PublishResult",
    "PublishState",
    "UpdateMethod",
    "browser_link",
    "delete_published",
    "expiry_warnings",
    "item_step",
    "log_json",
    "preview_merge",
    "publish",
    "same_content",
]

logger = logging.getLogger(__name__)

ASSETS_STEP = "assets"
COLLECTION_STEP = "collection"
VERIFY_STEP = "verify"
_ITEM_PREFIX = "item:"
_KEPT_PREFIX = "kept:"  # an item of the plan not written: the collection's own item under that id stays
_BULK_CHUNK = 100
# Fields a STAC API adds or rewrites itself: not part of "the same content".
_SERVER_FIELDS = frozenset({"links", "_auth", "created", "updated"})

ConflictChoice = Literal["ask", "update", "merge"]
UpdateMethod = Literal["patch", "put"]


def item_step(item_id: str) -> str:
    return _ITEM_PREFIX + item_id


@dataclass(frozen=True)
class PublishPlan:
    """What to publish and how to treat an existing collection id."""

    collection: dict[str, Any]
    items: tuple[dict[str, Any], ...] = ()
    on_conflict: ConflictChoice = "ask"
    update_method: UpdateMethod = "patch"
    replace: tuple[str, ...] = ()  # when merging: the item ids whose other content may be replaced

    def __post_init__(self) -> None:
        if not isinstance(self.collection.get("id"), str) or not self.collection["id"]:
            raise MetadataError("The collection has no id.", field="id")
        ids = [str(i.get("id")) for i in self.items]
        if len(set(ids)) != len(ids):
            raise MetadataError("Two items share an id.", field="items")

    @classmethod
    def from_metadata(cls, outcome: MetadataOutcome | None) -> PublishPlan:
        """From the Metadata step's outcome; :class:`MetadataError` if it is not valid."""
        if outcome is None or not outcome.valid:
            raise MetadataError("The metadata is not valid yet: finish the Metadata step first.")
        if outcome.collection is None:
            raise MetadataError("The metadata has no collection.")
        return cls.from_dict({"collection": outcome.collection, "items": list(outcome.items)})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublishPlan:
        collection = copy.deepcopy(dict(data["collection"]))
        cid = collection.get("id")
        items = []
        for raw in data.get("items") or ():
            item = copy.deepcopy(dict(raw))
            item["collection"] = cid
            items.append(item)
        conflict = data.get("on_conflict")
        return cls(
            collection=collection,
            items=tuple(items),
            on_conflict=conflict if conflict in ("update", "merge") else "ask",
            update_method="put" if data.get("update_method") == "put" else "patch",
            replace=tuple(str(i) for i in data.get("replace") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": copy.deepcopy(self.collection),
            "items": copy.deepcopy(list(self.items)),
            "on_conflict": self.on_conflict,
            "update_method": self.update_method,
            "replace": list(self.replace),
        }

    @property
    def collection_id(self) -> str:
        return str(self.collection["id"])

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(str(i["id"]) for i in self.items)

    @property
    def steps(self) -> tuple[str, ...]:
        return (COLLECTION_STEP, *(item_step(i) for i in self.item_ids), VERIFY_STEP)

    def with_new_id(self, new_id: str) -> PublishPlan:
        """The same collection and items under another collection id (the other answer to a conflict)."""
        new_id = new_id.strip()
        if not new_id:
            raise MetadataError("The new collection id is empty.", field="id")
        data = self.to_dict()
        old_prefix = f"{self.collection_id}_"
        data["collection"]["id"] = new_id
        for item in data.get("items") or []:
            # items named after their collection ({collection}_{date}) follow it to the new id
            if str(item.get("id", "")).startswith(old_prefix):
                item["id"] = f"{new_id}_{str(item['id'])[len(old_prefix) :]}"
            if "collection" in item:
                item["collection"] = new_id
        return PublishPlan.from_dict(data)

    @property
    def merging(self) -> bool:
        return self.on_conflict == "merge"

    def adding_to(self, collection_id: str, replace: Sequence[str] = ()) -> PublishPlan:
        """These items added to the existing collection ``collection_id`` (merged, nothing overwritten
        except the item ids in ``replace``)."""
        plan = self.with_new_id(collection_id) if collection_id != self.collection_id else self
        return replace_fields(plan, on_conflict="merge", replace=tuple(dict.fromkeys(replace)))

    @property
    def grows(self) -> bool:
        """Whether an existing collection keeps what it covers and its items (adding, or updating its
        description): extents unioned, items with other content replaced only when named in ``replace``."""
        return self.on_conflict in ("merge", "update")

    def with_conflict(
        self, on_conflict: ConflictChoice, update_method: UpdateMethod = "patch", replace: Sequence[str] = ()
    ) -> PublishPlan:
        return replace_fields(
            self, on_conflict=on_conflict, update_method=update_method, replace=tuple(dict.fromkeys(replace))
        )

    def with_items(self, collection: dict[str, Any], items: Sequence[dict[str, Any]]) -> PublishPlan:
        """The same choices for rewritten documents (e.g. re-hosted asset hrefs)."""
        data = {**self.to_dict(), "collection": collection, "items": list(items)}
        return PublishPlan.from_dict(data)


@dataclass(frozen=True)
class PublishState:
    """Which steps succeeded at which catalogue, and every request made so far."""

    catalogue_url: str
    collection_id: str
    done: tuple[str, ...] = ()
    log: tuple[RequestLogEntry, ...] = ()
    updated_at: str = ""

    @classmethod
    def start(cls, catalogue_url: str, plan: PublishPlan) -> PublishState:
        return cls(catalogue_url.rstrip("/"), plan.collection_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublishState:
        return cls(
            catalogue_url=str(data["catalogue_url"]),
            collection_id=str(data["collection_id"]),
            done=tuple(str(s) for s in data.get("done", ())),
            log=tuple(RequestLogEntry.from_dict(e) for e in data.get("log", ())),
            updated_at=str(data.get("updated_at", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalogue_url": self.catalogue_url,
            "collection_id": self.collection_id,
            "done": list(self.done),
            "log": [e.to_dict() for e in self.log],
            "updated_at": self.updated_at,
        }

    def is_done(self, step: str) -> bool:
        return step in self.done

    def complete(self, plan: PublishPlan) -> bool:
        return all(s in self.done for s in plan.steps)

    def matches(self, catalogue_url: str, plan: PublishPlan) -> bool:
        """True when this state belongs to publishing ``plan`` to ``catalogue_url`` (else start anew)."""
        return self.catalogue_url == catalogue_url.rstrip("/") and self.collection_id == plan.collection_id

    @property
    def kept(self) -> tuple[str, ...]:
        """The plan's item ids that were not written because the collection holds other content under
        them (not this run's items: never to be deleted as its own)."""
        return tuple(s[len(_KEPT_PREFIX) :] for s in self.done if s.startswith(_KEPT_PREFIX))

    def with_done(self, *steps: str) -> PublishState:
        return replace_fields(self, done=tuple(dict.fromkeys(self.done + steps)))

    def with_log(self, entries: Sequence[RequestLogEntry]) -> PublishState:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return replace_fields(self, log=self.log + tuple(entries), updated_at=now)

    def without(self, *steps: str) -> PublishState:
        return replace_fields(self, done=tuple(s for s in self.done if s not in steps))


@dataclass(frozen=True)
class PublishResult:
    """Where :func:`publish` got to: the state to resume from, and why it stopped if it did."""

    state: PublishState
    plan: PublishPlan
    error: ApexError | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and self.state.complete(self.plan)

    @property
    def collection_url(self) -> str:
        return f"{self.state.catalogue_url}/collections/{self.plan.collection_id}"

    @property
    def item_urls(self) -> tuple[str, ...]:
        return tuple(f"{self.collection_url}/items/{i}" for i in self.plan.item_ids)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublishResult:
        """The result :meth:`to_dict` wrote (the error keeps its class and fields)."""
        try:
            return cls(
                state=PublishState.from_dict(data["state"]),
                plan=PublishPlan.from_dict(data["plan"]),
                error=_error_from_dict(data.get("error")),
                notes=tuple(str(n) for n in data.get("notes") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError, MetadataError) as exc:
            raise DataError(f"A saved publish result is not readable ({type(exc).__name__}: {exc}).") from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON, lossless (:meth:`from_dict` reads it back)."""
        return {
            "state": self.state.to_dict(),
            "plan": self.plan.to_dict(),
            "notes": list(self.notes),
            "error": _error_to_dict(self.error),
        }


def _error_to_dict(error: ApexError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "type": type(error).__name__,
        "message": error.message,
        "code": error.code,
        "status": error.status,
        "request_id": error.request_id,
        "field": error.field,
    }


def _error_from_dict(data: Any) -> ApexError | None:
    """The error :func:`_error_to_dict` wrote, as its class in :mod:`apex_core.errors` (else ApexError)."""
    if not isinstance(data, Mapping):
        return None
    cls = getattr(errors, str(data.get("type")), ApexError)
    cls = cls if isinstance(cls, type) and issubclass(cls, ApexError) else ApexError
    return cls(
        str(data.get("message", "")),
        code=data.get("code"),
        status=data.get("status"),
        request_id=data.get("request_id"),
        field=data.get("field"),
    )


def browser_link(browser_url: str | None, collection_id: str) -> str | None:
    """The collection in a STAC Browser bound to the catalogue (``Settings.stac_browser_url``)."""
    if not browser_url:
        return None
    return f"{browser_url.rstrip('/')}/collections/{collection_id}"


def file_readers_note(collection: Mapping[str, Any], store: str | AssetStore) -> str:
    """Who can read the files re-hosted for ``collection`` in ``store``, said plainly."""
    auth = collection.get("_auth")
    rules = auth if isinstance(auth, Mapping) else {}
    readers = [str(r) for r in rules.get("read", [])]
    if ADMIN_ONLY_READ_ROLE in readers:  # "anonymous": everyone
        return "The collection is public: anyone can read its files."
    if isinstance(store, str):  # the catalogue's own asset store applies the collection's rules
        roles = list(dict.fromkeys([*readers, *(str(r) for r in rules.get("write", []))]))
        who = f"a token of the roles {', '.join(roles)}" if roles else "a catalogue administrator's token"
        return (
            f"The collection is private: its files can be read only with {who} (its `_auth`), like the "
            "collection itself."
        )
    return (
        f"The collection is private, but its files in {store.label} are readable by anyone who has their "
        "links (the bucket must allow public reads). Host them elsewhere if they must stay private."
    )


def log_json(state: PublishState | Sequence[RequestLogEntry]) -> str:
    """The publish log as downloadable JSON (no headers, bodies or tokens are ever recorded)."""
    entries = state.log if isinstance(state, PublishState) else tuple(state)
    return json.dumps([e.to_dict() for e in entries], indent=2)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def same_content(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Does the catalogue's copy hold what we would write? Compares our fields only, except the ones a
    STAC API generates itself (links, ``_auth`` which is never echoed, timestamps)."""
    for key, value in ours.items():
        if key in _SERVER_FIELDS:
            continue
        if _canonical(value) != _canonical(theirs.get(key)):
            return False
    return True


def expiry_warnings(plan: PublishPlan, now: dt.datetime | None = None) -> tuple[str, ...]:
    """One sentence per asset whose href is signed and will expire (or has), with the time left."""
    out = []
    for e in asset_expiries(plan.collection, plan.items, now=now):
        if e.seconds_left is not None:
            out.append(
                f"{e.owner}, asset {e.key}: the link {format_time_left(e.seconds_left)}; "
                "re-host the assets to keep the catalogue entry working."
            )
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# Adding to an existing collection
# --------------------------------------------------------------------------------------------------


def preview_merge(client: CatalogueClient, plan: PublishPlan) -> MergePlan:
    """What adding ``plan`` to its (existing) collection would change, read from the catalogue and
    nothing written: the merged collection, and each item new / same / differs (with its diff).
    :class:`NotFoundError` when the collection does not exist or this token cannot read it."""
    cid = plan.collection_id
    existing = client.get_collection(cid)
    if existing is None:
        raise NotFoundError(
            f"Collection {cid} is not in the catalogue, or your account cannot read it: nothing to add to."
        )
    found = client.items(cid, list(plan.item_ids))
    metadata: Metadata = "new" if plan.on_conflict == "update" else "existing"
    return plan_merge(existing, found, plan.collection, plan.items, replace=plan.replace, metadata=metadata)


# --------------------------------------------------------------------------------------------------
# Publish
# --------------------------------------------------------------------------------------------------


def _bulk_failures(text: str) -> list[Any]:
    """The failures a 200 from ``/bulk_items`` may still list (``{"errors": [...]}``)."""
    try:
        body = json.loads(text)
    except ValueError:
        return []  # plain text ("Successfully added 3 items."): nothing failed
    errors = body.get("errors") if isinstance(body, Mapping) else None
    return list(errors) if isinstance(errors, list) else []


def _check_bulk_answer(text: str, collection_id: str) -> None:
    """Raise the failures a 200 from ``/bulk_items`` lists (all of the answer's items count as failed)."""
    errors = _bulk_failures(text)
    if errors:
        raise CatalogueError(
            f"The bulk write to {collection_id} reported {len(errors)} failures: "
            + "; ".join(_failure_text(e) for e in errors[:3])
        )


def _failure_text(error: Any) -> str:
    if isinstance(error, Mapping) and error.get("id") is not None:
        return f"item {error['id']}: {error.get('msg') or error.get('message') or error}"
    return str(error)


def _same_conflict(message: str, conflict: CatalogueConflict) -> CatalogueConflict:
    """A clearer message for a 409, keeping what the server said (status, code, request id)."""
    return CatalogueConflict(
        message, status=conflict.status, request_id=conflict.request_id, code=conflict.code
    )


class _Run:
    """One :func:`publish` call: the client, the plan, the state as it advances."""

    def __init__(
        self, client: CatalogueClient, plan: PublishPlan, state: PublishState, progress: Progress
    ) -> None:
        self.client = client
        self.plan = plan
        self.state = state
        self.progress = progress
        self.notes: list[str] = []
        self._log_start = len(client.log)
        self.merged: MergePlan | None = None
        self.chunk = _BULK_CHUNK

    @property
    def done_count(self) -> int:
        """The steps done (the plan's, and the assets'), for progress."""
        return sum(s in self.state.done for s in (*self.plan.steps, ASSETS_STEP))

    def mark(self, *steps: str, message: str) -> None:
        self.state = self.state.with_done(*steps)
        total = len(self.plan.steps) + (ASSETS_STEP in self.state.done)
        self.progress(min(self.done_count, total), total, message)

    def assets(self, store: str | AssetStore, local_files: Mapping[str, Path] | None) -> None:
        def step(done: int, total: int, message: str) -> None:
            self.progress(self.done_count, len(self.plan.steps) + 1, message)

        collection, items = self.plan.collection, list(self.plan.items)
        if self.plan.grows and self.client.get_collection(self.plan.collection_id) is not None:
            # Files are stored under the collection by item id: only the items that will be written may
            # store theirs, or an item kept (its id holding other content) would lose its file.
            writing = {p.id for p in preview_merge(self.client, self.plan).items if p.writes}
            kept = [str(i["id"]) for i in items if str(i["id"]) not in writing]
            items = [i for i in items if str(i["id"]) in writing]
            if kept:
                self.notes.append(
                    f"The files of {len(kept)} items not written (already there, or kept) were not re-hosted."
                )
            if self.plan.merging:  # the collection keeps its own assets: this job's are not written
                collection = {**collection, "assets": {}}
        hosted = rehost_assets(self.client, store, collection, items, local_files=local_files, progress=step)
        by_id = {str(i["id"]): i for i in hosted.items}
        self.plan = self.plan.with_items(
            self.plan.collection if collection is not self.plan.collection else hosted.collection,
            [by_id.get(str(i["id"]), i) for i in self.plan.items],
        )
        where = store if isinstance(store, str) else f"{store.label} ({store.base_url})"
        if hosted.cogs:
            layouts = sorted({h.layout for h in hosted.cogs if h.layout})
            self.notes.append(
                f"{len(hosted.cogs)} GeoTIFF assets re-hosted as COGs in {where}, each checked by reading "
                f"it back against EXPLORER-REC-01/02/03 ({'; '.join(layouts)})."
            )
        if hosted.files:
            kinds = ", ".join(sorted({h.media_type for h in hosted.files}))
            self.notes.append(
                f"{len(hosted.files)} other data files ({kinds}) re-hosted unchanged in {where}, "
                "with their media type, size and checksum."
            )
        if hosted.hosted:
            self.notes.append(file_readers_note(self.plan.collection, store))
        self.mark(ASSETS_STEP, message=f"{len(hosted.hosted)} assets re-hosted.")

    def flush_log(self) -> None:
        self.state = self.state.with_log(self.client.log[self._log_start :])
        self._log_start = len(self.client.log)

    # --- the collection --------------------------------------------------------------------------

    def collection(self) -> None:
        plan, cid = self.plan, self.plan.collection_id
        if plan.merging and self.client.get_collection(cid) is not None:
            self.merge_collection()
            return
        try:
            self.client.create_collection(plan.collection)
            self.mark(COLLECTION_STEP, message=f"Collection {cid} created.")
            return
        except CatalogueConflict as exc:
            conflict = exc
        existing = self.client.get_collection(cid)
        if existing is not None and same_content(plan.collection, existing):
            self.notes.append(f"Collection {cid} already existed with the same content.")
            self.mark(COLLECTION_STEP, message=f"Collection {cid} exists already, unchanged.")
            return
        if plan.merging:  # it appeared since it was looked for
            self.merge_collection()
            return
        if plan.on_conflict != "update":
            raise _same_conflict(
                f"Collection {cid} already exists in the catalogue with other content: choose to update it "
                "or publish under a new id.",
                conflict,
            ) from conflict
        if plan.update_method == "put" and "_auth" not in plan.collection:
            raise MetadataError(
                "Replacing a collection (PUT) needs its `_auth` again: the catalogue never returns it.",
                field="_auth",
            )
        merged = self.merge_plan()  # this description, and what the collection covered before too
        if plan.update_method == "put":
            self.client.put_collection(self.plan.collection)
        elif merged.changes:
            self.client.patch_collection(cid, merged.patch)
            self.notes.append(f"Collection {cid} updated by PATCH; its access rules (`_auth`) were kept.")
        self.mark(COLLECTION_STEP, message=f"Collection {cid} updated ({plan.update_method.upper()}).")

    def merge_plan(self) -> MergePlan:
        """The merge as the catalogue is now (read again on a resume: what was written is then "same");
        the plan's items take the collection's STAC version."""
        if self.merged is None:
            self.merged = merged = preview_merge(self.client, self.plan)
            collection = {**merged.collection}
            if "_auth" in self.plan.collection:  # kept for a resume that finds the collection gone
                collection["_auth"] = copy.deepcopy(self.plan.collection["_auth"])
            self.plan = self.plan.with_items(collection, [p.item for p in merged.items])
            self.notes.extend(merged.notes)
        return self.merged

    def merge_collection(self) -> None:
        cid = self.plan.collection_id
        merged = self.merge_plan()
        if not merged.changes:
            self.notes.append(f"Collection {cid} already covers what is added: unchanged.")
            self.mark(COLLECTION_STEP, message=f"Collection {cid} unchanged.")
            return
        self.client.patch_collection(cid, merged.patch)
        self.notes.append(
            f"Collection {cid} merged by PATCH ({', '.join(sorted(merged.changes))}); its access rules "
            "(`_auth`), id, title and description were kept."
        )
        self.mark(COLLECTION_STEP, message=f"Collection {cid} merged.")

    # --- items -----------------------------------------------------------------------------------

    def merge_items(self, bulk: bool) -> None:
        cid = self.plan.collection_id
        merged = self.merge_plan()
        same = [p.id for p in merged.items if p.status == "same" and not self.state.is_done(item_step(p.id))]
        if same:
            # already in the collection before this run (another job's, or this one's published earlier):
            # never this run's to delete
            self.state = self.state.with_done(*(_KEPT_PREFIX + i for i in same))
            self.mark(*(item_step(i) for i in same), message=f"{len(same)} items already there, unchanged.")
        skipped = [p.id for p in merged.skipped if not self.state.is_done(item_step(p.id))]
        if skipped:
            self.notes.append(
                f"{len(skipped)} items kept as they are in {cid} (their ids hold other content; not chosen "
                f"to be replaced): {', '.join(skipped[:10])}{' …' if len(skipped) > 10 else ''}."
            )
            self.state = self.state.with_done(*(_KEPT_PREFIX + i for i in skipped))
            self.mark(*(item_step(i) for i in skipped), message=f"{len(skipped)} existing items kept.")
        self.items(bulk, [p.item for p in merged.to_add], update=False)
        for p in merged.to_replace:
            if not self.state.is_done(item_step(p.id)):
                self.client.put_item(cid, p.item)
                self.notes.append(f"Item {p.id} replaced (PUT), as chosen after its diff.")
                self.mark(item_step(p.id), message=f"Item {p.id} replaced (PUT).")

    def items(
        self, bulk: bool, items: Sequence[Mapping[str, Any]] | None = None, *, update: bool | None = None
    ) -> None:
        cid = self.plan.collection_id
        todo = [
            i
            for i in (self.plan.items if items is None else items)
            if not self.state.is_done(item_step(str(i["id"])))
        ]
        update = self.plan.on_conflict == "update" if update is None else update
        while todo and bulk:
            chunk, todo = todo[: self.chunk], todo[self.chunk :]
            try:
                resp = self.client.bulk_items(cid, chunk, upsert=update)
            except CatalogueConflict:
                todo = chunk + todo  # some exist: one by one tells which, and whether they are the same
                break
            except CatalogueError as exc:
                if exc.status != 400:
                    raise
                raise CatalogueError(  # refused as a whole: nothing of the chunk was written
                    f"The catalogue refused the items written in bulk to {cid}; none of them was written. "
                    f"{exc.message} Fix them and resume: the items written before are kept.",
                    field="items",
                    status=exc.status,
                    code=exc.code,
                    request_id=exc.request_id,
                ) from exc
            if resp.status_code in (404, 405, 501):
                self.notes.append("The bulk items endpoint is not available: items were written one by one.")
                todo = chunk + todo
                break
            failures = _bulk_failures(resp.text)
            named = [e for e in failures if isinstance(e, Mapping) and e.get("id") is not None]
            failed = {str(e["id"]) for e in named}
            written = [str(i["id"]) for i in chunk if str(i["id"]) not in failed]
            if len(named) < len(failures):  # a failure without an item id: what was written is unknown
                written = []
            if written:
                self.mark(*(item_step(i) for i in written), message=f"{len(written)} items written (bulk).")
            if failures:
                raise CatalogueError(
                    f"The catalogue refused {len(failures)} of {len(chunk)} items written in bulk to {cid}: "
                    + "; ".join(_failure_text(e) for e in failures[:3])
                    + ". Fix them and resume: the items written are kept.",
                    field="items",
                )
        for item in todo:
            self.one_item(item, update)

    def one_item(self, item: Mapping[str, Any], update: bool) -> None:
        cid, iid = self.plan.collection_id, str(item["id"])
        try:
            self.client.create_item(cid, item)
            self.mark(item_step(iid), message=f"Item {iid} created.")
            return
        except CatalogueConflict as exc:
            conflict = exc
        existing = self.client.get_item(cid, iid)
        if existing is not None and same_content(item, existing):
            self.mark(item_step(iid), message=f"Item {iid} exists already, unchanged.")
            return
        if not update:
            raise _same_conflict(
                f"Item {iid} already exists in collection {cid} with other content: choose to update it or "
                "publish under a new collection id.",
                conflict,
            ) from conflict
        self.client.put_item(cid, item)
        self.mark(item_step(iid), message=f"Item {iid} replaced (PUT).")

    # --- verify ----------------------------------------------------------------------------------

    def verify(self, timeout: float, interval: float) -> None:
        cid = self.plan.collection_id
        wanted = set(self.plan.item_ids)
        deadline = time.monotonic() + timeout
        waiter = threading.Event()
        missing: set[str] = wanted
        found_collection = False
        while True:
            found_collection = self.client.get_collection(cid) is not None
            if found_collection:
                missing = wanted - self.client.item_ids(cid) if wanted else set()
                if not missing:
                    break
            if time.monotonic() >= deadline:
                what = (
                    f"collection {cid}"
                    if not found_collection
                    else f"{len(missing)} items ({', '.join(sorted(missing)[:5])})"
                )
                raise CatalogueError(
                    f"The catalogue accepted the writes but {what} could not be read back within "
                    f"{timeout:.0f} s (its index may lag). Resume to verify again."
                )
            waiter.wait(interval)
        self.mark(VERIFY_STEP, message=f"Read back collection {cid} and {len(wanted)} items.")


def publish(
    client: CatalogueClient,
    plan: PublishPlan,
    state: PublishState | None = None,
    *,
    progress: Progress | None = None,
    bulk: bool | None = None,
    verify_timeout: float = 30.0,
    verify_interval: float = 0.5,
    rehost_to: str | AssetStore | None = None,
    local_files: Mapping[str, Path] | None = None,
    bulk_chunk: int = _BULK_CHUNK,
) -> PublishResult:
    """Publish ``plan`` with ``client``, continuing from ``state`` (steps done are skipped).

    ``bulk`` None asks the catalogue (:meth:`CatalogueClient.conformance`). ``rehost_to`` (an
    :class:`~apex_core.storage.AssetStore`, or the catalogue's asset store URL) first copies the
    GeoTIFFs there as COGs (:func:`apex_core.assets.rehost_assets`); the result's ``plan`` then has
    the new hrefs: resume with that plan. ``bulk_chunk`` items go in one bulk request (progress is
    reported after each). Never raises an
    :class:`ApexError`: the result's ``error`` says why it stopped and its ``state`` resumes.
    """
    if state is None or not state.matches(client.url, plan):
        state = PublishState.start(client.url, plan)
    run = _Run(client, plan, state, progress or no_progress)
    run.chunk = max(1, bulk_chunk)
    total = len(plan.steps) + (1 if rehost_to or state.is_done(ASSETS_STEP) else 0)
    run.progress(run.done_count, total, f"Publishing {plan.collection_id} to {client.url}…")
    try:
        if bulk is None:
            conf = client.conformance()
            if not conf.transactions:
                raise CatalogueError(conf.message)
            bulk = conf.bulk
        if rehost_to and not run.state.is_done(ASSETS_STEP):
            run.assets(rehost_to, local_files)
        if not run.state.is_done(COLLECTION_STEP):
            run.collection()
        if not all(run.state.is_done(item_step(i)) for i in plan.item_ids):
            if run.plan.grows:
                run.merge_items(bulk)
            else:
                run.items(bulk)
        if not run.state.is_done(VERIFY_STEP):
            run.verify(verify_timeout, verify_interval)
    except ApexError as exc:
        logger.info("publishing %s stopped: %s", plan.collection_id, exc)
        run.flush_log()
        return PublishResult(run.state, run.plan, exc, tuple(run.notes))
    run.flush_log()
    run.progress(total, total, f"Published {plan.collection_id}.")
    return PublishResult(run.state, run.plan, None, tuple(run.notes))


@dataclass(frozen=True)
class DeleteResult:
    collection_id: str
    deleted_items: tuple[str, ...] = ()
    collection_deleted: bool = False
    log: tuple[RequestLogEntry, ...] = field(default=())

    kept_collection: bool = False

    @property
    def message(self) -> str:
        if self.kept_collection:
            return f"{len(self.deleted_items)} items deleted; collection {self.collection_id} kept."
        gone = "deleted" if self.collection_deleted else "was not in the catalogue (nothing to delete)"
        return f"{len(self.deleted_items)} items deleted; collection {self.collection_id} {gone}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection_id": self.collection_id,
            "deleted_items": list(self.deleted_items),
            "collection_deleted": self.collection_deleted,
            "log": [e.to_dict() for e in self.log],
        }


def delete_published(
    client: CatalogueClient,
    collection_id: str,
    item_ids: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
    keep_collection: bool = False,
) -> DeleteResult:
    """Delete the collection's items (``item_ids``, or every item listed), then the collection (unless
    ``keep_collection``: items added to a collection that holds others).

    Missing ones are fine (deleting twice is not an error); other failures raise."""
    report = progress or no_progress
    start = len(client.log)
    ids = list(item_ids) if item_ids is not None else sorted(client.item_ids(collection_id))
    total = len(ids) + 1
    deleted = []
    for n, iid in enumerate(ids):
        if client.delete_item(collection_id, iid):
            deleted.append(iid)
        report(n + 1, total, f"Item {iid} deleted.")
    if keep_collection:
        report(total, total, f"Collection {collection_id} kept.")
        return DeleteResult(collection_id, tuple(deleted), False, tuple(client.log[start:]), True)
    gone = client.delete_collection(collection_id)
    report(
        total, total, f"Collection {collection_id} deleted." if gone else f"No collection {collection_id}."
    )
    return DeleteResult(collection_id, tuple(deleted), gone, tuple(client.log[start:]))
