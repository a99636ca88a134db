"""The hand-over to the APEx Geospatial Explorer: legend (render hints, classification classes), the time
picker for a series, the configuration's shape, the unmet requirements, and the JSON codec."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from rio_tiler.colormap import cmap

from apex_core.errors import DataError
from apex_core.explorer import (
    EXPLORER_ORIGIN,
    CorsCheck,
    ExplorerHandover,
    Timeframe,
    explorer_handover,
    legend_of,
    timeframe_of,
)
from tests.stacdocs import collection_doc, item_doc

CAT = "https://catalogue.apex.esa.int"
TIFF = "image/tiff; application=geotiff; profile=cloud-optimized"


def _hex(rgba: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgba[:3]))


def _item(iid: str, cid: str, when: str, href: str | None = None, **asset: Any) -> dict[str, Any]:
    doc = item_doc(iid, cid)
    doc["properties"]["datetime"] = when
    if href is not None:
        doc["assets"] = {"ndvi": {"href": href, "type": TIFF, "roles": ["data"], **asset}}
    return doc


def _public(cid: str, **extra: Any) -> dict[str, Any]:
    doc = collection_doc(cid, "NDVI over Bolzano", title="NDVI Bolzano", **extra)
    doc["_auth"] = {"read": ["anonymous"], "write": ["apex-editor"]}
    return doc


def _urls(cid: str, *iids: str, base: str = CAT) -> tuple[str, tuple[str, ...]]:
    col = f"{base}/collections/{cid}"
    return col, tuple(f"{col}/items/{i}" for i in iids)


RENDERS = {"ndvi": {"assets": ["ndvi"], "rescale": [[-1, 1]], "colormap_name": "rdylgn", "title": "NDVI"}}


# --------------------------------------------------------------------------- legend


def test_the_legend_of_render_hints_is_a_gradient_of_the_colormap_over_the_rescale() -> None:
    legend = legend_of(_public("c", renders=RENDERS))
    assert legend is not None and legend.kind == "gradient"
    assert (legend.minimum, legend.maximum, legend.colormap) == (-1.0, 1.0, "rdylgn")
    lut = cmap.get("rdylgn")
    assert [e.value for e in legend.entries] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert legend.entries[0].color == _hex(lut[0]) and legend.entries[-1].color == _hex(lut[255])
    assert legend.entries[2].color == _hex(lut[128])
    assert legend.source == "renders.ndvi"
    assert legend.meta() == {
        "startColor": _hex(lut[0]),
        "endColor": _hex(lut[255]),
        "min": -1,
        "max": 1,
    }
    ramp = legend.style()
    assert ramp is not None and ramp["color"][:3] == ["interpolate", ["linear"], ["band", 1]]
    assert ramp["color"][3:5] == [-1, [*(int(c) for c in lut[0][:3]), 1]]


def test_an_unknown_colormap_or_a_bad_rescale_gives_no_legend() -> None:
    assert legend_of(_public("c")) is None
    bad_map = {"ndvi": {**RENDERS["ndvi"], "colormap_name": "no-such-map"}}
    assert legend_of(_public("c", renders=bad_map)) is None
    bad_rescale = {"ndvi": {**RENDERS["ndvi"], "rescale": [[1]]}}
    assert legend_of(_public("c", renders=bad_rescale)) is None


CLASSES = [
    {"value": 10, "name": "tree", "title": "Tree cover", "color_hint": "006400"},
    {"value": 40, "name": "crop", "title": "Cropland", "color_hint": "F096FF"},
    {"value": 0, "name": "nodata", "nodata": True, "color_hint": "000000"},
]


@pytest.mark.parametrize("where", ["asset", "band", "item_assets"])
def test_classification_classes_give_one_swatch_per_class(where: str) -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z", "https://files.example/i1.tif")
    collection = _public("c", renders=RENDERS)  # the classes win over a gradient
    if where == "asset":
        item["assets"]["ndvi"]["classification:classes"] = CLASSES
    elif where == "band":
        item["assets"]["ndvi"]["bands"] = [{"name": "lc"}, {"name": "x", "classification:classes": CLASSES}]
    else:
        collection["item_assets"] = {
            "ndvi": {"roles": ["data"], "bands": [{"classification:classes": CLASSES}]}
        }
    legend = legend_of(collection, [item])
    assert legend is not None and legend.kind == "swatch"
    assert [(e.label, e.color, e.value) for e in legend.entries] == [
        ("Tree cover", "#006400", 10.0),
        ("Cropland", "#f096ff", 40.0),
    ]
    assert legend.meta() == {
        "categories": [
            {"label": "Tree cover", "color": "#006400", "value": 10},
            {"label": "Cropland", "color": "#f096ff", "value": 40},
        ]
    }
    style = legend.style()
    assert style == {
        "color": ["match", ["band", 1], 10, [0, 100, 0, 1], 40, [240, 150, 255, 1], [0, 0, 0, 0]]
    }


# --------------------------------------------------------------------------- time


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_the_timeframe_is_the_coarsest_picker_that_tells_the_dates_apart() -> None:
    assert timeframe_of([_at("2022-06-12T10:00:00")]) is None
    assert timeframe_of([_at("2022-06-12T10:00:00"), _at("2022-06-12T11:00:00")]) is None  # one date
    assert timeframe_of([_at("2021-01-01"), _at("2022-01-01"), _at("2023-06-01")]) is Timeframe.YEARS
    assert timeframe_of([_at("2022-01-01"), _at("2022-02-01"), _at("2023-02-01")]) is Timeframe.MONTHS
    assert timeframe_of([_at("2022-06-12"), _at("2022-06-17"), _at("2022-07-01")]) is Timeframe.DAYS


def test_a_series_gets_a_timeframe_and_each_layer_its_timestamp() -> None:
    items = [
        _item(f"i{d}", "c", f"2022-06-{d:02d}T10:00:00Z", f"https://files.example/i{d}.tif")
        for d in (17, 12, 22)
    ]
    col, urls = _urls("c", "i17", "i12", "i22")
    handover = explorer_handover(_public("c", renders=RENDERS), items, col, urls)
    assert handover.timeframe is Timeframe.DAYS
    source = handover.source()
    assert source["timeframe"] == "Days"
    assert [d["url"] for d in source["data"]] == [f"https://files.example/i{d}.tif" for d in (12, 17, 22)]
    stamps = [d["timestamps"] for d in source["data"]]
    assert stamps == [[int(_at(f"2022-06-{d}T10:00:00").timestamp())] for d in (12, 17, 22)]


def test_a_single_date_gets_no_timeframe_and_no_timestamps() -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z", "https://files.example/i1.tif")
    col, urls = _urls("c", "i1")
    handover = explorer_handover(_public("c", renders=RENDERS), [item], col, urls)
    assert handover.timeframe is None
    source = handover.source()
    assert "timeframe" not in source
    assert "timestamps" not in source["data"][0]


# --------------------------------------------------------------------------- configuration


def test_the_source_reads_the_cog_by_url_with_the_legend() -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z", "https://files.example/i1.tif")
    col, urls = _urls("c", "i1")
    handover = explorer_handover(_public("c", renders=RENDERS), [item], col, urls)
    source = handover.source()
    assert source["name"] == "NDVI Bolzano" and source["isActive"] is True
    (data,) = source["data"]
    assert data["format"] == "cog" and data["url"] == "https://files.example/i1.tif"
    assert data["style"]["color"][0] == "interpolate"
    assert source["meta"]["min"] == -1 and source["meta"]["max"] == 1
    assert source["layout"]["layerCard"]["legend"] == {"type": "gradient"}
    config = handover.config()
    assert set(config) == {"layout", "interfaceGroups", "exclusivitySets", "sources"}
    assert config["layout"]["navigation"]["title"] == "NDVI Bolzano"
    assert config["sources"][-1] == source
    assert source["layout"]["interfaceGroup"] in config["interfaceGroups"]
    assert json.loads(handover.config_json()) == config
    assert handover.unmet == ()


def test_an_item_without_a_cog_url_is_read_as_a_stac_item() -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z")
    item["assets"] = {"data": {"href": "s3://bucket/i1.tif", "type": TIFF, "roles": ["data"]}}
    col, urls = _urls("c", "i1")
    (data,) = explorer_handover(_public("c"), [item], col, urls).source()["data"]
    assert data["format"] == "stac" and data["url"] == urls[0]
    assert data["assets"] == ["data"] and data["assetFormats"] == {"data": "cog"}


def test_items_and_urls_go_in_pairs() -> None:
    with pytest.raises(DataError, match="in pairs"):
        explorer_handover(
            _public("c"), [_item("i1", "c", "2022-06-12T10:00:00Z")], f"{CAT}/collections/c", []
        )


# --------------------------------------------------------------------------- requirements


def _rules(handover: ExplorerHandover) -> list[str]:
    return [u.rule for u in handover.unmet]


def test_a_public_https_catalogue_meets_every_requirement() -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z", f"{CAT}/assets/c/i1.tif")
    col, urls = _urls("c", "i1")
    assert explorer_handover(_public("c"), [item], col, urls).unmet == ()


def test_plain_http_on_a_loopback_address_is_neither_https_nor_public() -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z", "http://127.0.0.1:8001/assets/c/i1.tif")
    col, urls = _urls("c", "i1", base="http://127.0.0.1:8001")
    handover = explorer_handover(_public("c"), [item], col, urls)
    assert _rules(handover) == ["EXPLORER-REQ-05", "EXPLORER-REQ-04"]  # once per origin
    https, public = (u.message for u in handover.unmet)
    assert "http://127.0.0.1:8001" in https and "not HTTPS" in https
    assert "loopback" in public
    private = explorer_handover(_public("c"), [item], *_urls("c", "i1", base="https://10.1.2.3"))
    assert "private network address" in private.unmet[0].message  # 10.x, where the COG is not
    assert "https://10.1.2.3" in private.unmet[0].message


def test_a_collection_without_anonymous_readers_is_not_public() -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z", f"{CAT}/assets/c/i1.tif")
    col, urls = _urls("c", "i1")
    private = collection_doc("c", "d")  # _auth.read: apex-editor
    handover = explorer_handover(private, [item], col, urls)
    assert _rules(handover) == ["EXPLORER-REQ-04"]
    assert "apex-editor" in handover.unmet[0].message and "`anonymous`" in handover.unmet[0].message
    public = explorer_handover(_public("c"), [item], col, urls)
    assert public.unmet == ()


def test_cors_answers_add_or_clear_the_cors_requirement() -> None:
    item = _item("i1", "c", "2022-06-12T10:00:00Z", f"{CAT}/assets/c/i1.tif")
    handover = explorer_handover(_public("c"), [item], *_urls("c", "i1"))
    assert handover.cors is None
    assert handover.cors_targets() == (f"{CAT}/assets/c/i1.tif", f"{CAT}/collections/c/items/i1")
    refused = handover.with_cors(
        [
            CorsCheck(f"{CAT}/assets/c/i1.tif", False, 405, None, "HTTP 405"),
            CorsCheck(f"{CAT}/collections/c/items/i1", False, 200, "https://other.example"),
        ]
    )
    assert _rules(refused) == ["CORS", "CORS"]
    assert "without Access-Control-Allow-Origin" in refused.unmet[0].message
    assert "https://other.example" in refused.unmet[1].message and EXPLORER_ORIGIN in refused.unmet[1].message
    allowed = refused.with_cors([CorsCheck(u, True, 204, "*") for u in handover.cors_targets()])
    assert allowed.unmet == ()


def test_the_codec_round_trips() -> None:
    items = [_item(f"i{y}", "c", f"{y}-01-01T00:00:00Z", f"https://f.example/{y}.tif") for y in (2021, 2022)]
    items[0]["assets"]["ndvi"]["classification:classes"] = CLASSES
    handover = explorer_handover(collection_doc("c", "d"), items, *_urls("c", "i2021", "i2022"))
    handover = handover.with_cors([CorsCheck("https://f.example/2021.tif", False, None, None, "timeout")])
    data = json.loads(json.dumps(handover.to_dict()))
    assert ExplorerHandover.from_dict(data) == handover
    assert handover.timeframe is Timeframe.YEARS
    with pytest.raises(DataError):
        ExplorerHandover.from_dict({"name": "x"})
