"""apex_core.browse without a catalogue: summaries, search and paging, footprints, codecs, and metadata
for people from recorded APEx/CDSE documents and hostile ones."""

from __future__ import annotations

import json
import math
from typing import Any, cast

import pytest
from pystac_client.stac_api_io import StacApiIO

from apex_core.browse import (
    CollectionList,
    CollectionPage,
    CollectionSummary,
    CollectionView,
    ItemSummary,
    _link_key,
    _next_link,
    _Pages,
    footprints,
    item_footprints,
    readable,
    search_collections,
    timeline_rows,
)
from tests.services import shared_fixture
from tests.stacdocs import canary_collection, canary_item


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(shared_fixture(name).read_text())
    return data


def summary(cid: str, title: str = "", **kw: Any) -> CollectionSummary:
    fields: dict[str, Any] = {
        "description": "",
        "license": None,
        "bbox": None,
        "interval": (None, None),
        "keywords": (),
        "public": None,
        **kw,
    }
    return CollectionSummary(id=cid, title=title or cid, **fields)


# --- readable(): recorded documents ---------------------------------------------------------------


def test_readable_apex_catalogue_collection() -> None:
    doc = load("apex_catalogue_collection_response.json")
    meta = readable(doc)
    assert meta.title == "APEx Demo - Gran Canaria - NDVI"
    assert meta.description.startswith("Results for batch job")
    assert meta.license == "CC-BY-4.0" and meta.license_href is None
    assert meta.providers == ({"name": "VITO", "roles": "processor", "url": ""},)
    assert meta.spatial is not None and meta.spatial[0] == pytest.approx(-15.918605217697035)
    assert meta.temporal == ("2019-08-19T00:00:00Z", "2019-08-20T00:00:00Z")
    assert meta.keywords == ()
    assert meta.access is None  # the APEx catalogue never echoes `_auth`
    rels = [link["rel"] for link in meta.links]
    assert not {"self", "root", "parent", "items"} & set(rels)
    assert rels.count("derived_from") == 4 and "card4l-document" in rels
    assert all(link["href"] for link in meta.links)
    assert meta.bands == ({"name": "1", "description": "", "data_type": None, "nodata": None, "unit": None},)
    (stats,) = meta.statistics
    assert stats["band"] == "1" and stats["minimum"] == -161.0 and stats["maximum"] == 73.0
    assert stats["valid_percent"] == 99.999
    summary_row = CollectionSummary.from_stac(doc)
    assert summary_row is not None and summary_row.public is None and summary_row.license == "CC-BY-4.0"


def test_readable_cdse_job_results() -> None:
    doc = load("cdse-2026-04/firenze-cog/job-results.json")
    meta = readable(doc)
    assert meta.license == "proprietary"
    assert meta.temporal == (None, None)
    assert meta.spatial is not None and meta.spatial[1] == pytest.approx(43.45215908900008)
    assert [b["name"] for b in meta.bands] == ["MAP"]
    (stats,) = meta.statistics
    assert (stats["band"], stats["minimum"], stats["maximum"]) == ("MAP", 10.0, 90.0)
    rels = {link["rel"] for link in meta.links}
    assert {"derived_from", "canonical", "item", "card4l-document"} <= rels and "self" not in rels
    assert meta.providers and all(set(p) == {"name", "roles", "url"} for p in meta.providers)


