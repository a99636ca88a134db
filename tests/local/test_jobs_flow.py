"""apex_core's job flow against the real embedded openEO backend, over HTTP with the stock client."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
import rasterio
from openeo.rest.connection import Connection

from apex_core.aoi import Aoi, embedded_footprints, embedded_observations, place_name
from apex_core.errors import BackendError, JobError
from apex_core.flow import JobOutcome
from apex_core.jobs import (
    DownloadProgress,
    JobInfo,
    backend_info,
    connect,
    download_results,
    job_failure,
    job_info,
    job_logs,
    recent_jobs,
    submit_job,
)
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.ndvi import NdviRequest, build_ndvi_cube, default_title
from tests.services import wait_until

pytestmark = pytest.mark.services

BOLZANO = Aoi.from_bbox(11.30, 46.47, 11.38, 46.51)
ROMANIA = Aoi.from_bbox(22.146, 45.202, 22.158, 45.208)
OUTSIDE = Aoi.from_bbox(-15.6, 27.9, -15.5, 28.0)  # Gran Canaria: no embedded data there


def _follow(con: Connection, job_id: str, deadline_s: float = 120.0) -> JobInfo:
    """Poll until the job is final (fails after the deadline)."""
    return wait_until(
        lambda: (info := job_info(con, job_id)).final and info,
        deadline_s,
        every=0.5,
        what=f"job {job_id} final",
    )


@pytest.fixture(scope="module")
def con(openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]) -> Connection:
    user, password = openeo_credentials
    return connect(openeo_backend.url, "embedded", username=user, password=password, timeout=30)


def test_backend_info_lists_no_missing_process(con: Connection) -> None:
    info = backend_info(con)
    assert info.title
    assert info.version
    assert info.missing_processes == ()
    # A range with the cloud mask and a median composite needs more: the embedded backend has it all.
    import datetime as dt

    from apex_core.jobs import BackendInfo
    from apex_core.ndvi import NdviRequest, required_processes

    geometry = {"type": "Polygon", "coordinates": [[[22.146, 45.202], [22.158, 45.202], [22.158, 45.208],
                                                    [22.146, 45.202]]]}  # fmt: skip
    masked = NdviRequest(
        geometry, dt.date(2019, 6, 1), dt.date(2019, 8, 31), mask_clouds=True, composite="median"
    )
    needed = required_processes(masked)
    assert {"mask", "reduce_dimension", "median"} <= set(needed) and info.missing(needed) == ()
    # A backend without them says which (what the Job page shows before a submit would fail).
    older = BackendInfo.from_dict(
        {**info.to_dict(), "processes": [p for p in info.processes or () if p != "mask"]}
    )
    assert older.missing(needed) == ("mask",)
    assert BackendInfo.from_dict(older.to_dict()) == older


def test_wrong_password_is_an_auth_error(openeo_backend: OpenEoBackendService) -> None:
    from apex_core.errors import AuthError

    with pytest.raises(AuthError):
        connect(openeo_backend.url, "basic", username="demo", password="wrong", timeout=30)


def test_submit_follow_download_and_state(con: Connection, tmp_path: Path) -> None:
    footprints = embedded_footprints(con.root_url)
    assert place_name(BOLZANO, footprints) == "Bolzano"
    request = NdviRequest.for_backend(BOLZANO.to_dict(), dt.date(2022, 6, 12), None)
    title = default_title("Bolzano")
    submitted = submit_job(con, build_ndvi_cube(request, con), title)
    info = _follow(con, submitted.id)
    assert info.status == "finished", job_logs(con, submitted.id)
    seen: list[DownloadProgress] = []
    state = download_results(con, submitted.id, tmp_path / "work", title=title, on_progress=seen.append)
    assert state.finished
    assert (state.id, state.title) == (submitted.id, title)
    assert seen
    assert seen[-1].fraction == 1.0
    assert len(state.assets) >= 1
    for asset in state.assets:
        path = asset.path
        assert path.is_absolute()
        assert path.parent == (tmp_path / "work" / submitted.id).resolve()
        assert asset.datetime is not None and asset.datetime.startswith("2022-06-12")
        with rasterio.open(path) as ds:
            assert ds.crs.to_epsg() == 3857
            assert ds.count == 1
    assert state.metadata_path is not None
    meta = json.loads(state.metadata_path.read_text())
    # The items the results link to came with the download (the Metadata step need not fetch them).
    assert [i["id"] for i in state.items] and all(i["type"] == "Feature" for i in state.items)
    # saved, the job keeps everything but its items (signed links stay in the session)
    assert JobOutcome.from_dict(json.loads(json.dumps(state.to_dict()))) == replace(state, items=())
    assert meta["id"] == submitted.id

    # Re-attach by id, and find it among the recent jobs.
    assert job_info(con, submitted.id).status == "finished"
    assert submitted.id in [j.id for j in recent_jobs(con)]


def test_bad_job_id_is_a_clear_error(con: Connection) -> None:
    with pytest.raises(JobError, match="no job") as err:
        job_info(con, "j-doesnotexist")
    assert err.value.status == 404
    with pytest.raises(JobError, match="not a job id"):
        job_info(con, "../../etc/passwd")


def test_job_outside_the_data_fails_with_the_backend_code(con: Connection) -> None:
    request = NdviRequest.for_backend(OUTSIDE.to_dict(), dt.date(2019, 8, 19), None)
    submitted = submit_job(con, build_ndvi_cube(request, con), "outside")
    info = _follow(con, submitted.id)
    assert info.status == "error"
    logs = job_logs(con, submitted.id, "error")
    assert logs
    assert any(e.code == "NoDataAvailable" for e in logs)
    failure = job_failure(con, submitted.id, logs)
    assert isinstance(failure, BackendError)
    assert failure.code == "NoDataAvailable"


def test_scene_search_offers_real_dates_for_romania(openeo_backend: OpenEoBackendService) -> None:
    days = embedded_observations(openeo_backend.url, ROMANIA)
    assert len(days) > 100
    assert all(dt.date(2015, 8, 1) <= d.date <= dt.date(2021, 1, 1) for d in days)
    assert any(d.cloud_cover is not None for d in days)
    assert place_name(ROMANIA, embedded_footprints(openeo_backend.url)) == "Romania"


def test_app_graph_equals_the_notebooks_on_the_backend(
    con: Connection, openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]
) -> None:
    """The notebook's cell, run with the stock client against the embedded backend (no featureflags:
    it is not CDSE), gives the same graph as the app's builder on the app's connection."""
    import openeo

    notebook_con = openeo.connect(openeo_backend.url).authenticate_basic(*openeo_credentials)
    s2_cube = notebook_con.load_collection(
        "SENTINEL2_L2A",
        spatial_extent=BOLZANO.to_feature(),
        temporal_extent=["2022-06-12", "2022-06-13"],
        bands=["B04", "B08"],
    )
    ndvi = s2_cube.ndvi()
    result = ndvi.resample_spatial(resolution=38.21851414258813, projection="EPSG:3857")
    expected = result.save_result(format="GTiff").flat_graph()
    request = NdviRequest.for_backend(BOLZANO.to_dict(), dt.date(2022, 6, 12), None)
    assert build_ndvi_cube(request, con).flat_graph() == expected
