"""Date ranges, the SCL cloud mask and composites (#15) on the real embedded openEO backend.

The graphs are the app's own (:func:`apex_core.ndvi.build_ndvi_cube`), submitted with the openeo client to
the backend on loopback; the results are compared with the sample files read directly (the Romanian
NetCDF with xarray), not with the backend's own code.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import openeo
import pytest
import rasterio
import requests
import xarray as xr
from openeo.rest import OpenEoApiError
from openeo.rest.job import BatchJob

from apex_core.aoi import Aoi
from apex_core.local.contract import search_scenes
from apex_core.local.openeo.model import ResultFile
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.ndvi import (
    MASK_CLASSES,
    Composite,
    NdviRequest,
    build_ndvi_cube,
    process_graph,
    python_snippet,
)
from tests.services import wait_until

pytestmark = pytest.mark.services

POLL = 0.2
ROMANIA = Aoi.from_bbox(22.145, 45.2011, 22.1594, 45.2085)
ROMANIA_NC = "s2_l2a_romania_timeseries/sentinel2_cube_subset_romania_10m.nc"
SUMMER = (dt.date(2019, 6, 1), dt.date(2019, 9, 1))
BOLZANO = Aoi.from_bbox(11.30, 46.47, 11.38, 46.51)
BOLZANO_DAY = dt.date(2022, 6, 12)
KEMPEN = Aoi.from_bbox(5.23, 51.22, 5.30, 51.30)
KEMPEN_DAY = dt.date(2019, 4, 11)


@pytest.fixture(scope="module")
def con(openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]) -> openeo.Connection:
    user, password = openeo_credentials
    return openeo.connect(openeo_backend.url).authenticate_basic(user, password)


def _request(
    aoi: Aoi,
    start: dt.date,
    end: dt.date | None = None,
    *,
    mask_clouds: bool = True,
    composite: Composite | None = None,
    native: bool = True,
) -> NdviRequest:
    return NdviRequest.for_backend(
        aoi.to_dict(), start, None, end=end, mask_clouds=mask_clouds, composite=composite, native=native
    )


def _run(con: openeo.Connection, request: NdviRequest, out: Path) -> tuple[BatchJob, dict[str, Any]]:
    """Submit ``request`` as a batch job, wait for it to finish, download its files into ``out``;
    the job and its result items by file name."""
    job = build_ndvi_cube(request, con).create_job(title="ranges")
    job.start()
    status = wait_until(
        lambda: (s := job.status()) in ("finished", "error", "canceled") and s,
        120,
        every=POLL,
        what=lambda: f"job {job.job_id}: {job.status()}",
    )
    assert status == "finished", [e["message"] for e in job.logs()]
    results = job.get_results()
    results.download_files(out)
    metadata = results.get_metadata()
    items = {}
    for link in metadata["links"]:
        if link["rel"] == "item":
            item = requests.get(link["href"], timeout=10).json()
            (filename,) = item["assets"]
            items[filename] = item
    return job, items


def _read(path: Path) -> tuple[np.ndarray[Any, Any], Any, dict[str, str]]:
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 3035
        assert ds.descriptions == ("NDVI",)
        return ds.read(1), ds.transform, ds.tags()


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _netcdf_ndvi(data_dir: Path, day: dt.date, transform: Any, shape: tuple[int, int]) -> Any:
    """The masked NDVI of ``day`` computed from the NetCDF itself, on the pixels of a result file."""
    rows, cols = shape
    xs = transform.c + transform.a * (np.arange(cols) + 0.5)
    ys = transform.f + transform.e * (np.arange(rows) + 0.5)
    with xr.open_dataset(data_dir / ROMANIA_NC) as ds:
        scene = ds.sel(time=np.datetime64(day.isoformat(), "ns")).sel(x=xs, y=ys, method="nearest")
        assert np.allclose(scene["x"].values, xs) and np.allclose(scene["y"].values, ys)
        red = scene["B4"].values.astype("float64")
        nir = scene["B8"].values.astype("float64")
        scl = scene["SCL"].values
    ndvi = np.clip((nir - red) / (nir + red), -1.0, 1.0)
    return np.where(np.isin(scl, list(MASK_CLASSES)), np.nan, ndvi), scl


@pytest.fixture(scope="module")
def per_observation(
    con: openeo.Connection, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("romania-per-date")
    _job, items = _run(con, _request(ROMANIA, *SUMMER), out)
    return out, items


def test_romania_summer_gives_one_masked_ndvi_per_observation(
    per_observation: tuple[Path, dict[str, Any]], openeo_data_dir: Path, openeo_backend: OpenEoBackendService
) -> None:
    out, items = per_observation
    scenes = search_scenes(openeo_backend.url, bbox=ROMANIA.bbox, start=SUMMER[0], end=SUMMER[1], timeout=10)
    observed = sorted(s.date for s in scenes)
    assert len(observed) == 15
    assert len(items) == 15
    dates = []
    for filename, item in sorted(items.items()):
        props = item["properties"]
        when = _utc(props["datetime"])
        assert props["start_datetime"] == props["end_datetime"] == props["datetime"]
        assert filename == f"openEO_{when:%Y-%m-%d}.tif"
        values, _transform, tags = _read(out / filename)
        assert tags["DATETIME"] == when.strftime("%Y:%m:%d %H:%M:%S")
        assert values.shape == (100, 100)
        dates.append(when.date())
    assert dates == observed  # each file its own date, every observation of the range


@pytest.mark.parametrize(
    ("day", "cloudy"),
    [
        (dt.date(2019, 7, 31), "partly"),  # cloud shadows, clouds and vegetation
        (dt.date(2019, 8, 25), "all"),  # thin cirrus everywhere
        (dt.date(2019, 7, 1), "none"),  # clear
    ],
)
def test_masked_pixels_are_those_scl_calls_cloudy(
    per_observation: tuple[Path, dict[str, Any]], openeo_data_dir: Path, day: dt.date, cloudy: str
) -> None:
    out, _items = per_observation
    values, transform, _tags = _read(out / f"openEO_{day:%Y-%m-%d}.tif")
    expected, scl = _netcdf_ndvi(openeo_data_dir, day, transform, values.shape)
    masked = np.isin(scl, list(MASK_CLASSES))
    assert {"partly": 0 < masked.sum() < masked.size, "all": masked.all(), "none": not masked.any()}[cloudy]
    assert np.array_equal(np.isnan(values), masked)  # nodata exactly where SCL is cloudy
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize(("composite", "reduce"), [("max", np.nanmax), ("median", np.nanmedian)])
def test_composite_is_one_file_covering_the_range(
    con: openeo.Connection,
    per_observation: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    composite: Composite,
    reduce: Any,
) -> None:
    out, items = per_observation
    job, composed = _run(con, _request(ROMANIA, *SUMMER, composite=composite), tmp_path)
    ((filename, item),) = composed.items()
    props = item["properties"]
    assert _utc(props["start_datetime"]) == dt.datetime(2019, 6, 1, tzinfo=dt.UTC)
    assert _utc(props["end_datetime"]) == dt.datetime(2019, 9, 1, 23, 59, 59, tzinfo=dt.UTC)
    assert props["datetime"] == props["start_datetime"]
    described = job.describe()
    assert described["status"] == "finished"
    values, transform, _tags = _read(tmp_path / filename)
    stack = []
    for name in sorted(items):
        per_date, per_date_transform, _ = _read(out / name)
        assert per_date_transform == transform
        stack.append(per_date)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a pixel cloudy on every date is all-NaN
        expected = reduce(np.stack(stack), axis=0)
    assert np.isfinite(values).sum() > 0.9 * values.size
    np.testing.assert_allclose(values, expected, rtol=1e-6, equal_nan=True)


def test_bolzano_with_the_mask(con: openeo.Connection, tmp_path: Path) -> None:
    """Bolzano's SCL has only clear classes (2-7): the masked NDVI is the unmasked one; a composite of its
    one date too."""
    masked, plain, composite = tmp_path / "masked.tif", tmp_path / "plain.tif", tmp_path / "max.tif"
    build_ndvi_cube(_request(BOLZANO, BOLZANO_DAY), con).download(masked)
    build_ndvi_cube(_request(BOLZANO, BOLZANO_DAY, mask_clouds=False), con).download(plain)
    build_ndvi_cube(_request(BOLZANO, BOLZANO_DAY, composite="max"), con).download(composite)
    arrays = []
    for path in (masked, plain, composite):
        with rasterio.open(path) as ds:
            assert ds.crs.to_epsg() == 32632
            arrays.append(ds.read(1))
    assert np.isfinite(arrays[0]).sum() > 10_000
    np.testing.assert_array_equal(arrays[0], arrays[1])
    np.testing.assert_array_equal(arrays[0], arrays[2])


def test_bolzano_range_job_with_mask(con: openeo.Connection, tmp_path: Path) -> None:
    """The default (Web Mercator) graph with the mask over a range holding Bolzano's one observation."""
    request = NdviRequest.for_backend(
        BOLZANO.to_dict(), dt.date(2022, 6, 1), None, end=dt.date(2022, 6, 30), mask_clouds=True
    )
    _job, items = _run(con, request, tmp_path)
    ((filename, item),) = items.items()
    assert _utc(item["properties"]["datetime"]) == dt.datetime(2022, 6, 12, tzinfo=dt.UTC)
    with rasterio.open(tmp_path / filename) as ds:
        assert ds.crs.to_epsg() == 3857
        assert np.isfinite(ds.read(1)).sum() > 1000