def test_readable_stac_11_document_with_bands_item_assets_and_auth() -> None:
    doc = canary_collection(
        "rich",
        {"read": ["anonymous"], "write": ["stac-admin-local"]},
        title="Rich",
        keywords=["ndvi", 3, "s2"],
        providers=[{"name": "ESA", "roles": ["host", "licensor"], "url": "https://esa.int"}, "junk"],
        links=[
            {"rel": "license", "href": "https://example.org/licence", "title": "Licence"},
            {"rel": "self", "href": "https://example.org/self"},
            {"rel": "about", "href": "https://example.org/about"},
            {"rel": "broken"},
            "junk",
        ],
        bands=[
            {
                "name": "NDVI",
                "description": "vegetation",
                "data_type": "float32",
                "nodata": "nan",
                "unit": "1",
                "statistics": {"minimum": -1.0, "maximum": 1.0, "mean": float("nan"), "stddev": 0.2},
            }
        ],
        item_assets={
            "lc": {
                "eo:bands": [{"name": "MAP", "description": "land cover"}],
                "raster:bands": [{"data_type": "uint8", "nodata": 0, "statistics": {"minimum": 10}}],
            }
        },
        summaries={"raster:bands": [{"name": "extra", "nodata": float("inf")}]},
    )
    meta = readable(doc)
    assert meta.title == "Rich" and meta.keywords == ("ndvi", "s2")
    assert meta.license_href == "https://example.org/licence"
    assert meta.providers == ({"name": "ESA", "roles": "host, licensor", "url": "https://esa.int"},)
    assert [(link["rel"], link["title"]) for link in meta.links] == [("license", "Licence"), ("about", "")]
    assert meta.access == (("anonymous",), ("stac-admin-local",))
    assert meta.bands == (
        {"name": "NDVI", "description": "vegetation", "data_type": "float32", "nodata": "nan", "unit": "1"},
        {"name": "extra", "description": "", "data_type": None, "nodata": None, "unit": None},
        {"name": "MAP", "description": "land cover", "data_type": "uint8", "nodata": 0, "unit": None},
    )
    assert meta.statistics == (
        {"band": "NDVI", "minimum": -1.0, "maximum": 1.0, "mean": None, "stddev": 0.2, "valid_percent": None},
        {"band": "MAP", "minimum": 10, "maximum": None, "mean": None, "stddev": None, "valid_percent": None},
    )
    row = CollectionSummary.from_stac(doc)
    assert row is not None and row.public is True
    assert CollectionSummary.from_stac({**doc, "_auth": {"read": ["apex-editor"]}}).public is False  # type: ignore[union-attr]


# --- hostile documents ------------------------------------------------------------------------------

HOSTILE: list[Any] = [
    {},
    {"id": 5, "title": ["x"]},
    {"id": "no-extent", "title": 7, "description": None},
    {"id": "nan-box", "extent": {"spatial": {"bbox": [[float("nan"), 0, 1, 1]]}}},
    {"id": "inf-box", "extent": {"spatial": {"bbox": [[0, 0, float("inf"), 1]]}}},
    {"id": "flat-box", "extent": {"spatial": {"bbox": [1, 2, 3, 4]}, "temporal": {"interval": ["a", "b"]}}},
    {"id": "odd-extent", "extent": "everywhere", "links": "none", "providers": {"a": 1}, "keywords": "k"},
    {"id": "odd-types", "extent": {"spatial": [], "temporal": {"interval": [[1, 2]]}}, "summaries": []},
    {"id": "bool-box", "extent": {"spatial": {"bbox": [[True, 0, 1, 1]]}}, "_auth": "everyone"},
    {"id": "odd-bands", "bands": "x", "assets": {"a": "b", "c": {"raster:bands": [None, 3]}}},
    {"id": "odd-auth", "_auth": {"read": "anonymous", "write": [1]}, "links": [{"rel": 1, "href": 2}]},
    {"id": "odd-stats", "bands": [{"name": 1, "statistics": {"minimum": "0", "maximum": True}}]},
]


