"""Editing and deleting what was published, against the embedded catalogue and issuer over HTTP, no mocks:
a collection the Metadata page built from the embedded job's results is published with `_auth`, then
edited in the Metadata form (:func:`plan_edit` + :func:`apply_edit`): only what the person changed is
written, the access rules stay enforced, a stale edit writes nothing, a missing role or token is refused;
items and collections are deleted only behind the typed id."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
import requests

from apex_core import metadata as md
from apex_core.catalogue import CatalogueClient
from apex_core.curate import (
    apply_edit,
    delete_collection,
    delete_item,
    plan_edit,
    published_source,
)
from apex_core.errors import (
    CatalogueConflict,
    CatalogueError,
    ForbiddenError,
    MetadataError,
    NotFoundError,
    UnauthorizedError,
)
from apex_core.local.catalogue import CatalogueHandle
from apex_core.merge import stored_links
from apex_core.publish import PublishPlan, publish
from tests.services import AuthHeader, TokenFor, deleted_after_each_test, new_collection_id, wait_until
from tests.stacdocs import EDITOR_AUTH as PRIVATE
from tests.stacdocs import PUBLIC_AUTH as PUBLIC
from tests.stacdocs import embedded_job_item, embedded_job_results

pytestmark = pytest.mark.services

T = 15.0
SERVER = ("created", "updated")
WRITES = ("PATCH", "PUT", "POST", "DELETE")

CREATED: list[str] = []  # every id a test may create, deleted after it (the catalogue is shared)
_clean_up = deleted_after_each_test(CREATED)


def client(cat: CatalogueHandle, token: str | None) -> CatalogueClient:
    return CatalogueClient(cat.url, token, timeout=T)


def published(cat: CatalogueHandle, token: str, auth: dict[str, Any] | None = None) -> tuple[str, str]:
    """A collection (and its item) as the Metadata page builds it from the embedded job's results,
    published with `_auth` (``auth``, else the draft's: the editor role): its id and its item's id."""
    results, item = embedded_job_results(), embedded_job_item()
    cid = new_collection_id(CREATED, "curate")
    draft = md.CollectionDraft.from_results(results, [item], new_id=cid)
    evaluation = md.evaluate(draft, results, [item])
    assert evaluation.publishable is not None and not evaluation.errors
    pub = evaluation.publishable
    collection = copy.deepcopy(pub.collection)
    assert collection["_auth"] == PRIVATE
    if auth is not None:
        collection["_auth"] = auth
    plan = PublishPlan.from_dict({"collection": collection, "items": list(pub.items)})
    with client(cat, token) as c:
        result = publish(c, plan)
    assert result.ok, result.error
    return cid, plan.item_ids[0]


def published_and_read(
    cat: CatalogueHandle,
    token_for: TokenFor,
    by: str = "editor",
    auth: dict[str, Any] | None = None,
    reader: str | None = "editor",
) -> tuple[str, str, dict[str, Any]]:
    """:func:`published` by the account ``by``, then read as the account ``reader`` (None: anonymous)
    reads it, as the page opens it: its id, its item's id and the collection as served."""
    cid, iid = published(cat, token_for(by), auth)
    with client(cat, token_for(reader) if reader else None) as c:
        doc = c.get_collection(cid)
    assert doc is not None
    return cid, iid, doc


@contextlib.contextmanager
def opened_by_the_editor(
    cat: CatalogueHandle, token_for: TokenFor
) -> Iterator[tuple[str, str, dict[str, Any], CatalogueClient]]:
    """A collection the editor published, as the page opened it (:func:`published_and_read`), and the
    editor's client to edit it with: its id, its item's id, the collection as served, the client."""
    cid, iid, doc = published_and_read(cat, token_for)
    with client(cat, token_for("editor")) as c:
        yield cid, iid, doc, c


def form_draft(collection: dict[str, Any]) -> md.CollectionDraft:
    """What the Metadata form holds once the published collection is its source (the page's load and
    one round through the form's widget values)."""
    source = published_source(collection)
    draft = md.CollectionDraft.from_results(source.results, source.items)
    return draft.with_form(draft.form_values())


def get(cat: CatalogueHandle, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{cat.url}{path}", headers=headers or {}, timeout=T)


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in SERVER}
    out["links"] = stored_links(doc.get("links"))
    return out


def sent(c: CatalogueClient, start: int, *methods: str) -> list[str]:
    return [f"{e.method} {e.url}" for e in c.log[start:] if e.method in methods]


def json_patch(
    cat: CatalogueHandle, cid: str, headers: dict[str, str], path: str, value: Any
) -> requests.Response:
    """Another writer's JSON Patch (not the app's client): replace ``path`` of collection ``cid``."""
    return requests.patch(
        f"{cat.url}/collections/{cid}",
        json=[{"op": "replace", "path": path, "value": value}],
        headers={**headers, "Content-Type": "application/json-patch+json"},
        timeout=T,
    )


# --- editing -------------------------------------------------------------------------------------


def test_title_and_description_edit_writes_only_those_and_keeps_the_rules_enforced(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    with opened_by_the_editor(catalogue, token_for) as (cid, iid, before, c):
        draft = form_draft(before).with_form(
            {"title": "Bolzano NDVI, June 2022", "description": "NDVI (S2)."}
        )
        edit = plan_edit(before, draft)
        assert edit.changed == ("description", "title")
        diff = edit.diff()  # shown before anything is written
        assert '+  "title": "Bolzano NDVI, June 2022",' in diff and '-  "title": "APEx Demo' in diff
        start = len(c.log)
        after = apply_edit(c, edit)
        assert sent(c, start, *WRITES) == [f"PATCH {c.collection_url(cid)}"]
    resp = get(catalogue, f"/collections/{cid}", auth_header("editor"))  # the editor still reads it
    assert resp.status_code == 200
    now = resp.json()
    assert now["title"] == "Bolzano NDVI, June 2022" and now["description"] == "NDVI (S2)."
    assert comparable(after) == comparable(now)
    unchanged = {k: v for k, v in comparable(before).items() if k not in ("title", "description")}
    assert {k: v for k, v in comparable(now).items() if k not in ("title", "description")} == unchanged
    # `_auth` is still enforced: hidden from anonymous, refused to an account without the role
    assert get(catalogue, f"/collections/{cid}").status_code == 404
    assert get(catalogue, f"/collections/{cid}/items/{iid}").status_code == 404
    refused = json_patch(catalogue, cid, auth_header("noroles"), "/title", "mine")
    assert refused.status_code in (403, 404), refused.text  # 404: it may not even learn it exists
    assert get(catalogue, f"/collections/{cid}", auth_header("editor")).json()["title"] == now["title"]
    assert get(catalogue, f"/collections/{cid}/items/{iid}", auth_header("editor")).status_code == 200


def test_an_untouched_form_writes_nothing_and_the_id_never_changes(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    with opened_by_the_editor(catalogue, token_for) as (cid, _iid, before, c):
        edit = plan_edit(before, form_draft(before))
        assert edit.empty and edit.diff() == ""
        start = len(c.log)
        assert comparable(apply_edit(c, edit)) == comparable(before)
        assert sent(c, start, *WRITES) == []
        with pytest.raises(MetadataError, match="publish it under the new id instead") as err:
            plan_edit(before, form_draft(before).with_form({"id": f"{cid}_v2", "title": "New"}))
        assert err.value.field == "id"
        assert c.get_collection(f"{cid}_v2") is None
        # the published id typed back into the form is no change of id
        assert plan_edit(before, form_draft(before).with_form({"id": cid})).empty


def test_a_stale_edit_writes_nothing_and_keeps_the_other_change(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    with opened_by_the_editor(catalogue, token_for) as (cid, _iid, before, c):
        edit = plan_edit(before, form_draft(before).with_form({"title": "Mine", "keywords": "ndvi"}))
        # someone else changes the collection in between
        other = json_patch(catalogue, cid, auth_header("editor"), "/description", "Changed by a colleague.")
        assert other.status_code == 200, other.text
        start = len(c.log)
        with pytest.raises(CatalogueConflict, match="changed in the catalogue since you opened it"):
            apply_edit(c, edit)
        assert sent(c, start, *WRITES) == []
    now = get(catalogue, f"/collections/{cid}", auth_header("editor")).json()
    assert now["description"] == "Changed by a colleague."
    assert now["title"] == before["title"] and "keywords" not in now
    # opened again, the same change goes through and keeps the colleague's
    with client(catalogue, token_for("editor")) as c:
        fresh = c.get_collection(cid)
        assert fresh is not None
        done = apply_edit(c, plan_edit(fresh, form_draft(fresh).with_form({"title": "Mine"})))
    assert done["title"] == "Mine" and done["description"] == "Changed by a colleague."


def test_a_collection_deleted_meanwhile_is_not_found(catalogue: CatalogueHandle, token_for: TokenFor) -> None:
    with opened_by_the_editor(catalogue, token_for) as (cid, _iid, before, c):
        edit = plan_edit(before, form_draft(before).with_form({"title": "Late"}))
        assert delete_collection(c, cid, cid).deleted
        with pytest.raises(NotFoundError):
            apply_edit(c, edit)
        assert c.get_collection(cid) is None


def test_no_role_is_forbidden_and_no_token_unauthorized(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    # readable by everyone (only an administrator may publish that), writable by the editor role
    cid, _iid, before = published_and_read(catalogue, token_for, by="admin", auth=PUBLIC, reader=None)
    edit = plan_edit(before, form_draft(before).with_form({"title": "Not mine"}))
    with client(catalogue, token_for("noroles")) as c, pytest.raises(ForbiddenError):
        apply_edit(c, edit)
    with client(catalogue, None) as c, pytest.raises(UnauthorizedError):
        apply_edit(c, edit)
    assert get(catalogue, f"/collections/{cid}").json()["title"] == before["title"]
    # a private collection: an account without the role may not even learn it exists
    private, _item, doc = published_and_read(catalogue, token_for)
    with client(catalogue, token_for("noroles")) as c, pytest.raises(NotFoundError):
        apply_edit(c, plan_edit(doc, form_draft(doc).with_form({"title": "Not mine"})))
    assert get(catalogue, f"/collections/{private}", auth_header("editor")).json()["title"] == doc["title"]


def test_access_rules_change_by_the_form_and_stay_enforced(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    with opened_by_the_editor(catalogue, token_for) as (cid, _iid, before, c):
        # only an administrator may make a collection readable by everyone: refused, nothing written
        public = plan_edit(before, form_draft(before).with_form({"auth_read": "anonymous", "title": "Open"}))
        assert public.changed == ("_auth", "title")
        with pytest.raises(ForbiddenError):
            apply_edit(c, public)
        assert get(catalogue, f"/collections/{cid}").status_code == 404
        assert get(catalogue, f"/collections/{cid}", auth_header("editor")).json()["title"] == before["title"]
        # another reader role: written by a merge patch, the editor keeps reading, anonymous does not
        wider = plan_edit(before, form_draft(before).with_form({"auth_read": "apex-editor, apex-viewer"}))
        assert wider.changed == ("_auth",)
        apply_edit(c, wider)
    assert get(catalogue, f"/collections/{cid}", auth_header("editor")).status_code == 200
    assert get(catalogue, f"/collections/{cid}").status_code == 404
    assert get(catalogue, f"/collections/{cid}", auth_header("noroles")).status_code == 404


def test_hostile_values_are_stored_verbatim_and_never_non_finite(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    title = '<img src=x onerror="alert(1)"> **bold** [x](javascript:alert(1)) {{7*7}} ${HOME} \u202e'
    description = "# Heading\n\n<script>alert('x')</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    with opened_by_the_editor(catalogue, token_for) as (cid, _iid, before, c):
        stats = md.BandStatistics(minimum=-0.5, maximum=math.inf, mean=math.nan, stddev=0.1)
        draft = form_draft(before).with_form({"title": title, "description": description, "stats_on": True})
        edit = plan_edit(before, dataclasses.replace(draft, statistics=stats))
        json.dumps(edit.operations, allow_nan=False)
        apply_edit(c, edit)
    resp = get(catalogue, f"/collections/{cid}", auth_header("editor"))
    assert "NaN" not in resp.text and "Infinity" not in resp.text
    now = resp.json()
    assert now["title"] == title and now["description"] == description


def test_a_read_back_waits_for_nothing_when_the_catalogue_is_consistent(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    """The edit is visible on the first read back (the embedded catalogue reads its own writes)."""
    with opened_by_the_editor(catalogue, token_for) as (_cid, _iid, before, c):
        edit = plan_edit(before, form_draft(before).with_form({"keywords": "ndvi, bolzano"}))
        start = len(c.log)
        now = apply_edit(c, edit, timeout=0.0)
        assert now["keywords"] == ["ndvi", "bolzano"]
        assert len(sent(c, start, "GET")) == 2  # the check before, the read back after


# --- another writer between the re-read and the write; a write refused after the rules ------------


class Interleaved(CatalogueClient):
    """A real client whose ``meanwhile`` runs once, right after its request ``after`` ("read": a GET of
    the collection, "rules": a merge patch, "document": a JSON Patch): another writer's change landing
    between two of :func:`apply_edit`'s requests."""

    def __init__(self, cat: CatalogueHandle, token: str, after: str, meanwhile: Callable[[], None]) -> None:
        super().__init__(cat.url, token, timeout=T)
        self.after = after
        self.meanwhile: Callable[[], None] | None = meanwhile

    def _step(self, name: str) -> None:
        if name == self.after and self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        doc = super().get_collection(collection_id)
        self._step("read")
        return doc

    def patch_collection(
        self, collection_id: str, changes: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> requests.Response:
        resp = super().patch_collection(collection_id, changes)
        self._step("rules" if isinstance(changes, Mapping) else "document")
        return resp


def colleague_retitles(
    cat: CatalogueHandle, cid: str, headers: dict[str, str], title: str = "A colleague's title"
) -> Callable[[], None]:
    def change() -> None:
        resp = json_patch(cat, cid, headers, "/title", title)
        assert resp.status_code == 200, resp.text

    return change


def patches(c: CatalogueClient, start: int) -> list[Any]:
    """The PATCH requests logged since ``start`` (the log keeps no bodies): method and status each."""
    return [(e.method, e.status) for e in c.log[start:] if e.method == "PATCH"]


def conflict_with_a_colleague(
    cat: CatalogueHandle,
    token_for: TokenFor,
    auth_header: AuthHeader,
    cid: str,
    edit: Any,
    after: str,
    match: str = "since you opened it",
) -> tuple[CatalogueConflict, list[Any]]:
    """The editor's :func:`apply_edit` of ``edit`` while a colleague retitles collection ``cid`` right
    after the request ``after`` (:class:`Interleaved`): the :class:`CatalogueConflict` it must raise (its
    text matching ``match``) and the PATCH requests it sent (:func:`patches`)."""
    meanwhile = colleague_retitles(cat, cid, auth_header("editor"))
    with Interleaved(cat, token_for("editor"), after, meanwhile) as c:
        start = len(c.log)
        with pytest.raises(CatalogueConflict, match=match) as err:
            apply_edit(c, edit)
        return err.value, patches(c, start)


def test_a_change_between_the_check_and_the_write_is_refused_by_the_catalogue(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    """The re-read passes, then a colleague retitles: the JSON Patch's `test` of the title makes the
    catalogue refuse the whole write (the keywords are not written either)."""
    cid, _iid, before = published_and_read(catalogue, token_for)  # the page's read
    edit = plan_edit(before, form_draft(before).with_form({"title": "Mine", "keywords": "ndvi"}))
    # the colleague's change lands just after apply_edit's re-read: the check passes, the write not
    err, sent_patches = conflict_with_a_colleague(
        catalogue,
        token_for,
        auth_header,
        cid,
        edit,
        "read",
        match="changed in the catalogue since you opened it",
    )
    assert "your changes were not written" in err.message and "_auth" not in err.message
    assert sent_patches == [("PATCH", 400)]  # the one JSON Patch, refused whole
    now = get(catalogue, f"/collections/{cid}", auth_header("editor")).json()
    assert now["title"] == "A colleague's title" and "keywords" not in now


def test_rules_written_before_a_stale_document_are_said_when_the_catalogue_hides_them(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    cid, _iid, before = published_and_read(catalogue, token_for)
    assert "_auth" not in before  # the embedded catalogue never shows them
    values = {"auth_read": "apex-editor, apex-viewer", "title": "Mine"}
    edit = plan_edit(before, form_draft(before).with_form(values))
    assert edit.changed == ("_auth", "title")
    err, sent_patches = conflict_with_a_colleague(catalogue, token_for, auth_header, cid, edit, "rules")
    assert sent_patches == [("PATCH", 200), ("PATCH", 400)]
    message = err.message
    assert "your other changes were not written" in message
    assert (
        'had already been changed to {"read":["apex-editor","apex-viewer"],"write":["apex-editor"]}'
        in message
    )
    assert "could not be set back" in message and "check them" in message
    now = get(catalogue, f"/collections/{cid}", auth_header("editor")).json()
    assert now["title"] == "A colleague's title"


def test_rules_written_before_a_refused_document_are_set_back(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    """An administrator opens the collection to everyone and writes a description the catalogue refuses
    (over its 1 MiB document limit): the rules were written first, and are set back."""
    cid, _iid, served = published_and_read(catalogue, token_for, by="admin", reader="admin")
    before = {**served, "_auth": PRIVATE}  # as a catalogue showing the rules serves it
    values = {"auth_read": "anonymous", "description": "NDVI. " * 200_000}
    edit = plan_edit(before, form_draft(before).with_form(values))
    assert edit.changed == ("_auth", "description")
    with client(catalogue, token_for("admin")) as c:
        start = len(c.log)
        with pytest.raises(CatalogueError) as err:
            apply_edit(c, edit)
        assert patches(c, start) == [("PATCH", 200), ("PATCH", 413), ("PATCH", 200)]
    assert not isinstance(err.value, CatalogueConflict)
    assert err.value.status == 413
    message = err.value.message
    assert 'had already been changed to {"read":["anonymous"],"write":["apex-editor"]}' in message
    assert 'they were set back to {"read":["apex-editor"],"write":["apex-editor"]}' in message
    assert get(catalogue, f"/collections/{cid}").status_code == 404  # private again
    now = get(catalogue, f"/collections/{cid}", auth_header("editor")).json()
    assert now["description"] == served["description"]


def test_rules_that_cannot_be_set_back_are_said(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    """Readable by everyone (an administrator's rules): the editor narrows them, a colleague's change
    makes the document stale, and only an administrator may open it to everyone again."""
    cid, _iid, served = published_and_read(catalogue, token_for, by="admin", auth=PUBLIC)
    before = {**served, "_auth": PUBLIC}
    edit = plan_edit(before, form_draft(before).with_form({"auth_read": "apex-editor", "title": "Mine"}))
    err, sent_patches = conflict_with_a_colleague(catalogue, token_for, auth_header, cid, edit, "rules")
    assert sent_patches == [("PATCH", 200), ("PATCH", 400), ("PATCH", 403)]
    message = err.message
    assert 'changed to {"read":["apex-editor"],"write":["apex-editor"]} and could not be set back' in message
    assert get(catalogue, f"/collections/{cid}").status_code == 404  # the narrowed rules stay
    assert (
        get(catalogue, f"/collections/{cid}", auth_header("editor")).json()["title"] == "A colleague's title"
    )


# --- deleting ------------------------------------------------------------------------------------


def test_delete_an_item_only_with_its_id_typed(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    cid, iid = published(catalogue, token_for("editor"))
    item_path = f"/collections/{cid}/items/{iid}"
    with client(catalogue, token_for("editor")) as c:
        for typed in ("", "   ", iid[:-1], iid.upper(), cid):
            start = len(c.log)
            with pytest.raises(MetadataError) as err:
                delete_item(c, cid, iid, typed)
            assert err.value.field == "confirmation"
            assert c.log[start:] == []  # nothing was sent
        assert get(catalogue, item_path, auth_header("editor")).status_code == 200
        done = delete_item(c, cid, iid, f" {iid} ")
        assert done.deleted and done.item_id == iid and "deleted" in done.message
        wait_until(lambda: get(catalogue, item_path, auth_header("editor")).status_code == 404, T)
        assert get(catalogue, f"/collections/{cid}", auth_header("editor")).status_code == 200
        again = delete_item(c, cid, iid, iid)
        assert not again.deleted and "deleted already" in again.message


def test_delete_a_collection_only_with_its_id_typed_and_only_with_the_role(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: AuthHeader
) -> None:
    cid, iid = published(catalogue, token_for("admin"), auth=PUBLIC)
    with client(catalogue, token_for("editor")) as c:
        for typed in ("", cid[:-1], iid, f"{cid}x"):
            start = len(c.log)
            with pytest.raises(MetadataError):
                delete_collection(c, cid, typed)
            assert c.log[start:] == []
    assert get(catalogue, f"/collections/{cid}").status_code == 200
    with client(catalogue, token_for("noroles")) as c, pytest.raises(ForbiddenError):
        delete_collection(c, cid, cid)
    with client(catalogue, None) as c, pytest.raises(UnauthorizedError):
        delete_collection(c, cid, cid)
    assert get(catalogue, f"/collections/{cid}/items/{iid}").status_code == 200
    with client(catalogue, token_for("editor")) as c:
        done = delete_collection(c, cid, cid)
        assert done.deleted and done.item_id is None and done.deleted_items == (iid,)
        assert done.message == f"Collection {cid} and its 1 item deleted."
        wait_until(lambda: get(catalogue, f"/collections/{cid}", auth_header("admin")).status_code == 404, T)
        assert get(catalogue, f"/collections/{cid}/items/{iid}", auth_header("admin")).status_code == 404
        again = delete_collection(c, cid, cid)
        assert not again.deleted and "not in the catalogue" in again.message
