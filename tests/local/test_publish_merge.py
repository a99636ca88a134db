"""Adding to an existing collection (issue #15, "Items and collections that grow") against the embedded
catalogue and issuer, over HTTP, no mocks: Bolzano then Kempen into one collection (both items kept,
extents unioned, summaries merged, ``_auth`` still enforced), an item id with other content skipped with its
diff unless replacing it was chosen, adding twice writes nothing, an interrupted add resumed writes every item
once, a long series in bulk with progress; and the merge rule itself on plain documents."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import requests

from apex_core.catalogue import CatalogueClient
from apex_core.errors import ForbiddenError, NotFoundError, TokenExpired
from apex_core.local.catalogue import CatalogueHandle
from apex_core.local.issuer import IssuerHandle
from apex_core.merge import merge_collection, merge_summaries, plan_merge, union_bboxes, union_intervals
from apex_core.publish import COLLECTION_STEP, PublishPlan, item_step, preview_merge, publish
from tests.services import TokenFor, deleted_after_each_test, new_collection_id, wait_until
from tests.stacdocs import EDITOR_AUTH as PRIVATE
from tests.stacdocs import write_ndvi_geotiff

pytestmark = pytest.mark.services

T = 15.0
BOLZANO_BOX = [11.0, 46.0, 11.5, 46.5]
KEMPEN_BOX = [4.8, 51.1, 5.3, 51.3]
WRITES = ("POST", "PUT", "PATCH", "DELETE")

CREATED: list[str] = []  # every id a test may create, deleted after it (the catalogue is shared)
_clean_up = deleted_after_each_test(CREATED)


def new_id(prefix: str = "merge") -> str:
    return new_collection_id(CREATED, prefix)


def area_collection(
    cid: str, title: str, box: list[float], interval: list[Any], summaries: dict[str, Any], source: str
) -> dict[str, Any]:
    return {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.1.0",
        "title": title,
        "description": f"NDVI over {title}",
        "license": "CC-BY-4.0",
        "links": [{"rel": "derived_from", "href": source, "type": "application/json"}],
        "extent": {"spatial": {"bbox": [box]}, "temporal": {"interval": [interval]}},
        "summaries": summaries,
        "item_assets": {"ndvi": {"type": "image/tiff; application=geotiff", "roles": ["data"]}},
        "_auth": dict(PRIVATE),
    }


def area_item(
    iid: str, cid: str, box: list[float], when: str, version: str = "1.1.0", **props: Any
) -> dict[str, Any]:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return {
        "type": "Feature",
        "stac_version": version,
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "bbox": [x, y, x, y],
        "properties": {"datetime": when, **props},
        "links": [],
        "assets": {},
    }


def bolzano(cid: str, items: int = 1) -> PublishPlan:
    collection = area_collection(
        cid,
        "Bolzano",
        BOLZANO_BOX,
        ["2022-06-12T00:00:00Z", "2022-06-12T23:59:59Z"],
        {"ndvi": {"minimum": -0.2, "maximum": 0.8}, "platform": ["sentinel-2a"]},
        "https://openeo.example/jobs/bolzano/results",
    )
    docs = [
        area_item(f"{cid}_2022061{2 + k}", cid, BOLZANO_BOX, f"2022-06-1{2 + k}T10:00:00Z")
        for k in range(items)
    ]
    return PublishPlan.from_dict({"collection": collection, "items": docs})


def kempen(items: int = 1, *, version: str = "1.0.0") -> PublishPlan:
    """The Kempen job's results: another collection id (a job's), STAC 1.0 items, 2019."""
    cid = "kempen-job"
    collection = area_collection(
        cid,
        "Kempen",
        KEMPEN_BOX,
        ["2019-04-18T00:00:00Z", "2019-04-18T23:59:59Z"],
        {"ndvi": {"minimum": -0.5, "maximum": 0.9}, "platform": ["sentinel-2b"]},
        "https://openeo.example/jobs/kempen/results",
    )
    docs = [
        area_item(f"kempen_201904{18 + k}", cid, KEMPEN_BOX, f"2019-04-{18 + k}T10:30:00Z", version)
        for k in range(items)
    ]
    return PublishPlan.from_dict({"collection": collection, "items": docs})


def client(cat: CatalogueHandle, token: str | None) -> CatalogueClient:
    return CatalogueClient(cat.url, token, timeout=T)


def writes(log: Any) -> list[tuple[str, str, int | None]]:
    return [(e.method, e.url, e.status) for e in log if e.method in WRITES]


# --- the catalogue ------------------------------------------------------------------------------------


def test_bolzano_then_kempen_in_one_collection(catalogue: CatalogueHandle, token_for: TokenFor) -> None:
    editor = token_for("editor")
    cid = new_id()
    with client(catalogue, editor) as c:
        first = publish(c, bolzano(cid))
        assert first.ok, first.error
        adding = kempen().adding_to(cid)
        preview = preview_merge(c, adding)
        assert [(p.id, p.status) for p in preview.items] == [("kempen_20190418", "new")]
        boxes, intervals = preview.extent("after")
        assert boxes[0] == [4.8, 46.0, 11.5, 51.3]
        assert intervals[0] == ["2019-04-18T00:00:00Z", "2022-06-12T23:59:59Z"]
        assert preview.extent("before") == ([BOLZANO_BOX], [["2022-06-12T00:00:00Z", "2022-06-12T23:59:59Z"]])
        assert any("take the collection's STAC version 1.1.0" in n for n in preview.notes)
        added = publish(c, adding)
        assert added.ok, added.error
        assert any("merged by PATCH" in n for n in added.notes), added.notes
        got = c.get_collection(cid)
        ids = c.item_ids(cid)
        kempen_item = c.get_item(cid, "kempen_20190418")
    assert ids == {f"{cid}_20220612", "kempen_20190418"}
    assert got is not None
    assert (got["title"], got["description"]) == ("Bolzano", "NDVI over Bolzano")  # the existing one's
    assert got["extent"]["spatial"]["bbox"][0] == [4.8, 46.0, 11.5, 51.3]
    assert got["extent"]["temporal"]["interval"][0] == ["2019-04-18T00:00:00Z", "2022-06-12T23:59:59Z"]
    assert got["summaries"] == {
        "ndvi": {"minimum": -0.5, "maximum": 0.9},
        "platform": ["sentinel-2a", "sentinel-2b"],
    }
    sources = sorted(link["href"] for link in got["links"] if link["rel"] == "derived_from")
    assert sources == [
        "https://openeo.example/jobs/bolzano/results",
        "https://openeo.example/jobs/kempen/results",
    ]
    assert kempen_item is not None and kempen_item["stac_version"] == "1.1.0"
    assert kempen_item["collection"] == cid

    # `_auth` kept: anonymous reads are refused, a write by someone without the role too
    assert requests.get(f"{catalogue.url}/collections/{cid}", timeout=T).status_code == 404
    assert requests.get(f"{catalogue.url}/collections/{cid}/items", timeout=T).status_code == 404
    late = kempen(2).adding_to(cid)
    with client(catalogue, token_for("noroles")) as c:
        with pytest.raises(NotFoundError):  # hidden from an account outside `_auth.read`
            preview_merge(c, late)
        with pytest.raises((NotFoundError, ForbiddenError)):
            c.create_item(cid, late.items[1])
        with pytest.raises((NotFoundError, ForbiddenError)):
            c.patch_collection(cid, [{"op": "add", "path": "/title", "value": "taken"}])
    with client(catalogue, editor) as c:
        assert c.item_ids(cid) == ids  # nothing written by the refused account
        again = publish(c, late)  # the editor still may write: its rules were kept
        assert again.ok, again.error
        after = c.get_collection(cid)
    assert after is not None and after["title"] == "Bolzano"


def test_item_with_other_content_is_skipped_with_its_diff_unless_replaced(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    cid = new_id()
    clash = f"{cid}_20220612"
    other = bolzano(cid)  # the same id, another observation time and a cloud cover
    other.items[0]["properties"]["datetime"] = "2022-06-12T10:20:00Z"
    other.items[0]["properties"]["eo:cloud_cover"] = 3.5
    extra = area_item(f"{cid}_20220613", cid, BOLZANO_BOX, "2022-06-13T10:00:00Z")
    adding = PublishPlan.from_dict({**other.to_dict(), "items": [other.items[0], extra]}).adding_to(cid)
    with client(catalogue, token_for("editor")) as c:
        assert publish(c, bolzano(cid)).ok
        preview = preview_merge(c, adding)
        statuses = {p.id: p.status for p in preview.items}
        assert statuses == {clash: "differs", extra["id"]: "new"}
        diff = next(p.diff for p in preview.items if p.id == clash)
        assert '-    "datetime": "2022-06-12T10:00:00Z"' in diff
        assert '+    "datetime": "2022-06-12T10:20:00Z",' in diff and '+    "eo:cloud_cover": 3.5' in diff
        assert "--- catalogue:" in diff and "+++ this job:" in diff
        assert preview.skipped[0].action.startswith("skip")

        kept = publish(c, adding)
        assert kept.ok, kept.error
        assert any("kept as they are" in n and clash in n for n in kept.notes), kept.notes
        assert kept.state.kept == (clash,)  # not this run's item: never deleted as its own
        stored = c.get_item(cid, clash)
        assert stored is not None and stored["properties"]["datetime"] == "2022-06-12T10:00:00Z"
        assert not any(m == "PUT" for m, _, _ in writes(kept.state.log))
        assert c.item_ids(cid) == {clash, extra["id"]}

        chosen = adding.adding_to(cid, replace=[clash])
        assert [p.action for p in preview_merge(c, chosen).items] == [
            "replace",
            "skip: already there, the same",
        ]
        replaced = publish(c, chosen)
        assert replaced.ok, replaced.error
        assert [(m, s) for m, _, s in writes(replaced.state.log)] == [("PUT", 200)]
        assert replaced.state.kept == (extra["id"],)  # written by the run before: not this run's to delete
        stored = c.get_item(cid, clash)
        assert stored is not None and stored["properties"]["eo:cloud_cover"] == 3.5


def test_adding_the_same_items_twice_writes_nothing_the_second_time(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    cid = new_id()
    with client(catalogue, token_for("editor")) as c:
        assert publish(c, bolzano(cid)).ok
        first = publish(c, kempen(3).adding_to(cid))
        assert first.ok, first.error
        again = publish(c, kempen(3).adding_to(cid))
        assert again.ok, again.error
        assert writes(again.state.log) == []
        assert any("unchanged" in n for n in again.notes)
        assert len(c.item_ids(cid)) == 4
        # The items the second add found already there are not its own: deleting "this job's items"
        # after it deletes none of them.
        assert set(again.state.kept) == set(again.plan.item_ids)


def test_an_interrupted_add_resumes_and_writes_every_item_once(
    catalogue: CatalogueHandle, issuer: IssuerHandle, token_for: TokenFor
) -> None:
    token = token_for("editor")
    account = issuer.client("editor")
    stale = issuer.state().sign(
        issuer=issuer.issuer_url, subject="editor", roles=account.roles, azp=account.client_id, lifetime=-60
    )
    cid = new_id()
    c = client(catalogue, token)
    adding = kempen(6).adding_to(cid)

    def expire_after_three(done: int, total: int, message: str) -> None:
        if message.startswith("Item kempen_20190420"):
            c.set_token(stale)

    with c:
        assert publish(c, bolzano(cid)).ok
        stopped = publish(c, adding, bulk=False, progress=expire_after_three)
        assert isinstance(stopped.error, TokenExpired), stopped.error
        assert stopped.state.done == (
            COLLECTION_STEP,
            *(item_step(f"kempen_201904{d}") for d in (18, 19, 20)),
        )
        c.set_token(token)
        resumed = publish(c, stopped.plan, stopped.state, bulk=False)
        assert resumed.ok, resumed.error
        created = [u for m, u, s in writes(resumed.state.log) if m == "POST" and s == 201]
        assert sorted(created) == sorted(f"{catalogue.url}/collections/{cid}/items" for _ in range(6))
        assert [m for m, _, _ in writes(resumed.state.log)].count("PATCH") == 1  # merged once
        fresh = publish(c, adding)  # the state lost: from scratch, still nothing written twice
        assert fresh.ok and writes(fresh.state.log) == []
        assert c.item_ids(cid) == {f"{cid}_20220612", *(f"kempen_201904{d}" for d in range(18, 24))}


def test_a_long_series_is_added_in_bulk_with_progress(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    cid = new_id()
    seen: list[tuple[int, int, str]] = []
    series = kempen(1)
    docs = [
        area_item(f"kempen_2019{m:02d}{d:02d}", "kempen-job", KEMPEN_BOX, f"2019-{m:02d}-{d:02d}T10:30:00Z")
        for m in (5, 6, 7)
        for d in range(1, 9)
    ]
    adding = PublishPlan.from_dict({**series.to_dict(), "items": docs}).adding_to(cid)
    assert len(adding.items) == 24
    with client(catalogue, token_for("editor")) as c:
        assert publish(c, bolzano(cid)).ok
        added = publish(c, adding, bulk=True, bulk_chunk=10, progress=lambda d, t, m: seen.append((d, t, m)))
        assert added.ok, added.error
        bulk = [(m, s) for m, u, s in writes(added.state.log) if u.endswith("/bulk_items")]
        assert bulk == [("POST", 200)] * 3
        assert not [u for m, u, _ in writes(added.state.log) if m == "POST" and u.endswith("/items")]
        found = wait_until(lambda: len(c.item_ids(cid)) == 25 and c.item_ids(cid), T, what="25 items")
    assert len(found) == 25
    item_progress = [d for d, _, m in seen if "(bulk)" in m]
    assert len(item_progress) == 3 and item_progress == sorted(item_progress)
    assert seen[-1][0] == seen[-1][1] == len(adding.steps)
    dones = [d for d, _, _ in seen]
    assert dones == sorted(dones)


# --- the merge rule -------------------------------------------------------------------------------------


def test_open_ends_and_three_dimensional_boxes() -> None:
    assert union_intervals(
        [["2020-01-01T00:00:00Z", None]], [["2019-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]]
    ) == [["2019-01-01T00:00:00Z", None]]
    assert union_intervals(
        [[None, "2020-01-01T00:00:00Z"]], [["2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z"]]
    ) == [[None, "2021-02-01T00:00:00Z"]]
    assert union_intervals([["2020-01-01", "2020-01-02"]], []) == [["2020-01-01", "2020-01-02"]]
    assert union_bboxes([[0, 0, 1, 1], [0, 0, 0.5, 0.5]], [[2, 2, 3, 3]]) == [[0, 0, 3, 3], [0, 0, 0.5, 0.5]]
    assert union_bboxes([[0, 0, -5, 1, 1, 5]], [[-1, 0, 2, 1]]) == [[-1, 0, 2, 1]]
    assert union_bboxes([[0, 0, -5, 1, 1, 5]], [[-1, 0, -9, 2, 1, 0]]) == [[-1, 0, -9, 2, 1, 5]]


def test_summaries_merge_per_field_and_keep_the_collection_where_they_disagree() -> None:
    merged, notes = merge_summaries(
        {"ndvi": {"minimum": 0, "maximum": 1}, "gsd": [10], "bands": {"type": "array"}},
        {"ndvi": {"minimum": -1, "maximum": 0.5}, "gsd": [10, 20], "bands": {"type": "object"}, "new": [1]},
    )
    assert merged == {
        "ndvi": {"minimum": -1, "maximum": 1},
        "gsd": [10, 20],
        "bands": {"type": "array"},
        "new": [1],
    }
    assert len(notes) == 1 and "'bands'" in notes[0]


def test_a_merge_of_what_is_there_changes_nothing() -> None:
    """Idempotent: merging the same documents again (a resume, a second add) gives no change and every
    item "same"; server links and timestamps do not count."""
    plan = bolzano("c")
    existing = copy.deepcopy({k: v for k, v in plan.collection.items() if k != "_auth"})
    existing["links"] = [*existing["links"], {"rel": "self", "href": "http://x/collections/c"}]
    stored = copy.deepcopy(plan.items[0])
    stored["links"] = [{"rel": "self", "href": "http://x/collections/c/items/1"}]
    stored["properties"]["updated"] = "2026-01-01T00:00:00Z"
    merged = plan_merge(existing, {stored["id"]: stored}, plan.collection, plan.items)
    assert merged.changes == {} and [p.status for p in merged.items] == ["same"]
    collection, notes = merge_collection(existing, kempen().collection)
    assert collection["title"] == "Bolzano" and any(
        "keeps its own id and title and description" in n for n in notes
    )
    assert "_auth" not in collection and all(link["rel"] != "self" for link in collection["links"])


def test_rehosting_while_adding_leaves_a_kept_item_file_alone(
    catalogue: CatalogueHandle, token_for: TokenFor, tmp_path: Path
) -> None:
    """Files are stored under the collection by item id: a job whose item id the collection uses for
    other content (kept, not chosen to replace) must not overwrite that item's file when re-hosting."""
    token = token_for("editor")
    cid = new_id()
    first_tif, second_tif = (
        write_ndvi_geotiff(tmp_path / "a.tif", 300),
        write_ndvi_geotiff(tmp_path / "b.tif", 200),
    )
    old_href, new_href = "https://openeo.example/a.tif?expires=1", "https://openeo.example/b.tif?expires=1"
    first = bolzano(cid)
    first.items[0]["assets"] = {"ndvi": {"href": old_href, "type": "image/tiff; application=geotiff"}}
    clash = str(first.items[0]["id"])
    second = bolzano(cid, 2)
    for item in second.items:
        item["properties"]["datetime"] = "2022-06-20T10:00:00Z"
        item["assets"] = {"ndvi": {"href": new_href, "type": "image/tiff; application=geotiff"}}
    with client(catalogue, token) as c:
        published = publish(c, first, rehost_to=catalogue.assets_url, local_files={old_href: first_tif})
        assert published.ok, published.error
        stored = c.get_item(cid, clash)
        assert stored is not None
        file_url = stored["assets"]["ndvi"]["href"]
        before = requests.get(file_url, headers={"Authorization": f"Bearer {token}"}, timeout=T).content
        added = publish(
            c, second.adding_to(cid), rehost_to=catalogue.assets_url, local_files={new_href: second_tif}
        )
        assert added.ok, added.error
        assert any("were not re-hosted" in n for n in added.notes), added.notes
        after = requests.get(file_url, headers={"Authorization": f"Bearer {token}"}, timeout=T).content
        assert after == before
        kept = c.get_item(cid, clash)
        assert kept is not None and kept["assets"]["ndvi"]["href"] == file_url
        other = c.get_item(cid, str(second.items[1]["id"]))
    assert other is not None and other["assets"]["ndvi"]["href"].startswith(f"{catalogue.assets_url}/{cid}/")
    assert other["assets"]["ndvi"]["href"] != file_url


