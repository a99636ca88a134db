"""Editing a published collection in the Metadata form, offline: :func:`apex_core.curate.plan_edit` on
recorded documents (the APEx catalogue's response, the embedded job's results as the Metadata page
publishes them): an untouched form is no edit; a keyword, provider or licence change is exactly that
member's JSON Patch operation; the id never changes; what is not finite JSON is never planned."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from apex_core import metadata as md
from apex_core.curate import (
    CollectionEdit,
    Deletion,
    confirmation_matches,
    plan_edit,
    published_source,
)
from apex_core.errors import MetadataError
from tests.services import shared_fixture
from tests.stacdocs import embedded_job_item, embedded_job_results

SERVER_LINKS = [
    {"rel": "self", "href": "http://127.0.0.1:1/collections/{cid}", "type": "application/json"},
    {"rel": "root", "href": "http://127.0.0.1:1/", "type": "application/json"},
    {"rel": "parent", "href": "http://127.0.0.1:1/", "type": "application/json"},
    {"rel": "items", "href": "http://127.0.0.1:1/collections/{cid}/items", "type": "application/geo+json"},
]


def recorded() -> dict[str, Any]:
    """The APEx demo catalogue's answer for a published NDVI collection (no `_auth`, server links)."""
    doc: dict[str, Any] = json.loads(shared_fixture("apex_catalogue_collection_response.json").read_text())
    return doc


def as_served(collection: dict[str, Any], auth: bool = False) -> dict[str, Any]:
    """A collection the Metadata page built, as a catalogue serves it: server links, `_auth` hidden."""
    doc = copy.deepcopy(collection)
    if not auth:
        doc.pop("_auth", None)
    cid = doc["id"]
    doc["links"] = [*doc.get("links", []), *({**k, "href": k["href"].format(cid=cid)} for k in SERVER_LINKS)]
    return doc


def published_by_the_app(auth: bool = False) -> dict[str, Any]:
    results, item = embedded_job_results(), embedded_job_item()
    draft = md.CollectionDraft.from_results(results, [item], new_id="bolzano_ndvi_2022")
    evaluation = md.evaluate(draft, results, [item])
    assert evaluation.publishable is not None
    return as_served(evaluation.publishable.collection, auth)


def form_draft(collection: dict[str, Any]) -> md.CollectionDraft:
    """The draft the Metadata form holds once the published collection is loaded (the page's load and
    one round through the form's values)."""
    source = published_source(collection)
    draft = md.CollectionDraft.from_results(source.results, source.items)
    return draft.with_form(draft.form_values())


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "recorded": recorded,
    "app": published_by_the_app,
    "app+auth": lambda: published_by_the_app(True),
}


# --- the source --------------------------------------------------------------------------------


def test_published_source_names_the_catalogue_and_fingerprints_the_content() -> None:
    doc = recorded()
    source = published_source(doc)
    assert source.origin == "the catalogue: gran_canaria_ndvi"
    assert source.items == () and source.results == doc and source.results is not doc
    assert published_source(copy.deepcopy(doc)).fingerprint == source.fingerprint
    other = {**doc, "title": "Another title"}
    assert published_source(other).fingerprint != source.fingerprint
    # what the server regenerates does not make it another source
    relinked = {**doc, "links": [*doc["links"], {"rel": "self", "href": "http://elsewhere/c"}]}
    assert published_source(relinked).fingerprint == source.fingerprint


# --- untouched -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_an_untouched_form_is_no_edit(name: str) -> None:
    doc = DOCUMENTS[name]()
    for draft in (form_draft(doc), md.CollectionDraft.from_results(published_source(doc).results)):
        edit = plan_edit(doc, draft)
        assert edit.empty and edit.operations == () and edit.changed == ()
        assert edit.after == doc and edit.before == doc
        assert edit.diff() == ""


# --- one member changed: exactly that operation ------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_keywords_change_is_one_operation(name: str) -> None:
    doc = DOCUMENTS[name]()
    edit = plan_edit(doc, form_draft(doc).with_form({"keywords": "NDVI, Sentinel-2, NDVI"}))
    op = "replace" if "keywords" in doc else "add"
    assert edit.operations == ({"op": op, "path": "/keywords", "value": ["NDVI", "Sentinel-2"]},)
    assert edit.changed == ("keywords",)
    assert edit.after == {**doc, "keywords": ["NDVI", "Sentinel-2"]}
    assert '+    "Sentinel-2"' in edit.diff()


