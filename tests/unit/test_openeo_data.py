"""The embedded backend's collection: extents, band mapping, nodata, cloud cover, writing COGs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from apex_core.config import Settings
from apex_core.local.openeo.data import DataCatalogue, parse_spatial_extent, parse_temporal_extent
from apex_core.local.openeo.engine import ProcessGraphError, execute, write_results
from apex_core.local.openeo.model import NoDataAvailable, Scene
from apex_core.sampledata import ensure_sample_data

UTC = dt.UTC


@pytest.fixture(scope="module")
def catalogue() -> DataCatalogue:
    dest = Settings.load().sample_data_dir
    ensure_sample_data(dest)
    return DataCatalogue(dest)


def test_temporal_extent_is_end_exclusive_and_single_day_is_one_day() -> None:
    day = parse_temporal_extent(["2022-06-12", "2022-06-12"])
    assert day.contains(dt.datetime(2022, 6, 12, tzinfo=UTC))
    assert not day.contains(dt.datetime(2022, 6, 13, tzinfo=UTC))
    span = parse_temporal_extent(["2022-06-11", "2022-06-12"])
    assert not span.contains(dt.datetime(2022, 6, 12, tzinfo=UTC))
    assert parse_temporal_extent("2022-06-12") == day
    with pytest.raises(ValueError, match="ends before"):
        parse_temporal_extent(["2022-06-12", "2022-06-01"])


def test_spatial_extent_forms() -> None:
    box = parse_spatial_extent({"west": 11.3, "south": 46.47, "east": 11.38, "north": 46.51})
    assert box is not None
    assert box.bounds == pytest.approx((11.3, 46.47, 11.38, 46.51))
    utm = parse_spatial_extent(
        {"west": 674990, "south": 5147910, "east": 684340, "north": 5154960, "crs": "EPSG:32632"}
    )
    assert utm is not None
    assert utm.bounds == pytest.approx((11.279, 46.4596, 11.4034, 46.5254), abs=2e-3)
    polygon = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    feature = {"type": "Feature", "properties": {}, "geometry": polygon}
    collection = {"type": "FeatureCollection", "features": [feature]}
    for form in (polygon, feature, collection):
        geom = parse_spatial_extent(form)
        assert geom is not None
        assert geom.area == pytest.approx(0.5)
    with pytest.raises(ValueError, match="Unsupported"):
        parse_spatial_extent({"type": "Point", "coordinates": [0, 0]})


def test_areas_and_scenes(catalogue: DataCatalogue) -> None:
    assert [a.id for a in catalogue.areas] == ["bolzano", "kempen", "romania"]
    by_area = {a.id: a for a in catalogue.areas}
    assert by_area["bolzano"].epsg == 32632
    assert by_area["kempen"].epsg == 32631
    assert by_area["romania"].epsg == 3035
    assert len(by_area["romania"].scenes) == 140
    assert by_area["kempen"].scenes[0].datetime == dt.datetime(2019, 4, 11, tzinfo=UTC)
    assert by_area["kempen"].scenes[0].cloud_cover is None
    covers = [s.cloud_cover for s in by_area["romania"].scenes]
    assert all(c is not None and 0 <= c <= 100 for c in covers)
    # README: 57 dates are at least 90 % clear (SCL 4 or 5); those have <= 10 % cloud by our definition.
    assert sum(1 for c in covers if c is not None and c <= 10) >= 57
    scene = by_area["bolzano"].scenes[0]
    assert Scene.from_stac_item(scene.to_stac_item()) == Scene.from_dict(scene.to_dict())


def test_load_casts_to_float_and_masks_nodata(catalogue: DataCatalogue) -> None:
    cube = catalogue.load(temporal_extent="2022-06-12", bands=["B04", "B08"])
    assert cube.dims == ("t", "bands", "y", "x")
    assert cube.dtype == np.float32
    assert list(cube["bands"].values) == ["B04", "B08"]
    assert list(cube["common_name"].values) == ["red", "nir"]
    assert cube.rio.crs.to_epsg() == 32632
    assert float(cube.min()) > 0  # nodata 0 became NaN


def test_polygon_masks_outside_pixels(catalogue: DataCatalogue) -> None:
    triangle = {
        "type": "Polygon",
        "coordinates": [[[5.23, 51.22], [5.30, 51.22], [5.30, 51.30], [5.23, 51.22]]],
    }
    cube = catalogue.load(spatial_extent=triangle, bands=["B04"])
    share = float(cube.isnull().mean())
    assert 0.4 < share < 0.6


def test_no_data_names_the_areas(catalogue: DataCatalogue) -> None:
    with pytest.raises(NoDataAvailable, match=r"Bolzano.*Kempen.*Romania"):
        catalogue.load(spatial_extent={"west": -20, "south": 30, "east": -19, "north": 31})
    with pytest.raises(NoDataAvailable, match="2022-06-12"):
        catalogue.load(temporal_extent=["2023-01-01", "2024-01-01"])
    with pytest.raises(NoDataAvailable, match="no band"):
        catalogue.load(temporal_extent="2019-04-11", bands=["SCL"])


def test_execute_and_write_cog(catalogue: DataCatalogue, tmp_path: Path) -> None:
    graph = {
        "load": {
            "process_id": "load_collection",
            "arguments": {
                "id": "SENTINEL2_L2A",
                "spatial_extent": {"west": 11.3, "south": 46.47, "east": 11.35, "north": 46.5},
                "temporal_extent": ["2022-06-12", "2022-06-13"],
                "bands": ["B04", "B08"],
            },
        },
        "ndvi": {"process_id": "ndvi", "arguments": {"data": {"from_node": "load"}}},
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "ndvi"}, "format": "GTiff"},
            "result": True,
        },
    }
    (result,) = write_results(execute(graph, catalogue), tmp_path)
    path = tmp_path / result.filename
    assert result.size == path.stat().st_size
    assert result.bands == ("NDVI",)
    with rasterio.open(path) as ds:
        assert ds.descriptions == ("NDVI",)
        values = ds.read(1, masked=True)
    assert -1 <= float(values.min()) < float(values.max()) <= 1
    assert cog_validate(str(path))[0]


def test_unknown_process_and_collection(catalogue: DataCatalogue) -> None:
    with pytest.raises(ProcessGraphError, match="not supported"):
        execute({"x": {"process_id": "no_such_process", "arguments": {}, "result": True}}, catalogue)
    with pytest.raises(ProcessGraphError, match="does not exist"):
        execute(
            {"x": {"process_id": "load_collection", "arguments": {"id": "OTHER"}, "result": True}}, catalogue
        )


def _synthetic_data_dir(root: Path) -> Path:
    """A data dir holding only a tiny synthetic area (``synthetic/manifest.json``), like the AOI bench's."""
    folder = root / "synthetic"
    folder.mkdir(parents=True)
    values = np.arange(1, 1 + 4 * 30 * 40, dtype="uint16").reshape(4, 30, 40)
    values[:, 0, 0] = 0  # nodata
    with rasterio.open(
        folder / "scene.tif",
        "w",
        driver="GTiff",
        width=40,
        height=30,
        count=4,
        dtype="uint16",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(500000.0, 5000000.0, 10.0, 10.0),
        nodata=0,
    ) as dst:
        dst.write(values)
        for index, name in enumerate(("B04", "B03", "B02", "B08"), start=1):
            dst.update_tags(index, DESCRIPTION=name)
    entry = {"id": "synthetic", "title": "Synthetic", "file": "scene.tif", "datetime": "2023-07-01"}
    (folder / "manifest.json").write_text(json.dumps({"areas": [entry]}))
    return root