def test_scene_search_says_where_the_mask_is_available(openeo_backend: OpenEoBackendService) -> None:
    found = {
        name: search_scenes(openeo_backend.url, bbox=aoi.bbox, timeout=10)
        for name, aoi in (("romania", ROMANIA), ("bolzano", BOLZANO), ("kempen", KEMPEN))
    }
    assert all(s.has_scl and "B04" in s.bands for s in found["romania"] + found["bolzano"])
    (kempen,) = found["kempen"]
    assert kempen.bands == ("B02", "B03", "B04", "B08")
    assert not kempen.has_scl


def test_kempen_with_the_mask_is_a_clear_error(con: openeo.Connection) -> None:
    request = _request(KEMPEN, KEMPEN_DAY)
    with pytest.raises(OpenEoApiError) as sync:
        build_ndvi_cube(request, con).download()
    assert sync.value.http_status_code == 400
    assert sync.value.code == "NoDataAvailable"
    assert "SCL" in sync.value.message and "Kempen" in sync.value.message
    job = build_ndvi_cube(request, con).create_job(title="kempen masked")
    with pytest.raises(OpenEoApiError) as estimate:
        job.estimate()
    assert (estimate.value.http_status_code, estimate.value.code) == (400, "NoDataAvailable")
    job.start()
    status = wait_until(
        lambda: (s := job.status()) in ("finished", "error") and s, 60, every=POLL, what="kempen job"
    )
    assert status == "error"
    errors = [e for e in job.logs() if e["level"] == "error"]
    assert errors
    error = errors[-1]
    assert error["code"] == "NoDataAvailable"
    assert "SCL" in error["message"]
    # Without the mask, the same area and day run.
    assert build_ndvi_cube(_request(KEMPEN, KEMPEN_DAY, mask_clouds=False), con).download()


