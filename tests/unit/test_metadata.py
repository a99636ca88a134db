"""apex_core.metadata on the recorded production document and embedded-backend / STAC 1.1 variants."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pystac
import pytest

from apex_core import MetadataError, user_message
from apex_core import metadata as md
from apex_core.flow import JobOutcome, MetadataOutcome, PreviewOutcome
from apex_core.licences import OTHER
from tests.services import shared_fixture
from tests.stacdocs import embedded_job_item, embedded_job_results

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "fixtures"
RECORDED = shared_fixture("apex_catalogue_collection_response.json")
OWN = ROOT / "tests" / "fixtures"
NOW = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.UTC)  # the embedded capture's links expire 2026-12-01
PROJ_V1 = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"


@pytest.fixture
def recorded() -> dict[str, Any]:
    return json.loads(RECORDED.read_text())


@pytest.fixture
def embedded() -> dict[str, Any]:
    return embedded_job_results()


@pytest.fixture
def embedded_item() -> dict[str, Any]:
    return embedded_job_item()


def _draft(
    results: dict[str, Any], items: list[dict[str, Any]] | None = None, **changes: Any
) -> md.CollectionDraft:
    draft = md.CollectionDraft.from_results(results, items or [])
    return replace(draft, **changes) if changes else draft


def _rels(obj: dict[str, Any]) -> list[str]:
    return [link["rel"] for link in obj.get("links", [])]


def _all_keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _all_keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _all_keys(v)}
    return set()


def _stac11(doc: dict[str, Any]) -> dict[str, Any]:
    """The same document as a STAC 1.1 back-end writes it: proj:code and bands only."""
    out = copy.deepcopy(doc)
    out["stac_version"] = "1.1.0"
    places = [*out.get("assets", {}).values()] + ([out["properties"]] if "properties" in out else [])
    for place in places:
        if "proj:epsg" in place:
            place["proj:code"] = f"EPSG:{place.pop('proj:epsg')}"
        place.pop("eo:bands", None)
    out["stac_extensions"] = [
        md.PROJECTION_V2 if "/projection/" in e else e for e in out["stac_extensions"] if "/eo/" not in e
    ]
    return out


# --- the recorded production document ---------------------------------------------------------------------


def test_recorded_document_prefills_the_draft(recorded: dict[str, Any]) -> None:
    draft = md.CollectionDraft.from_results(recorded)
    assert draft.id == "apex_demo_gran_canaria_ndvi"
    assert draft.title == "APEx Demo - Gran Canaria - NDVI"
    assert draft.license == "CC-BY-4.0"
    assert draft.bbox == pytest.approx((-15.918605, 27.724224, -15.305188, 28.205554))
    assert draft.interval == ("2019-08-19T00:00:00Z", "2019-08-20T00:00:00Z")
    assert [p.name for p in draft.providers] == ["VITO"]
    assert draft.statistics is not None
    assert (draft.statistics.minimum, draft.statistics.maximum, draft.statistics.source) == (
        -161,
        73,
        "job results",
    )


def test_recorded_document_is_cleaned_to_stac_11(recorded: dict[str, Any]) -> None:
    pub = _draft(recorded).apply(recorded)
    col = pub.collection
    assert col["stac_version"] == "1.1.0"
    assert col["id"] == "apex_demo_gran_canaria_ndvi"
    # the catalogue's own links and the broken derived_from links are gone; the CARD4L document stays
    assert _rels(col) == ["card4l-document"]
    assert any("4 `derived_from (bare /eodata path)` links" in n for n in pub.notes)
    (asset,) = col["assets"].values()
    assert asset["proj:code"] == "EPSG:3857"
    assert "proj:epsg" not in _all_keys(col)
    assert md.PROJECTION_V2 in col["stac_extensions"]
    assert asset["raster:bands"][0]["name"] == "1"
    assert asset["raster:bands"][0]["statistics"]["minimum"] == -161
    assert col["_auth"] == {"read": [md.DEFAULT_ROLE], "write": [md.DEFAULT_ROLE]}
    assert col["renders"]["ndvi"]["rescale"] == [[-1.0, 1.0]]
    assert col["renders"]["ndvi"]["assets"] == ["openEO_2019-08-19Z.tif"]
    assert "openeo:status" not in col
    checks = md.validate_stac(col, pub.items)
    assert checks[0].status == "valid", checks[0].messages
    assert all(c.status == "valid" for c in checks), [c for c in checks if c.status != "valid"]
    # every declared extension validated against its published schema; eo, file and processing were
    # declared by openEO with none of their fields (processing's schema then fails): undeclared
    assert {c.schema for c in checks[1:]} == {
        md.PROJECTION_V2,
        "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        "https://stac-extensions.github.io/render/v2.0.0/schema.json",
    }
    assert any("the processing extension was declared but none of its fields is used" in n for n in pub.notes)
    rows = md.schema_rows(checks)
    assert {r["result"] for r in rows} == {"valid (JSON schema)"}


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("s3://eodata", "s3://eodata/Sentinel-2/MSI/L2A_N0500/2019/08/19/"),
        ("https://eodata.example.eu/", "https://eodata.example.eu/Sentinel-2/MSI/L2A_N0500/2019/08/19/"),
    ],
)
def test_derived_from_made_absolute(recorded: dict[str, Any], base: str, expected: str) -> None:
    pub = _draft(recorded, derived_from="absolute", eodata_base=base).apply(recorded)
    derived = [link for link in pub.collection["links"] if link["rel"] == "derived_from"]
    assert len(derived) == 4
    assert all(link["href"].startswith(expected) and link["href"].endswith(".SAFE") for link in derived)
    assert "catalogue.demo.apex.esa.int" not in json.dumps(derived).split('"title"')[0]


def test_bare_derived_from_paths_as_openeo_writes_them(embedded: dict[str, Any]) -> None:
    path = "/eodata/Sentinel-2/MSI/L2A/2022/06/12/S2B_MSIL2A_20220612T101559_N0400_R065_T32TPS.SAFE"
    embedded["links"].append({"rel": "derived_from", "href": path, "type": "application/json"})
    embedded["links"].append({"rel": "derived_from", "href": "https://example.org/scene.json"})
    dropped = _draft(embedded).apply(embedded).collection
    assert [link["href"] for link in dropped["links"] if link["rel"] == "derived_from"] == [
        "https://example.org/scene.json"
    ]
    kept = _draft(embedded, derived_from="absolute").apply(embedded).collection
    assert [link["href"] for link in kept["links"] if link["rel"] == "derived_from"] == [
        "s3://eodata" + path.removeprefix("/eodata"),
        "https://example.org/scene.json",
    ]


# --- embedded backend documents and STAC 1.1 variants ------------------------------------------------------


def test_embedded_results_and_item(embedded: dict[str, Any], embedded_item: dict[str, Any]) -> None:
    assert embedded["stac_version"] == "1.0.0"
    draft = _draft(embedded, [embedded_item], id="bolzano_ndvi")
    assert draft.license == "CC-BY-4.0"  # "proprietary" from openEO is replaced by the default
    pub = draft.apply(embedded, [embedded_item])
    col, (item,) = pub.collection, pub.items
    assert not set(_rels(col)) & md.SERVER_RELS  # self, canonical and the signed item link are gone
    assert item["collection"] == "bolzano_ndvi"
    assert not set(_rels(item)) & md.SERVER_RELS
    assert item["stac_version"] == col["stac_version"] == "1.1.0"
    assert item["properties"]["proj:code"] == "EPSG:3857"
    assert "proj:epsg" not in _all_keys(col) | _all_keys(item)
    # both band forms kept, processing:expression kept in the provider
    asset = item["assets"]["openEO.tif"]
    assert asset["bands"] == asset["eo:bands"] == [{"name": "NDVI"}]
    assert col["providers"][0]["processing:expression"]["format"] == "openeo"
    checks = md.validate_stac(col, pub.items)
    core = [c for c in checks if c.schema.startswith("https://schemas.stacspec.org/")]
    assert [c.target for c in core if c.status == "valid"] == ["collection", f"item {item['id']}"]
    assert item["id"] == f"{draft.id}_20220612"  # named by the default pattern, not openEO's "openEO"
    assert len(checks) > 2 and all(c.status == "valid" for c in checks), checks
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_stac_11_variant_with_proj_code_and_bands(
    embedded: dict[str, Any], embedded_item: dict[str, Any]
) -> None:
    results, item = _stac11(embedded), _stac11(embedded_item)
    assert "eo:bands" not in _all_keys(results)
    pub = _draft(results, [item]).apply(results, [item])
    out = pub.items[0]["assets"]["openEO.tif"]
    assert out["proj:code"] == "EPSG:3857"
    assert out["bands"] == [{"name": "NDVI"}]
    assert "eo:bands" not in out
    assert PROJ_V1 not in pub.collection["stac_extensions"]
    assert all(c.ok for c in md.validate_stac(pub.collection, pub.items))


def test_eo_bands_only_gets_stac_11_bands(embedded: dict[str, Any]) -> None:
    for asset in embedded["assets"].values():
        asset.pop("bands")
        asset["eo:bands"] = [{"name": "NDVI", "common_name": "ndvi", "description": "vegetation index"}]
    col = _draft(embedded).apply(embedded).collection
    asset = col["assets"]["openEO.tif"]
    assert asset["bands"] == [{"name": "NDVI", "description": "vegetation index"}]
    assert asset["eo:bands"][0]["common_name"] == "ndvi"


def test_item_level_assets_only(embedded: dict[str, Any], embedded_item: dict[str, Any]) -> None:
    del embedded["assets"]
    stats = {"min": -0.21, "max": 0.93, "mean": 0.41, "valid_percent": 98.5}
    preview = PreviewOutcome("openEO.tif", Path("/w/openEO.tif"), statistics=stats)
    draft = md.CollectionDraft.from_results(embedded, [embedded_item], preview=preview)
    assert draft.statistics is not None
    assert draft.statistics.source == "preview"
    pub = draft.apply(embedded, [embedded_item])
    assert "assets" not in pub.collection or not pub.collection["assets"]
    assert pub.collection["renders"]["ndvi"]["assets"] == ["openEO.tif"]
    band = pub.items[0]["assets"]["openEO.tif"]["raster:bands"][0]
    assert band == {
        "name": "NDVI",
        "statistics": {"minimum": -0.21, "maximum": 0.93, "mean": 0.41, "valid_percent": 98.5},
    }
    assert any("/raster/" in e for e in pub.items[0]["stac_extensions"])
    assert all(c.ok for c in md.validate_stac(pub.collection, pub.items))


def test_processing_expression_absent_or_malformed(embedded: dict[str, Any]) -> None:
    absent = copy.deepcopy(embedded)
    del absent["providers"][0]["processing:expression"]
    pub = _draft(absent).apply(absent)
    assert "processing:expression" not in _all_keys(pub.collection)
    assert all(c.ok for c in md.validate_stac(pub.collection))
    embedded["providers"][0]["processing:expression"] = "ndvi"
    pub = _draft(embedded).apply(embedded)
    (bad,) = [c for c in md.validate_stac(pub.collection) if not c.ok]
    assert "/processing/" in bad.schema and bad.status == "invalid"
    assert any(
        m.startswith("providers.0.processing:expression: 'ndvi' is not of type 'object'")
        and m.endswith(f"(schema {bad.schema})")
        for m in bad.messages
    ), bad.messages


# --- signed hrefs ---------------------------------------------------------------------------------------


def test_expiry_from_openeo_expires_param(embedded: dict[str, Any]) -> None:
    (asset,) = embedded["assets"].values()
    assert md.href_expiry(asset["href"]) == dt.datetime.fromtimestamp(1796074525, tz=dt.UTC)
    (exp,) = md.asset_expiries(embedded, [], now=NOW)
    assert exp.status == "ok"
    assert exp.to_dict()["time_left"].endswith("left")


def test_expiry_from_s3_presigned_params() -> None:
    href = (
        "https://s3.waw3-1.cloudferro.com/openeo/j-1/openEO.tif?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIA%2F20261123%2Fwaw3-1%2Fs3%2Faws4_request&X-Amz-Date=20261123T120000Z"
        "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=abc"
    )
    assert md.href_expiry(href) == dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    assert md.href_expiry("s3://bucket/file.tif") is None
    assert md.href_expiry("https://x.org/a.tif?expires=soon") is None
    col = {"assets": {"data": {"href": href}}}
    (exp,) = md.asset_expiries(col, [], now=NOW)
    assert exp.status == "expiring"
    assert exp.to_dict()["time_left"] == "15 h 0 min left"
    (exp,) = md.asset_expiries(col, [], now=NOW + dt.timedelta(days=2))
    assert exp.status == "expired"
    assert md.format_time_left(-2 * 86400 - 3600) == "expired 2 d 1 h ago"


def test_readiness_checklist(recorded: dict[str, Any]) -> None:
    draft = _draft(recorded)
    checks = {c.key: c for c in md.readiness(draft, draft.apply(recorded), now=NOW)}
    assert checks["licence"].ok is True
    assert checks["description"].ok is False  # still openEO's "Results for batch job ..."
    assert checks["providers"].ok is True
    assert checks["expiry"].ok is False
    assert "expired" in checks["expiry"].detail
    assert checks["reachable"].ok is None
    assert checks["statistics"].ok is False  # min -161, max 73 are not NDVI values
    better = replace(draft, description="NDVI over Gran Canaria.", license="proprietary", providers=())
    checks = {c.key: c for c in md.readiness(better, draft.apply(recorded), now=NOW)}
    assert (checks["description"].ok, checks["licence"].ok, checks["providers"].ok) == (True, False, False)


def test_results_from_job_reads_the_saved_document(
    tmp_path: Path, embedded: dict[str, Any], embedded_item: dict[str, Any]
) -> None:
    path = tmp_path / "job-results.json"
    path.write_text(json.dumps(embedded))
    # The items came with the download: none is fetched (the item link of the fixture is not served).
    job = JobOutcome("j-1", "finished", metadata_path=path, items=(embedded_item,))
    loaded = md.results_from_job(job, timeout=1)
    assert loaded.results == embedded
    assert [i["id"] for i in loaded.items] == ["openEO"] and loaded.problems == ()
    assert md.LoadedResults.from_dict(loaded.to_dict()) == loaded
    assert md.job_fingerprint(job) == f"job:j-1:{path}"
    assert md.job_fingerprint(replace(job, status="running")) is None
    assert md.job_fingerprint(None) is None
    with pytest.raises(MetadataError) as missing:
        md.results_from_job(replace(job, metadata_path=tmp_path / "nope.json"), timeout=1)
    assert missing.value.field == "document"
    with pytest.raises(MetadataError, match="no finished results"):
        md.results_from_job(replace(job, metadata_path=None), timeout=1)


# --- broken documents and field checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["extent"]["spatial"].pop("bbox"), "extent.spatial.bbox"),
        (lambda d: d["extent"]["spatial"].update(bbox=[[1, 2, "x", 4]]), "extent.spatial.bbox"),
        (lambda d: d["extent"]["temporal"].update(interval=["2019-08-19"]), "extent.temporal.interval"),
        (lambda d: d.update(type="Feature"), "type"),
        (lambda d: d.update(links={"rel": "self"}), "links"),
        (lambda d: d.pop("extent"), "extent"),
    ],
)
def test_broken_document_names_the_field(recorded: dict[str, Any], change: Any, field: str) -> None:
    change(recorded)
    with pytest.raises(MetadataError) as caught:
        md.CollectionDraft.from_results(recorded)
    assert caught.value.field == field
    assert user_message(caught.value).field == field


def test_uploaded_documents_are_sorted_out(recorded: dict[str, Any], embedded_item: dict[str, Any]) -> None:
    results, items = md.read_documents(
        [("r.json", json.dumps(recorded)), ("i.json", json.dumps(embedded_item))]
    )
    assert results["id"] == "gran_canaria_ndvi"
    assert [i["id"] for i in items] == ["openEO"]
    for files in ([("a.json", b"{not json")], [("i.json", json.dumps(embedded_item))]):
        with pytest.raises(MetadataError) as caught:
            md.read_documents(files)
        assert caught.value.field == "document"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("gran_canaria_ndvi", True),
        ("abc", True),
        ("a" * 64, True),
        ("s2-ndvi_2022", True),
        ("ab", False),
        ("a" * 65, False),
        ("1ndvi", False),
        ("_ndvi", False),
        ("NDVI", False),
        ("nd vi", False),
        ("ndvi.v2", False),
        ("ndví", False),
        ("", False),
    ],
)
def test_slug_rules(value: str, ok: bool) -> None:
    assert (md.check_slug(value) is None) is ok


def test_suggested_ids_are_valid_slugs() -> None:
    assert md.suggest_id({"title": "APEx Demo - Bolzano - NDVI"}) == "apex_demo_bolzano_ndvi"
    assert md.suggest_id({"title": "2022 NDVI"}) == "c_2022_ndvi"
    assert md.suggest_id({"id": "j-261123213522a21c62e6d71af7cf"}) == "j_261123213522a21c62e6d71af7cf"
    assert md.suggest_id({}) == "openeo_results"


def test_field_issues_and_auth_rules(recorded: dict[str, Any]) -> None:
    draft = _draft(recorded)
    assert not [i for i in md.check_draft(draft) if i.severity == "error"]
    bad = replace(
        draft,
        id="Bad Id",
        auth_write=("anonymous",),
        auth_read=(),
        license=OTHER,
        bbox=(10.0, 50.0, 11.0, 40.0),
        interval=("2019-08-20T00:00:00Z", "2019-08-19"),
    )
    errors = {i.field for i in md.check_draft(bad) if i.severity == "error"}
    assert errors == {"id", "auth_write", "auth_read", "license_url", "south", "end"}
    public = replace(draft, auth_read=("anonymous",))
    (warn,) = [i for i in md.check_draft(public) if i.field == "auth_read"]
    assert warn.severity == "warning"
    assert "administrators" in warn.message
    with pytest.raises(MetadataError) as caught:
        bad.apply(recorded)
    assert caught.value.field == "id"


def test_form_values_round_trip(recorded: dict[str, Any]) -> None:
    draft = _draft(recorded)
    assert draft.with_form(draft.form_values()) == draft
    assert md.CollectionDraft.from_dict(json.loads(json.dumps(draft.to_dict()))) == draft
    edited = draft.with_form(
        {"title": " Gran Canaria NDVI ", "keywords": "NDVI, Sentinel-2, NDVI", "license": "CC0-1.0"}
    )
    assert (edited.title, edited.keywords, edited.license) == (
        "Gran Canaria NDVI",
        ("NDVI", "Sentinel-2"),
        "CC0-1.0",
    )
    added = edited.with_provider_added().with_form({"provider_1_name": "ESA", "provider_1_roles": ["host"]})
    assert [(p.name, p.roles) for p in added.providers] == [("VITO", ("processor",)), ("ESA", ("host",))]
    assert added.with_provider_removed(0).providers[0].name == "ESA"
    no_extras = edited.with_form({"render_on": False, "stats_on": False})
    col = no_extras.apply(recorded).collection
    assert "renders" not in col
    assert not any("/render/" in e for e in col["stac_extensions"])


def test_diff_and_static_catalogue(embedded: dict[str, Any], embedded_item: dict[str, Any]) -> None:
    draft = _draft(embedded, [embedded_item], id="bolzano_ndvi", keywords=("NDVI",))
    diff = md.diff_against_results(embedded, draft.apply(embedded, [embedded_item]))
    assert '-  "license": "proprietary",' in diff
    assert '+  "license": "CC-BY-4.0",' in diff
    assert '+  "id": "bolzano_ndvi",' in diff
    data = md.catalogue_zip(draft, embedded, [embedded_item])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["bolzano_ndvi/collection.json", "bolzano_ndvi/openEO/openEO.json"]
        col = json.loads(zf.read("bolzano_ndvi/collection.json"))
        item = json.loads(zf.read("bolzano_ndvi/openEO/openEO.json"))
    assert col["stac_version"] == "1.1.0"
    assert {link["href"] for link in col["links"] if link["rel"] == "item"} == {"./openEO/openEO.json"}
    assert item["collection"] == "bolzano_ndvi"
    assert all(not link["href"].startswith(("http", "/")) for link in item["links"])
    assert pystac.Item.from_dict(item).collection_id == "bolzano_ndvi"


def test_schema_summary_says_what_was_not_validated(
    embedded: dict[str, Any], embedded_item: dict[str, Any]
) -> None:
    pub = _draft(embedded, [embedded_item]).apply(embedded, [embedded_item])
    summary = md.schema_summary(md.validate_stac(pub.collection, pub.items))
    assert summary.startswith(
        "Core STAC 1.1.0 JSON schemas: 2 object(s) valid; extension schemas eo, file, processing"
    )
    assert "check(s) valid" in summary and "not available" not in summary and "no known" not in summary
    unknown = {**pub.collection, "stac_extensions": ["https://example.org/acme/v1.0.0/schema.json"]}
    assert md.schema_summary(md.validate_stac(unknown)).endswith(
        "; no known schema, not validated: https://example.org/acme/v1.0.0/schema.json."
    )
    broken = {**pub.collection, "extent": {"spatial": {"bbox": "everywhere"}}}
    assert "**1 of 1 objects invalid**" in md.schema_summary(md.validate_stac(broken))


def test_preview_statistics_of_this_job_only(embedded: dict[str, Any]) -> None:
    """The Preview page's state: exact STAC statistics in ``raster_statistics``, for ``job_id``."""
    preview = PreviewOutcome(
        "openEO.tif",
        Path("/w/openEO.tif"),
        embedded["id"],
        statistics={"minimum": -0.2, "maximum": 0.8, "std": 0.1, "classes": []},
        raster_statistics={
            "minimum": -0.2,
            "maximum": 0.8,
            "mean": 0.4,
            "stddev": 0.1,
            "valid_percent": 97.0,
        },
    )
    stats = md.pick_statistics(preview, None, embedded["id"])
    assert stats == md.BandStatistics(-0.2, 0.8, 0.4, 0.1, 97.0, source="preview")
    assert md.pick_statistics(
        replace(preview, raster_statistics={}), None, embedded["id"]
    ) == md.BandStatistics(minimum=-0.2, maximum=0.8, stddev=0.1, source="preview")
    saved = md.BandStatistics.from_dict({"minimum": -161.0, "maximum": 73.0, "source": "job results"})
    assert md.pick_statistics(replace(preview, job_id="j-other"), saved, embedded["id"]) == md.BandStatistics(
        minimum=-161.0, maximum=73.0, source="job results"
    )
    draft = md.CollectionDraft.from_results(embedded, preview=preview)
    assert draft.statistics == stats
    band = draft.apply(embedded).collection["assets"]["openEO.tif"]["raster:bands"][0]
    assert band["statistics"]["valid_percent"] == 97.0


