"""The Job page validates the process graph with the backend (``POST /validation``) before it creates or
submits a job, and shows every problem (code and message) instead of submitting; against the real
embedded backend.

The page's own inputs cannot produce a graph the backend refuses (the Area page checks polygons with the
same rules), but the AOI it receives from the session can come from elsewhere, such as a project saved
before a check existed: a self-intersecting polygon seeded into the session stands for that case.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import openeo
import pytest
import requests
from openeo.rest.capabilities import OpenEoCapabilities
from openeo.rest.connection import Connection
from streamlit.testing.v1 import AppTest

from apex_core.errors import ProcessGraphRefused, user_message
from apex_core.flow import AreaChoice
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
from tests.services import wait_until

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
    at = open_page(JOB, **{StateKey.AREA.value: AreaChoice(aoi, "Bolzano", DAY)})
    at.text_input(key="job_user").set_value(credentials[0])
    at.text_input(key="job_password").set_value(credentials[1])
    return ok(next(b for b in at.button if b.label == "Connect").click().run())


def _request(geometry: dict[str, Any], url: str, *, native: bool = False) -> NdviRequest:
    return NdviRequest.for_backend(geometry, dt.date.fromisoformat(DAY), url, native=native)


def _final_status(con: Connection, job_id: str) -> str | None:
    status = job_info(con, job_id).status
    return status if status in ("error", "finished", "canceled") else None


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
        assert refused.value.message == "The backend's validation found 2 problem(s) in the process graph."
        listed = " ".join(message for _, message in refused.value.problems)
        assert "Self-intersection" in listed
        assert "-20 is negative" in listed
        assert all(message in str(refused.value) for _, message in problems)  # logs name them too
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
    final = wait_until(lambda: _final_status(con, job.id), timeout=60, what=f"job {job.id} ends")
    assert final == "error"
    failure = job_failure(con, job.id)
    assert failure.code == "ProcessParameterInvalid"
    assert "Self-intersection" in failure.message


_SERVER_ERROR = {"id": "r-proxy", "code": "Internal", "message": "validation crashed"}
# Headers the proxy does not copy from the backend's answer (it sends the decoded body with its length).
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "server", "date"}


class ValidationProxy:
    """A loopback HTTP server in front of the embedded backend: every request goes through unchanged,
    except ``POST /validation``, which ``mode`` decides: ``pass`` (forwarded), ``error`` (a 500 with an
    openEO error body), ``hang`` (no answer until the proxy stops) or ``drop`` (the connection is
    closed without an answer)."""

    def __init__(self, backend_url: str) -> None:
        parts = urlsplit(backend_url)
        self.mode = "pass"
        self.validations = 0
        self._released = threading.Event()
        target, proxy = f"{parts.scheme}://{parts.netloc}", self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "POST" and urlsplit(self.path).path.endswith("/validation"):
                    proxy.validations += 1
                    if proxy.mode == "error":
                        self._answer(500, json.dumps(_SERVER_ERROR))
                        return
                    if proxy.mode == "hang":
                        proxy._released.wait(60)
                        self.close_connection = True
                        return
                    if proxy.mode == "drop":
                        self.close_connection = True
                        return
                skip = {"host", "content-length", "connection", "accept-encoding"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                upstream = requests.request(
                    self.command,
                    target + self.path,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=60,
                )
                drop = {
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "content-encoding",
                    "server",
                    "date",
                }
                self._answer(
                    upstream.status_code,
                    upstream.content,
                    [(k, v) for k, v in upstream.headers.items() if k.lower() not in drop],
                )

            def _answer(
                self, status: int, body: str | bytes, headers: list[tuple[str, str]] | None = None
            ) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for key, value in headers or [("Content-Type", "application/json")]:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{parts.path}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(openeo_backend: OpenEoBackendService) -> Iterator[ValidationProxy]:
    server = ValidationProxy(openeo_backend.url)
    yield server
    server.stop()


def test_a_failing_validation_does_not_block_the_job(
    openeo_backend: OpenEoBackendService,
    openeo_credentials: tuple[str, str],
    proxy: ValidationProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user, password = openeo_credentials
    con = connect(proxy.url, "basic", username=user, password=password, timeout=3)
    valid = build_ndvi_cube(_request(BOLZANO, proxy.url), con)
    refused_cube = build_ndvi_cube(_request(BOW_TIE, proxy.url), con)
    # Through the proxy, the backend's validation answers as it does directly.
    problems = validation_problems(con, refused_cube)
    assert problems and problems[0][0] == "ProcessParameterInvalid"
    before = _jobs(openeo_backend, openeo_credentials)
    created = set()
    for mode in ("error", "hang", "drop"):
        proxy.mode = mode
        seen = proxy.validations
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="apex_core.jobs"):
            # Could not validate (a 500, a timeout, no answer): logged, and the job is created anyway.
            assert validation_problems(con, refused_cube) is None
            check_graph(con, refused_cube)
            job = create_job(con, refused_cube, f"not validated ({mode})")
        assert proxy.validations == seen + 3
        assert job.status == "created"
        created.add(job.id)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 3, warnings
        assert all("could not validate the process graph" in w for w in warnings), warnings
    # Submitting works too; the backend checks the graph when the job starts.
    proxy.mode = "error"
    submitted = submit_job(con, valid, "submitted without validation")
    assert submitted.status in ("queued", "running", "finished")
    created.add(submitted.id)
    assert _jobs(openeo_backend, openeo_credentials) == before | created
    failed = next(j for j in created if job_info(con, j).title == "not validated (error)")
    start_job(con, failed)
    assert wait_until(lambda: _final_status(con, failed), timeout=60, what=f"job {failed} ends") == "error"
    assert job_failure(con, failed).code == "ProcessParameterInvalid"
    # Problems the backend lists still block.
    proxy.mode = "pass"
    with pytest.raises(ProcessGraphRefused):
        create_job(con, refused_cube, "refused")


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
    # Each problem the exception holds, as a list item with its code and message.
    refused = at.session_state["apex_job_err"]
    assert isinstance(refused, ProcessGraphRefused) and refused.problems
    for code, message in refused.problems:
        assert f"- `{code}`: {message}" in errors
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
    assert job.status == "created"
    assert not at.error
    con = openeo.connect(openeo_backend.url).authenticate_basic(*openeo_credentials)
    created = con.job(job.id).describe()["process"]["process_graph"]
    assert created == validations[0]  # the graph validated is the graph created
