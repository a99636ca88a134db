"""The APEx notebook's openEO code, run unchanged (apart from URL and auth) against the embedded backend.

In each of the three sample areas:

* the notebook sequence: ``load_collection`` with a GeoJSON Feature, ``featureflags`` on the result node,
  ``ndvi``, ``resample_spatial`` to Web Mercator, ``execute_batch(outputfile, title=...)``, ``con.job(id)``,
  ``get_results().get_metadata()`` and ``download_files``; the job results are checked to be shaped like
  production's (recorded in ``tests/fixtures``/``/work/shared/fixtures``) through pystac;
* the NDVI at native resolution over a bbox aligned to the source grid, checked pixel by pixel against
  numpy on the source files, read here with rasterio / xarray (not through ``apex_core``).

The six batch jobs run concurrently (threads of the openeo client), which is also how several users'
jobs share the backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openeo
import pystac
import pytest
import rasterio
import rasterio.windows
import requests
import xarray as xr
from openeo.rest.job import BatchJob
from pystac.extensions.projection import ProjectionExtension

from apex_core.local.openeo.service import OpenEoBackendService
from tests.services import wait_for_workers

pytestmark = pytest.mark.services

COLLECTION = "SENTINEL2_L2A"
WEB_MERCATOR_RES = 38.21851414258813
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
ROMANIA_NC = "s2_l2a_romania_timeseries/sentinel2_cube_subset_romania_10m.nc"


def _feature(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
    }


@dataclass(frozen=True)
class Area:
    id: str
    day: str
    feature: dict[str, Any]  # the notebook's AOI (WGS84 GeoJSON Feature)
    native_bbox: dict[str, Any]  # in the source CRS, edges on the source pixel grid


AREAS = {
    "bolzano": Area(
        "bolzano",
        "2022-06-12",
        _feature(11.30, 46.47, 11.38, 46.51),
        # columns 200..520, rows 150..450 of the 10 m grid whose corner is (674990, 5154960)
        {"west": 676990, "south": 5150460, "east": 680190, "north": 5153460, "crs": 32632},
    ),
    "kempen": Area(
        "kempen",
        "2019-04-11",
        _feature(5.23, 51.22, 5.30, 51.30),
        # columns 100..400, rows 200..700 of the grid whose corner is (655360, 5686280)
        {"west": 656360, "south": 5679280, "east": 659360, "north": 5684280, "crs": 32631},
    ),
    "romania": Area(
        "romania",
        "2018-07-06",
        _feature(22.145, 45.2011, 22.1594, 45.2085),
        # columns/rows 10..90 of the grid whose corner is (5271982.57655193, 2533004.21491519)
        {
            "west": 5271982.57655193 + 100,
            "south": 2533004.21491519 - 900,
            "east": 5271982.57655193 + 900,
            "north": 2533004.21491519 - 100,
            "crs": 3035,
        },
    ),
}


def _quiet(*_args: Any) -> None:
    """``print`` for ``execute_batch``: keep the progress lines out of the test output."""


@dataclass(frozen=True)
class Run:
    job_id: str
    outputfile: Path


def _notebook(con: openeo.Connection, area: Area, out_dir: Path) -> Run:
    """The notebook's cells, with only the connection differing."""
    cube = con.load_collection(
        "SENTINEL2_L2A",
        bands=["B04", "B08"],
        temporal_extent=[area.day, area.day],
        spatial_extent=area.feature,
    )
    cube.result_node().update_arguments(featureflags={"tilesize": 256})
    result = cube.ndvi().resample_spatial(resolution=WEB_MERCATOR_RES, projection="EPSG:3857")
    outputfile = out_dir / f"{area.id}.tiff"
    job = result.execute_batch(outputfile, title=f"APEx Demo - {area.id} - NDVI", print=_quiet)
    return Run(job.job_id, outputfile)


def _native(con: openeo.Connection, area: Area, out_dir: Path) -> Run:
    cube = con.load_collection(
        COLLECTION,
        bands=["B04", "B08"],
        temporal_extent=[area.day, area.day],
        spatial_extent=area.native_bbox,
    )
    outputfile = out_dir / f"{area.id}-native.tif"
    job = cube.ndvi().execute_batch(outputfile, title=f"{area.id} native NDVI", print=_quiet)
    return Run(job.job_id, outputfile)


