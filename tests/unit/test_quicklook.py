"""The quicklook without a network: which asset and URL (everything but http(s) refused, never opened), the
token only for its own origin, the legend from the metadata (classes, renders) or from the data, and the
map (footprints escaped, the Preview page's legend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import apex_core.quicklook as ql
from apex_core.catalogue import AccessToken
from apex_core.errors import DataError, UnauthorizedError
from apex_core.mapview import MapAssets
from apex_core.preview import COLORMAP
from apex_core.quicklook import (
    Quicklook,
    asset_url,
    choose_asset,
    gdal_options,
    origin_of,
    quicklook,
    quicklook_map,
    quicklook_style,
)
from apex_core.screenread import ScreenRead, read_screen
from tests.stacdocs import collection_doc, item_doc, write_land_cover_geotiff, write_ndvi_geotiff

TIFF = "image/tiff; application=geotiff"
SECRET = "secret-token-value"
CLASSES = [
    {"value": 80, "name": "water", "title": "Permanent water bodies", "color_hint": "0064C8"},
    {"value": 10, "name": "tree-cover", "description": "Tree cover", "color_hint": "006400"},
    {"value": 20, "name": "shrubland"},  # no title, no colour: its name, a qualitative colour
    {"value": 0, "name": "nodata", "nodata": True},
    {"value": True, "name": "bool is no value"},
    {"value": 30, "name": "bad colour", "color_hint": "#12345G"},
]


def item_with(assets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**item_doc("item-1", "col-1", assets), **extra}


def data_asset(url: str = "https://data.example/a.tif", /, **extra: Any) -> dict[str, Any]:
    return {"href": url, "type": TIFF, "roles": ["data"], **extra}


# --------------------------------------------------------------------------- legend from the metadata


def test_classes_on_the_item_asset_make_a_categorical_legend() -> None:
    item = item_with({"map": data_asset(title="Land cover", **{"classification:classes": CLASSES})})
    style = quicklook_style(collection_doc("col-1", "x"), item, "map")
    assert style is not None and style.kind == "categorical" and style.title == "Land cover"
    assert [(c.value, c.title) for c in style.classes] == [
        (10, "Tree cover"),
        (20, "shrubland"),
        (30, "bad colour"),
        (80, "Permanent water bodies"),
    ]
    colors = {c.value: c.color_hint for c in style.classes}
    assert colors[10] == "006400" and colors[80] == "0064C8"
    assert len(colors[20]) == 6 and len(colors[30]) == 6 and colors[20] != colors[30]


@pytest.mark.parametrize("where", ["band", "item_assets", "item_assets-band", "summaries"])
def test_classes_from_bands_item_assets_or_summaries(where: str) -> None:
    classes = {"classification:classes": CLASSES[:2]}
    collection = collection_doc("col-1", "x")
    asset = data_asset()
    if where == "band":
        asset["raster:bands"] = [{"data_type": "uint8", **classes}]
    elif where == "item_assets":
        collection["item_assets"] = {"map": {"type": TIFF, **classes}}
    elif where == "item_assets-band":
        collection["item_assets"] = {"map": {"type": TIFF, "bands": [{"name": "MAP", **classes}]}}
    else:
        collection["summaries"] = classes
    style = quicklook_style(collection, item_with({"map": asset}), "map")
    assert style is not None and style.kind == "categorical"
    assert [(c.value, c.color) for c in style.classes] == [(10, "#006400"), (80, "#0064c8")]
    assert ql._metadata_style(collection, item_with({"map": asset}), "map")[1] == "classification"  # type: ignore[index]


def test_a_render_with_rescale_makes_a_continuous_legend_over_its_range() -> None:
    collection = collection_doc("col-1", "Canopy height")
    collection["renders"] = {
        "other": {"assets": ["elsewhere"], "rescale": [[5, 6]], "colormap_name": "magma"},
        "height": {
            "assets": ["chm"],
            "rescale": [[0, 40]],
            "colormap_name": "Viridis",
            "title": "Height (m)",
        },
    }
    style = quicklook_style(collection, item_with({"chm": data_asset()}), "chm")
    assert style is not None
    assert (style.kind, style.title, style.value_range, style.colormap) == (
        "continuous",
        "Height (m)",
        (0, 40),
        "viridis",
    )
    # the item's own renders come first; a flat [low, high] rescale is read too; an unknown colormap is ours
    item = item_with({"chm": data_asset()})
    item["properties"]["renders"] = {
        "mine": {"assets": ["chm"], "rescale": [2, 8], "colormap_name": "no-such"}
    }
    mine = quicklook_style(collection, item, "chm")
    assert mine is not None and (mine.value_range, mine.colormap, mine.title) == ((2, 8), COLORMAP, "chm")


def test_an_ndvi_render_is_the_ndvi_legend() -> None:
    collection = collection_doc("ndvi-col", "NDVI series")
    collection["renders"] = {
        "ndvi": {"assets": ["ndvi"], "rescale": [[-1, 1]], "colormap_name": "rdylgn", "title": "NDVI"}
    }
    style = quicklook_style(collection, item_with({"ndvi": data_asset()}), "ndvi")
    assert style is not None and (style.kind, style.value_range, style.colormap) == (
        "ndvi",
        (-1, 1),
        "rdylgn",
    )
    # the same range for data that is not NDVI: a plain continuous legend
    collection["renders"] = {"x": {"assets": ["index"], "rescale": [[-1, 1]], "colormap_name": "rdylgn"}}
    other = quicklook_style(
        collection_doc("col", "x") | {"renders": collection["renders"]},
        item_with({"index": data_asset()}),
        "index",
    )
    assert other is not None and other.kind == "continuous"


def test_a_render_colormap_without_rescale_is_classes_and_nothing_is_none() -> None:
    collection = collection_doc("col-1", "x")
    collection["renders"] = {
        "broken": {"assets": ["map"], "rescale": [[3, 3]]},  # low == high: not a range
        "classes": {"assets": ["map"], "colormap": {"10": [0, 100, 0, 255], "80": "0064C8", "x": "FFFFFF"}},
    }
    style = quicklook_style(collection, item_with({"map": data_asset()}), "map")
    assert style is not None and style.kind == "categorical"
    assert [(c.value, c.color_hint) for c in style.classes] == [(10, "006400"), (80, "0064C8")]
    assert quicklook_style(collection_doc("col-1", "x"), item_with({"map": data_asset()}), "map") is None
    assert quicklook_style({}, {}, "map") is None
    assert quicklook_style({"renders": "junk", "summaries": []}, {"assets": []}, "map") is None


# --------------------------------------------------------------------------- which asset, which URL


def test_the_data_geotiff_is_chosen() -> None:
    item = item_with(
        {
            "thumbnail": {"href": "https://x/t.png", "type": "image/png", "roles": ["thumbnail"]},
            "overview": {"href": "https://x/o.tif", "type": TIFF, "roles": ["overview"]},
            "data": data_asset(),
        }
    )
    assert choose_asset(item)[0] == "data"
    del item["assets"]["data"]
    assert choose_asset(item)[0] == "overview"
    assert choose_asset(item, "thumbnail")[0] == "thumbnail"
    with pytest.raises(DataError, match="no asset 'nope'"):
        choose_asset(item, "nope")
    with pytest.raises(DataError, match="no GeoTIFF asset"):
        choose_asset(item_with({"t": {"href": "https://x/t.png", "type": "image/png"}}))


REFUSED = [
    "file:///etc/passwd",
    "/etc/passwd",
    "/vsicurl/https://data.example/a.tif",
    "/vsis3/bucket/a.tif",
    "/vsimem/a.tif",
    "s3://bucket/a.tif",
    "gs://bucket/a.tif",
    "ftp://data.example/a.tif",
    "zip+https://data.example/a.zip",
    "PG:host=db dbname=x",
    "GTIFF_DIR:1:/etc/a.tif",
    "C:\\data\\a.tif",
    "\\\\server\\share\\a.tif",
    "http://user:pass@data.example/a.tif",
    "https://token@data.example/a.tif",
    "https://data.example:notaport/a.tif",
    "http:///a.tif",
    "https://data.example/a b.tif",
    "https://data.example/a.tif\n",
    "https://data.example/a\r\nX-Evil: 1.tif",
    "a.tif",  # relative, and the item has no self link
    "",
]


@pytest.mark.parametrize("href", REFUSED)
def test_anything_but_http_is_refused_and_never_opened(href: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{href!r} was opened")

    monkeypatch.setattr(ql, "_read_remote", never)
    monkeypatch.setattr(rasterio, "open", never)
    item = item_with({"ndvi": {"href": href, "type": TIFF, "roles": ["data"]}})
    with pytest.raises(DataError) as info:
        quicklook(item, {}, token=AccessToken(SECRET), token_origin="https://data.example")
    assert "'ndvi'" in str(info.value) and "item-1" in str(info.value)
    assert SECRET not in str(info.value)


def test_relative_hrefs_are_resolved_against_an_http_self_link_only() -> None:
    item = item_with(
        {"ndvi": data_asset("../assets/a.tif")},
        links=[{"rel": "self", "href": "https://stac.example/collections/c/items/item-1"}],
    )
    assert (
        asset_url(item, "ndvi", item["assets"]["ndvi"]) == "https://stac.example/collections/c/assets/a.tif"
    )
    item["links"] = [{"rel": "self", "href": "file:///srv/catalog/item-1.json"}]
    with pytest.raises(DataError, match="relative href"):
        asset_url(item, "ndvi", item["assets"]["ndvi"])


def test_origins() -> None:
    assert origin_of("https://Stac.Example/x") == ("https", "stac.example", 443)
    assert origin_of("http://stac.example:80/") == origin_of("http://stac.example")
    assert origin_of("http://127.0.0.1:8080/a") == ("http", "127.0.0.1", 8080)
    assert origin_of("https://stac.example:8443") != origin_of("https://stac.example")
    assert origin_of("http://stac.example") != origin_of("https://stac.example")
    for bad in ("file:///x", "/x", "s3://b/k", "https://h:port/", "https://"):
        assert origin_of(bad) is None


def test_gdal_options_carry_the_token_only_when_given() -> None:
    anonymous = gdal_options("https://h/a.tif", 7.2)
    assert "GDAL_HTTP_BEARER" not in anonymous and "GDAL_HTTP_AUTH" not in anonymous
    assert anonymous["GDAL_HTTP_TIMEOUT"] == "8" and anonymous["GDAL_HTTP_MAX_RETRY"] == "1"
    assert anonymous["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR" and anonymous["GDAL_HTTP_NETRC"] == "NO"
    assert anonymous["CPL_VSIL_CURL_NON_CACHED"] == "/vsicurl/"
    assert ".ovr" not in gdal_options("https://h/a.ovr", 5)["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"]
    assert ".cog" in gdal_options("https://h/a.cog?sig=1", 5)["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"]
    signed = gdal_options("https://h/a.tif", 5, SECRET)
    assert (signed["GDAL_HTTP_AUTH"], signed["GDAL_HTTP_BEARER"]) == ("BEARER", SECRET)
    assert all(SECRET not in v for k, v in signed.items() if k != "GDAL_HTTP_BEARER")


# --------------------------------------------------------------------------- reading (no network)


def test_the_token_is_given_to_gdal_for_its_own_origin_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ndvi_geotiff(tmp_path / "ndvi.tif")
    seen: list[dict[str, str]] = []

    def fake(url: str, options: dict[str, str], max_size: int) -> ScreenRead:
        seen.append(options)
        return read_screen(tmp_path / "ndvi.tif", max_size=max_size, exact_limit=0)

    monkeypatch.setattr(ql, "_read_remote", fake)
    token = AccessToken(SECRET)
    item = item_with({"ndvi": data_asset("https://stac.example/assets/c/ndvi.tif")})
    quicklook(item, {}, token=token, token_origin="https://stac.example/stac")
    quicklook(item, {}, token=token, token_origin="https://stac.example:8443")
    quicklook(item, {}, token=token, token_origin="http://stac.example")
    quicklook(item, {}, token=token)
    quicklook(item, {}, token_origin="https://stac.example")
    assert [o.get("GDAL_HTTP_BEARER") for o in seen] == [SECRET, None, None, None, None]
    with pytest.raises(UnauthorizedError) as bad:
        quicklook(item, {}, token=AccessToken("a b\r\nX: y"), token_origin="https://stac.example")
    assert "a b" not in str(bad.value)


def test_without_metadata_the_data_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ndvi_geotiff(tmp_path / "index.tif")  # float values in [-1, 1): NDVI, as on the Preview page
    write_land_cover_geotiff(tmp_path / "worldcover.tif", (11.0, 46.0, 11.1, 46.1), (300, 200))
    heights = np.linspace(0, 50, 200 * 200, dtype=np.float32).reshape(200, 200)
    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 1, "dtype": "float32",
               "crs": "EPSG:32632", "transform": from_origin(680000, 5160000, 10, 10)}  # fmt: skip
    with rasterio.open(tmp_path / "chm.tif", "w", **profile) as dst:
        dst.write(heights, 1)

    def fake(url: str, options: dict[str, str], max_size: int) -> ScreenRead:
        return read_screen(tmp_path / url.rsplit("/", 1)[1], max_size=max_size, exact_limit=0)

    monkeypatch.setattr(ql, "_read_remote", fake)
    ndvi = quicklook(item_with({"a": data_asset("https://x/index.tif")}), {}, max_size=64)
    assert (ndvi.legend_source, ndvi.style.kind, ndvi.style.value_range) == ("data", "ndvi", (-1.0, 1.0))
    assert ndvi.source_shape == (256, 256) and ndvi.read_shape == (64, 64)
    classes = quicklook(
        item_with({"a": data_asset("https://x/worldcover.tif")}), {"id": "ESA_WORLDCOVER_10M"}
    )
    assert classes.style.kind == "categorical"
    titles = {c.title for c in classes.style.classes}
    assert "Tree cover" in titles and "Permanent water bodies" in titles  # WorldCover named by the collection
    chm = quicklook(item_with({"canopy": data_asset("https://x/chm.tif", title="Canopy height")}), {})
    assert (chm.style.kind, chm.style.title) == ("continuous", "Canopy height")
    assert 0 < chm.style.low < 2 and 48 < chm.style.high < 50  # the robust range
    # the metadata wins over the data
    collection = {"id": "c", "renders": {"h": {"assets": ["canopy"], "rescale": [[0, 30]]}}}
    ruled = quicklook(item_with({"canopy": data_asset("https://x/chm.tif")}), collection)
    assert (ruled.legend_source, ruled.style.value_range) == ("render", (0, 30))


# --------------------------------------------------------------------------- map


def _look(style_item: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Quicklook:
    write_land_cover_geotiff(tmp_path / "lc.tif", (11.0, 46.0, 11.5, 46.5), (300, 200))
    monkeypatch.setattr(
        ql, "_read_remote", lambda url, options, max_size: read_screen(tmp_path / "lc.tif", exact_limit=0)
    )
    return quicklook(style_item, {})


FOOTPRINTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[11, 46], [11.5, 46], [11.5, 46.5], [11, 46.5], [11, 46]]],
            },
            "properties": {"id": "lc-2022", "title": "Land cover <script>alert(1)</script>"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[20, 50], [21, 50], [21, 51], [20, 50]]]},
            "properties": {"id": "other"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [["x"]]},
            "properties": {"id": "bad"},
        },
        {"type": "Feature", "geometry": None, "properties": {"id": "none"}},
    ],
}


def test_the_map_has_footprints_the_quicklook_and_the_legend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = item_with({"map": data_asset("https://x/lc.tif", **{"classification:classes": CLASSES[:2]})})
    look = _look(item, tmp_path, monkeypatch)
    assets = MapAssets.from_base_url_path("")
    page = (
        quicklook_map(assets, footprints=FOOTPRINTS, quicklook=look, selected="lc-2022").get_root().render()
    )
    assert "apex-legend apex-class-legend" in page and "Permanent water bodies" in page
    assert "data:image/png;base64," in page
    assert "<script>alert(1)</script>" not in page
    assert "\\u0026lt;script\\u0026gt;alert(1)" in page  # escaped for the tooltip's innerHTML, in JSON
    assert "#d9480f" in page and "#0b6bcb" in page  # the selected item apart
    assert "cdn" not in page.lower().replace("cdn.example", "")
    assert "fitBounds" in page and "46.5" in page
    assert '"bad"' not in page and '"none"' not in page
    assert "leaflet" in page and assets.url("leaflet/dist/leaflet.js") in page


def test_the_map_fits_the_footprints_else_the_world() -> None:
    assets = MapAssets.from_base_url_path("")
    footprints = quicklook_map(assets, footprints=FOOTPRINTS).get_root().render()
    assert "[[46.0, 11.0], [51.0, 21.0]]" in footprints
    world = quicklook_map(assets).get_root().render()
    assert "[[-60.0, -180.0], [75.0, 180.0]]" in world and "apex-legend" not in world