def test_removing_every_keyword_removes_the_member() -> None:
    doc = {**recorded(), "keywords": ["ndvi", "canary"]}
    edit = plan_edit(doc, form_draft(doc).with_form({"keywords": ""}))
    assert edit.operations == ({"op": "remove", "path": "/keywords"},)
    assert "keywords" not in edit.after


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_providers_change_is_one_operation_keeping_what_the_form_does_not_show(name: str) -> None:
    doc = DOCUMENTS[name]()
    draft = form_draft(doc).with_form(
        {"provider_0_name": "VITO NV", "provider_0_roles": ["processor", "host"]}
    )
    edit = plan_edit(doc, draft)
    assert edit.changed == ("providers",)
    (op,) = edit.operations
    assert op["op"] == "replace" and op["path"] == "/providers"
    first = op["value"][0]
    assert first["name"] == "VITO NV" and first["roles"] == ["processor", "host"]
    # the fields the form does not show (description, processing:expression...) are kept as published
    published = doc["providers"][0]
    assert {k: v for k, v in first.items() if k not in ("name", "roles")} == {
        k: v for k, v in published.items() if k not in ("name", "roles")
    }


def test_a_provider_added_is_one_operation() -> None:
    doc = recorded()
    draft = form_draft(doc).with_provider_added()
    draft = draft.with_form({"provider_1_name": "ESA", "provider_1_roles": ["licensor"]})
    edit = plan_edit(doc, draft)
    assert edit.operations == (
        {
            "op": "replace",
            "path": "/providers",
            "value": [doc["providers"][0], {"name": "ESA", "roles": ["licensor"]}],
        },
    )


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_licence_change_is_one_operation(name: str) -> None:
    doc = DOCUMENTS[name]()
    edit = plan_edit(doc, form_draft(doc).with_form({"license": "CC0-1.0"}))
    assert edit.operations == ({"op": "replace", "path": "/license", "value": "CC0-1.0"},)


def test_licence_other_adds_its_link_and_keeps_every_published_link() -> None:
    doc = recorded()
    edit = plan_edit(
        doc, form_draft(doc).with_form({"license": "other", "license_url": "https://example.org/t"})
    )
    assert edit.changed == ("license", "links")
    links = edit.after["links"]
    # the published links the catalogue stores stay (even the broken derived_from ones the form would
    # drop from a new collection); the server's own links are not written; the licence link is added
    stored = [link for link in doc["links"] if link["rel"] not in ("self", "root", "parent", "items")]
    assert links == [*stored, {"rel": "license", "href": "https://example.org/t", "type": "text/html"}]


def test_title_and_description_change_only_those_members() -> None:
    doc = published_by_the_app()
    edit = plan_edit(doc, form_draft(doc).with_form({"title": "Bolzano NDVI", "description": "NDVI, June."}))
    assert edit.operations == (
        {"op": "replace", "path": "/description", "value": "NDVI, June."},
        {"op": "replace", "path": "/title", "value": "Bolzano NDVI"},
    )
    diff = edit.diff()
    assert '-  "title": "APEx Demo - Bolzano - NDVI",' in diff and '+  "title": "Bolzano NDVI",' in diff
    assert "stac_version" not in diff and "links" not in diff


def test_dataclasses_replace_works_like_the_form() -> None:
    doc = published_by_the_app()
    edit = plan_edit(doc, dataclasses.replace(form_draft(doc), title="Bolzano NDVI"))
    assert edit.changed == ("title",)


# --- access rules ----------------------------------------------------------------------------------


def test_access_rules_change_only_when_the_person_changes_them() -> None:
    doc = published_by_the_app(auth=True)
    titled = plan_edit(doc, form_draft(doc).with_form({"title": "T"}))
    assert titled.changed == ("title",) and titled.after["_auth"] == doc["_auth"]
    edit = plan_edit(doc, form_draft(doc).with_form({"auth_read": "apex-editor, apex-viewer"}))
    assert edit.operations == (
        {
            "op": "replace",
            "path": "/_auth",
            "value": {"read": ["apex-editor", "apex-viewer"], "write": ["apex-editor"]},
        },
    )
    assert edit.access_changed


def test_hidden_access_rules_are_added_only_when_changed() -> None:
    doc = published_by_the_app(auth=False)
    assert plan_edit(doc, form_draft(doc).with_form({"title": "T"})).changed == ("title",)
    edit = plan_edit(doc, form_draft(doc).with_form({"auth_write": "apex-editor, apex-admin"}))
    assert edit.operations[0]["op"] == "add" and edit.changed == ("_auth",)
    assert edit.notes


# --- refused ---------------------------------------------------------------------------------------


