"""The Job page validates the process graph with the backend (``POST /validation``) before it creates or
submits a job, and shows every problem (code and message) instead of submitting; against the real
embedded backend.

The page's own inputs cannot produce a graph the backend refuses (the Area page checks polygons with the
same rules), but the AOI it receives from the session can come from elsewhere, such as a project saved
before a check existed: a self-intersecting polygon seeded into the session stands for that case.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import openeo
import pytest
from openeo.rest.capabilities import OpenEoCapabilities
from openeo.rest.connection import Connection
from streamlit.testing.v1 import AppTest

from apex_core.errors import ProcessGraphRefused, user_message
from apex_core.jobs import (
    check_graph,
    connect,
    create_job,
    job_failure,
    job_info,
    start_job,
    submit_job,
    validation_problems,
)
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.ndvi import NdviRequest, build_ndvi_cube
from apex_core.steps import StateKey
from tests.apptest import ok, open_page

pytestmark = pytest.mark.services

JOB = "pages/flow/2_job.py"
BOLZANO = {
    "type": "Polygon",
    "coordinates": [[[11.3, 46.47], [11.38, 46.47], [11.38, 46.51], [11.3, 46.51], [11.3, 46.47]]],
}
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[11.30, 46.47], [11.38, 46.51], [11.38, 46.47], [11.30, 46.51], [11.30, 46.47]]],
}
DAY = "2022-06-12"


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every process graph the app sends to ``POST /validation`` (through the stock client)."""
    seen: list[dict[str, Any]] = []
    original = Connection.validate_process_graph

    def spy(self: Connection, process_graph: Any) -> Any:
        seen.append(process_graph.flat_graph() if hasattr(process_graph, "flat_graph") else process_graph)
        return original(self, process_graph)

    monkeypatch.setattr(Connection, "validate_process_graph", spy)
    return seen


def _jobs(openeo_backend: OpenEoBackendService, credentials: tuple[str, str]) -> set[str]:
    con = openeo.connect(openeo_backend.url).authenticate_basic(*credentials)
    return {j["id"] for j in con.list_jobs()}


def _connected(credentials: tuple[str, str], aoi: dict[str, Any]) -> AppTest:
    at = open_page(JOB, **{StateKey.AOI.value: aoi, "apex_area_date": DAY, "apex_area_place": "Bolzano"})
    at.text_input(key="job_user").set_value(credentials[0])
    at.text_input(key="job_password").set_value(credentials[1])
    return ok(next(b for b in at.button if b.label == "Connect").click().run())


def _request(geometry: dict[str, Any], url: str, *, native: bool = False) -> NdviRequest:
    return NdviRequest.for_backend(geometry, dt.date.fromisoformat(DAY), url, native=native)


# --- apex_core over HTTP ------------------------------------------------------------------------------------


def test_a_refused_graph_is_neither_created_nor_submitted(
    openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]
) -> None:
    con = connect(openeo_backend.url, "basic", username=openeo_credentials[0], password=openeo_credentials[1])
    before = _jobs(openeo_backend, openeo_credentials)
    # Two problems at once: a self-intersecting extent and a negative resolution.
    cube = con.load_collection(
        "SENTINEL2_L2A", spatial_extent=BOW_TIE, temporal_extent=[DAY, "2022-06-13"], bands=["B04", "B08"]
    )
    refused_cube = cube.ndvi().resample_spatial(resolution=-20, projection=3857).save_result("GTiff")
    problems = validation_problems(con, refused_cube)
    assert problems is not None
    assert sorted(code for code, _ in problems) == ["ProcessParameterInvalid", "ProcessParameterInvalid"]
    for call in (create_job, submit_job):
        with pytest.raises(ProcessGraphRefused) as refused:
            call(con, refused_cube, "refused")
        assert refused.value.problems == problems
        assert refused.value.code == "ProcessParameterInvalid"
        assert "Self-intersection" in refused.value.message
        assert "-20 is negative" in refused.value.message
        assert user_message(refused.value).title == "The backend refuses this process graph"
    assert _jobs(openeo_backend, openeo_credentials) == before
    # A valid graph passes (nothing raised) and is created.
    valid = build_ndvi_cube(_request(BOLZANO, openeo_backend.url), con)
    assert validation_problems(con, valid) == ()
    check_graph(con, valid)
    created = create_job(con, valid, "valid")
    assert created.status == "created"
    assert _jobs(openeo_backend, openeo_credentials) == before | {created.id}


def test_without_a_validation_endpoint_the_job_is_created_and_fails_at_start(
    openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    con = connect(openeo_backend.url, "basic", username=openeo_credentials[0], password=openeo_credentials[1])
    listed = con.capabilities().capabilities
    without = {**listed, "endpoints": [e for e in listed["endpoints"] if e["path"] != "/validation"]}
    monkeypatch.setattr(con, "capabilities", lambda: OpenEoCapabilities(without))
    refused_cube = build_ndvi_cube(_request(BOW_TIE, openeo_backend.url), con)
    assert validation_problems(con, refused_cube) is None
    job = create_job(con, refused_cube, "not validated first")
    assert job.status == "created"
    start_job(con, job.id)
    # The backend checks it at start: the job ends in error with the backend's code and message.
    deadline = time.monotonic() + 60
    while (status := job_info(con, job.id).status) not in ("error", "finished"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)  # poll interval
    assert status == "error"
    failure = job_failure(con, job.id)
    assert failure.code == "ProcessParameterInvalid"
    assert "Self-intersection" in failure.message


# --- the Job page -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("button", ["job_create", "job_submit"])
def test_the_page_shows_the_problems_instead_of_submitting(
    openeo_backend: OpenEoBackendService,
    openeo_credentials: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    validations: list[dict[str, Any]],
    button: str,
) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    before = _jobs(openeo_backend, openeo_credentials)
    at = _connected(openeo_credentials, BOW_TIE)
    ok(at.button(key=button).click().run())
    assert len(validations) == 1
    errors = "\n".join(str(e.value) for e in at.error)
    assert "The backend refuses this process graph" in errors
    assert "`ProcessParameterInvalid`" in errors
    assert "Self-intersection" in errors
    assert "Nothing was submitted" in errors
    assert StateKey.JOB not in at.session_state or not at.session_state[StateKey.JOB]
    assert _jobs(openeo_backend, openeo_credentials) == before


def test_a_valid_graph_is_validated_then_created(
    openeo_backend: OpenEoBackendService,
    openeo_credentials: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    validations: list[dict[str, Any]],
) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    at = _connected(openeo_credentials, BOLZANO)
    ok(at.button(key="job_create").click().run())
    assert len(validations) == 1
    job = at.session_state[StateKey.JOB]
    assert job["status"] == "created"
    assert not at.error
    con = openeo.connect(openeo_backend.url).authenticate_basic(*openeo_credentials)
    created = con.job(job["id"]).describe()["process"]["process_graph"]
    assert created == validations[0]  # the graph validated is the graph created
