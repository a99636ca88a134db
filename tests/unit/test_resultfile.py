"""apex_core.resultfile: what a result file on this machine says about itself (size, checksum, media
type, and a GeoTIFF's raster facts and COG layout), on real files written with rasterio."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_bounds, from_origin

from apex_core.categorical import WORLDCOVER_LEGEND
from apex_core.errors import DataError
from apex_core.resultfile import (
    CogLayout,
    FileFacts,
    RasterFacts,
    is_geotiff,
    local_asset_files,
    media_type,
    multihash_sha256,
    read_facts,
)

BBOX = (10.7, 43.4, 11.8, 44.2)


def _sha(path: Path) -> str:
    return "1220" + hashlib.sha256(path.read_bytes()).hexdigest()


def _landcover(path: Path, width: int = 1100, height: int = 700, **profile: Any) -> Path:
    """A tiled uint8 land-cover GeoTIFF in EPSG:4326 (WorldCover classes, nodata 0) with overviews."""
    values = np.array([10, 20, 30, 40, 50, 60, 80, 90], dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    data = values[((yy // 37) + (xx // 53)) % len(values)]
    data[:20, :] = 0
    options: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": from_bounds(*BBOX, width, height),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        **profile,
    }
    with rasterio.open(path, "w", **options) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "MAP")
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], rasterio.enums.Resampling.nearest)
    return path


# ---------------------------------------------------------------------------- plain files


def test_csv_and_json_have_size_checksum_and_media_type_but_no_raster(tmp_path: Path) -> None:
    csv = tmp_path / "timeseries.csv"
    csv.write_text("date,treecover\n2021-01-01,0.72\n")
    doc = tmp_path / "timeseries.json"
    doc.write_text(json.dumps({"2021-01-01": [[0.72, 0.04]]}))

    for path, kind in ((csv, "text/csv"), (doc, "application/json")):
        facts = read_facts(path)
        assert facts.path == path
        assert facts.size == path.stat().st_size
        assert facts.checksum == _sha(path) == multihash_sha256(path.read_bytes())
        assert facts.checksum.startswith("1220") and len(facts.checksum) == 4 + 64
        assert facts.media_type == kind
        assert facts.raster is None


def test_the_name_of_a_stored_copy_gives_the_media_type(tmp_path: Path) -> None:
    stored = tmp_path / "blob-0001"
    stored.write_bytes(b"a,b\n1,2\n")
    assert read_facts(stored).media_type is None
    assert read_facts(stored, name="timeseries.csv").media_type == "text/csv"


def test_an_empty_file_is_zero_bytes_with_the_checksum_of_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    facts = read_facts(empty)
    assert facts.size == 0
    assert facts.checksum == "1220" + hashlib.sha256(b"").hexdigest()


def test_media_types_and_geotiff_detection() -> None:
    assert media_type("openEO_2021-01-01Z.tif") == "image/tiff; application=geotiff"
    assert media_type("x.TIFF") == "image/tiff; application=geotiff"
    assert media_type(["https://h/x", "timeseries.csv?expires=1778146327"][1]) == "text/csv"
    assert media_type("cube.nc") == "application/netcdf"
    assert media_type("README") is None
    assert is_geotiff({"type": "image/tiff; application=geotiff; profile=cloud-optimized"})
    assert is_geotiff({"href": "https://h/jobs/j/results/openEO.tif?expires=1"})
    assert not is_geotiff({"type": "text/csv", "href": "https://h/timeseries.csv"})


# ---------------------------------------------------------------------------- GeoTIFFs


def test_a_geotiff_gives_its_raster_facts(tmp_path: Path) -> None:
    path = _landcover(tmp_path / "openEO_2021-01-01Z.tif")
    facts = read_facts(path)
    assert facts.media_type == "image/tiff; application=geotiff"
    assert facts.size == path.stat().st_size
    assert facts.checksum == _sha(path)
    r = facts.raster
    assert r is not None
    assert (r.width, r.height, r.count) == (1100, 700, 1)
    assert r.data_types == ("uint8",)
    assert r.nodata == 0.0 and r.nodata_value == 0.0
    assert r.crs == "EPSG:4326"
    assert r.bbox == pytest.approx(BBOX)
    assert r.resolution == pytest.approx(((BBOX[2] - BBOX[0]) / 1100, (BBOX[3] - BBOX[1]) / 700))
    assert r.scales == (1.0,) and r.offsets == (0.0,)
    assert r.descriptions == ("MAP",)
    assert r.layout.block == (512, 512)
    assert r.layout.tiled is True
    assert r.layout.overviews == (2, 4)
    assert r.layout.interleave == "band"
    # overviews added after the data: a tiled GeoTIFF, but not laid out as a COG
    assert r.layout.cog_valid is False and r.layout.cog_errors


def test_an_integer_geotiff_gives_its_classes_named_from_the_legend(tmp_path: Path) -> None:
    path = _landcover(tmp_path / "lc.tif")
    plain = read_facts(path).raster
    named = read_facts(path, legend=WORLDCOVER_LEGEND).raster
    assert plain is not None and named is not None and plain.classes and named.classes
    assert [c["value"] for c in named.classes] == [10, 20, 30, 40, 50, 60, 80, 90]  # nodata 0 left out
    assert {c["value"]: c["title"] for c in named.classes}[10] == "Tree cover"
    assert {c["value"]: c["color_hint"] for c in named.classes}[80] == "0064C8"
    assert [c["title"] for c in plain.classes][:2] == ["Class 10", "Class 20"]
    assert sum(c["pixels"] for c in named.classes) == 1100 * (700 - 20)
    assert sum(c["percent"] for c in named.classes) == pytest.approx(100.0)


def test_a_float_geotiff_in_utm_has_no_classes(tmp_path: Path) -> None:
    path = tmp_path / "ndvi.tif"
    data = (np.arange(300 * 200, dtype=np.float32).reshape(200, 300) % 200) / 100 - 1
    with rasterio.open(
        path, "w", driver="GTiff", width=300, height=200, count=1, dtype="float32", crs="EPSG:32632",
        transform=from_origin(680000, 5160000, 10, 10), nodata=float("nan"),
    ) as dst:  # fmt: skip
        dst.write(data, 1)
        dst.scales = (0.5,)
        dst.offsets = (2.0,)
    r = read_facts(path).raster
    assert r is not None
    assert r.data_types == ("float32",)
    assert r.crs == "EPSG:32632"
    assert r.bbox == pytest.approx((680000.0, 5158000.0, 683000.0, 5160000.0))
    assert r.resolution == pytest.approx((10.0, 10.0))
    assert r.scales == (0.5,) and r.offsets == (2.0,)
    assert r.classes is None
    assert math.isnan(r.nodata or 0.0) and r.nodata_value == "nan"
    assert r.layout.tiled is False  # strips: rasterio's default


def test_a_geotiff_without_crs_has_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16") as dst:
        dst.write(np.ones((8, 8), dtype=np.uint16), 1)
    r = read_facts(path).raster
    assert r is not None and r.crs is None and r.nodata is None and r.nodata_value is None


# ---------------------------------------------------------------------------- errors


def test_a_missing_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        read_facts(tmp_path / "gone.tif")
    assert "gone.tif cannot be read" in str(err.value)
    assert err.value.field == "file"


def test_a_directory_is_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=r"folder\.csv cannot be read"):
        read_facts(folder)


def test_a_file_that_is_not_a_geotiff_is_a_data_error(tmp_path: Path) -> None:
    broken = tmp_path / "openEO.tif"
    broken.write_text("<html>Access denied: the signed link expired</html>")
    with pytest.raises(DataError) as err:
        read_facts(broken)
    assert "openEO.tif is not a readable GeoTIFF" in str(err.value)
    assert err.value.field == "file"


# ---------------------------------------------------------------------------- round trips


def test_file_facts_round_trip_through_json(tmp_path: Path) -> None:
    path = _landcover(tmp_path / "lc.tif")
    facts = read_facts(path, legend=WORLDCOVER_LEGEND)
    text = json.dumps(facts.to_dict(), allow_nan=False)
    back = FileFacts.from_dict(json.loads(text))
    assert back == facts
    assert back.raster is not None and back.raster.layout.cog_errors == facts.raster.layout.cog_errors  # type: ignore[union-attr]

    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    plain = read_facts(csv)
    assert FileFacts.from_dict(json.loads(json.dumps(plain.to_dict()))) == plain


def test_raster_facts_round_trip_a_nan_nodata_as_text() -> None:
    layout = CogLayout((512, 512), True, (2, 4), "band", True)
    facts = RasterFacts(
        width=1024, height=1024, data_types=("float32",), nodata=float("nan"), crs="EPSG:32632",
        bbox=(0.0, 0.0, 10240.0, 10240.0), resolution=(10.0, 10.0), scales=(1.0,), offsets=(0.0,),
        descriptions=(None,), layout=layout,
    )  # fmt: skip
    data = facts.to_dict()
    assert data["nodata"] == "nan"
    json.dumps(data, allow_nan=False)
    back = RasterFacts.from_dict(data)
    assert back.nodata is not None and math.isnan(back.nodata)
    assert back.nodata_value == "nan"
    assert back.layout == layout and back.descriptions == (None,) and back.classes is None
    for value, text in ((float("inf"), "inf"), (float("-inf"), "-inf")):
        other = RasterFacts.from_dict({**data, "nodata": text})
        assert other.nodata == value and other.nodata_value == text


def test_cog_layout_round_trip() -> None:
    layout = CogLayout((600, 13), False, (), "pixel", False, ("not tiled",))
    assert CogLayout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout


# ---------------------------------------------------------------------------- downloads


def test_local_asset_files_match_downloads_by_asset_key(tmp_path: Path) -> None:
    there = tmp_path / "a.tif"
    there.write_bytes(b"x")
    job = SimpleNamespace(
        assets=[
            SimpleNamespace(key="a.tif", path=there),
            SimpleNamespace(key="b.csv", path=tmp_path / "missing.csv"),
        ]
    )
    docs = [
        {"assets": {"a.tif": {"href": "https://h/a.tif?expires=1"}, "b.csv": {"href": "https://h/b.csv"}}},
        {"assets": {"c.json": {"href": "https://h/c.json"}}},
    ]
    assert local_asset_files(docs, job) == {"https://h/a.tif?expires=1": there}
    assert local_asset_files(docs, None) == {}