@pytest.mark.parametrize("doc", HOSTILE)
def test_hostile_collections_never_crash(doc: dict[str, Any]) -> None:
    meta = readable(doc)
    assert isinstance(meta.title, str) and isinstance(meta.description, str)
    assert meta.spatial is None or all(math.isfinite(v) for v in meta.spatial)
    row = CollectionSummary.from_stac(doc)
    if row is not None:
        assert isinstance(row.title, str) and row.title
        assert CollectionSummary.from_dict(json.loads(json.dumps(row.to_dict()))) == row
    view = CollectionView.of(doc, [doc, {"id": "i", "geometry": None}, "junk"], truncated=False)
    assert json.loads(json.dumps(item_footprints(view)))["type"] == "FeatureCollection"
    timeline_rows(view)


def test_readable_of_not_a_mapping() -> None:
    meta = readable([])  # type: ignore[arg-type]
    assert meta.title == "" and meta.bands == () and meta.access is None


def test_bbox_and_interval_rules() -> None:
    def row(extent: Any, **extra: Any) -> CollectionSummary:
        made = CollectionSummary.from_stac({"id": "c", "extent": extent, **extra})
        assert made is not None
        return made

    assert row({"spatial": {"bbox": [[1, 2, 0, 3, 4, 9]]}}).bbox == (1.0, 2.0, 3.0, 4.0)  # 3D reduced
    assert row({"spatial": {"bbox": [[0, float("nan"), 1, 1]]}}).bbox is None
    assert row({"spatial": {"bbox": [[0, 0, 1]]}}).bbox is None
    assert row({"spatial": {"bbox": [[0, 5, 1, 1]]}}).bbox is None  # south above north
    assert row({"spatial": {"bbox": [[170, -10, -170, 10], [0, 0, 1, 1]]}}).bbox == (
        170.0,
        -10.0,
        -170.0,
        10.0,
    )
    assert row({"temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}}).interval == (
        "2020-01-01T00:00:00Z",
        None,
    )
    assert row(None, title="  ").title == "c"  # a blank title falls back to the id
    parsed = json.loads('{"id": "c", "extent": {"spatial": {"bbox": [[NaN, 0, Infinity, 1]]}}}')
    assert CollectionSummary.from_stac(parsed).bbox is None  # type: ignore[union-attr]


# --- search and paging ------------------------------------------------------------------------------


def test_matches_every_word_case_insensitively() -> None:
    row = summary(
        "gran-canaria-ndvi", "Gran Canaria NDVI", description="Sentinel-2 greenness", keywords=("APEx",)
    )
    assert row.matches("")
    assert row.matches("   ")
    assert row.matches("ndvi CANARIA")
    assert row.matches("sentinel apex")
    assert not row.matches("ndvi bolzano")
    assert not row.matches("aria ndvi-x")


def test_search_pages_and_clamps() -> None:
    rows = [summary(f"c{n:02d}", description="even" if n % 2 == 0 else "odd") for n in range(45)]
    first = search_collections(rows, "", page=1, page_size=20)
    assert (first.total, first.page, first.pages, len(first.collections)) == (45, 1, 3, 20)
    last = search_collections(rows, "", page=99, page_size=20)
    assert (last.page, [c.id for c in last.collections]) == (3, [f"c{n}" for n in range(40, 45)])
    assert search_collections(rows, "", page=0).page == 1
    assert search_collections(rows, "", page=-5).page == 1
    evens = search_collections(rows, "EVEN", page=2, page_size=10)
    assert (evens.total, evens.pages, evens.page) == (23, 3, 2)
    assert all(c.description == "even" for c in evens.collections)
    none = search_collections(rows, "nothing-here", page=4)
    assert none == CollectionPage((), 0, 1, 1)
    assert search_collections(rows, "", page_size=0).pages == 45  # a page holds at least one


# --- footprints and items ---------------------------------------------------------------------------


def test_footprints_split_the_antimeridian_and_skip_missing_boxes() -> None:
    rows = [
        summary("plain", "Plain", bbox=(10.0, 40.0, 12.0, 42.0)),
        summary("fiji", "Fiji", bbox=(177.0, -19.0, -179.0, -16.0)),
        summary("nowhere"),
    ]
    collection = footprints(rows)
    assert collection["type"] == "FeatureCollection"
    plain, fiji = collection["features"]
    assert plain["properties"] == {"id": "plain", "title": "Plain"}
    assert plain["geometry"] == {
        "type": "Polygon",
        "coordinates": [[[10.0, 40.0], [12.0, 40.0], [12.0, 42.0], [10.0, 42.0], [10.0, 40.0]]],
    }
    assert fiji["geometry"]["type"] == "MultiPolygon"
    east, west = fiji["geometry"]["coordinates"]
    assert {p[0] for p in east[0]} == {177.0, 180.0}
    assert {p[0] for p in west[0]} == {-180.0, -179.0}
    assert footprints([]) == {"type": "FeatureCollection", "features": []}


def test_item_summaries_rasters_times_and_footprints() -> None:
    signed = "https://x.example/a/result.TIF?expires=1742471533"
    with_assets = canary_item(
        "b",
        "c",
        assets={
            "thumb": {"href": "t.png", "type": "image/png", "roles": ["thumbnail"]},
            "overview": {"href": "o.tif", "roles": ["overview"]},
            "ndvi": {"href": signed, "roles": ["data"]},
            "cog": {"href": "x", "type": "image/tiff; application=geotiff; profile=cloud-optimized"},
        },
    )
    interval = canary_item("a", "c", properties={"start_datetime": "2019-08-01T00:00:00Z", "datetime": None})
    interval["properties"]["end_datetime"] = "2019-08-31T00:00:00Z"
    no_geometry = {"id": "c", "geometry": None, "bbox": [1, 2, 3, 4, 5, 6], "properties": {}}
    nothing = {"id": "d", "properties": {"datetime": "2019-09-01T00:00:00Z"}}
    view = CollectionView.of({"id": "c"}, [with_assets, no_geometry, interval, nothing], truncated=True)
    assert [i.id for i in view.items] == ["a", "b", "d", "c"]  # by start, items without one last
    assert [d["id"] for d in view.item_docs] == ["a", "b", "d", "c"]
    by_id = {i.id: i for i in view.items}
    assert by_id["b"].raster_keys == ("ndvi", "overview", "cog")
    assert (by_id["a"].start, by_id["a"].end) == ("2019-08-01T00:00:00Z", "2019-08-31T00:00:00Z")
    assert (by_id["b"].start, by_id["b"].end) == ("2019-08-19T11:52:21Z", "2019-08-19T11:52:21Z")
    assert by_id["c"].geometry is None and by_id["c"].bbox == (1.0, 2.0, 4.0, 5.0)
    features = {f["properties"]["id"]: f for f in item_footprints(view)["features"]}
    assert set(features) == {"a", "b", "c"}  # d has neither geometry nor box
    assert features["c"]["geometry"]["type"] == "Polygon"
    assert features["b"]["geometry"] == with_assets["geometry"]
    assert features["a"]["properties"] == {
        "id": "a",
        "start": "2019-08-01T00:00:00Z",
        "end": "2019-08-31T00:00:00Z",
    }
    assert timeline_rows(view) == [
        {"item": "a", "start": "2019-08-01T00:00:00Z", "end": "2019-08-31T00:00:00Z"},
        {"item": "b", "start": "2019-08-19T11:52:21Z", "end": "2019-08-19T11:52:21Z"},
        {"item": "d", "start": "2019-09-01T00:00:00Z", "end": "2019-09-01T00:00:00Z"},
    ]
    assert view.item("b") == with_assets and view.item("zz") is None
    assert ItemSummary.from_stac({"id": "p", "geometry": {"type": "Point", "coordinates": [5, 6]}}).bbox == (  # type: ignore[union-attr]
        5.0,
        6.0,
        5.0,
        6.0,
    )


# --- codecs -----------------------------------------------------------------------------------------


def test_codecs_round_trip_through_json() -> None:
    row = summary(
        "c",
        "Title",
        description="d",
        license="CC-BY-4.0",
        bbox=(1.0, 2.0, 3.0, 4.0),
        interval=("2020-01-01T00:00:00Z", None),
        keywords=("a", "b"),
        public=False,
    )
    assert CollectionSummary.from_dict(json.loads(json.dumps(row.to_dict()))) == row
    item = ItemSummary.from_stac(canary_item("i", "c", assets={"x": {"href": "x.tif"}}))
    assert item is not None
    assert ItemSummary.from_dict(json.loads(json.dumps(item.to_dict()))) == item
    collection = canary_collection("c", {"read": ["apex-editor"], "write": ["apex-editor"]})
    view = CollectionView.of(collection, [canary_item("i2", "c"), canary_item("i1", "c")], truncated=True)
    back = CollectionView.from_dict(json.loads(json.dumps(view.to_dict())))
    assert back == view and back.collection["_auth"] == collection["_auth"] and back.truncated
    assert CollectionView.from_dict({}) == CollectionView({}, (), (), False)


# --- paging without a server ------------------------------------------------------------------------


class _FakeIO:
    """Answers ``read_json`` from ``docs`` (href -> page) and counts the reads."""

    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = docs
        self.reads: list[str] = []

    def read_json(self, target: Any, parameters: Any = None) -> Any:
        href = target if isinstance(target, str) else target.href
        self.reads.append(href)
        return self.docs[href]


def _pages(docs: dict[str, Any], url: str = "http://h/c", max_pages: int = 200) -> tuple[_FakeIO, _Pages]:
    io = _FakeIO(docs)
    return io, _Pages(cast(StacApiIO, io), url, None, max_pages)


def test_pages_never_repeat_a_request_and_stop_at_the_cap() -> None:
    loop = {"collections": [None], "links": [{"rel": "next", "href": "http://h/c"}]}
    io, pages = _pages({"http://h/c": loop})
    assert len(list(pages)) == 1 and io.reads == ["http://h/c"] and not pages.more
    cycle = {
        "http://h/c": {"features": [1], "links": [{"rel": "next", "href": "http://h/c?p=2"}]},
        "http://h/c?p=2": {"features": [2], "links": [{"rel": "next", "href": "http://h/c"}]},
    }
    io, pages = _pages(cycle)
    assert len(list(pages)) == 2 and io.reads == ["http://h/c", "http://h/c?p=2"] and not pages.more
    chain = {
        f"http://h/c{n}": {"features": [n], "links": [{"rel": "next", "href": f"http://h/c{n + 1}"}]}
        for n in range(10)
    }
    io, pages = _pages(chain, "http://h/c0", max_pages=3)
    assert len(list(pages)) == 3 and len(io.reads) == 3 and pages.more


def test_pages_stop_at_an_empty_page_and_skip_odd_links() -> None:
    docs = {"http://h/c": {"collections": [], "links": [{"rel": "next", "href": "http://h/x"}]}}
    io, pages = _pages(docs)
    assert list(pages) == [] and not pages.more
    odd = {"features": [1], "links": ["junk", {"rel": "next"}, {"rel": "next", "href": 5}, None]}
    io, pages = _pages({"http://h/c": odd})
    assert len(list(pages)) == 1 and io.reads == ["http://h/c"] and not pages.more
    assert _next_link({"links": [{"rel": "next", "href": ""}, {"rel": "next", "href": "u"}]}) == {
        "rel": "next",
        "href": "u",
    }
    same = _link_key({"href": "u"})
    assert _link_key({"rel": "next", "href": "u", "method": "get"}) == same
    assert _link_key({"href": "u", "method": "POST", "body": {"token": "2"}}) != same


def test_collection_list_is_frozen() -> None:
    found = CollectionList((summary("a"),), truncated=True)
    with pytest.raises(AttributeError):
        found.truncated = False  # type: ignore[misc]