def test_items_named_after_their_collection_follow_it_to_another_id() -> None:
    """``{collection}_{date}`` ids: adding a job whose Metadata named another collection renames its
    items after the collection they join (one rule for every item of a collection)."""
    plan = PublishPlan.from_dict(
        {
            "collection": {"id": "sept_ndvi", "type": "Collection"},
            "items": [{"id": "sept_ndvi_20190905", "collection": "sept_ndvi"}, {"id": "openEO"}],
        }
    )
    moved = plan.adding_to("romania_ndvi")
    assert moved.item_ids == ("romania_ndvi_20190905", "openEO")
    assert [i.get("collection") for i in moved.items] == ["romania_ndvi", "romania_ndvi"]


def test_an_update_keeps_the_collection_s_stored_links_and_says_what_a_replace_would_drop() -> None:
    existing = {
        "id": "c", "type": "Collection", "keywords": ["forest"],
        "assets": {"thumb": {"href": "https://x/t.png"}},
        "links": [{"rel": "license", "href": "https://x/licence"},
                  {"rel": "cite-as", "href": "https://doi.org/x"}],
        "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]},
                   "temporal": {"interval": [["2019-06-01T00:00:00Z", None]]}},
    }  # fmt: skip
    new = {"id": "c", "type": "Collection", "description": "new words",
           "links": [{"rel": "about", "href": "https://x/about"}],
           "extent": {"spatial": {"bbox": [[1, 1, 2, 2]]},
                      "temporal": {"interval": [[None, None]]}}}  # fmt: skip
    merged, _notes = merge_collection(existing, new, "new")
    assert {(link["rel"], link["href"]) for link in merged["links"]} == {
        ("license", "https://x/licence"), ("cite-as", "https://doi.org/x"), ("about", "https://x/about")
    }  # fmt: skip
    plan = plan_merge(existing, {}, new, [], metadata="new")
    assert any("assets, keywords" in n and "PUT" in n for n in plan.notes)
