"""apex_core.categorical on synthetic GeoTIFFs written with rasterio to tmp_path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from jsonschema import Draft7Validator
from rasterio.transform import from_origin

from apex_core.categorical import (
    WORLDCOVER_LEGEND,
    RasterClass,
    class_colors,
    classes_of,
    legend_for,
)
from apex_core.errors import DataError

SCHEMAS = Path(__file__).resolve().parents[2] / ".apex" / "data" / "stac-schemas" / "classification"
WORLDCOVER = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)


def write_tif(path: Path, data: np.ndarray[Any, Any], *, nodata: float | None = None, **profile: Any) -> Path:
    rows, cols = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype=data.dtype, crs="EPSG:4326",
        transform=from_origin(11.0, 46.5, 0.001, 0.001), nodata=nodata, **profile,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return path


def expected_counts(data: np.ndarray[Any, Any], nodata: int | None) -> dict[int, int]:
    values = data.ravel() if nodata is None else data[data != nodata]
    uniq, n = np.unique(values, return_counts=True)
    return {int(v): int(c) for v, c in zip(uniq, n, strict=True)}


@pytest.fixture
def landcover() -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(14)
    data = rng.choice(np.array((0, *WORLDCOVER), dtype=np.uint8), size=(300, 260)).astype(np.uint8)
    data[:7, :] = 0  # a strip of nodata
    return data


def test_uint8_classes_with_nodata_are_counted_exactly(
    tmp_path: Path, landcover: np.ndarray[Any, Any]
) -> None:
    path = write_tif(tmp_path / "map.tif", landcover, nodata=0)
    classes = classes_of(path)
    assert classes is not None
    want = expected_counts(landcover, 0)
    assert 0 not in want
    assert [c.value for c in classes] == sorted(want)
    assert {c.value: c.pixels for c in classes} == want
    valid = int(np.count_nonzero(landcover != 0))
    for c in classes:
        assert c.percent == pytest.approx(100.0 * want[c.value] / valid)
    assert sum(c.percent for c in classes) == pytest.approx(100.0)


def test_a_file_larger_than_one_window_is_counted_exactly_window_by_window(
    tmp_path: Path, landcover: np.ndarray[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    big = np.tile(landcover, (4, 4))  # 1200 x 1040, tiled 256: many blocks
    path = write_tif(tmp_path / "big.tif", big, nodata=0, tiled=True, blockxsize=256, blockysize=256)
    reads: list[Any] = []
    real_read = rasterio.io.DatasetReader.read

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real_read(self, *args, **kwargs)
        reads.append(out.shape)
        return out

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    classes = classes_of(path, window_pixels=300_000)
    assert classes is not None
    assert {c.value: c.pixels for c in classes} == expected_counts(big, 0)
    assert len(reads) > 1  # never the whole array at once
    assert all(rows * cols <= 300_000 for rows, cols in reads)
    assert all(rows % 256 == 0 for rows, _ in reads[:-1])  # whole block rows
    assert sum(r for r, _ in reads) == 1200


def test_signed_classes_without_nodata_and_an_internal_mask(tmp_path: Path) -> None:
    data = np.array([[-3, -3, 5], [5, 5, 1000]], dtype=np.int16)
    classes = classes_of(write_tif(tmp_path / "signed.tif", data))
    assert classes is not None
    assert [(c.value, c.pixels) for c in classes] == [(-3, 2), (5, 3), (1000, 1)]
    assert [c.name for c in classes] == ["class-minus-3", "class-5", "class-1000"]
    masked = tmp_path / "masked.tif"
    write_tif(masked, data)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "r+") as dst:
        dst.write_mask(np.array([[0, 255, 255], [255, 255, 0]], dtype=np.uint8))
    classes = classes_of(masked)
    assert classes is not None
    assert [(c.value, c.pixels) for c in classes] == [(-3, 1), (5, 3)]


def test_float_band_is_not_categorical(tmp_path: Path) -> None:
    data = np.array([[0.0, 1.0], [1.0, 2.0]], dtype=np.float32)  # few values, but not integer
    assert classes_of(write_tif(tmp_path / "f.tif", data)) is None


def test_more_than_max_classes_is_not_categorical(tmp_path: Path) -> None:
    data = np.arange(100, dtype=np.uint16).reshape(10, 10)
    path = write_tif(tmp_path / "many.tif", data)
    assert classes_of(path, max_classes=64) is None
    assert classes_of(path, max_classes=99) is None
    exact = classes_of(path, max_classes=100)
    assert exact is not None and len(exact) == 100


def test_only_nodata_has_no_classes(tmp_path: Path) -> None:
    assert classes_of(write_tif(tmp_path / "empty.tif", np.zeros((4, 4), np.uint8), nodata=0)) is None


def test_worldcover_legend_titles_and_colours(tmp_path: Path, landcover: np.ndarray[Any, Any]) -> None:
    assert tuple(WORLDCOVER_LEGEND) == WORLDCOVER
    assert WORLDCOVER_LEGEND[10] == ("Tree cover", "006400")
    assert WORLDCOVER_LEGEND[40] == ("Cropland", "F096FF")
    assert WORLDCOVER_LEGEND[80] == ("Permanent water bodies", "0064C8")
    assert WORLDCOVER_LEGEND[95] == ("Mangroves", "00CF75")
    assert WORLDCOVER_LEGEND[100] == ("Moss and lichen", "FAE6A0")
    legend = legend_for(["SENTINEL2_L2A", "ESA_WORLDCOVER_10M_2021_V2"])
    assert legend is WORLDCOVER_LEGEND
    assert legend_for(["esa-worldcover"]) is WORLDCOVER_LEGEND
    assert legend_for(["SENTINEL2_L2A"]) is None
    assert legend_for([]) is None
    data = landcover.copy()
    data[0, :3] = (7, 7, 200)  # values the legend does not know
    classes = classes_of(write_tif(tmp_path / "wc.tif", data, nodata=0), legend=legend)
    assert classes is not None
    by_value = {c.value: c for c in classes}
    for value, (title, color) in WORLDCOVER_LEGEND.items():
        assert (by_value[value].title, by_value[value].color_hint) == (title, color)
    assert by_value[10].name == "tree-cover"
    assert by_value[60].name == "bare-sparse-vegetation"
    assert (by_value[7].title, by_value[200].title) == ("Class 7", "Class 200")
    palette = class_colors()
    assert (by_value[7].color_hint, by_value[200].color_hint) == palette[:2]


def test_palette_is_distinct_upper_case_hex_from_rio_tiler() -> None:
    palette = class_colors()
    assert len(palette) == len(set(palette)) == 60
    assert all(re.fullmatch(r"[0-9A-F]{6}", c) for c in palette)
    assert palette[0] == "1F77B4"  # tab20's first colour (matplotlib's C0)


def test_classes_without_legend_get_distinct_colours(tmp_path: Path) -> None:
    data = np.arange(1, 31, dtype=np.uint8).reshape(5, 6)
    classes = classes_of(write_tif(tmp_path / "c.tif", data))
    assert classes is not None
    assert len({c.color_hint for c in classes}) == 30
    assert all(re.fullmatch(r"[0-9A-F]{6}", c.color_hint) for c in classes)


def _newest_schema() -> dict[str, Any]:
    versions = sorted(SCHEMAS.iterdir(), key=lambda p: tuple(int(x) for x in p.name[1:].split(".")))
    return dict(json.loads((versions[-1] / "schema.json").read_text(encoding="utf-8")))


def test_to_stac_is_valid_for_the_classification_extension(
    tmp_path: Path, landcover: np.ndarray[Any, Any]
) -> None:
    if not SCHEMAS.is_dir():
        pytest.skip("STAC extension schemas not provisioned (run ./scripts/setup.sh)")
    schema = _newest_schema()
    classes = classes_of(write_tif(tmp_path / "wc.tif", landcover, nodata=0), legend=WORLDCOVER_LEGEND)
    assert classes is not None
    others = (RasterClass(-2, "Class -2", "1F77B4", 1, 1.0), RasterClass(3, "Class 3", "AEC7E8", 1, 1.0))
    stac = [c.to_stac() for c in (*classes, *others)]
    assert stac[0] == {
        "value": 10, "name": "tree-cover", "title": "Tree cover", "description": "Tree cover",
        "color_hint": "006400",
    }  # fmt: skip
    item = {
        "type": "Feature",
        "stac_extensions": [schema["$id"].rstrip("#")],
        "properties": {},
        "assets": {"MAP": {"href": "map.tif", "classification:classes": stac}},
    }
    errors = list(Draft7Validator(schema).iter_errors(item))
    assert not errors, [e.message for e in errors]
    assert all(re.fullmatch(r"^[0-9A-Za-z-_]+$", c["name"]) for c in stac)  # v2.0.0's name pattern
    assert len({c["name"] for c in stac}) == len(stac)
    broken = {
        **item,
        "assets": {"MAP": {"href": "m", "classification:classes": [{**stac[0], "color_hint": "#06"}]}},
    }
    assert list(Draft7Validator(schema).iter_errors(broken))  # the schema does check the class object


def test_raster_class_json_round_trip() -> None:
    c = RasterClass(10, "Tree cover", "006400", 12, 37.5)
    assert RasterClass.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert c.color == "#006400"


def test_unreadable_files_raise_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        classes_of(tmp_path / "missing.tif")
    junk = tmp_path / "junk.tif"
    junk.write_text("not a tiff", encoding="utf-8")
    with pytest.raises(DataError, match=r"junk\.tif is not a readable raster"):
        classes_of(junk)
    one = write_tif(tmp_path / "one.tif", np.ones((2, 2), np.uint8))
    with pytest.raises(DataError, match="no band 2"):
        classes_of(one, band=2)