@pytest.fixture(scope="module")
def con(openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]) -> openeo.Connection:
    user, password = openeo_credentials
    return openeo.connect(openeo_backend.url).authenticate_basic(user, password)


@pytest.fixture(scope="module")
def runs(
    con: openeo.Connection, openeo_backend: OpenEoBackendService, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Run]:
    """All six batch jobs, submitted at once from threads (like several notebook users)."""
    wait_for_workers(openeo_backend.url)  # else the client's growing poll interval adds up
    out_dir = tmp_path_factory.mktemp("notebook")
    todo: dict[tuple[str, str], Callable[[], Run]] = {}
    for area in AREAS.values():
        todo[(area.id, "notebook")] = lambda area=area: _notebook(con, area, out_dir)  # type: ignore[misc]
        todo[(area.id, "native")] = lambda area=area: _native(con, area, out_dir)  # type: ignore[misc]
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        futures = {key: pool.submit(fn) for key, fn in todo.items()}
        return {key: future.result(timeout=300) for key, future in futures.items()}


def _file_statistics(path: Path) -> dict[str, float]:
    with rasterio.open(path) as ds:
        band = ds.read(1).astype("float64")
    valid = band[np.isfinite(band)]
    return {
        "minimum": float(valid.min()),
        "maximum": float(valid.max()),
        "mean": float(valid.mean()),
        "stddev": float(valid.std()),
        "valid_percent": 100.0 * valid.size / band.size,
    }


def _check_asset(asset: dict[str, Any], path: Path) -> None:
    """An asset as production has them: type, roles, proj:*, file:size, raster:bands statistics."""
    assert asset["type"] == COG_MEDIA_TYPE
    assert asset["roles"] == ["data"]
    assert asset["file:size"] == path.stat().st_size
    with rasterio.open(path) as ds:
        assert asset["proj:epsg"] == ds.crs.to_epsg() == 3857
        assert asset["proj:shape"] == [ds.height, ds.width]
        assert asset["proj:bbox"] == pytest.approx(list(ds.bounds))
    (band,) = asset["raster:bands"]
    assert band["name"] == "NDVI"
    expected = _file_statistics(path)
    assert band["statistics"] == pytest.approx(expected, rel=1e-6, abs=1e-3)
    assert -1.0 <= band["statistics"]["minimum"] < band["statistics"]["maximum"] <= 1.0


@pytest.mark.parametrize("area_id", list(AREAS))
def test_notebook_flow(
    con: openeo.Connection, runs: dict[tuple[str, str], Run], area_id: str, tmp_path: Path
) -> None:
    area = AREAS[area_id]
    run = runs[(area_id, "notebook")]
    job: BatchJob = con.job(run.job_id)
    assert job.status() == "finished"
    stac_metadata_dict = job.get_results().get_metadata()
    # The collection document, as production writes it.
    assert stac_metadata_dict["type"] == "Collection"
    assert stac_metadata_dict["id"] == run.job_id
    assert stac_metadata_dict["title"] == f"APEx Demo - {area_id} - NDVI"
    assert stac_metadata_dict["description"] == f"Results for batch job {run.job_id}"
    assert stac_metadata_dict["license"] == "proprietary"
    assert stac_metadata_dict["openeo:status"] == "finished"
    stac_metadata_dict["id"] = f"{area_id}_ndvi"
    collection = pystac.Collection.from_dict(stac_metadata_dict)
    collection.license = "CC-BY-4.0"
    day = dt.datetime.fromisoformat(area.day).replace(tzinfo=dt.UTC)
    assert collection.extent.temporal.intervals[0][0] == day
    w, s, e, n = collection.extent.spatial.bboxes[0]
    fw, fs = area.feature["geometry"]["coordinates"][0][0]
    assert w <= fw + 0.01 and s <= fs + 0.01 and w < e and s < n

    files = job.get_results().download_files(tmp_path)
    (tif,) = [f for f in files if f.suffix == ".tif"]
    assert tif.read_bytes() == run.outputfile.read_bytes()  # execute_batch's outputfile is the same file
    (asset,) = stac_metadata_dict["assets"].values()
    _check_asset(asset, tif)

    # The items, fetched from the collection's item links (signed: no login needed).
    item_links = collection.get_links(rel="item")
    assert len(item_links) == 1
    response = requests.get(item_links[0].href, timeout=10)
    response.raise_for_status()
    raw_item = response.json()
    assert raw_item["properties"]["proj:epsg"] == 3857
    (raw_asset,) = raw_item["assets"].values()
    _check_asset(raw_asset, tif)
    item = pystac.Item.from_dict(raw_item)
    assert item.datetime == day
    assert ProjectionExtension.ext(item).epsg == 3857
    assert item.collection_id == run.job_id
    assert {link.rel for link in item.links} >= {"self", "collection"}
    with rasterio.open(tif) as ds:
        assert ds.descriptions == ("NDVI",)


