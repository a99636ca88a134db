"""Editing and deleting what was published: the Catalogue page's changes to a collection in the catalogue.

- A published collection is edited in the Metadata form: :func:`published_source` makes it the form's
  source (:class:`~apex_core.metadata.LoadedResults`), the person edits, and :func:`plan_edit` turns the
  form's draft into a :class:`CollectionEdit`. Building a published collection through the Metadata
  machinery changes things the person did not touch (``stac_version``, links, fixes...), so the edit is
  the *difference* between building the untouched draft and building the edited one, applied onto the
  collection as published: only the members the person changed are written, as RFC 6902 JSON Patch
  operations. The id never changes (publish under the new id instead); ``_auth`` changes only when the
  person changed the access rules.
  Form values the build does not turn into a change of the published document (statistics, render hints
  naming assets the form does not edit) are said in :attr:`CollectionEdit.notes`, also when the edit is
  empty; render hints switched off remove the published ``renders``.
- :func:`apply_edit` reads the collection again and writes nothing if someone changed it since the page
  read it (:class:`~apex_core.errors.CatalogueConflict`), PATCHes the changed members (``_auth`` by a
  merge patch: a catalogue takes access rules only where it checks them; the rest by one JSON Patch
  whose RFC 6902 ``test`` operations make the catalogue refuse it if a member changed meanwhile), then
  reads the collection back and checks every change is there and the access rules are kept. Rules
  written before a refused JSON Patch are set back when the catalogue showed them; the error says.
- :func:`delete_item` and :func:`delete_collection` delete only when the person typed the id to confirm
  (:func:`confirmation_matches`); otherwise nothing is sent. Deleting what is gone already is no error
  (:attr:`Deletion.deleted` is False).

No token is ever logged or kept here: the :class:`~apex_core.catalogue.CatalogueClient` holds it.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from apex_core import metadata as md
from apex_core.catalogue import CatalogueClient
from apex_core.errors import ApexError, CatalogueConflict, CatalogueError, MetadataError, NotFoundError
from apex_core.merge import stored_links
from apex_core.publish import delete_published

__all__ = [
    "SOURCE_ORIGIN",
    "CollectionEdit",
    "Deletion",
    "apply_edit",
    "confirmation_matches",
    "delete_collection",
    "delete_item",
    "plan_edit",
    "published_source",
]

logger = logging.getLogger(__name__)

SOURCE_ORIGIN = "the catalogue"  # LoadedResults.origin is "the catalogue: <id>"
# Members a STAC API writes itself (besides its generated links): never part of an edit or a conflict.
_SERVER_MEMBERS = frozenset({"created", "updated"})
_AUTH = "_auth"
_NEVER_WRITTEN = frozenset({"id", "type"})
_MISSING = object()
# Lists whose entries are compared one by one (what the build alone changes in them stays as published).
_SET_MEMBERS = frozenset({"links", "stac_extensions"})
_RENDERS = "renders"
_RENDER_EXTENSION = re.compile(r"stac-extensions\.github\.io/render/")
_RENDERS_KEPT = (
    "The render hints (minimum, maximum, colour map) do not apply to this collection's published "
    "`renders` (they name assets the form does not edit): they are kept as published. Change them by "
    "publishing the collection again."
)
_STATISTICS_KEPT = (
    "Statistics are kept as published: the form's statistics box does not change a published "
    "collection's. Change them by publishing the collection again."
)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _comparable(doc: Mapping[str, Any], *, auth: bool = True) -> dict[str, Any]:
    """The document without what the server manages: its generated links, ``created``/``updated``, and
    ``_auth`` unless ``auth`` (a catalogue may not echo it)."""
    out = {k: v for k, v in doc.items() if k not in _SERVER_MEMBERS and (auth or k != _AUTH)}
    if "links" in out:
        out["links"] = stored_links(out["links"])
    return out


def _member(doc: Mapping[str, Any], key: str) -> Any:
    """One member as stored (a ``links`` list without the server's own links); ``_MISSING`` if absent."""
    if key not in doc:
        return _MISSING
    return stored_links(doc[key]) if key == "links" else doc[key]


def _same_member(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    return _canonical(a) == _canonical(b)


def _merged_set(published: list[Any], base: list[Any], edited: list[Any]) -> list[Any]:
    """The published list, less the entries the person's edit removed from the build and with the ones
    it added (an entry the build changes in both alike, such as a broken ``derived_from`` link or an
    extension's version, stays as published)."""
    base_keys = {_canonical(v) for v in base}
    edited_keys = {_canonical(v) for v in edited}
    out = [v for v in published if _canonical(v) in edited_keys or _canonical(v) not in base_keys]
    present = {_canonical(v) for v in out}
    out += [v for v in edited if _canonical(v) not in base_keys | present]
    return copy.deepcopy(out)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


# Lists whose first entry is the one the form edits (the overall extent) and whose other entries (the
# extents of parts of the collection, STAC's sub-extents) are kept as published.
_FIRST_ENTRY_LISTS = frozenset({("extent", "spatial", "bbox"), ("extent", "temporal", "interval")})


def _three_way(published: Any, base: Any, edited: Any, path: tuple[str, ...] = ()) -> Any:
    """``published`` with the difference from ``base`` to ``edited`` applied: objects key by key (what
    the build changed in both alike stays as published), the extent's ``bbox`` and ``interval`` entry by
    entry (the form edits the first, the overall one: the others stay as published), any other value as
    ``edited`` has it. ``path``: where these values are in the collection."""
    lists = isinstance(published, list) and isinstance(base, list) and isinstance(edited, list)
    if path in _FIRST_ENTRY_LISTS and lists and published and edited:
        if base and _same_member(base[0], edited[0]):
            return copy.deepcopy(published)
        return [copy.deepcopy(edited[0]), *copy.deepcopy(published[1:])]
    if not (isinstance(published, Mapping) and isinstance(base, Mapping) and isinstance(edited, Mapping)):
        return copy.deepcopy(edited)
    out = copy.deepcopy(dict(published))
    for key in set(base) | set(edited):
        old, new = base.get(key, _MISSING), edited.get(key, _MISSING)
        if _same_member(old, new):
            continue
        if new is _MISSING:
            out.pop(key, None)
        else:
            out[key] = _three_way(out.get(key, _MISSING), old, new, (*path, str(key)))
    return out


def _pointer(key: str) -> str:
    """The JSON Pointer (RFC 6901) of a top-level member."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _member_of(pointer: str) -> str:
    return pointer[1:].replace("~1", "/").replace("~0", "~")


# --------------------------------------------------------------------------------------------------
# The published collection as the Metadata form's source
# --------------------------------------------------------------------------------------------------


def published_source(collection: Mapping[str, Any]) -> md.LoadedResults:
    """The published ``collection`` (as the catalogue served it) as the Metadata form's source: its
    origin ``"the catalogue: <id>"``, a fingerprint of its content (a changed collection loads again),
    no items (the form edits the collection's description only)."""
    results = copy.deepcopy(dict(collection))
    cid = str(results.get("id") or "")
    digest = hashlib.sha256(_canonical(_comparable(results)).encode()).hexdigest()[:16]
    return md.LoadedResults(
        origin=f"{SOURCE_ORIGIN}: {cid}",
        fingerprint=f"catalogue:{cid}:{digest}",
        results=results,
        items=(),
    )


# --------------------------------------------------------------------------------------------------
# The edit
# --------------------------------------------------------------------------------------------------


def _pretty(doc: Mapping[str, Any]) -> list[str]:
    return json.dumps(doc, indent=2, sort_keys=True, default=str, ensure_ascii=False).splitlines()


@dataclass(frozen=True)
class CollectionEdit:
    """What the person changed in a published collection, before anything is written.

    ``before`` is the collection as the page read it (with ``_auth`` when the catalogue served it),
    ``after`` the same with the person's changes, ``operations`` the JSON Patch (RFC 6902) that makes
    one the other: ``add``/``replace``/``remove`` of the top-level members that changed (never ``id``;
    ``_auth`` only when the person changed the access rules). ``notes``: sentences for the person (what
    the form changed that the edit does not write, rules the catalogue does not show...), also on an
    empty edit.
    """

    collection_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    operations: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> tuple[str, ...]:
        """The names of the top-level members that change, in the order of the operations."""
        return tuple(_member_of(str(op["path"])) for op in self.operations)

    @property
    def empty(self) -> bool:
        return not self.operations

    @property
    def access_changed(self) -> bool:
        """Whether the access rules (``_auth``) change."""
        return _AUTH in self.changed

    def diff(self) -> str:
        """A unified diff of the collection before and after (pretty JSON, keys sorted), to show before
        writing; empty when nothing changes."""
        if self.empty:
            return ""
        before = _pretty(_comparable(self.before))
        after = _pretty(_comparable(self.after))
        cid = self.collection_id
        return "\n".join(
            difflib.unified_diff(before, after, f"published: {cid}", f"edited: {cid}", lineterm="")
        )

    @property
    def summary(self) -> str:
        if self.empty:
            return f"Nothing changed in collection {self.collection_id}."
        return f"Collection {self.collection_id}: {', '.join(self.changed)} change."

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection_id": self.collection_id,
            "before": copy.deepcopy(self.before),
            "after": copy.deepcopy(self.after),
            "operations": copy.deepcopy(list(self.operations)),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionEdit:
        return cls(
            collection_id=str(data["collection_id"]),
            before=copy.deepcopy(dict(data["before"])),
            after=copy.deepcopy(dict(data["after"])),
            operations=tuple(copy.deepcopy(dict(op)) for op in data.get("operations") or ()),
            notes=tuple(str(n) for n in data.get("notes") or ()),
        )


def _built(
    draft: md.CollectionDraft, source: md.LoadedResults, what: str
) -> tuple[dict[str, Any], set[tuple[str, str, str]]]:
    """The collection the Metadata machinery builds from ``draft`` over the published source, and the
    schema checks it fails; :class:`MetadataError` naming the field when the draft has an error."""
    evaluation = md.evaluate(draft, source.results, source.items)
    if evaluation.errors:
        raise evaluation.errors[0].to_error()
    if evaluation.publishable is None:  # pragma: no cover - evaluate gives errors whenever it has none
        raise MetadataError(f"The {what} collection could not be built.")
    failing = {(c.target, c.schema, "; ".join(c.messages)) for c in evaluation.checks if not c.ok}
    return evaluation.publishable.collection, failing


def _check_finite(key: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise MetadataError(
            f"`{key}` holds a number that is not finite (NaN or Infinity): it is not JSON and is not sent.",
            field=key,
        ) from exc


def plan_edit(collection: Mapping[str, Any], draft: md.CollectionDraft) -> CollectionEdit:
    """The edit of the published ``collection`` that the form's ``draft`` asks for.

    The untouched draft (:meth:`CollectionDraft.from_results` of :func:`published_source`, through the
    form once as the page does) and ``draft`` are built the same way; the top-level members whose built
    values differ are the person's changes, applied onto ``collection`` as published. Raises
    :class:`MetadataError` when the id changes (a published collection keeps its id), when the draft
    has an error (naming its field) or the edited collection fails a schema check the published one
    passes, and when a changed value is not finite JSON.
    """
    cid = collection.get("id")
    if not isinstance(cid, str) or not cid:
        raise MetadataError("The published collection has no id.", field="id")
    source = published_source(collection)
    try:
        loaded = md.CollectionDraft.from_results(source.results, source.items)
    except MetadataError as exc:
        raise MetadataError(
            f"Collection {cid} cannot be edited in the form: {exc.message}", field=exc.field
        ) from exc
    if draft.id.strip() not in (cid, loaded.id):
        raise MetadataError(
            f"A published collection's id cannot change ({cid} → {draft.id.strip() or 'empty'}): publish it "
            "under the new id instead.",
            field="id",
        )
    # the form prefills the id from the title: both drafts are built under the one the person saw
    untouched = replace(loaded.with_form(loaded.form_values()), id=draft.id)
    base, base_failing = _built(untouched, source, "published")
    edited, edited_failing = _built(draft, source, "edited")
    new_failures = edited_failing - base_failing
    if new_failures:
        target, schema, said = sorted(new_failures)[0]
        raise MetadataError(f"The edited collection fails the {schema} schema ({target}): {said}")
    before = copy.deepcopy(dict(collection))
    after = copy.deepcopy(dict(collection))
    for key in sorted(set(base) | set(edited)):
        if key in _NEVER_WRITTEN:
            continue
        old, new = _member(base, key), _member(edited, key)
        if _same_member(old, new):
            continue  # the build makes the same of both: the person did not change it
        have = _member(before, key)
        if key in _SET_MEMBERS:
            new = _merged_set(_as_list(have), _as_list(old), _as_list(new))
        elif new is not _MISSING and have is not _MISSING:
            new = _three_way(have, old, new, (key,))
        if _same_member(have, new):
            continue  # the catalogue holds it already
        if new is _MISSING:
            after.pop(key, None)
        else:
            after[key] = copy.deepcopy(new)
    notes: list[str] = []
    if untouched.render is not None and draft.render is None and _RENDERS in after:
        _without_renders(after)  # the build keeps what the results hold: switched off is removed here
        notes.append("Render hints switched off: the collection's `renders` are removed.")
    elif untouched.render != draft.render and _same_member(
        _member(base, _RENDERS), _member(edited, _RENDERS)
    ):
        notes.append(_RENDERS_KEPT)  # the build does not apply them (no data asset of the collection's own)
    if untouched.statistics != draft.statistics and all(
        _same_member(_member(base, key), _member(edited, key)) for key in ("assets", "item_assets")
    ):
        notes.append(_STATISTICS_KEPT)  # the build keeps the statistics the published assets hold
    operations = _operations(before, after)
    if any(op["path"] == _pointer(_AUTH) for op in operations) and _AUTH not in before:
        notes.append("The catalogue does not show the access rules (`_auth`): the form's are written.")
    return CollectionEdit(cid, before, after, operations, tuple(notes))


def _operations(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """The JSON Patch operations that make ``before`` ``after``: one per top-level member that differs
    (never ``id``/``type``; ``links`` compared without the server's own), in the order of the names.
    Raises :class:`MetadataError` when a value to write is not finite JSON."""
    operations: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        if key in _NEVER_WRITTEN or key in _SERVER_MEMBERS:
            continue
        have, new = _member(before, key), _member(after, key)
        if _same_member(have, new):
            continue
        pointer = _pointer(key)
        if new is _MISSING:
            operations.append({"op": "remove", "path": pointer})
            continue
        _check_finite(key, new)
        op = "add" if have is _MISSING else "replace"
        operations.append({"op": op, "path": pointer, "value": copy.deepcopy(new)})
    return tuple(operations)


def _without_renders(doc: dict[str, Any]) -> None:
    """``doc`` without its ``renders`` and the render extension that describes them."""
    doc.pop(_RENDERS, None)
    extensions = doc.get("stac_extensions")
    if isinstance(extensions, list):
        doc["stac_extensions"] = [e for e in extensions if not _RENDER_EXTENSION.search(str(e))]


# --------------------------------------------------------------------------------------------------
# Writing it
# --------------------------------------------------------------------------------------------------


def _unchanged_since(before: Mapping[str, Any], now: Mapping[str, Any], *, auth: bool = True) -> bool:
    """Whether the catalogue's collection is still the one the page read (server-managed members and
    a ``_auth`` shown on one side only aside; ``_auth`` aside altogether unless ``auth``)."""
    auth = auth and _AUTH in before and _AUTH in now
    return _canonical(_comparable(before, auth=auth)) == _canonical(_comparable(now, auth=auth))


def _misses(edit: CollectionEdit, doc: Mapping[str, Any]) -> list[str]:
    """The changed members ``doc`` does not hold as intended (and ``_auth`` if it vanished)."""
    missed = []
    for key in edit.changed:
        if key == _AUTH and _AUTH not in doc:
            continue  # not shown by the catalogue: checked below when it was shown before
        if not _same_member(_member(edit.after, key), _member(doc, key)):
            missed.append(key)
    if _AUTH in edit.before and _AUTH not in doc:
        missed.append(_AUTH)
    return missed


def _guarded(edit: CollectionEdit) -> list[dict[str, Any]]:
    """The edit's JSON Patch of the document (all but ``_auth``), each changed member first tested
    (RFC 6902 ``test``) to hold what the page read: the catalogue applies a JSON Patch whole or not at
    all, so a member someone changed meanwhile makes it refuse the write. Not tested: a member the page
    read absent (RFC 6902 cannot test an absence) and ``links`` (a response's links hold links the
    server generates that cannot be told apart from stored ones): the re-read before writing covers
    them."""
    ops = [op for op in edit.operations if op["path"] != _pointer(_AUTH)]
    tests = []
    for key in dict.fromkeys(_member_of(str(op["path"])) for op in ops):
        if key != "links" and key in edit.before:
            tests.append({"op": "test", "path": _pointer(key), "value": copy.deepcopy(edit.before[key])})
    return [*tests, *ops] if ops else []


def _rules(value: Any) -> str:
    return _canonical(value) if value is not _MISSING else "none"


def _restore_rules(client: CatalogueClient, edit: CollectionEdit, written: Any) -> str:
    """After the document's write failed with ``written`` rules already stored: set the rules back to
    the page's (when the catalogue showed them) and say what the access rules are now."""
    cid = edit.collection_id
    if _AUTH not in edit.before:
        return (
            f"The access rules (`_auth`) had already been changed to {_rules(written)} and stay so (the "
            "catalogue does not show the ones before, so they could not be set back): check them."
        )
    previous = edit.before[_AUTH]
    try:
        client.patch_collection(cid, {_AUTH: previous})
    except ApexError as exc:
        logger.warning("Collection %s: access rules not set back: %s", cid, exc.message)
        return (
            f"The access rules (`_auth`) had already been changed to {_rules(written)} and could not be "
            f"set back to {_rules(previous)} ({exc.message}): check them."
        )
    logger.info("Collection %s: access rules set back after a failed edit", cid)
    return (
        f"The access rules (`_auth`) had already been changed to {_rules(written)}; they were set back "
        f"to {_rules(previous)}."
    )


def _document_refused(
    client: CatalogueClient, edit: CollectionEdit, exc: ApexError, written: Any
) -> ApexError:
    """The error to raise when the document's JSON Patch was refused (``written``: the rules stored
    just before, ``_MISSING`` if none): a :class:`CatalogueConflict` when the collection changed since
    the page read it (a failed ``test``), else ``exc``'s kind; either says what became of the rules."""
    cid = edit.collection_id
    stale = False
    if exc.status in (400, 409, 412, 422):  # a failed `test` is a 400 (409 or 422 elsewhere)
        try:
            now = client.get_collection(cid)
        except ApexError:
            now = None
        stale = now is None or not _unchanged_since(edit.before, now, auth=False)
    rules = _restore_rules(client, edit, written) if written is not _MISSING else ""
    kw: dict[str, Any] = {"code": exc.code, "status": exc.status, "request_id": exc.request_id}
    if stale:
        done = "your changes were not written" if not rules else "your other changes were not written"
        message = (
            f"Collection {cid} changed in the catalogue since you opened it: {done}. {rules} Open it "
            "again and make your change on what it holds now."
        )
        return CatalogueConflict(" ".join(message.split()), **kw)
    if not rules:
        return exc
    try:
        return type(exc)(f"{exc.message} {rules}", field=exc.field, **kw)
    except TypeError:  # pragma: no cover - an error class of other arguments
        return CatalogueError(f"{exc.message} {rules}", field=exc.field, **kw)


def apply_edit(
    client: CatalogueClient, edit: CollectionEdit, *, timeout: float = 10.0, interval: float = 0.25
) -> dict[str, Any]:
    """Write ``edit`` and return the collection as the catalogue serves it afterwards.

    1. Reads the collection again: gone -> :class:`NotFoundError`; changed since the page read it ->
       :class:`CatalogueConflict` (nothing written).
    2. PATCHes the changed members: ``_auth`` first by a merge patch (the catalogue checks the rules
       there and refuses a JSON Patch of them; refused, nothing is written), then the others by one
       JSON Patch whose ``test`` operations make the catalogue refuse it, atomically, when one of them
       changed since the page read it (:func:`_guarded`; the re-read of step 1 covers ``_auth``,
       ``links`` and members that were absent). Refused after the rules were written, the rules are
       set back to the page's when the catalogue showed them, and the error says what they are now.
    3. Reads it back (polling up to ``timeout`` seconds: a catalogue's index may lag a write) and checks
       every changed member is as intended and ``_auth`` is still there when it was shown before; else
       :class:`CatalogueError`.
    Errors of the requests (401, 403...) are raised as :mod:`apex_core.catalogue` maps them; a
    document refused because it changed meanwhile is a :class:`CatalogueConflict`.
    """
    cid = edit.collection_id
    current = client.get_collection(cid)
    if current is None:
        raise NotFoundError(
            f"Collection {cid} is not in the catalogue any more (or this account may not read it): nothing "
            "was written."
        )
    if not _unchanged_since(edit.before, current):
        raise CatalogueConflict(
            f"Collection {cid} changed in the catalogue since you opened it: nothing was written. Open it "
            "again and make your change on what it holds now."
        )
    if edit.empty:
        return current
    document_ops = _guarded(edit)
    auth_ops = [op for op in edit.operations if op["path"] == _pointer(_AUTH) and "value" in op]
    for op in edit.operations:  # never send what is not JSON (NaN, Infinity)
        if "value" in op:
            _check_finite(_member_of(str(op["path"])), op["value"])
    written: Any = _MISSING
    for op in auth_ops:  # first: the rules the catalogue may refuse (403), before anything is written
        client.patch_collection(cid, {_AUTH: op["value"]})
        written = op["value"]
    if document_ops:
        try:
            client.patch_collection(cid, document_ops)
        except ApexError as exc:
            raise _document_refused(client, edit, exc, written) from exc
    logger.info("Collection %s edited: %s", cid, ", ".join(edit.changed))
    deadline = time.monotonic() + timeout
    while True:
        now = client.get_collection(cid)
        missed = _misses(edit, now) if now is not None else ["the collection itself"]
        if not missed:
            return now if now is not None else {}
        if time.monotonic() >= deadline:
            raise CatalogueError(
                f"Collection {cid} was updated, but reading it back shows {', '.join(missed)} not as "
                "intended. Open it again to see what it holds."
            )
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# Deleting
# --------------------------------------------------------------------------------------------------


def confirmation_matches(typed: str, expected: str) -> bool:
    """Whether the person typed ``expected`` (surrounding whitespace aside; nothing typed never matches)."""
    wanted = expected.strip()
    return bool(wanted) and typed.strip() == wanted


@dataclass(frozen=True)
class Deletion:
    """What a delete did: one item (``item_id``) or the whole collection (``item_id`` None);
    ``deleted`` False when it was gone already; ``deleted_items`` the items a collection's delete took."""

    collection_id: str
    item_id: str | None
    deleted: bool
    deleted_items: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        cid, iid = self.collection_id, self.item_id
        if iid is not None:
            if self.deleted:
                return f"Item {iid} deleted from collection {cid}; the collection stays."
            return f"Item {iid} was not in collection {cid} (deleted already): nothing to delete."
        n = len(self.deleted_items)
        items = f" and its {n} item{'s' if n != 1 else ''}" if n else ""
        if self.deleted:
            return f"Collection {cid}{items} deleted."
        if n:
            return f"{n} item{'s' if n != 1 else ''} deleted; collection {cid} was gone already."
        return f"Collection {cid} was not in the catalogue (deleted already): nothing to delete."

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection_id": self.collection_id,
            "item_id": self.item_id,
            "deleted": self.deleted,
            "deleted_items": list(self.deleted_items),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deletion:
        item = data.get("item_id")
        return cls(
            collection_id=str(data["collection_id"]),
            item_id=str(item) if item is not None else None,
            deleted=bool(data.get("deleted")),
            deleted_items=tuple(str(i) for i in data.get("deleted_items") or ()),
        )


def _confirm(typed: str, expected: str, what: str) -> None:
    if not confirmation_matches(typed, expected):
        raise MetadataError(
            f"Type the {what} id {expected} exactly to confirm the delete: nothing was deleted.",
            field="confirmation",
        )


def delete_item(client: CatalogueClient, collection_id: str, item_id: str, typed: str) -> Deletion:
    """Delete one item of a collection once the person typed its id (``typed``); else
    :class:`MetadataError` and nothing is sent. The collection stays."""
    _confirm(typed, item_id, "item")
    deleted = client.delete_item(collection_id, item_id)
    logger.info("Item %s of collection %s %s", item_id, collection_id, "deleted" if deleted else "absent")
    return Deletion(collection_id, item_id, deleted)


def delete_collection(client: CatalogueClient, collection_id: str, typed: str) -> Deletion:
    """Delete a collection, its items first, once the person typed its id (``typed``); else
    :class:`MetadataError` and nothing is sent."""
    _confirm(typed, collection_id, "collection")
    result = delete_published(client, collection_id)
    logger.info("Collection %s %s", collection_id, "deleted" if result.collection_deleted else "absent")
    return Deletion(collection_id, None, result.collection_deleted, result.deleted_items)