def test_synthetic_area_from_manifest_and_native_bbox_on_grid(tmp_path: Path) -> None:
    catalogue = DataCatalogue(_synthetic_data_dir(tmp_path))
    assert [a.id for a in catalogue.areas] == ["synthetic"]
    (area,) = catalogue.areas
    assert area.bands == ("B02", "B03", "B04", "B08")
    assert area.shape == (30, 40)
    # A bbox in the area's CRS with edges on pixel borders selects exactly those pixels.
    extent = {"west": 500050, "south": 4999800, "east": 500250, "north": 4999990, "crs": "EPSG:32633"}
    cube = catalogue.load(spatial_extent=extent, temporal_extent="2023-07-01", bands=["B04", "B08"])
    assert cube.sizes["x"] == 20
    assert cube.sizes["y"] == 19
    assert cube.rio.transform().c == 500050
    assert cube.rio.transform().f == 4999990
    with rasterio.open(tmp_path / "synthetic" / "scene.tif") as ds:
        red = ds.read(1)[1:20, 5:25].astype("float32")
    np.testing.assert_array_equal(cube.sel(bands="B04").isel(t=0).values, red)


def test_the_default_sample_has_no_synthetic_area(catalogue: DataCatalogue) -> None:
    assert [a.id for a in catalogue.areas] == ["bolzano", "kempen", "romania"]