def _reference_ndvi(data_dir: Path, area: Area, result: Path) -> np.ndarray[Any, Any]:
    """NDVI of the source pixels under ``result``'s grid, in float64, nodata as NaN (numpy only)."""
    with rasterio.open(result) as res:
        bounds = res.bounds
        shape = (res.height, res.width)
    if area.id == "romania":
        with xr.open_dataset(data_dir / ROMANIA_NC) as ds:
            sub = ds.sel(time=np.datetime64(area.day, "ns"))
            sub = sub.where(
                (ds.x > bounds.left) & (ds.x < bounds.right) & (ds.y > bounds.bottom) & (ds.y < bounds.top),
                drop=True,
            )
            red = sub["B4"].values.astype("float64")
            nir = sub["B8"].values.astype("float64")
        # (no declared nodata in the NetCDF)
    else:
        if area.id == "bolzano":
            path = data_dir / "s2_l2a_bolzano/S2_L2A_sample.tif"
            with rasterio.open(path) as ds:
                index = {ds.tags(i)["DESCRIPTION"]: i for i in range(1, ds.count + 1)}
                window = rasterio.windows.from_bounds(*bounds, transform=ds.transform)
                red = ds.read(index["B04"], window=window.round_offsets().round_lengths()).astype("float64")
                nir = ds.read(index["B08"], window=window.round_offsets().round_lengths()).astype("float64")
                nodata = ds.nodata
        else:
            bands = []
            for name in ("B04", "B08"):
                with rasterio.open(data_dir / f"s2_boa_kempen_belgium/ref_check_icor_S2_{name}.tif") as ds:
                    window = rasterio.windows.from_bounds(*bounds, transform=ds.transform)
                    bands.append(ds.read(1, window=window.round_offsets().round_lengths()).astype("float64"))
                    nodata = ds.nodata
            red, nir = bands
        assert window.col_off == pytest.approx(round(window.col_off), abs=1e-6)  # the grids line up
        assert window.row_off == pytest.approx(round(window.row_off), abs=1e-6)
        invalid = (red == nodata) | (nir == nodata)
        red[invalid] = np.nan
        nir[invalid] = np.nan
    assert red.shape == shape
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi: np.ndarray[Any, Any] = (nir - red) / (nir + red)
    return ndvi


@pytest.mark.parametrize("area_id", list(AREAS))
def test_native_ndvi_matches_numpy_pixel_by_pixel(
    runs: dict[tuple[str, str], Run], openeo_data_dir: Path, area_id: str
) -> None:
    area = AREAS[area_id]
    path = runs[(area_id, "native")].outputfile
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == area.native_bbox["crs"]
        assert (ds.res[0], ds.res[1]) == (10.0, 10.0)
        got = ds.read(1).astype("float64")
        got_bounds = ds.bounds
    # The result covers exactly the requested pixels.
    assert got_bounds.left == pytest.approx(area.native_bbox["west"], abs=1e-3)
    assert got_bounds.right == pytest.approx(area.native_bbox["east"], abs=1e-3)
    assert got_bounds.top == pytest.approx(area.native_bbox["north"], abs=1e-3)
    assert got_bounds.bottom == pytest.approx(area.native_bbox["south"], abs=1e-3)
    expected = _reference_ndvi(openeo_data_dir, area, path)
    assert got.shape == expected.shape
    valid = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(got), valid)
    assert valid.mean() > 0.5
    np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-5, atol=1e-7)