def test_result_records_keep_their_interval() -> None:
    """A composite's interval survives the job record's JSON; a record written before intervals existed
    covers its own date."""
    day = dt.datetime(2019, 6, 1, tzinfo=dt.UTC)
    last = dt.datetime(2019, 9, 1, 23, 59, 59, tzinfo=dt.UTC)
    composite = ResultFile(
        filename="openEO.tif",
        media_type="image/tiff; application=geotiff; profile=cloud-optimized",
        datetime=day,
        bands=("NDVI",),
        epsg=3035,
        shape=(100, 100),
        proj_bbox=(0.0, 0.0, 1000.0, 1000.0),
        bbox=(22.1, 45.2, 22.2, 45.3),
        size=5,
        start_datetime=day,
        end_datetime=last,
    )
    assert ResultFile.from_dict(json.loads(json.dumps(composite.to_dict()))) == composite
    assert composite.interval == (day, last)
    old = composite.to_dict()
    del old["start_datetime"], old["end_datetime"]
    assert ResultFile.from_dict(old).interval == (day, day)


@pytest.mark.parametrize("composite", [None, "max"])
@pytest.mark.parametrize("mask_clouds", [False, True])
def test_the_snippet_builds_the_submitted_graph_on_a_real_connection(
    openeo_backend: OpenEoBackendService,
    openeo_credentials: tuple[str, str],
    mask_clouds: bool,
    composite: Any,
) -> None:
    """The snippet shown, run with the real client against the backend (collection metadata fetched
    where the snippet does not turn it off), builds the graph the app submits."""
    request = NdviRequest.for_backend(
        ROMANIA.to_dict(), SUMMER[0], "https://openeo.dataspace.copernicus.eu", end=SUMMER[1],
        mask_clouds=mask_clouds, composite=composite,
    )  # fmt: skip
    code = python_snippet(request, openeo_backend.url, title="snippet")
    user, password = openeo_credentials
    code = code.replace("authenticate_oidc()", f"authenticate_basic({user!r}, {password!r})")
    scope: dict[str, Any] = {}
    exec(code.split("job = ")[0], scope)  # noqa: S102 - our own generated snippet
    assert {"process_graph": scope["result"].flat_graph()} == process_graph(request)


def test_the_snippet_runs_unchanged(
    openeo_backend: OpenEoBackendService,
    openeo_credentials: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole snippet (mask, median composite, Web Mercator) runs on the embedded backend and
    downloads the one composite file."""
    request = _request(ROMANIA, *SUMMER, composite="median", native=False)
    code = python_snippet(request, openeo_backend.url, title="snippet run")
    user, password = openeo_credentials
    code = code.replace("authenticate_oidc()", f"authenticate_basic({user!r}, {password!r})")
    code = code.replace(
        "job.start_and_wait()", "job.start_and_wait(max_poll_interval=0.2, print=lambda *a: None)"
    )
    monkeypatch.chdir(tmp_path)
    exec(code, {})  # noqa: S102 - our own generated snippet
    tifs = sorted((tmp_path / "results").glob("*.tif"))
    assert [t.name for t in tifs] == ["openEO.tif"]
    with rasterio.open(tifs[0]) as ds:
        assert ds.crs.to_epsg() == 3857
        values = ds.read(1)
    assert 0.6 < float(np.nanmedian(values)) <= 1.0  # a forest in summer
