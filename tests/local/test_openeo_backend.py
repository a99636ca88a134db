"""The embedded openEO backend, driven over HTTP by the stock openeo client (the production code path)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
from pathlib import Path
from typing import Any

import numpy as np
import openeo
import pystac
import pytest
import rasterio
import requests
from openeo.rest import OpenEoApiError
from openeo.rest.job import BatchJob
from rio_cogeo.cogeo import cog_validate

from apex_core.local.contract import search_scenes
from apex_core.local.errors import LocalBackendError
from apex_core.local.openeo.service import OpenEoBackendService, start_openeo_backend
from tests.services import wait_for_workers, wait_until

pytestmark = pytest.mark.services

COLLECTION = "SENTINEL2_L2A"
BOLZANO_AOI: dict[str, Any] = {
    "type": "Feature",
    "properties": {},
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[11.30, 46.47], [11.38, 46.47], [11.38, 46.51], [11.30, 46.51], [11.30, 46.47]]],
    },
}
BOLZANO_DAY = "2022-06-12"
KEMPEN_BBOX = {"west": 5.23, "south": 51.22, "east": 5.30, "north": 51.30}
ROMANIA_BBOX = (22.145, 45.2011, 22.1594, 45.2085)
WEB_MERCATOR_RES = 38.21851414258813
POLL = 0.2


@pytest.fixture(scope="module")
def con(openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]) -> openeo.Connection:
    user, password = openeo_credentials
    return openeo.connect(openeo_backend.url).authenticate_basic(user, password)


def _notebook_cube(con: openeo.Connection) -> openeo.DataCube:
    cube = con.load_collection(
        COLLECTION, spatial_extent=BOLZANO_AOI, temporal_extent=BOLZANO_DAY, bands=["B04", "B08"]
    )
    return cube.ndvi().resample_spatial(WEB_MERCATOR_RES, "EPSG:3857").save_result("GTiff")


def _wait_for(job: BatchJob, statuses: set[str], timeout: float = 30.0) -> str:
    status = wait_until(
        lambda: (s := job.status()) in statuses and s,
        timeout,
        every=POLL,
        what=lambda: f"job {job.job_id} status",
    )
    return str(status)


def _check_ndvi_geotiff(path: Path, epsg: int | None = 3857) -> np.ndarray[Any, Any]:
    with rasterio.open(path) as ds:
        if epsg is not None:
            assert ds.crs.to_epsg() == epsg
        assert ds.descriptions == ("NDVI",)
        assert ds.nodata is not None
        values = ds.read(1, masked=True)
    valid = values.compressed()
    valid = valid[np.isfinite(valid)]
    assert valid.size > 1000
    assert valid.min() >= -1.0
    assert valid.max() <= 1.0
    is_cog, errors, _warnings = cog_validate(str(path))
    assert is_cog, errors
    return np.asarray(valid)


# --- general ------------------------------------------------------------------------------------------------


def test_capabilities(con: openeo.Connection) -> None:
    caps = con.capabilities()
    assert caps.api_version() == "1.2.0"
    raw = caps.capabilities
    assert raw["billing"]["currency"]
    paths = {e["path"] for e in raw["endpoints"]}
    assert {"/jobs", "/result", "/collections", "/processes", "/file_formats", "/credentials/basic"} <= paths
    assert "GTiff" in con.list_file_formats()["output"]
    processes = {p["id"] for p in con.list_processes()}
    assert {"load_collection", "ndvi", "resample_spatial", "save_result"} <= processes


def test_collection_metadata(con: openeo.Connection) -> None:
    assert [c["id"] for c in con.list_collections()] == [COLLECTION]
    meta = con.describe_collection(COLLECTION)
    bands = {b["name"]: b for b in meta["summaries"]["eo:bands"]}
    assert list(bands) == ["B02", "B03", "B04", "B08", "SCL"]
    assert bands["B04"]["common_name"] == "red"
    assert bands["B08"]["common_name"] == "nir"
    assert {b["name"] for b in meta["summaries"]["bands"]} == set(bands)
    bboxes = meta["extent"]["spatial"]["bbox"]
    assert len(bboxes) == 4  # the union, then Bolzano, Kempen, Romania
    union, *areas = bboxes
    for w, s, e, n in areas:
        assert union[0] <= w < e <= union[2]
        assert union[1] <= s < n <= union[3]
    assert any(abs(b[0] - 11.279) < 0.01 and abs(b[1] - 46.4596) < 0.01 for b in areas)
    assert meta["extent"]["temporal"]["interval"] == [["2015-08-01T00:00:00Z", "2022-06-12T00:00:00Z"]]
    # The client reads the band metadata for its own checks.
    assert con.load_collection(COLLECTION).metadata.band_names == list(bands)


def test_basic_auth(openeo_backend: OpenEoBackendService, con: openeo.Connection) -> None:
    assert con.describe_account()["user_id"] == "demo"
    with pytest.raises(OpenEoApiError) as refused:
        openeo.connect(openeo_backend.url).authenticate_basic("demo", "wrong")
    assert refused.value.code == "CredentialsInvalid"
    forged = requests.get(
        f"{openeo_backend.url}/me", headers={"Authorization": "Bearer basic//ZGVtbw=="}, timeout=10
    )
    assert forged.status_code == 403
    assert forged.json()["code"] == "TokenInvalid"
    anonymous = requests.get(f"{openeo_backend.url}/jobs", timeout=10)
    assert anonymous.status_code == 401


# --- the notebook flow --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook_job(con: openeo.Connection) -> BatchJob:
    job = _notebook_cube(con).create_job(title="APEx Demo - Bolzano - NDVI")
    job.start_and_wait(max_poll_interval=POLL, print=lambda *_: None)
    return job


def test_notebook_batch_flow(notebook_job: BatchJob, tmp_path: Path) -> None:
    assert notebook_job.status() == "finished"
    metadata = notebook_job.get_results().get_metadata()
    metadata["id"] = "bolzano_ndvi"
    collection = pystac.Collection.from_dict(metadata)
    collection.license = "CC-BY-4.0"
    assert collection.extent.temporal.intervals[0][0] == dt.datetime(2022, 6, 12, tzinfo=dt.UTC)
    item_links = collection.get_links(rel="item")
    assert len(item_links) == 1
    item = pystac.Item.from_dict(requests.get(item_links[0].href, timeout=10).json())
    assert item.datetime == dt.datetime(2022, 6, 12, tzinfo=dt.UTC)
    (asset,) = metadata["assets"].values()
    assert asset["proj:epsg"] == 3857
    assert asset["bands"] == [{"name": "NDVI"}]
    (band,) = asset["raster:bands"]
    assert band["name"] == "NDVI"
    assert set(band["statistics"]) == {"minimum", "maximum", "mean", "stddev", "valid_percent"}
    assert metadata["description"] == f"Results for batch job {notebook_job.job_id}"
    assert metadata["openeo:status"] == "finished"
    files = notebook_job.get_results().download_files(tmp_path)
    tif = next(f for f in files if f.suffix == ".tif")
    assert tif.stat().st_size == asset["file:size"]
    _check_ndvi_geotiff(tif)


def test_signed_asset_url_needs_no_login(notebook_job: BatchJob) -> None:
    (asset,) = notebook_job.get_results().get_metadata()["assets"].values()
    resp = requests.get(asset["href"], timeout=10, headers={"Range": "bytes=0-3"})
    assert resp.status_code in (200, 206)
    assert resp.content[:4] in (b"II*\x00", b"MM\x00*")


def test_job_listing_and_logs(con: openeo.Connection, notebook_job: BatchJob) -> None:
    listed = {j["id"]: j for j in con.list_jobs()}
    assert listed[notebook_job.job_id]["status"] == "finished"
    info = notebook_job.describe()
    assert info["progress"] == 100
    messages = [entry["message"] for entry in notebook_job.logs()]
    assert messages[0] == "Job created."
    assert messages[-1].startswith("Job finished")


def test_sync_result(con: openeo.Connection, tmp_path: Path) -> None:
    out = tmp_path / "sync.tif"
    _notebook_cube(con).download(out)
    _check_ndvi_geotiff(out)


# --- the other areas ----------------------------------------------------------------------------------------


def test_scene_search_romania(openeo_backend: OpenEoBackendService) -> None:
    scenes = search_scenes(openeo_backend.url, bbox=ROMANIA_BBOX, timeout=10)
    assert len(scenes) == 140
    assert {s.area_id for s in scenes} == {"romania"}
    assert all(s.cloud_cover is not None and 0 <= s.cloud_cover <= 100 for s in scenes)
    assert scenes[0].datetime > scenes[-1].datetime  # newest first
    assert scenes[-1].date == dt.date(2015, 8, 1)
    clear = search_scenes(openeo_backend.url, bbox=ROMANIA_BBOX, max_cloud_cover=10, timeout=10)
    assert 0 < len(clear) < 140
    in_2016 = search_scenes(
        openeo_backend.url, bbox=ROMANIA_BBOX, start=dt.date(2016, 1, 1), end=dt.date(2017, 1, 1), timeout=10
    )
    assert in_2016
    assert all(s.datetime.year == 2016 for s in in_2016)
    bolzano = search_scenes(openeo_backend.url, bbox=(11.3, 46.47, 11.38, 46.51), timeout=10)
    assert [(s.area_id, s.date) for s in bolzano] == [("bolzano", dt.date(2022, 6, 12))]
    assert search_scenes(openeo_backend.url, bbox=(-20.0, 30.0, -19.0, 31.0), timeout=10) == []


def test_scene_search_errors(openeo_backend: OpenEoBackendService) -> None:
    with pytest.raises(LocalBackendError) as bad:
        search_scenes(openeo_backend.url + "/nothing-here", timeout=10)
    assert bad.value.status == 404


def test_romania_date_ndvi(
    con: openeo.Connection, openeo_backend: OpenEoBackendService, tmp_path: Path
) -> None:
    clearest = min(
        search_scenes(
            openeo_backend.url,
            bbox=ROMANIA_BBOX,
            start=dt.date(2018, 6, 1),
            end=dt.date(2018, 9, 1),
            timeout=10,
        ),
        key=lambda s: s.cloud_cover if s.cloud_cover is not None else 100.0,
    )
    day = clearest.date.isoformat()
    cube = con.load_collection(
        COLLECTION,
        spatial_extent=dict(zip(("west", "south", "east", "north"), ROMANIA_BBOX, strict=True)),
        temporal_extent=[day, day],
        bands=["B04", "B08"],
    )
    out = tmp_path / "romania.tif"
    cube.ndvi().download(out, format="GTiff")
    values = _check_ndvi_geotiff(out, epsg=3035)
    assert float(np.median(values)) > 0.6  # a forest in summer


def test_kempen_ndvi_median(con: openeo.Connection, tmp_path: Path) -> None:
    cube = con.load_collection(
        COLLECTION,
        spatial_extent=KEMPEN_BBOX,
        temporal_extent=["2019-04-01", "2019-05-01"],
        bands=["B04", "B08"],
    )
    out = tmp_path / "kempen.tif"
    cube.ndvi().download(out, format="GTiff")
    values = _check_ndvi_geotiff(out, epsg=32631)
    assert float(np.median(values)) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("extent", "temporal", "mentions"),
    [
        ({"west": -20.0, "south": 30.0, "east": -19.0, "north": 31.0}, BOLZANO_DAY, "Bolzano"),
        (BOLZANO_AOI, "2022-06-13", "2022-06-12"),
        (
            {"west": 600000, "south": 5140000, "east": 700000, "north": 5160000, "crs": 32632},
            "2020-01-01",
            "Romania",
        ),
    ],
    ids=["ocean", "no-date", "projected-bbox-no-date"],
)
def test_no_data_available(
    con: openeo.Connection, extent: dict[str, Any], temporal: str, mentions: str
) -> None:
    cube = con.load_collection(
        COLLECTION, spatial_extent=extent, temporal_extent=temporal, bands=["B04", "B08"]
    )
    with pytest.raises(OpenEoApiError) as err:
        cube.ndvi().download(format="GTiff")
    assert err.value.http_status_code == 400
    assert err.value.code == "NoDataAvailable"
    assert mentions in err.value.message


def test_extra_load_collection_arguments_are_ignored(con: openeo.Connection, tmp_path: Path) -> None:
    graph = _notebook_cube(con).flat_graph()
    load = next(n for n in graph.values() if n["process_id"] == "load_collection")
    load["arguments"]["featureflags"] = {"tilesize": 128}
    out = tmp_path / "flags.tif"
    con.download(graph, out)
    _check_ndvi_geotiff(out)


# --- job life cycle -----------------------------------------------------------------------------------------


def test_cancel_and_delete(con: openeo.Connection) -> None:
    # All 140 Romanian dates: long enough (seconds) to be cancelled while it runs.
    cube = con.load_collection(
        COLLECTION,
        spatial_extent=dict(zip(("west", "south", "east", "north"), ROMANIA_BBOX, strict=True)),
        bands=["B04", "B08"],
    )
    job = cube.ndvi().save_result("GTiff").create_job(title="to cancel")
    assert job.status() == "created"
    job.start()
    job.stop()
    assert job.status() == "canceled"
    with pytest.raises(OpenEoApiError) as unfinished:
        job.get_results().get_metadata()
    assert unfinished.value.code == "JobNotFinished"
    assert any("canceled" in entry["message"] for entry in job.logs())
    job.delete()
    with pytest.raises(OpenEoApiError) as gone:
        job.status()
    assert gone.value.http_status_code == 404
    assert job.job_id not in {j["id"] for j in con.list_jobs()}


def test_failed_job_reports_error_and_logs(con: openeo.Connection) -> None:
    cube = con.load_collection(COLLECTION, spatial_extent=BOLZANO_AOI, temporal_extent="2021-01-05")
    job = cube.ndvi().save_result("GTiff").create_job(title="no data")
    job.start()
    assert _wait_for(job, {"finished", "error"}) == "error"
    errors = [entry for entry in job.logs() if entry["level"] == "error"]
    assert errors
    assert errors[0]["code"] == "NoDataAvailable"
    assert "Bolzano" in errors[0]["message"]


# --- restart: jobs persist ---------------------------------------------------------------------------------


def test_finished_jobs_survive_restart(
    openeo_data_dir: Path, openeo_credentials: tuple[str, str], tmp_path: Path, local_state_root: Path
) -> None:
    # serve also starts the catalogue, whose PostgreSQL (as root: the postgres user) must traverse the
    # state dir: pytest's tmp_path is 0700, local_state_root is not
    state = local_state_root / f"restart-{tmp_path.name}"
    user, password = openeo_credentials
    with start_openeo_backend(state, openeo_data_dir) as first:
        assert isinstance(first, OpenEoBackendService)
        con1 = openeo.connect(first.url).authenticate_basic(user, password)
        job = _notebook_cube(con1).create_job(title="before restart")
        job.start_and_wait(max_poll_interval=POLL, print=lambda *_: None)
        size = job.get_results().get_metadata()["assets"]["openEO.tif"]["file:size"]

    # A new backend process on the same state directory (another port) finds the job and its files.
    with start_openeo_backend(state, openeo_data_dir) as second:
        assert second.url != first.url or second.process is not first.process
        con2 = openeo.connect(second.url).authenticate_basic(user, password)
        listed = {j["id"]: j for j in con2.list_jobs()}
        assert listed[job.job_id]["status"] == "finished"
        again = con2.job(job.job_id)
        files = again.get_results().download_files(tmp_path / "after")
        tif = next(f for f in files if f.suffix == ".tif")
        assert tif.stat().st_size == size
        _check_ndvi_geotiff(tif)
    with pytest.raises(requests.ConnectionError):
        requests.get(second.url, timeout=5)


# --- isolation: jobs run in worker processes ----------------------------------------------------------------


def _worker_pid(job: BatchJob) -> int:
    for entry in reversed(job.logs()):
        match = re.search(r"worker process (\d+)", entry["message"])
        if match:
            return int(match.group(1))
    raise AssertionError(f"no worker pid in the logs of {job.job_id}")


def test_killed_worker_fails_only_its_job(
    con: openeo.Connection, openeo_backend: OpenEoBackendService
) -> None:
    """A job whose worker dies ends in ``error``; the API and the other worker carry on meanwhile."""
    pids = wait_for_workers(openeo_backend.url)
    assert openeo_backend.process is not None
    assert openeo_backend.process.pid not in pids  # jobs never run in the API server
    for pid in pids:  # freeze both workers, so that the first job stays running as long as needed
        os.kill(pid, signal.SIGSTOP)
    try:
        doomed = _notebook_cube(con).create_job(title="worker killed")
        doomed.start()
        assert _wait_for(doomed, {"running", "finished", "error"}) == "running"
        victim = _worker_pid(doomed)
        assert victim in pids
        for pid in pids:
            if pid != victim:
                os.kill(pid, signal.SIGCONT)
        # Another job runs to the end on the other worker while the first one holds its worker.
        other = _notebook_cube(con).create_job(title="runs meanwhile")
        other.start()
        assert _wait_for(other, {"finished", "error"}) == "finished"
        assert _worker_pid(other) != victim
        assert doomed.status() == "running"

        os.kill(victim, signal.SIGKILL)
        assert _wait_for(doomed, {"finished", "error"}) == "error"
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    errors = [entry for entry in doomed.logs() if entry["level"] == "error"]
    assert errors[-1]["code"] == "WorkerDied"
    assert f"worker process {victim} died (signal 9 (SIGKILL))" in errors[-1]["message"]
    with pytest.raises(OpenEoApiError) as failed:  # the results of a failed job: 424 with its error
        doomed.get_results().get_metadata()
    assert (failed.value.http_status_code, failed.value.code) == (424, "WorkerDied")
    # The API kept answering, the dead worker is replaced, and the next job runs.
    assert con.describe_account()["user_id"] == "demo"
    replaced = wait_for_workers(openeo_backend.url)
    assert victim not in replaced
    after = _notebook_cube(con).create_job(title="after the crash")
    after.start()
    assert _wait_for(after, {"finished", "error"}) == "finished"


def test_cancel_stops_the_worker(con: openeo.Connection, openeo_backend: OpenEoBackendService) -> None:
    pids = wait_for_workers(openeo_backend.url)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        job = _notebook_cube(con).create_job(title="canceled while running")
        job.start()
        assert _wait_for(job, {"running", "finished", "error"}) == "running"
        victim = _worker_pid(job)
        job.stop()
        assert job.status() == "canceled"
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    # killed (the runner reaps it and starts another)
    wait_until(lambda: not Path(f"/proc/{victim}").exists(), 30, every=POLL, what=f"worker {victim} gone")
    assert not [entry for entry in job.logs() if entry["level"] == "error"]
    assert job.status() == "canceled"