def test_evaluate_gives_the_publish_state(embedded: dict[str, Any], embedded_item: dict[str, Any]) -> None:
    draft = _draft(embedded, [embedded_item])
    ev = md.evaluate(draft, embedded, [embedded_item], now=NOW)
    state = MetadataOutcome.of(ev).to_dict()
    assert state["valid"] is True
    assert state["collection"]["id"] == draft.id
    assert [i["collection"] for i in state["items"]] == [draft.id]
    assert {c["key"] for c in state["checklist"]} >= {
        "licence",
        "description",
        "providers",
        "expiry",
        "reachable",
    }
    blocked = MetadataOutcome.of(
        md.evaluate(replace(draft, auth_write=()), embedded, [embedded_item])
    ).to_dict()
    assert blocked == {
        "valid": False,
        "issues": [i.to_dict() for i in md.check_draft(replace(draft, auth_write=()))],
    }
    bad_geometry = {**embedded_item, "geometry": "nowhere"}
    ev = md.evaluate(draft, embedded, [bad_geometry])
    assert not ev.valid
    (bad,) = [c for c in ev.checks if c.status == "invalid"]
    assert bad.target == f"item {draft.id}_20220612"
    assert any(m.startswith("geometry:") for m in bad.messages)
    no_properties = {k: v for k, v in embedded_item.items() if k != "properties"}
    ev = md.evaluate(draft, embedded, [no_properties])
    assert (ev.valid, ev.publishable) == (False, None)
    (issue,) = [i for i in ev.issues if i.field == "items[0]"]
    assert "Item 1 is not a valid STAC Item" in issue.message


def test_evaluation_headline(embedded: dict[str, Any], embedded_item: dict[str, Any]) -> None:
    draft = _draft(embedded, [embedded_item], id="bolzano_ndvi")
    ok, text = md.evaluate(draft, embedded, [embedded_item], now=NOW).headline(draft.id)
    assert ok and text == "**Valid STAC 1.1.0 collection** `bolzano_ndvi` with 1 item(s)."
    ok, text = md.evaluate(replace(draft, id="X"), embedded, [embedded_item]).headline("X")
    assert not ok and text == "**Not valid yet**: fix the 1 field(s) marked in the form."
