"""The APEx-readiness report (issue #14): every APEx rule passes and fails on hand-made documents, the
one-click fixes mend what they claim, and three real CDSE jobs become APEx-ready, schema-valid
collections (the two land-cover COG jobs with a GeoTIFF on this machine, the statistics job with a
person-entered temporal extent)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_bounds
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from apex_core import metadata as md
from apex_core.categorical import WORLDCOVER_LEGEND, legend_for
from apex_core.errors import MetadataError
from apex_core.metadata.apex import RULES, ApexReport, RuleResult
from apex_core.metadata.fixes import CLASSIFICATION, PROJECTION_V2, RASTER_V2, Fix, apply_fixes
from apex_core.metadata.values import Provider, RenderHints
from apex_core.resultfile import FILE_EXTENSION, CogLayout, FileFacts, read_facts
from tests.services import shared_fixture
from tests.stacdocs import embedded_job_item, embedded_job_results

CDSE = "cdse-2026-04"
COG_JOBS = ("firenze-cog", "roma-cog")
WORLDCOVER_VALUES = (10, 20, 30, 40, 50, 60, 80, 90)
BBOX = (10.7, 43.4, 11.8, 44.2)
START, END = "2021-01-01T00:00:00Z", "2021-12-31T23:59:59Z"
HREF = "https://example.org/results/lc_2021-01-01.tif"


# ---------------------------------------------------------------------------- helpers


def _cdse(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded job results and job (with its process graph) of one CDSE job."""
    results = json.loads(shared_fixture(f"{CDSE}/{name}/job-results.json").read_text())
    job = json.loads(shared_fixture(f"{CDSE}/{name}/job.json").read_text())
    return results, job