def test_the_id_never_changes() -> None:
    doc = recorded()
    with pytest.raises(MetadataError, match="publish it under the new id instead") as err:
        plan_edit(doc, form_draft(doc).with_form({"id": "gran_canaria_ndvi_v2"}))
    assert err.value.field == "id"
    # the form prefills the id from the title; the published id typed back is no change either
    assert plan_edit(doc, form_draft(doc).with_form({"id": "gran_canaria_ndvi"})).empty


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "  "}, "title"),
        ({"description": ""}, "description"),
        ({"west": 200.0}, "west"),
        ({"west": math.nan}, "west"),
        ({"start": "yesterday"}, "start"),
        ({"auth_write": "anonymous"}, "auth_write"),
        ({"auth_read": ""}, "auth_read"),
    ],
)
def test_an_invalid_draft_names_its_field(values: dict[str, Any], field: str) -> None:
    doc = recorded()
    with pytest.raises(MetadataError) as err:
        plan_edit(doc, form_draft(doc).with_form(values))
    assert err.value.field == field


def test_non_finite_numbers_never_reach_the_operations() -> None:
    doc = published_by_the_app()
    stats = md.BandStatistics(minimum=-0.2, maximum=math.inf, mean=math.nan)
    draft = dataclasses.replace(form_draft(doc), statistics=stats, title="Stats")
    edit = plan_edit(doc, draft)
    assert {"assets", "title"} <= set(edit.changed)
    (asset_key,) = doc["assets"]
    written = edit.operations[0]["value"][asset_key]["raster:bands"][0]["statistics"]
    assert written == {"minimum": -0.2}  # the infinite maximum and the NaN mean are dropped
    assert edit.after["assets"][asset_key]["raster:bands"][0]["statistics"] == written
    numbers: list[float] = []

    def number(text: str) -> float:
        numbers.append(float(text))
        return numbers[-1]

    constants: list[str] = []  # NaN, Infinity, -Infinity: what json.dumps writes for non-finite numbers
    json.loads(json.dumps(edit.to_dict()), parse_float=number, parse_constant=constants.append)
    assert constants == []
    assert numbers and all(math.isfinite(n) for n in numbers)


def test_hostile_title_is_data() -> None:
    doc = recorded()
    title = '<script>alert("x")</script> **bold** [link](javascript:alert(1)) {{ }} ${x}'
    edit = plan_edit(doc, form_draft(doc).with_form({"title": title}))
    assert edit.operations == ({"op": "replace", "path": "/title", "value": title},)


def test_a_collection_the_form_cannot_read_is_refused() -> None:
    with pytest.raises(MetadataError):
        plan_edit(
            {"id": "x_broken", "type": "Collection"},
            md.CollectionDraft(id="x_broken", title="t", description="d"),
        )
    with pytest.raises(MetadataError, match="no id"):
        plan_edit({"type": "Collection"}, md.CollectionDraft(id="x", title="t", description="d"))


def test_the_edit_round_trips_as_json() -> None:
    doc = recorded()
    edit = plan_edit(doc, form_draft(doc).with_form({"title": "T"}))
    again = CollectionEdit.from_dict(json.loads(json.dumps(edit.to_dict())))
    assert again == edit and again.changed == ("title",)


# --- confirmations and deletions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected", "ok"),
    [
        ("bolzano_ndvi", "bolzano_ndvi", True),
        ("  bolzano_ndvi\n", "bolzano_ndvi", True),
        ("Bolzano_ndvi", "bolzano_ndvi", False),
        ("bolzano", "bolzano_ndvi", False),
        ("bolzano_ndvi_2", "bolzano_ndvi", False),
        ("", "bolzano_ndvi", False),
        ("", "", False),
        ("   ", "  ", False),
        ("bolzano ndvi", "bolzano_ndvi", False),
    ],
)
def test_confirmation_matches(typed: str, expected: str, ok: bool) -> None:
    assert confirmation_matches(typed, expected) is ok


def test_deletion_messages_and_round_trip() -> None:
    cases = [
        Deletion("c1", "i1", True),
        Deletion("c1", "i1", False),
        Deletion("c1", None, True, ("i1", "i2")),
        Deletion("c1", None, False),
    ]
    messages = [d.message for d in cases]
    assert "Item i1 deleted" in messages[0] and "collection stays" in messages[0]
    assert "deleted already" in messages[1]
    assert messages[2] == "Collection c1 and its 2 items deleted."
    assert "not in the catalogue" in messages[3]
    for d in cases:
        assert Deletion.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_render_and_statistics_changes_keep_the_rest_of_the_asset() -> None:
    doc = published_by_the_app()
    edit = plan_edit(doc, form_draft(doc).with_form({"render_min": -0.5}))
    assert edit.changed == ("renders",)
    assert edit.operations[0]["value"]["ndvi"]["rescale"] == [[-0.5, 1.0]]
    stats = md.BandStatistics(minimum=-0.4, maximum=0.9)
    edit = plan_edit(doc, dataclasses.replace(form_draft(doc), statistics=stats))
    assert "assets" in edit.changed
    (asset_key,) = doc["assets"]
    asset = edit.after["assets"][asset_key]
    assert asset["raster:bands"][0]["statistics"] == {"minimum": -0.4, "maximum": 0.9}
    assert {k: v for k, v in asset.items() if k != "raster:bands"} == doc["assets"][asset_key]