def _geotiff(
    path: Path,
    width: int = 1100,
    height: int = 700,
    bbox: tuple[float, float, float, float] = BBOX,
    *,
    count: int = 1,
    values: tuple[int, ...] = WORLDCOVER_VALUES,
    **profile: Any,
) -> Path:
    """A uint8 land-cover GeoTIFF in EPSG:4326 (classes ``values``, a nodata-0 stripe): a COG with
    512 px tiles and overviews (GDAL's COG driver), or written with ``profile`` when given."""
    yy, xx = np.mgrid[0:height, 0:width]
    lut = np.array(values, dtype=np.uint8)
    band = lut[((yy // 41) + (xx // 67)) % len(lut)]
    band[: max(1, height // 20), :] = 0
    options: dict[str, Any] = profile or {
        "driver": "COG",
        "blocksize": 512,
        "compress": "deflate",
        "overview_resampling": "nearest",
    }
    with rasterio.open(
        path, "w", width=width, height=height, count=count, dtype="uint8", crs="EPSG:4326",
        transform=from_bounds(*bbox, width, height), nodata=0, **options,
    ) as dst:  # fmt: skip
        dst.write(np.stack([band] * count))
        if options["driver"] == "COG":  # (in a GTiff, a description rewrites the header after the data)
            dst.set_band_description(1, "MAP")
    return path


def _sha(path: Path) -> str:
    return "1220" + hashlib.sha256(path.read_bytes()).hexdigest()


def _results(report: ApexReport, rule: str, target: str | None = None) -> list[RuleResult]:
    found = [r for r in report.results if r.rule == rule and (target is None or target in r.target)]
    assert found, f"{rule} ({target}) not in the report: {[(r.rule, r.target) for r in report.results]}"
    return found


def _one(report: ApexReport, rule: str, target: str | None = None) -> RuleResult:
    found = _results(report, rule, target)
    assert len(found) == 1, found
    return found[0]


def _failing(report: ApexReport) -> set[tuple[str, str]]:
    return {(r.rule, r.field) for r in report.failures}


def _all_keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _all_keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _all_keys(v)}
    return set()


def _settle(
    draft: md.CollectionDraft,
    results: Mapping[str, Any],
    files: Mapping[str, FileFacts] | None = None,
    process: Mapping[str, Any] | None = None,
) -> tuple[md.CollectionDraft, md.Evaluation]:
    """Choose every fix the report offers until it offers none (as a person clicking each one)."""
    ev = md.evaluate(draft, results, [], files=files, process=process)
    for _ in range(6):
        assert ev.apex is not None, ev.issues
        if not ev.apex.fixes:
            return draft, ev
        proposal = ev.proposal[0] if ev.proposal else None
        for fix in ev.apex.fixes:
            draft = md.fixed_draft(draft, fix, ev.publishable, files or {}, proposal)
        ev = md.evaluate(draft, results, [], files=files, process=process)
    pytest.fail(f"the fixes do not settle: still {ev.apex.fixes if ev.apex else ev.issues}")


def _with_proposed_interval(
    draft: md.CollectionDraft, results: Mapping[str, Any], job: Mapping[str, Any]
) -> md.CollectionDraft:
    """The draft with the interval the app proposes for results open on both ends (Fix.TEMPORAL)."""
    ev = md.evaluate(draft, results, [], process=job["process"])
    assert ev.apex is None and "start" in {i.field for i in ev.errors}  # [null, null]: the form asks
    assert ev.proposal is not None
    return md.fixed_draft(draft, Fix.TEMPORAL, None, {}, ev.proposal[0])


def _draft(**changes: Any) -> md.CollectionDraft:
    base = md.CollectionDraft(
        id="lc-demo",
        title="Land cover demo",
        description="Land cover of Firenze from ESA WorldCover 2021.",
        providers=(Provider(name="VITO", roles=("producer", "processor")),),
        bbox=BBOX,
        interval=(START, END),
        fixes=(Fix.COG.value,),  # the layout rules are tested on their own below
    )
    return replace(base, **changes)


def _classes() -> list[dict[str, Any]]:
    return [
        {"value": v, "name": f"c{v}", "title": WORLDCOVER_LEGEND[v][0], "description": "x",
         "color_hint": WORLDCOVER_LEGEND[v][1]}
        for v in (10, 80)
    ]  # fmt: skip


def _tif(href: str = HREF, **extra: Any) -> dict[str, Any]:
    asset: dict[str, Any] = {
        "href": href,
        "type": "image/tiff; application=geotiff",
        "roles": ["data"],
        "title": "Land cover",
        "file:size": 1234,
        "proj:code": "EPSG:4326",
        "proj:bbox": list(BBOX),
        "proj:shape": [700, 1100],
        "bands": [
            {
                "name": "MAP",
                "data_type": "uint8",
                "nodata": 0,
                "raster:scale": 1.0,
                "raster:offset": 0.0,
                "raster:spatial_resolution": 0.001,
            }
        ],
        "classification:classes": _classes(),
    }
    asset.update(extra)
    return asset


def _item(iid: str = "lc_20210101", assets: dict[str, Any] | None = None, **props: Any) -> dict[str, Any]:
    w, s, e, n = BBOX
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": "lc-demo",
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "bbox": list(BBOX),
        "properties": props or {"datetime": START, "start_datetime": START, "end_datetime": END},
        "links": [],
        "assets": {"map": _tif()} if assets is None else assets,
    }


def _collection(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "Collection",
        "id": "lc-demo",
        "stac_version": "1.1.0",
        "description": "Land cover of Firenze from ESA WorldCover 2021.",
        "license": "CC-BY-4.0",
        "links": [],
        "extent": {"spatial": {"bbox": [list(BBOX)]}, "temporal": {"interval": [[START, END]]}},
        "renders": {
            "map": {
                "assets": ["map"],
                "title": "MAP",
                "rescale": [[10, 90]],
                "colormap": {"10": "#006400", "80": "#0064C8"},
            }
        },
    }
    doc.update(extra)
    return doc


def _report(
    collection: dict[str, Any],
    items: list[dict[str, Any]],
    draft: md.CollectionDraft | None = None,
    files: Mapping[str, FileFacts] | None = None,
    **kwargs: Any,
) -> ApexReport:
    pub = md.PublishableCollection(collection=collection, items=tuple(items))
    return md.apex_report(draft or _draft(), pub, files, **kwargs)


@pytest.fixture(scope="module")
def landcover(tmp_path_factory: pytest.TempPathFactory) -> FileFacts:
    """A land-cover COG (1100×700, 512 px tiles, overviews) and its facts, WorldCover legend."""
    path = _geotiff(tmp_path_factory.mktemp("lc") / "lc_2021-01-01.tif")
    return read_facts(path, legend=WORLDCOVER_LEGEND)


# ---------------------------------------------------------------------------- the baseline


def test_a_complete_document_is_apex_ready() -> None:
    report = _report(_collection(), [_item()])
    assert report.ready, report.failures
    assert report.fixes == () and report.asks == ()
    assert report.headline().startswith("**APEx-ready**")
    applicable = {r.rule for r in report.results if r.status == "pass"}
    assert applicable == set(RULES) - {"STAC-REC-09/11", "EXPLORER-REC-03"}
    assert _one(report, "EXPLORER-REC-03", "item").status == "n/a"  # one band


def test_an_empty_report_is_not_ready() -> None:
    assert not ApexReport().ready


# ---------------------------------------------------------------------------- STAC-REC-01, 02


def test_rec01_fails_for_stac_1_0_and_names_the_results_version_on_pass() -> None:
    old = _collection(stac_version="1.0.0")
    report = _report(old, [_item()])
    col = _one(report, "STAC-REC-01", "collection")
    assert (col.status, col.field, col.fix) == ("fail", "stac_version", None)
    assert "1.0.0" in col.detail
    assert _one(report, "STAC-REC-01", "item lc_20210101").status == "pass"

    item = _item()
    item["stac_version"] = ""
    missing = _one(_report(_collection(), [item]), "STAC-REC-01", "item")
    assert missing.status == "fail" and "missing" in missing.detail

    upgraded = _one(_report(_collection(), [_item()], source_version="1.0.0"), "STAC-REC-01", "collection")
    assert upgraded.status == "pass"
    assert "the results were STAC 1.0.0; the app writes 1.1.0" in upgraded.detail
    assert _one(_report(_collection(stac_version="1.2.0"), []), "STAC-REC-01").status == "pass"


@pytest.mark.parametrize(
    ("change", "field", "ask"),
    [
        ({"title": "  "}, "title", "title"),
        ({"description": "Results for batch job j-2604301234"}, "description", "description"),
        ({"description": ""}, "description", "description"),
        ({"license": "proprietary"}, "license", "license"),
        ({"providers": ()}, "providers", "providers"),
    ],
)
def test_rec02_asks_a_person_for_what_only_a_person_knows(
    change: dict[str, Any], field: str, ask: str
) -> None:
    report = _report(_collection(), [_item()], _draft(**change))
    failing = [r for r in report.failures if r.rule == "STAC-REC-02"]
    assert [(r.field, r.ask, r.fix) for r in failing] == [(field, ask, None)]
    assert report.asks == tuple(failing)
    assert not report.ready


def test_rec02_temporal_extent() -> None:
    col = _collection()
    col["extent"]["temporal"]["interval"] = [[None, None]]
    proposal = (("2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z"), "the dates in the result file names")

    def temporal(report: ApexReport) -> RuleResult:
        [found] = [r for r in _results(report, "STAC-REC-02") if r.field == "extent.temporal"]
        return found

    proposed = temporal(_report(col, [_item()], proposal=proposal))
    assert (proposed.status, proposed.fix, proposed.ask) == ("fail", Fix.TEMPORAL, "start")
    assert "2021-01-01T00:00:00Z to 2021-01-01T00:00:00Z" in proposed.detail
    assert "the dates in the result file names" in proposed.detail

    asked = temporal(_report(col, [_item()]))
    assert (asked.status, asked.fix, asked.ask) == ("fail", None, "start")
    assert "enter the start" in asked.detail

    col["extent"]["temporal"]["interval"] = [[START, None]]
    open_end = temporal(_report(col, [_item()]))
    assert open_end.status == "pass" and open_end.detail == f"{START} to .."


# ---------------------------------------------------------------------------- STAC-REC-03, 04, 05


def test_rec03_fails_for_different_asset_keys_and_passes_after_the_asset_keys_fix() -> None:
    col = _collection()
    col["renders"]["map"]["assets"] = ["lc_2021-01-01.tif"]
    items = [
        _item("lc_20210101", {"lc_2021-01-01.tif": _tif()}),
        _item("lc_20210201", {"lc_2021-02-01.tif": _tif(HREF.replace("01-01", "02-01"))}),
    ]
    before = _one(_report(col, items), "STAC-REC-03")
    assert (before.status, before.field, before.fix) == ("fail", "assets", Fix.ASSET_KEYS)
    assert "2 different sets of asset keys" in before.detail

    notes: list[str] = []
    apply_fixes(col, items, [Fix.ASSET_KEYS.value], {}, notes)
    assert [list(i["assets"]) for i in items] == [["lc"], ["lc"]]
    assert items[1]["assets"]["lc"]["href"].endswith("lc_2021-02-01.tif")
    assert col["renders"]["map"]["assets"] == ["lc"]  # the render follows the renamed key
    assert any("asset keys renamed" in n for n in notes)
    after = _one(_report(col, items), "STAC-REC-03")
    assert after.status == "pass" and after.fix is None and after.detail == "asset keys ['lc']"


def test_rec04_and_rec05_fail_without_roles_and_title_and_pass_after_the_roles_fix() -> None:
    asset = _tif()
    del asset["roles"], asset["title"]
    items = [_item(assets={"map": asset})]
    report = _report(_collection(), items)
    rec04 = _one(report, "STAC-REC-04", "item lc_20210101")
    assert (rec04.status, rec04.field, rec04.fix) == ("fail", "assets.*.roles", Fix.ROLES_TITLES)
    rec05 = _one(report, "STAC-REC-05", "asset map")
    assert (rec05.status, rec05.field, rec05.fix) == ("fail", "roles, title", Fix.ROLES_TITLES)
    assert report.fixes == (Fix.ROLES_TITLES,)

    apply_fixes(_collection(), items, [Fix.ROLES_TITLES.value], {}, [])
    fixed = items[0]["assets"]["map"]
    assert fixed["roles"] == ["data"] and fixed["title"] == "map (MAP)"
    report = _report(_collection(), items)
    assert report.ready, report.failures


def test_rec04_fails_for_an_item_whose_assets_are_all_metadata() -> None:
    items = [_item(assets={"map": _tif(roles=["metadata"])})]
    rec04 = _one(_report(_collection(), items), "STAC-REC-04", "item")
    assert rec04.status == "fail" and rec04.detail == "no asset has the role `data`"


def test_rec04_fails_on_the_collection_without_items() -> None:
    col = _collection(assets={"lc_2021-01-01.tif": _tif()})
    report = _report(col, [])
    rec04 = _one(report, "STAC-REC-04", "collection")
    assert (rec04.status, rec04.field, rec04.fix) == ("fail", "items", Fix.ITEMS)
    assert "lc_2021-01-01.tif" in rec04.detail
    assert not [r for r in report.results if r.rule in ("STAC-REC-03", "STAC-REC-06", "STAC-REC-07")]

    notes: list[str] = []
    items: list[dict[str, Any]] = []
    apply_fixes(col, items, [Fix.ITEMS.value], {}, notes)
    assert [i["id"] for i in items] == ["lc-demo_20210101"]
    assert items[0]["properties"] == {
        "datetime": "2021-01-01T00:00:00Z",
        "start_datetime": "2021-01-01T00:00:00Z",
        "end_datetime": "2021-01-01T00:00:00Z",
    }
    assert items[0]["bbox"] == list(BBOX)  # the asset's EPSG:4326 proj:bbox
    assert "assets" not in col
    assert _report(col, items).ready


def test_rec05_file_size_fixes_depend_on_what_is_known(landcover: FileFacts) -> None:
    href = str(landcover.path)
    asset = _tif(href)
    del asset["file:size"]
    items = [_item(assets={"map": asset})]

    rehosted = _one(_report(_collection(), items), "STAC-REC-05", "asset map")
    assert rehosted.status == "pass" and "set when re-hosted" in rehosted.detail  # Fix.COG chosen

    no_cog = _draft(fixes=())
    absent = _one(_report(_collection(), items, no_cog), "STAC-REC-05", "asset map")
    assert (absent.status, absent.field, absent.fix, absent.ask) == ("fail", "file:size", Fix.COG, "file")

    known = _one(_report(_collection(), items, no_cog, {href: landcover}), "STAC-REC-05", "asset map")
    assert (known.status, known.fix, known.ask) == ("fail", Fix.FILE_INFO, None)

    apply_fixes(_collection(), items, [Fix.FILE_INFO.value], {href: landcover}, [])
    assert asset["file:size"] == landcover.path.stat().st_size
    assert asset["file:checksum"] == _sha(landcover.path)
    assert FILE_EXTENSION in items[0]["stac_extensions"]
    done = _one(_report(_collection(), items, no_cog, {href: landcover}), "STAC-REC-05", "asset map")
    assert done.status == "pass" and f"{landcover.size} bytes" in done.detail


def test_rec05_a_csv_without_size_or_file_asks_for_the_file() -> None:
    csv = {"href": "https://example.org/t.csv", "type": "text/csv", "roles": ["data"], "title": "Table"}
    items = [_item(assets={"map": _tif(), "table": csv})]
    rec05 = _one(_report(_collection(), items), "STAC-REC-05", "asset table")
    assert (rec05.status, rec05.fix, rec05.ask) == ("fail", None, "file")
    for rule in ("STAC-REC-08", "STAC-REC-10", "STAC-REC-12", "EXPLORER-REC-01"):
        assert _one(_report(_collection(), items), rule, "asset table").status == "n/a"


# ---------------------------------------------------------------------------- STAC-REC-06, 07


def test_rec06_projection_asks_for_the_file_then_comes_from_it(landcover: FileFacts) -> None:
    href = str(landcover.path)
    asset = _tif(href)
    for key in ("proj:code", "proj:bbox", "proj:shape"):
        del asset[key]
    items = [_item(assets={"map": asset})]

    blind = _one(_report(_collection(), items), "STAC-REC-06", "item")
    assert (blind.status, blind.field, blind.fix, blind.ask) == ("fail", "proj:*", None, "file")
    assert blind.detail == "map: proj:code, proj:bbox, proj:shape"

    files = {href: landcover}
    seen = _one(_report(_collection(), items, files=files), "STAC-REC-06", "item")
    assert (seen.status, seen.fix, seen.ask) == ("fail", Fix.PROJECTION, None)

    apply_fixes(_collection(), items, [Fix.PROJECTION.value], files, [])
    assert asset["proj:code"] == "EPSG:4326"
    assert asset["proj:bbox"] == pytest.approx(list(BBOX))
    assert asset["proj:shape"] == [700, 1100]
    assert PROJECTION_V2 in items[0]["stac_extensions"]
    assert _one(_report(_collection(), items, files=files), "STAC-REC-06", "item").status == "pass"


def test_rec06_accepts_wkt2_or_item_level_projection_and_skips_items_without_rasters() -> None:
    asset = _tif()
    del asset["proj:code"]
    asset["proj:wkt2"] = 'PROJCRS["custom"]'
    assert _one(_report(_collection(), [_item(assets={"map": asset})]), "STAC-REC-06").status == "pass"

    moved = _tif()
    code = moved.pop("proj:code")
    item = _item(assets={"map": moved})
    item["properties"]["proj:code"] = code
    assert _one(_report(_collection(), [item]), "STAC-REC-06").status == "pass"

    csv = {"href": "https://example.org/t.csv", "type": "text/csv", "roles": ["data"], "title": "T",
           "file:size": 3}  # fmt: skip
    none = _one(_report(_collection(), [_item(assets={"table": csv})]), "STAC-REC-06")
    assert none.status == "n/a"


def test_rec07_datetimes() -> None:
    only = _item(datetime=START)
    rec07 = _one(_report(_collection(), [only]), "STAC-REC-07")
    assert (rec07.status, rec07.field, rec07.fix) == ("fail", "properties", Fix.DATETIMES)
    assert rec07.detail == "missing start_datetime, end_datetime"
    apply_fixes(_collection(), [only], [Fix.DATETIMES.value], {}, [])
    assert only["properties"] == {"datetime": START, "start_datetime": START, "end_datetime": START}
    assert _one(_report(_collection(), [only]), "STAC-REC-07").status == "pass"

    ranged = _item(start_datetime=START, end_datetime=END)
    assert _one(_report(_collection(), [ranged]), "STAC-REC-07").fix is Fix.DATETIMES
    apply_fixes(_collection(), [ranged], [Fix.DATETIMES.value], {}, [])
    assert ranged["properties"]["datetime"] == START
    assert _one(_report(_collection(), [ranged]), "STAC-REC-07").status == "pass"

    bare = _item(title="no time at all")
    proposal = ((START, END), "the job's process graph (temporal_extent)")
    assert _one(_report(_collection(), [bare], proposal=proposal), "STAC-REC-07").fix is Fix.TEMPORAL
    assert _one(_report(_collection(), [bare]), "STAC-REC-07").fix is None


# ---------------------------------------------------------------------------- STAC-REC-08, 09/11, 10


def test_rec08_bands() -> None:
    def rec08(asset: dict[str, Any], files: Mapping[str, FileFacts] | None = None) -> RuleResult:
        return _one(_report(_collection(), [_item(assets={"map": asset})], files=files), "STAC-REC-08")

    two = _tif()
    two["bands"] = [dict(two["bands"][0]), {**two["bands"][0], "name": "QA", "data_type": "float32"}]
    mixed = rec08(two)
    assert (mixed.status, mixed.field, mixed.detail) == ("fail", "bands", "2 data types")

    nameless = _tif()
    del nameless["bands"][0]["name"]
    assert rec08(nameless).detail == "a band without a name"

    untyped = _tif()
    del untyped["bands"][0]["data_type"]
    found = rec08(untyped)
    assert (found.status, found.detail, found.fix, found.ask) == ("fail", "no data_type", None, "file")

    legacy = _tif(**{"eo:bands": [{"name": "MAP"}]})
    assert rec08(legacy).detail == "eo:bands / raster:bands next to `bands`"

    bare = _tif()
    del bare["bands"]
    assert rec08(bare).detail == "no `bands`"

    assert rec08(_tif()).status == "pass" and rec08(_tif()).detail == "1 band(s), uint8"


def test_rec08_the_bands_fix_writes_stac_1_1_bands_from_eo_and_raster_bands(landcover: FileFacts) -> None:
    href = str(landcover.path)
    asset = _tif(href)
    del asset["bands"]
    asset["eo:bands"] = [{"name": "MAP", "common_name": "landcover"}]
    asset["raster:bands"] = [{"statistics": {"minimum": 10.0, "maximum": 90.0, "stddev": float("nan")}}]
    items = [_item(assets={"map": asset})]
    items[0]["stac_extensions"] = ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"]
    files = {href: landcover}

    before = _one(_report(_collection(), items, files=files), "STAC-REC-08")
    assert (before.status, before.fix) == ("fail", Fix.BANDS)
    apply_fixes(_collection(), items, [Fix.BANDS.value], files, [])
    assert "eo:bands" not in asset and "raster:bands" not in asset
    assert asset["bands"] == [
        {
            "name": "MAP",
            "statistics": {"minimum": 10.0, "maximum": 90.0},  # NaN dropped
            "eo:common_name": "landcover",
            "data_type": "uint8",
        }
    ]
    assert "/eo/v1" not in " ".join(items[0]["stac_extensions"])
    assert RASTER_V2 in items[0]["stac_extensions"]
    assert _one(_report(_collection(), items, files=files), "STAC-REC-08").status == "pass"


def test_rec08_band_count_must_match_the_file(landcover: FileFacts) -> None:
    href = str(landcover.path)
    asset = _tif(href)
    asset["bands"] = [asset["bands"][0], {**asset["bands"][0], "name": "MAP2"}]
    found = _one(
        _report(_collection(), [_item(assets={"map": asset})], files={href: landcover}), "STAC-REC-08"
    )
    assert found.status == "fail" and found.detail == "2 bands, the file has 1"


def test_rec09_11_netcdf_needs_the_datacube_extension() -> None:
    cube = {"href": "https://example.org/cube.nc", "type": "application/netcdf", "roles": ["data"],
            "title": "Cube", "file:size": 10}  # fmt: skip
    item = _item(assets={"map": _tif(), "cube": cube})
    missing = _one(_report(_collection(), [item]), "STAC-REC-09/11", "asset cube")
    assert (missing.status, missing.field, missing.detail) == (
        "fail",
        "cube:dimensions",
        "cube:dimensions missing",
    )
    assert not [
        r for r in _report(_collection(), [item]).results if r.rule == "STAC-REC-09/11" and "map" in r.target
    ]

    col = _collection(**{"cube:dimensions": {"t": {"type": "temporal", "extent": [START, END]}}})
    assert _one(_report(col, [item]), "STAC-REC-09/11", "asset cube").status == "pass"


def test_rec10_raster_fields_from_the_file(landcover: FileFacts) -> None:
    href = str(landcover.path)
    asset = _tif(href)
    asset["bands"] = [{"name": "MAP", "data_type": "uint8"}]
    items = [_item(assets={"map": asset})]

    blind = _one(_report(_collection(), items), "STAC-REC-10")
    assert (blind.status, blind.fix, blind.ask) == ("fail", None, "file")
    assert blind.detail == "missing nodata, raster:offset, raster:scale, raster:spatial_resolution"

    files = {href: landcover}
    assert _one(_report(_collection(), items, files=files), "STAC-REC-10").fix is Fix.RASTER
    apply_fixes(_collection(), items, [Fix.RASTER.value], files, [])
    band = asset["bands"][0]
    assert band["nodata"] == 0.0
    assert band["raster:scale"] == 1.0 and band["raster:offset"] == 0.0
    assert band["raster:spatial_resolution"] == pytest.approx((BBOX[2] - BBOX[0]) / 1100)
    assert RASTER_V2 in items[0]["stac_extensions"]
    assert _one(_report(_collection(), items, files=files), "STAC-REC-10").status == "pass"


def test_rec10_resolution_from_the_projection_without_a_file() -> None:
    asset = _tif()
    del asset["bands"][0]["raster:spatial_resolution"]
    items = [_item(assets={"map": asset})]
    apply_fixes(_collection(), items, [Fix.RASTER.value], {}, [])
    assert asset["bands"][0]["raster:spatial_resolution"] == pytest.approx((BBOX[2] - BBOX[0]) / 1100)


# ---------------------------------------------------------------------------- STAC-REC-12


def test_rec12_classes(landcover: FileFacts) -> None:
    href = str(landcover.path)

    def rec12(asset: dict[str, Any], files: Mapping[str, FileFacts] | None = None) -> RuleResult:
        return _one(_report(_collection(), [_item(assets={"map": asset})], files=files), "STAC-REC-12")

    assert rec12(_tif()).status == "pass" and rec12(_tif()).detail == "2 classes"

    integer = _tif(href)
    del integer["classification:classes"]
    blind = rec12(integer)
    assert (blind.status, blind.fix, blind.ask) == ("fail", None, "file")
    assert blind.detail == "integer data: attach the file to read its classes"

    seen = rec12(integer, {href: landcover})
    assert (seen.status, seen.fix) == ("fail", Fix.CLASSES)
    assert seen.detail == "8 classes, not in the metadata"

    continuous = _tif()
    del continuous["classification:classes"]
    continuous["bands"][0]["data_type"] = "float32"
    na = rec12(continuous)
    assert (na.status, na.detail, na.fix, na.ask) == ("n/a", "continuous data", None, None)

    no_colour = _tif()
    del no_colour["classification:classes"][1]["color_hint"]
    partial = rec12(no_colour)
    assert partial.status == "fail" and "some without title or color_hint" in partial.detail

    in_band = _tif()
    in_band["bands"][0]["classification:classes"] = in_band.pop("classification:classes")
    assert rec12(in_band).status == "pass"


def test_rec12_the_classes_fix_writes_worldcover_classes(landcover: FileFacts) -> None:
    href = str(landcover.path)
    asset = _tif(href)
    del asset["classification:classes"]
    items = [_item(assets={"map": asset})]
    files = {href: landcover}
    apply_fixes(_collection(), items, [Fix.CLASSES.value], files, [])
    classes = asset["classification:classes"]
    assert [c["value"] for c in classes] == list(WORLDCOVER_VALUES)
    assert {c["value"]: (c["title"], c["color_hint"]) for c in classes} == {
        v: WORLDCOVER_LEGEND[v] for v in WORLDCOVER_VALUES
    }
    assert classes[0]["name"] == "tree-cover" and classes[0]["description"] == "Tree cover"
    assert CLASSIFICATION in items[0]["stac_extensions"]
    assert _one(_report(_collection(), items, files=files), "STAC-REC-12").status == "pass"


# ---------------------------------------------------------------------------- METADATA-REC-07


def test_metadata_rec07_render_hints(landcover: FileFacts) -> None:
    rendered = _one(_report(_collection(), [_item()]), "METADATA-REC-07")
    assert rendered.status == "pass" and rendered.detail == "renders map"

    bare = _collection()
    del bare["renders"]
    missing = _one(_report(bare, [_item()]), "METADATA-REC-07")
    assert (missing.status, missing.field, missing.fix) == ("fail", "renders", Fix.RENDER)

    rescale_only = _collection(renders={"map": {"assets": ["map"], "rescale": [[10, 90]]}})
    assert _one(_report(rescale_only, [_item()]), "METADATA-REC-07").status == "fail"
    named = _collection(renders={"map": {"assets": ["map"], "rescale": [[0, 1]], "colormap_name": "viridis"}})
    assert _one(_report(named, [_item()]), "METADATA-REC-07").status == "pass"

    csv = {"href": "https://example.org/t.csv", "type": "text/csv", "roles": ["data"], "title": "T",
           "file:size": 3}  # fmt: skip
    nothing = _one(_report(bare, [_item(assets={"table": csv})]), "METADATA-REC-07")
    assert (nothing.status, nothing.detail) == ("n/a", "no raster to render")


def test_the_render_fix_proposes_the_class_colours_of_a_categorical_raster(landcover: FileFacts) -> None:
    href = str(landcover.path)
    asset = _tif(href)
    del asset["classification:classes"]
    bare = _collection()
    del bare["renders"]
    pub = md.PublishableCollection(collection=bare, items=(_item(assets={"map": asset}),))
    draft = md.fixed_draft(_draft(render=None), Fix.RENDER, pub, {href: landcover})
    assert draft.render == RenderHints(
        rescale=(10.0, 90.0),
        colormap_name="",
        title="MAP",
        colormap=tuple((v, WORLDCOVER_LEGEND[v][1]) for v in WORLDCOVER_VALUES),
    )
    assert draft.fixes == _draft().fixes  # a draft change, not a document fix
    # without the file the classes of the document itself are used
    declared = md.PublishableCollection(collection=bare, items=(_item(),))
    assert md.render_proposal(declared, {}) == RenderHints(
        rescale=(10.0, 80.0), colormap_name="", title="MAP", colormap=((10, "006400"), (80, "0064C8"))
    )


def test_render_proposal_for_ndvi_continuous_and_nothing() -> None:
    def pub(asset: dict[str, Any]) -> md.PublishableCollection:
        return md.PublishableCollection(collection=_collection(), items=(_item(assets={"data": asset}),))

    def band(name: str, **stats: float) -> dict[str, Any]:
        asset = _tif()
        del asset["classification:classes"]
        asset["bands"] = [{"name": name, "data_type": "float32", "statistics": stats}]
        return asset

    assert md.render_proposal(pub(band("NDVI", minimum=-0.2, maximum=0.9)), {}) == RenderHints()
    spread = md.render_proposal(pub(band("LAI", minimum=0.0, maximum=8.0, mean=3.0, stddev=1.0)), {})
    assert spread == RenderHints(rescale=(1.0, 5.0), colormap_name="viridis", title="LAI")
    flat = md.render_proposal(pub(band("LAI", minimum=0.5, maximum=6.0, mean=3.0, stddev=0.0)), {})
    assert flat == RenderHints(rescale=(0.5, 6.0), colormap_name="viridis", title="LAI")
    assert md.render_proposal(pub(band("LAI")), {}) is None  # no statistics: no range to propose
    assert md.render_proposal(pub(band("LAI", minimum=2.0, maximum=2.0)), {}) is None
    csv = {"href": "https://example.org/t.csv", "type": "text/csv", "roles": ["data"], "title": "T"}
    assert md.render_proposal(pub(csv), {}) is None
    metadata = band("LAI", minimum=0.0, maximum=8.0)
    metadata["roles"] = ["metadata"]
    assert md.render_proposal(pub(metadata), {}) is None


# ---------------------------------------------------------------------------- EXPLORER-REC-01/02/03


def test_cog_layout_problems() -> None:
    good = CogLayout((512, 512), True, (2, 4, 8), "band", True)
    assert good.problems(4096, 3000, 3) == {
        "EXPLORER-REC-01": None,
        "EXPLORER-REC-02": None,
        "EXPLORER-REC-03": None,
    }
    assert good.problems(4096, 3000, 1)["EXPLORER-REC-03"] == "n/a"
    assert CogLayout((256, 256), True, (), "band", True).problems(256, 200, 1)["EXPLORER-REC-02"] is None

    strips = CogLayout((4096, 1), False, (), "band", True).problems(4096, 3000, 1)
    assert "strips" in str(strips["EXPLORER-REC-01"])
    assert "1024×1024" in str(
        CogLayout((1024, 1024), True, (2, 4), "band", True).problems(4096, 4096, 1)["EXPLORER-REC-01"]
    )
    assert CogLayout((512, 256), True, (2, 4, 8), "band", True).problems(4096, 3000, 1)["EXPLORER-REC-01"]

    assert "no overviews" in str(
        CogLayout((512, 512), True, (), "band", True).problems(2048, 2048, 1)["EXPLORER-REC-02"]
    )
    short = CogLayout((512, 512), True, (2,), "band", True).problems(4096, 4096, 1)["EXPLORER-REC-02"]
    assert "do not halve down to one tile" in str(short)
    skipping = CogLayout((512, 512), True, (2, 3, 8), "band", True).problems(4096, 4096, 1)["EXPLORER-REC-02"]
    assert "[2, 3, 8]" in str(skipping)
    invalid = CogLayout((512, 512), True, (2, 4), "band", False, ("IFD offset",)).problems(2048, 2048, 1)
    assert invalid["EXPLORER-REC-02"] == "not a valid COG: IFD offset"

    pixel = CogLayout((512, 512), True, (2,), "pixel", True).problems(1024, 1024, 3)
    assert pixel["EXPLORER-REC-03"] == "pixel interleave; band interleave wanted"


def _layout_report(path: Path, draft: md.CollectionDraft | None = None) -> tuple[ApexReport, FileFacts]:
    facts = read_facts(path)
    asset = _tif(str(path))
    del asset["classification:classes"]
    count = facts.raster.count if facts.raster else 1
    asset["bands"] = [{**asset["bands"][0], "name": f"b{i}"} for i in range(count)]
    report = _report(
        _collection(), [_item(assets={"map": asset})], draft or _draft(fixes=()), {str(path): facts}
    )
    return report, facts


def _layout(report: ApexReport) -> dict[str, tuple[str, str]]:
    return {
        rule: (_one(report, rule, "item").status, _one(report, rule, "item").detail)
        for rule in ("EXPLORER-REC-01", "EXPLORER-REC-02", "EXPLORER-REC-03")
    }


def test_explorer_rules_on_a_striped_geotiff(tmp_path: Path) -> None:
    path = _geotiff(tmp_path / "strips.tif", 900, 600, driver="GTiff", tiled=False)
    report, _facts = _layout_report(path)
    layout = _layout(report)
    assert layout["EXPLORER-REC-01"][0] == "fail" and "strips" in layout["EXPLORER-REC-01"][1]
    assert layout["EXPLORER-REC-02"][0] == "fail" and "not a valid COG" in layout["EXPLORER-REC-02"][1]
    assert layout["EXPLORER-REC-03"] == ("n/a", "one band")
    rec01 = _one(report, "EXPLORER-REC-01", "item")
    assert (rec01.field, rec01.fix) == ("file", Fix.COG)
    assert Fix.COG in report.fixes


def test_explorer_rules_on_a_large_tiled_geotiff_without_overviews(tmp_path: Path) -> None:
    path = _geotiff(
        tmp_path / "flat.tif", 2048, 1536, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
    )  # fmt: skip
    layout = _layout(_layout_report(path)[0])
    assert layout["EXPLORER-REC-01"] == ("pass", "holds in the file")
    assert layout["EXPLORER-REC-02"] == ("fail", "no overviews (2048×1536 px is larger than one 512 px tile)")


def test_explorer_rules_on_a_pixel_interleaved_three_band_geotiff(tmp_path: Path) -> None:
    path = _geotiff(
        tmp_path / "rgb.tif", 1024, 1024, count=3, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
        interleave="pixel",
    )  # fmt: skip
    layout = _layout(_layout_report(path)[0])
    assert layout["EXPLORER-REC-01"][0] == "pass"
    assert layout["EXPLORER-REC-03"] == ("fail", "pixel interleave; band interleave wanted")


def test_explorer_rules_pass_on_a_rio_cogeo_cog(tmp_path: Path) -> None:
    source = _geotiff(
        tmp_path / "src.tif", 1500, 1400, count=3, driver="GTiff", interleave="pixel",
    )  # fmt: skip
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=512, blockysize=512, interleave="band")
    cog = tmp_path / "cog.tif"
    cog_translate(str(source), str(cog), profile, quiet=True)
    report, facts = _layout_report(cog)
    assert facts.raster is not None and facts.raster.layout.cog_valid
    assert facts.raster.layout.overviews == (2, 4)
    assert _layout(report) == {rule: ("pass", "holds in the file") for rule in _layout(report)}
    assert Fix.COG not in report.fixes


def test_explorer_rules_without_the_file_and_with_the_cog_fix() -> None:
    blind = _report(_collection(), [_item()], _draft(fixes=()))
    for rule in ("EXPLORER-REC-01", "EXPLORER-REC-02", "EXPLORER-REC-03"):
        found = _one(blind, rule, "item")
        assert (found.status, found.field, found.fix) == ("fail", "file", Fix.COG)
    assert blind.fixes == (Fix.COG,)

    rehosted = md.fixed_draft(_draft(fixes=()), Fix.COG, None, {})
    assert rehosted.fixes == ("cog",)
    assert md.fixed_draft(rehosted, Fix.COG, None, {}) is rehosted  # chosen once
    layout = _layout(_report(_collection(), [_item()], rehosted))
    assert layout["EXPLORER-REC-01"] == ("pass", "re-hosted as a COG when publishing (checked after writing)")
    assert layout["EXPLORER-REC-02"][0] == "pass"
    assert layout["EXPLORER-REC-03"] == ("n/a", "one band")

    three = _tif()
    three["bands"] = [{**three["bands"][0], "name": f"b{i}"} for i in range(3)]
    assert (
        _layout(_report(_collection(), [_item(assets={"map": three})], rehosted))["EXPLORER-REC-03"][0]
        == "pass"
    )


def test_the_cog_fix_marks_a_broken_layout_as_rehosted(tmp_path: Path) -> None:
    path = _geotiff(tmp_path / "strips.tif", 900, 600, driver="GTiff", tiled=False)
    report, _facts = _layout_report(path, _draft())
    assert {v[0] for v in _layout(report).values()} == {"pass", "n/a"}
    assert "re-hosted" in _layout(report)["EXPLORER-REC-01"][1]


# ---------------------------------------------------------------------------- temporal proposals


def test_temporal_proposal_from_the_items_datetimes() -> None:
    items = [
        _item("b", datetime="2021-03-05T10:00:00Z"),
        _item("a", datetime=None, start_datetime="2021-01-02T00:00:00Z", end_datetime="2021-01-31T23:59:59Z"),
    ]
    results = {"assets": {"openEO_2019-01-01Z.tif": {}}}  # the items win over the file names
    assert md.temporal_proposal(results, items) == (
        ("2021-01-02T00:00:00Z", "2021-03-05T10:00:00Z"),
        "the items' datetimes",
    )


def test_temporal_proposal_from_the_file_names() -> None:
    results = {"assets": {"openEO_2021-06-01Z.tif": {}, "openEO_20210101.tif": {}, "timeseries.csv": {}}}
    assert md.temporal_proposal(results) == (
        ("2021-01-01T00:00:00Z", "2021-06-01T00:00:00Z"),
        "the dates in the result file names",
    )
    assert md.temporal_proposal({"assets": {"out_1234-99-99.tif": {}}}) is None  # not a date


def test_temporal_proposal_from_the_process_graph_with_an_exclusive_end_date() -> None:
    process = {
        "process_graph": {
            "load": {"process_id": "load_collection", "arguments": {"id": "X", "temporal_extent": None}},
            "nested": {
                "process_id": "apply",
                "arguments": {
                    "process": {
                        "process_graph": {
                            "lc": {
                                "process_id": "load_collection",
                                "arguments": {"id": "S2", "temporal_extent": ["2021-03-01", "2021-04-01"]},
                            }
                        }
                    }
                },
            },
        }
    }
    assert md.temporal_proposal({"assets": {"timeseries.csv": {}}}, (), process) == (
        ("2021-03-01T00:00:00Z", "2021-03-31T23:59:59Z"),
        "the job's process graph (temporal_extent)",
    )
    stamps = {"n": {"arguments": {"temporal_extent": ["2021-03-01T06:00:00Z", "2021-03-02T06:00:00Z"]}}}
    assert md.temporal_proposal({}, (), stamps) == (
        ("2021-03-01T06:00:00Z", "2021-03-02T06:00:00Z"),
        "the job's process graph (temporal_extent)",
    )
    assert (
        md.temporal_proposal({}, (), {"n": {"arguments": {"temporal_extent": ["2021-03-01", None]}}}) is None
    )
    assert md.temporal_proposal({}) is None


def test_the_temporal_fix_sets_the_proposal_and_nothing_without_one() -> None:
    draft = _draft(interval=(None, None))
    assert md.fixed_draft(draft, Fix.TEMPORAL, None, {}, (START, END)).interval == (START, END)
    assert md.fixed_draft(draft, Fix.TEMPORAL, None, {}, None) is draft


# ---------------------------------------------------------------------------- the report as data


def test_the_report_round_trips_and_lists_failures_first() -> None:
    bare = _collection()
    del bare["renders"]
    report = _report(bare, [_item(datetime=START)], _draft(fixes=(), title=""))
    assert not report.ready
    assert ApexReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert report.to_dict()["ready"] is False
    assert report.fixes == (Fix.DATETIMES, Fix.COG, Fix.RENDER)  # in the order they are applied
    assert [r.field for r in report.asks] == ["title"]
    counts = report.counts()
    assert counts["fail"] == len(report.failures) == 6  # title, REC-07, EXPLORER 01/02/03, renders
    assert report.headline() == (
        f"**Not APEx-ready yet**: 6 of {counts['pass'] + 6} rule checks fail (3 fix(es) the app can make, "
        "1 field(s) for you)."
    )
    rows = report.rows()
    assert [r[""] for r in rows[:6]] == ["❌"] * 6 and {r[""] for r in rows[6:]} == {"✅"}
    assert {r["fix"] for r in rows[:6]} >= {"fill in: title", Fix.RENDER.label, Fix.DATETIMES.label}
    with pytest.raises(ValueError, match="unknown status"):
        RuleResult.from_dict({"rule": "STAC-REC-01", "target": "collection", "status": "maybe"})


# ---------------------------------------------------------------------------- NDVI


def test_the_embedded_ndvi_results_report_and_render_proposal() -> None:
    results, item = embedded_job_results(), embedded_job_item()
    assert md.looks_like_ndvi(results, [item]) and md.looks_like_ndvi(results)
    draft = md.CollectionDraft.from_results(results, [item])
    assert draft.render == RenderHints()  # NDVI's own hints by default
    ev = md.evaluate(draft, results, [item])
    assert ev.apex is not None and ev.publishable is not None
    assert _one(ev.apex, "METADATA-REC-07").status == "pass"
    assert _one(ev.apex, "STAC-REC-06", "item").status == "pass"
    assert _one(ev.apex, "STAC-REC-07", "item").status == "pass"  # start/end added to every item
    description = [r for r in _results(ev.apex, "STAC-REC-02") if r.field == "description"]
    assert [(r.status, r.ask) for r in description] == [("fail", "description")]  # openEO's default
    assert md.render_proposal(ev.publishable, {}) == RenderHints()
    assert md.fixed_draft(replace(draft, render=None), Fix.RENDER, ev.publishable, {}).render == RenderHints()


def test_land_cover_is_not_ndvi_and_gets_no_ndvi_render() -> None:
    results, _job = _cdse("firenze-cog")
    assert not md.looks_like_ndvi(results)
    draft = md.CollectionDraft.from_results(results)
    assert draft.render is None
    assert md.looks_like_ndvi({"id": "x", "keywords": ["ndvi"]})
    assert md.looks_like_ndvi({"id": "x", "assets": {"a": {"eo:bands": [{"name": "NDVI"}]}}})
    assert not md.looks_like_ndvi({"id": "x", "assets": {"a": {"bands": [{"name": "LAI"}]}}})


# ---------------------------------------------------------------------------- three real CDSE jobs


def _initial(name: str) -> tuple[md.CollectionDraft, ApexReport, Any]:
    """The report on the results as they come (temporal extent [null, null], STAC 1.0, no items)."""
    results, job = _cdse(name)
    draft = md.CollectionDraft.from_results(results)
    assert draft.interval == (None, None)
    proposal = md.temporal_proposal(results, (), job["process"])
    pub = md.publishable(draft, results)
    report = md.apex_report(draft, pub, source_version=results["stac_version"], proposal=proposal)
    return draft, report, proposal


@pytest.mark.parametrize("name", COG_JOBS)
def test_cdse_cog_job_initial_report(name: str) -> None:
    _draft0, report, proposal = _initial(name)
    assert proposal == (
        ("2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
        "the dates in the result file names",
    )
    assert not report.ready
    assert _failing(report) == {
        ("STAC-REC-02", "extent.temporal"),
        ("STAC-REC-04", "items"),
        ("STAC-REC-05", "file:size"),
        ("STAC-REC-08", "bands"),
        ("STAC-REC-10", "bands"),
        ("EXPLORER-REC-01", "file"),
        ("EXPLORER-REC-02", "file"),
        ("EXPLORER-REC-03", "file"),
        ("METADATA-REC-07", "renders"),
        ("STAC-REC-12", "classification:classes"),  # no data type without the file: classes or not?
    }
    # No render proposal either: without the file or a data type, classes cannot be told from a range.
    assert report.fixes == (Fix.ITEMS, Fix.COG, Fix.TEMPORAL)
    assert (_one(report, "METADATA-REC-07").fix, _one(report, "METADATA-REC-07").ask) == (None, "render")
    assert _one(report, "STAC-REC-12").ask == "file"
    temporal = [r for r in report.failures if r.field == "extent.temporal"]
    assert [(r.fix, r.ask) for r in temporal] == [(Fix.TEMPORAL, "start")]
    assert "2021-01-01T00:00:00Z to 2021-01-01T00:00:00Z" in temporal[0].detail
    items = _one(report, "STAC-REC-04")
    assert items.fix is Fix.ITEMS and "openEO_2021-01-01Z.tif" in items.detail
    rec08 = _one(report, "STAC-REC-08")
    assert (rec08.fix, rec08.ask) == (None, "file")  # no data type without the file
    assert _one(report, "STAC-REC-05").fix is Fix.COG  # no file:size: the re-hosted COG will have it
    version = _one(report, "STAC-REC-01")
    assert version.status == "pass" and "the results were STAC 1.0.0" in version.detail
    for field in ("title", "description", "license", "providers"):
        [found] = [r for r in _results(report, "STAC-REC-02") if r.field == field]
        assert found.status == "pass", found


def test_cdse_stats_job_initial_report() -> None:
    _draft0, report, proposal = _initial("firenze-stats")
    assert proposal is None  # no date in the file names, no temporal_extent in the process graph
    assert _failing(report) == {("STAC-REC-02", "extent.temporal"), ("STAC-REC-04", "items")}
    assert report.fixes == (Fix.ITEMS,)
    assert [(r.field, r.ask, r.fix) for r in report.asks] == [("extent.temporal", "start", None)]
    for key in ("timeseries.csv", "timeseries.json"):
        assert _one(report, "STAC-REC-05", key).status == "pass"
        for rule in ("STAC-REC-08", "STAC-REC-10", "STAC-REC-12", "EXPLORER-REC-01"):
            assert _one(report, rule, key).status == "n/a"
    assert _one(report, "METADATA-REC-07").status == "n/a"


@pytest.mark.parametrize("name", COG_JOBS)
def test_cdse_cog_job_without_the_file_stays_not_ready(name: str) -> None:
    results, job = _cdse(name)
    draft = _with_proposed_interval(md.CollectionDraft.from_results(results), results, job)
    assert draft.interval == ("2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z")
    draft, ev = _settle(draft, results, process=job["process"])
    assert ev.apex is not None and not ev.apex.ready
    assert set(draft.fixes) == {Fix.ITEMS.value, Fix.COG.value}
    assert draft.render is None  # no proposal: not NDVI's defaults for land cover
    assert {(r.rule, r.ask) for r in ev.apex.failures} == {
        ("STAC-REC-08", "file"),
        ("STAC-REC-10", "file"),
        ("STAC-REC-12", "file"),
        ("METADATA-REC-07", "render"),
    }
    assert ev.valid, [c for c in ev.checks if not c.ok]


@pytest.mark.parametrize("name", COG_JOBS)
def test_cdse_cog_job_with_the_file_becomes_apex_ready(name: str, tmp_path: Path) -> None:
    results, job = _cdse(name)
    [(key, original)] = results["assets"].items()
    height, width = original["proj:shape"]
    path = _geotiff(tmp_path / key, width // 8, height // 8, tuple(original["proj:bbox"]))
    legend = legend_for(md.collection_ids(job["process"]))
    assert legend is WORLDCOVER_LEGEND
    facts = read_facts(path, legend=legend)
    files = {original["href"]: facts}

    draft = _with_proposed_interval(md.CollectionDraft.from_results(results), results, job)
    draft, ev = _settle(draft, results, files, job["process"])
    assert ev.apex is not None and ev.apex.ready, ev.apex.failures
    assert ev.valid, [c for c in ev.checks if not c.ok]
    assert set(draft.fixes) == {"items", "bands", "raster", "classes", "file_info"}  # a COG already
    pub = ev.publishable
    assert pub is not None
    json.dumps(pub.to_dict(), allow_nan=False)

    col = pub.collection
    assert col["stac_version"] == "1.1.0" and "assets" not in col
    assert col["extent"]["temporal"]["interval"] == [["2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]]
    [item] = pub.items
    assert item["id"].endswith("_20210101") and item["collection"] == draft.id
    assert item["properties"] == {
        "datetime": "2021-01-01T00:00:00Z",
        "start_datetime": "2021-01-01T00:00:00Z",
        "end_datetime": "2021-01-01T00:00:00Z",
    }
    [asset] = item["assets"].values()
    assert asset["href"] == original["href"]
    assert (
        asset["type"] == "image/tiff; application=geotiff" and asset["roles"] == ["data"] and asset["title"]
    )
    assert "eo:bands" not in _all_keys(pub.to_dict()) and "raster:bands" not in _all_keys(pub.to_dict())
    [band] = asset["bands"]
    assert band["name"] == "MAP" and band["data_type"] == "uint8" and band["nodata"] == 0
    assert band["raster:scale"] == 1.0 and band["raster:offset"] == 0.0
    assert facts.raster is not None
    assert band["raster:spatial_resolution"] == pytest.approx(facts.raster.resolution[0])
    assert band["statistics"] == facts.raster.statistics  # the attached file's own, measured here
    assert asset["proj:code"] == "EPSG:4326"
    assert asset["proj:bbox"] == original["proj:bbox"] and asset["proj:shape"] == original["proj:shape"]
    assert asset["file:size"] == path.stat().st_size
    assert asset["file:checksum"] == _sha(path)
    classes = asset["classification:classes"]
    assert [c["value"] for c in classes] == list(WORLDCOVER_VALUES)
    assert [(c["title"], c["color_hint"]) for c in classes] == [
        WORLDCOVER_LEGEND[v] for v in WORLDCOVER_VALUES
    ]
    for ext in (RASTER_V2, PROJECTION_V2, CLASSIFICATION, FILE_EXTENSION):
        assert ext in item["stac_extensions"]

    [render] = col["renders"].values()
    assert render["colormap"] == {str(v): "#" + WORLDCOVER_LEGEND[v][1] for v in WORLDCOVER_VALUES}
    assert render["rescale"] == [[10.0, 90.0]]
    assert render["assets"] == [next(iter(item["assets"]))]
    assert next(iter(item["assets"])) in col["item_assets"]
    for rule in ("EXPLORER-REC-01", "EXPLORER-REC-02"):
        assert _one(ev.apex, rule).detail == "holds in the file"


def test_cdse_stats_job_with_an_entered_interval_becomes_apex_ready() -> None:
    results, job = _cdse("firenze-stats")
    draft = md.CollectionDraft.from_results(results)
    assert md.evaluate(draft, results, [], process=job["process"]).proposal is None
    draft, ev = _settle(replace(draft, interval=(START, END)), results, process=job["process"])
    assert ev.apex is not None and ev.apex.ready, ev.apex.failures
    assert ev.valid, [c for c in ev.checks if not c.ok]
    assert set(draft.fixes) == {Fix.ITEMS.value}
    assert draft.render is None
    pub = ev.publishable
    assert pub is not None
    json.dumps(pub.to_dict(), allow_nan=False)  # openEO's NaN stddev is gone

    # One result in two formats: one item holding both files (not two items with one key each).
    [item] = pub.items
    assert "assets" not in pub.collection
    assert item["properties"] == {"datetime": START, "start_datetime": START, "end_datetime": END}
    assert item["id"].endswith("_20210101-20211231")  # named by the default pattern: its interval
    kinds = {}
    for key, asset in item["assets"].items():
        assert asset["roles"] == ["data"]
        assert asset["file:size"] == results["assets"][key]["file:size"]
        kinds[key] = asset["type"]
    assert kinds == {"timeseries.csv": "text/csv", "timeseries.json": "application/json"}
    assert "renders" not in pub.collection


# ---- regressions found while writing these tests ----------------------------------------------------


def _single_band_cog(path: Path, width: int, height: int) -> Path:
    with rasterio.open(
        path, "w", driver="COG", blocksize=512, compress="deflate", width=width, height=height, count=1,
        dtype="uint8", crs="EPSG:4326", transform=from_bounds(10, 43, 11, 44, width, height), nodata=0,
    ) as dst:  # fmt: skip
        dst.write(np.full((1, height, width), 10, dtype=np.uint8))
    return path


def test_a_cog_as_wide_as_one_tile_is_tiled(tmp_path: Path) -> None:
    """rasterio calls a file tiled only when a tile is narrower than the image; a COG of one 512 px tile
    (or 512 px wide) is tiled all the same, and rio-cogeo's "not tiled" complaint about it is dropped."""
    for width, height in ((512, 512), (300, 200), (512, 2048)):
        facts = read_facts(_single_band_cog(tmp_path / f"c{width}x{height}.tif", width, height))
        assert facts.raster is not None
        layout = facts.raster.layout
        assert layout.cog_valid, layout.cog_errors
        assert layout.block == (512, 512) and layout.tiled
        assert layout.problems(width, height, 1)["EXPLORER-REC-01"] is None


def test_rec09_11_sees_cube_dimensions_in_item_properties() -> None:
    cube = {"href": "https://example.org/cube.nc", "type": "application/netcdf", "roles": ["data"],
            "title": "Cube", "file:size": 10}  # fmt: skip
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": "cube_20210101", "collection": "c",
        "geometry": None, "properties": {"datetime": START, "start_datetime": START, "end_datetime": END,
        "cube:dimensions": {"t": {"type": "temporal", "extent": [START, END]}}}, "links": [],
        "assets": {"cube": cube},
    }  # fmt: skip
    collection = {"type": "Collection", "id": "c", "stac_version": "1.1.0", "description": "d",
                  "license": "CC-BY-4.0", "links": [], "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]},
                  "temporal": {"interval": [[START, END]]}}}  # fmt: skip
    draft = md.CollectionDraft(id="c", title="C", description="A cube.", providers=(Provider("VITO"),),
                               interval=(START, END))  # fmt: skip
    report = md.apex_report(draft, md.PublishableCollection(collection=collection, items=(item,)))
    [rec] = [r for r in report.results if r.rule == "STAC-REC-09/11"]
    assert rec.status == "pass", rec.detail
    del item["properties"]["cube:dimensions"]
    report = md.apex_report(draft, md.PublishableCollection(collection=collection, items=(item,)))
    [rec] = [r for r in report.results if r.rule == "STAC-REC-09/11"]
    assert rec.status == "fail" and "missing" in rec.detail


def test_one_result_in_two_formats_is_one_item_whose_keys_say_the_format() -> None:
    """The statistics job's ``timeseries.csv`` and ``timeseries.json`` are one result: one item; made
    homogeneous, their keys keep the format apart and ``item_assets`` describes each rightly."""
    results, _job = _cdse("firenze-stats")
    draft = replace(md.CollectionDraft.from_results(results), interval=(START, END),
                    fixes=(Fix.ITEMS.value, Fix.ASSET_KEYS.value))  # fmt: skip
    pub = md.publishable(draft, results)
    [item] = pub.items
    assert set(item["assets"]) == {"timeseries_csv", "timeseries_json"}
    assert {k: v["type"] for k, v in pub.collection["item_assets"].items()} == {
        "timeseries_csv": "text/csv",
        "timeseries_json": "application/json",
    }


def test_rec12_does_not_call_an_unknown_data_type_continuous() -> None:
    results, _job = _cdse("firenze-cog")
    draft = md.CollectionDraft.from_results(results)
    report = md.apex_report(draft, md.publishable(draft, results))
    [rec] = [r for r in report.results if r.rule == "STAC-REC-12"]
    assert (rec.status, rec.ask) == ("fail", "file") and "data type unknown" in rec.detail


# ---- from the review of the report and its fixes ----------------------------------------------------


def test_the_bands_fix_keeps_every_band_field() -> None:
    asset = {
        "href": "https://x/b.tif", "type": "image/tiff; application=geotiff", "roles": ["data"],
        "eo:bands": [{"name": "B04", "common_name": "red", "center_wavelength": 0.665,
                      "full_width_half_max": 0.038}],
        "raster:bands": [{"data_type": "uint16", "nodata": 0, "scale": 0.0001, "offset": 0,
                          "histogram": {"count": 2, "min": 0, "max": 1, "buckets": [1, 1]},
                          "classification:classes": [{"value": 1, "description": "x"}]}],
    }  # fmt: skip
    collection: dict[str, Any] = {"id": "c", "stac_extensions": []}
    items: list[dict[str, Any]] = [{"id": "i", "assets": {"b": asset}, "stac_extensions": []}]
    apply_fixes(collection, items, [Fix.BANDS.value], {}, [])
    [band] = items[0]["assets"]["b"]["bands"]
    assert band == {
        "name": "B04", "eo:common_name": "red", "eo:center_wavelength": 0.665,
        "eo:full_width_half_max": 0.038,
        "data_type": "uint16", "nodata": 0, "raster:scale": 0.0001, "raster:offset": 0,
        "raster:histogram": {"count": 2, "min": 0, "max": 1, "buckets": [1, 1]},
        "classification:classes": [{"value": 1, "description": "x"}],
    }  # fmt: skip
    assert "eo:bands" not in items[0]["assets"]["b"] and "raster:bands" not in items[0]["assets"]["b"]


def test_an_impossible_date_in_the_process_graph_gives_no_proposal() -> None:
    graph = {
        "load": {
            "process_id": "load_collection",
            "arguments": {"temporal_extent": ["2021-02-30", "2021-03-01"]},
        }
    }
    assert md.temporal_proposal({"assets": {}}, (), {"process_graph": graph}) is None


def test_classes_without_colours_get_the_palette_in_the_render() -> None:
    classes = [{"value": 1, "description": "water"}, {"value": 2, "description": "land"}]
    asset = {"href": "https://x/c.tif", "type": "image/tiff; application=geotiff", "roles": ["data"],
             "bands": [{"name": "class", "data_type": "uint8"}],
             "classification:classes": classes}  # fmt: skip
    item = {"id": "i", "assets": {"c": asset}, "properties": {}}
    hints = md.render_proposal(md.PublishableCollection({"id": "c"}, (item,)), {})
    assert hints is not None and [v for v, _c in hints.colormap] == [1, 2]
    assert all(len(c) == 6 and c == c.upper() for _v, c in hints.colormap)
    assert len({c for _v, c in hints.colormap}) == 2


def test_a_file_without_crs_gives_no_projection(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=50, count=1, dtype="uint8") as dst:
        dst.write(np.ones((1, 50, 100), dtype=np.uint8))
    href = "https://x/nocrs.tif"
    asset = {"href": href, "type": "image/tiff; application=geotiff", "roles": ["data"]}
    collection: dict[str, Any] = {"id": "c", "stac_extensions": []}
    items: list[dict[str, Any]] = [
        {"id": "i", "assets": {"a": asset}, "stac_extensions": [], "properties": {}}
    ]
    apply_fixes(collection, items, [Fix.PROJECTION.value, Fix.RASTER.value], {href: read_facts(path)}, [])
    fixed = items[0]["assets"]["a"]
    assert not any(k.startswith("proj:") for k in fixed)
    assert "raster:spatial_resolution" not in fixed["bands"][0]


def test_an_attached_file_must_be_the_assets_kind(tmp_path: Path) -> None:
    tif, csv = "https://x/r.tif?expires=1", "https://x/t.csv?expires=1"
    documents = [{"assets": {"r": {"href": tif, "type": "image/tiff; application=geotiff"},
                             "t": {"href": csv, "type": "text/csv"}}}]  # fmt: skip
    table = tmp_path / "upload.csv"
    table.write_text("a,b\n1,2\n")
    with pytest.raises(MetadataError, match=r"is not the asset's kind of file"):
        md.read_attachment(documents, tif, table, "t.csv")
    assert md.read_attachment(documents, csv, table, "t.csv")[1].size == table.stat().st_size
    other = tmp_path / "upload.json"
    other.write_text("{}")
    with pytest.raises(MetadataError, match=r"application/json\) is not the asset's kind"):
        md.read_attachment(documents, csv, other, "t.json")
    with pytest.raises(MetadataError, match="No asset links to"):
        md.read_attachment(documents, "https://x/other.tif", table, "t.csv")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("openEO_2021-01-01Z.tif", "map"),
        ("blitz.tif", "blitz"),
        ("openEO_20210101T000000Z_B04.tif", "openeo_b04"),
    ],
)
def test_canonical_asset_keys(key: str, expected: str) -> None:
    from apex_core.metadata.fixes import _canonical_key

    asset = {"href": f"https://x/{key}", "type": "image/tiff", "bands": [{"name": "MAP"}]}
    assert _canonical_key("", key, asset) == expected