# --- extents with more than the overall box or interval ---------------------------------------------


def test_an_edited_bbox_keeps_the_sub_extents() -> None:
    doc = published_by_the_app()
    overall = doc["extent"]["spatial"]["bbox"][0]
    sub = [overall[0] + 0.01, overall[1] + 0.01, overall[2] - 0.01, overall[3] - 0.01]
    doc["extent"]["spatial"]["bbox"] = [overall, sub]
    first = doc["extent"]["temporal"]["interval"][0]
    doc["extent"]["temporal"]["interval"] = [first, [first[0], first[0]]]
    edit = plan_edit(doc, form_draft(doc).with_form({"west": overall[0] - 0.01}))
    assert edit.changed == ("extent",)
    (op,) = edit.operations
    assert op["op"] == "replace" and op["path"] == "/extent"
    assert op["value"]["spatial"]["bbox"] == [[overall[0] - 0.01, *overall[1:]], sub]
    assert op["value"]["temporal"]["interval"] == doc["extent"]["temporal"]["interval"]
    # the end of the overall interval changes; the sub-interval stays
    edit = plan_edit(doc, form_draft(doc).with_form({"end": "2022-06-30T00:00:00Z"}))
    interval = edit.after["extent"]["temporal"]["interval"]
    assert interval[1] == [first[0], first[0]] and interval[0][1].startswith("2022-06-30")
    assert edit.after["extent"]["spatial"]["bbox"] == [overall, sub]


# --- form values the edit of a published collection does not write: said, never silently dropped ---


def test_switching_render_hints_off_removes_the_renders() -> None:
    doc = published_by_the_app()
    assert doc["renders"] and any("/render/" in e for e in doc["stac_extensions"])
    edit = plan_edit(doc, form_draft(doc).with_form({"render_on": False}))
    assert edit.changed == ("renders", "stac_extensions")
    assert edit.operations[0] == {"op": "remove", "path": "/renders"}
    assert "renders" not in edit.after
    assert edit.after["stac_extensions"] == [e for e in doc["stac_extensions"] if "/render/" not in e]
    assert edit.notes == ("Render hints switched off: the collection's `renders` are removed.",)
    # a collection without render hints: switched off is no change, and nothing to say
    plain = recorded()
    assert "renders" not in plain
    edit = plan_edit(plain, form_draft(plain).with_form({"render_on": False}))
    assert edit.empty and edit.notes == ()


def test_statistics_switched_off_are_kept_and_said() -> None:
    doc = recorded()
    assert form_draft(doc).statistics is not None  # the published asset's
    edit = plan_edit(doc, form_draft(doc).with_form({"stats_on": False}))
    assert edit.empty and edit.changed == ()
    assert len(edit.notes) == 1 and edit.notes[0].startswith("Statistics are kept as published")
    # other statistics are written (and nothing is said)
    stats = md.BandStatistics(minimum=-0.4, maximum=0.9)
    edit = plan_edit(doc, dataclasses.replace(form_draft(doc), statistics=stats))
    assert edit.changed == ("assets",) and edit.notes == ()
    # an untouched form says nothing
    assert plan_edit(doc, form_draft(doc)).notes == ()


def test_render_hints_the_build_does_not_apply_are_said() -> None:
    doc = published_by_the_app()
    # the published render names an asset of the items (none of the collection's own is a data GeoTIFF)
    (asset_key,) = doc["assets"]
    doc["assets"][asset_key]["roles"] = ["overview"]
    doc["renders"]["ndvi"]["assets"] = ["item-data"]
    for values in ({"render_max": 0.5}, {"render_min": -0.5, "colormap": "viridis"}):
        edit = plan_edit(doc, form_draft(doc).with_form(values))
        assert edit.empty and edit.changed == ()
        assert len(edit.notes) == 1 and "kept as published" in edit.notes[0]
        assert "`renders`" in edit.notes[0]
    # where the build applies them, the render change is written and nothing is said
    edit = plan_edit(
        published_by_the_app(), form_draft(published_by_the_app()).with_form({"render_max": 0.5})
    )
    assert edit.changed == ("renders",) and edit.notes == ()


def test_notes_of_an_empty_edit_round_trip() -> None:
    doc = recorded()
    edit = plan_edit(doc, form_draft(doc).with_form({"stats_on": False}))
    assert edit.empty and edit.notes
    assert CollectionEdit.from_dict(json.loads(json.dumps(edit.to_dict()))) == edit
