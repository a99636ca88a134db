"""Regression tests of the embedded openEO backend's API, over HTTP against the real backend.

Each test pins a defect an adversarial check found: invalid extents and resolutions (13), ``POST
/validation`` (14), the results of a failed job (15), official error codes (16), processes missing from
``GET /processes`` (17), the collections listing (18), ``PATCH /jobs/{id}`` and the estimate (19).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openeo
import pytest
import rasterio
import requests
from openeo.rest import OpenEoApiError

from apex_core.config import Settings
from apex_core.errors import BackendError, InputError, JobError, user_message
from apex_core.jobs import (
    JobEstimate,
    cancel_job,
    connect,
    create_job,
    job_estimate,
    job_info,
    rename_job,
    start_job,
)
from apex_core.local.openeo.data import DataCatalogue
from apex_core.local.openeo.engine import build_process_registry
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.ndvi import NdviRequest, build_ndvi_cube
from tests.services import wait_until

pytestmark = pytest.mark.services

TIMEOUT = 60
COLLECTION = "SENTINEL2_L2A"
BOLZANO_DAY = ["2022-06-12", "2022-06-13"]
# 1 km x 1 km of Bolzano on the scene's own 10 m grid (UTM 32N): exactly 100 x 100 pixels.
BOLZANO_UTM = {"west": 680000, "south": 5150000, "east": 681000, "north": 5151000, "crs": 32632}
BOLZANO_BBOX = {"west": 11.30, "south": 46.47, "east": 11.38, "north": 46.51}
ROMANIA_BBOX = {"west": 22.145, "south": 45.2011, "east": 22.1594, "north": 45.2085}


@dataclass(frozen=True)
class Api:
    url: str
    headers: dict[str, str]

    def post(self, path: str, body: Any = None, *, data: str | None = None) -> requests.Response:
        kwargs: dict[str, Any] = {"json": body} if data is None else {"data": data}
        headers = {**self.headers, "Content-Type": "application/json"}
        return requests.post(f"{self.url}{path}", headers=headers, timeout=TIMEOUT, **kwargs)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", headers=self.headers, timeout=TIMEOUT)

    def patch(self, path: str, body: Any = None, *, data: str | None = None) -> requests.Response:
        kwargs: dict[str, Any] = {"json": body} if data is None else {"data": data}
        headers = {**self.headers, "Content-Type": "application/json"}
        return requests.patch(f"{self.url}{path}", headers=headers, timeout=TIMEOUT, **kwargs)

    def create_job(self, graph: dict[str, Any], title: str = "api defects") -> str:
        response = self.post("/jobs", {"title": title, "process": {"process_graph": graph}})
        assert response.status_code == 201, response.text
        return str(response.headers["OpenEO-Identifier"])

    def status(self, job_id: str) -> str:
        response = self.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    def run_job(self, job_id: str, deadline_s: float = 60.0) -> str:
        assert self.post(f"/jobs/{job_id}/results").status_code == 202

        def ended() -> str | None:
            status = self.status(job_id)
            return status if status in ("finished", "error", "canceled") else None

        return wait_until(ended, deadline_s, what=lambda: f"job {job_id} still {self.status(job_id)}")


@pytest.fixture(scope="module")
def api(openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]) -> Api:
    response = requests.get(
        f"{openeo_backend.url}/credentials/basic", auth=openeo_credentials, timeout=TIMEOUT
    )
    response.raise_for_status()
    token = response.json()["access_token"]
    return Api(openeo_backend.url, {"Authorization": f"Bearer basic//{token}"})


@pytest.fixture(scope="module")
def con(openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str]) -> openeo.Connection:
    return openeo.connect(openeo_backend.url).authenticate_basic(*openeo_credentials)


def _load(spatial_extent: Any = None, temporal_extent: Any = BOLZANO_DAY, **extra: Any) -> dict[str, Any]:
    arguments = {
        "id": COLLECTION,
        "spatial_extent": spatial_extent if spatial_extent is not None else BOLZANO_BBOX,
        "temporal_extent": temporal_extent,
        "bands": ["B04", "B08"],
        **extra,
    }
    return {"process_id": "load_collection", "arguments": arguments}


def _ndvi_graph(**load: Any) -> dict[str, Any]:
    return {
        "load": _load(**load),
        "ndvi": {"process_id": "ndvi", "arguments": {"data": {"from_node": "load"}}},
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "ndvi"}, "format": "GTiff"},
            "result": True,
        },
    }


def _resample_graph(resolution: Any, extra_nodes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "load": _load(),
        **(extra_nodes or {}),
        "resample": {
            "process_id": "resample_spatial",
            "arguments": {"data": {"from_node": "load"}, "resolution": resolution, "projection": 3857},
        },
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "resample"}, "format": "GTiff"},
            "result": True,
        },
    }


def _error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == code, body
    assert body["message"]
    return str(body["message"])


def _job_ids(api: Api) -> set[str]:
    return {j["id"] for j in api.get("/jobs").json()["jobs"]}


def _fails_at_start(api: Api, graph: dict[str, Any], code: str, title: str = "fails at start") -> str:
    """A job of ``graph``, which the backend checks when the job starts: creation is a 201 (any
    well-formed graph is accepted), the start a 202, then the job ends in ``error`` with ``code`` in its
    logs and its results are a 424 with that error. Returns the job's error message."""
    job_id = api.create_job(graph, title=title)
    assert api.status(job_id) == "created"
    assert api.run_job(job_id) == "error"
    logs = api.get(f"/jobs/{job_id}/logs").json()["logs"]
    errors = [e for e in logs if e["level"] == "error"]
    assert [e["code"] for e in errors] == [code], logs
    assert not [e for e in logs if "running in worker" in e["message"]], logs  # it never ran
    message = _error(api.get(f"/jobs/{job_id}/results"), 424, code)
    assert errors[0]["message"] == message
    return message


# --- 13: invalid spatial extents and resolutions are 400 ProcessParameterInvalid ---------------------------

BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[11.30, 46.47], [11.38, 46.51], [11.38, 46.47], [11.30, 46.51], [11.30, 46.47]]],
}
INVALID_EXTENTS = {
    "feature-null-geometry": ({"type": "Feature", "properties": {}, "geometry": None}, "no geometry"),
    "feature-point": (
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [11.34, 46.49]}},
        "Polygon or MultiPolygon",
    ),
    "west-greater-than-east": (
        {**BOLZANO_BBOX, "west": 11.38, "east": 11.30},
        "west (11.38) must be less than east",
    ),
    "bow-tie-polygon": (BOW_TIE, "Self-intersection"),
}


@pytest.mark.parametrize(("extent", "says"), INVALID_EXTENTS.values(), ids=INVALID_EXTENTS.keys())
def test_invalid_spatial_extent_is_refused_sync_and_batch(
    api: Api, extent: dict[str, Any], says: str
) -> None:
    graph = _ndvi_graph(spatial_extent=extent)
    message = _error(
        api.post("/result", {"process": {"process_graph": graph}}), 400, "ProcessParameterInvalid"
    )
    assert "'spatial_extent'" in message
    assert "'load_collection'" in message
    assert says in message
    # Batch: the job is created (the graph is well-formed) and ends in error with the same error at start.
    assert (
        _fails_at_start(api, graph, "ProcessParameterInvalid", "invalid extent") == f"Job failed: {message}"
    )


def test_negative_resolution_is_refused_sync_and_batch(api: Api) -> None:
    graph = _resample_graph(-20)
    message = _error(
        api.post("/result", {"process": {"process_graph": graph}}), 400, "ProcessParameterInvalid"
    )
    assert "'resolution'" in message
    assert "'resample_spatial'" in message
    assert "positive" in message
    assert _fails_at_start(api, graph, "ProcessParameterInvalid") == f"Job failed: {message}"
    pair = _resample_graph([20, -20])
    assert "-20 is negative" in _error(
        api.post("/result", {"process": {"process_graph": pair}}), 400, "ProcessParameterInvalid"
    )


def test_resolution_computed_by_the_graph_is_checked_when_it_runs(api: Api) -> None:
    """A resolution only known at run time: sync is a 400, the batch job ends in ``error`` with it and
    its results answer 424 with that error (15)."""
    negative = {"negative": {"process_id": "multiply", "arguments": {"x": -1, "y": 20}}}
    graph = _resample_graph({"from_node": "negative"}, negative)
    message = _error(
        api.post("/result", {"process": {"process_graph": graph}}), 400, "ProcessParameterInvalid"
    )
    assert "-20 is negative" in message
    job_id = api.create_job(graph)
    assert api.run_job(job_id) == "error"
    errors = [e for e in api.get(f"/jobs/{job_id}/logs").json()["logs"] if e["level"] == "error"]
    assert errors[-1]["code"] == "ProcessParameterInvalid"
    assert message in errors[-1]["message"]
    assert message in _error(api.get(f"/jobs/{job_id}/results"), 424, "ProcessParameterInvalid")


# --- 14: POST /validation ---------------------------------------------------------------------------------


def test_validation_of_a_valid_graph_is_an_empty_list(api: Api, con: openeo.Connection) -> None:
    response = api.post("/validation", {"process_graph": _ndvi_graph()})
    assert response.status_code == 200, response.text
    assert response.json() == {"errors": []}
    # The notebook's graph as the stock client builds it, validated through the client.
    cube = con.load_collection(
        COLLECTION, spatial_extent=BOLZANO_BBOX, temporal_extent=BOLZANO_DAY, bands=["B04", "B08"]
    )
    assert cube.ndvi().resample_spatial(38.2, "EPSG:3857").save_result("GTiff").validate() == []
    endpoints = {e["path"]: e["methods"] for e in api.get("/").json()["endpoints"]}
    assert "POST" in endpoints["/validation"]


def test_validation_lists_every_problem(api: Api) -> None:
    graph = _ndvi_graph(bands=["B04", "B99"])
    graph["ndvi"]["arguments"]["colour"] = "green"  # unknown argument
    del graph["save"]["arguments"]["format"]  # required argument missing
    graph["load2"] = {
        "process_id": "load_collection",
        "arguments": {**_load()["arguments"], "id": "LANDSAT9"},
    }
    graph["magic"] = {"process_id": "make_it_green", "arguments": {"data": {"from_node": "load"}}}
    graph["reduce"] = {
        "process_id": "reduce_dimension",
        "arguments": {
            "data": {"from_node": "load"},
            "dimension": "bands",
            "reducer": {"process_graph": {"m": {"process_id": "maximum", "arguments": {}, "result": True}}},
        },
    }
    response = api.post("/validation", {"process_graph": graph})
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert all(set(e) >= {"code", "message"} for e in errors)
    by_code: dict[str, list[str]] = {}
    for e in errors:
        by_code.setdefault(e["code"], []).append(e["message"])
    assert any("'B99'" in m and "bands" in m for m in by_code["ProcessParameterInvalid"])
    assert any("'colour'" in m and "'ndvi'" in m for m in by_code["ProcessParameterUnsupported"])
    assert any("'format'" in m and "'save_result'" in m for m in by_code["ProcessParameterRequired"])
    assert any("'LANDSAT9'" in m for m in by_code["CollectionNotFound"])
    unsupported = " ".join(by_code["ProcessUnsupported"])
    assert "'make_it_green'" in unsupported
    assert "'maximum'" in unsupported  # inside the reducer's child graph


# --- 15: results of a failed job --------------------------------------------------------------------------


def test_results_of_a_failed_job_are_424_with_its_error(api: Api, con: openeo.Connection) -> None:
    job_id = api.create_job(_ndvi_graph(temporal_extent=["2021-01-05", "2021-01-06"]))  # no data that day
    unstarted = api.get(f"/jobs/{job_id}/results")
    assert _error(unstarted, 400, "JobNotFinished")
    assert api.run_job(job_id) == "error"
    message = _error(api.get(f"/jobs/{job_id}/results"), 424, "NoDataAvailable")
    assert "Bolzano" in message
    with pytest.raises(OpenEoApiError) as failed:
        con.job(job_id).get_results().get_metadata()
    assert failed.value.http_status_code == 424
    assert failed.value.code == "NoDataAvailable"
    partial = api.get(f"/jobs/{job_id}/results?partial=true")
    assert partial.status_code == 200
    assert partial.json()["openeo:status"] == "error"


# --- 16: official error codes ------------------------------------------------------------------------------


def test_unknown_collection_is_404_collection_not_found(api: Api) -> None:
    graph = _ndvi_graph()
    graph["load"]["arguments"]["id"] = "NO_SUCH_COLLECTION"
    body = {"process": {"process_graph": graph}}
    message = _error(api.post("/result", body), 404, "CollectionNotFound")
    assert "'NO_SUCH_COLLECTION'" in message
    assert _fails_at_start(api, graph, "CollectionNotFound") == f"Job failed: {message}"
    errors = api.post("/validation", {"process_graph": graph}).json()["errors"]
    assert [e["code"] for e in errors] == ["CollectionNotFound"]


def test_unknown_process_is_400_process_unsupported(api: Api) -> None:
    graph = _ndvi_graph()
    graph["ndvi"]["process_id"] = "ndvi_deluxe"
    body = {"process": {"process_graph": graph}}
    message = _error(api.post("/result", body), 400, "ProcessUnsupported")
    assert "'ndvi_deluxe'" in message
    assert _fails_at_start(api, graph, "ProcessUnsupported") == f"Job failed: {message}"
    errors = api.post("/validation", {"process_graph": graph}).json()["errors"]
    assert [e["code"] for e in errors] == ["ProcessUnsupported"]


# Graphs that are not well-formed, with what the refusal says at creation (openeo-driver answers some
# itself, with its generic message) and when they replace a job's process.
_DRIVER_SAYS = "Invalid process graph specified."
MALFORMED_GRAPHS = {
    "no-result-node": (
        {"load": _load()},
        'exactly one node with "result": true',
        'exactly one node with "result": true',
    ),
    "node-without-process-id": ({"x": {"arguments": {}, "result": True}}, _DRIVER_SAYS, '"process_id"'),
    "dangling-from-node": (
        {"n": {"process_id": "ndvi", "arguments": {"data": {"from_node": "nowhere"}}, "result": True}},
        "'nowhere'",
        "'nowhere'",
    ),
    "not-an-object": (["load_collection"], _DRIVER_SAYS, "non-empty JSON object of nodes"),
}


@pytest.mark.parametrize(
    ("graph", "at_creation", "in_patch"), MALFORMED_GRAPHS.values(), ids=MALFORMED_GRAPHS.keys()
)
def test_a_malformed_graph_is_refused_at_job_creation(
    api: Api, graph: Any, at_creation: str, in_patch: str
) -> None:
    """Only a body that is not a well-formed process graph is refused by ``POST /jobs`` (and by the
    ``PATCH`` of a job's process): everything else is checked when the job starts."""
    before = _job_ids(api)
    created = api.post("/jobs", {"process": {"process_graph": graph}})
    assert at_creation in _error(created, 400, "ProcessGraphInvalid")
    _error(api.post("/jobs", {"title": "no process"}), 400, "ProcessGraphMissing")
    assert _job_ids(api) == before
    job_id = api.create_job(_ndvi_graph())
    patched = api.patch(f"/jobs/{job_id}", {"process": {"process_graph": graph}})
    assert in_patch in _error(patched, 400, "ProcessGraphInvalid")
    assert api.get(f"/jobs/{job_id}").json()["process"]["process_graph"] == _ndvi_graph()


@pytest.mark.parametrize("path", ["/result", "/jobs", "/validation"])
def test_malformed_json_is_400_json_invalid(api: Api, path: str) -> None:
    message = _error(api.post(path, data='{"process": {"process_graph": '), 400, "JSONInvalid")
    assert "JSON" in message


# --- 17: every process the engine runs is listed ----------------------------------------------------------


def _engine_processes() -> set[str]:
    catalogue = DataCatalogue(Settings.load().sample_data_dir)
    return {str(name) for _namespace, name in build_process_registry(catalogue)}


def test_every_runnable_process_is_listed_with_its_spec(api: Api) -> None:
    listed = {p["id"]: p for p in api.get("/processes").json()["processes"]}
    runnable = _engine_processes() - {"export_workspace"}  # offered only where workspaces are configured
    assert {"max", "min", "sum", "and", "or", "not", "if", "int", "round", "all", "any"} <= runnable
    missing = sorted(runnable - set(listed))
    assert not missing, f"runnable but not listed: {missing}"
    for name in runnable:
        spec = listed[name]
        assert spec["id"] == name
        assert isinstance(spec["parameters"], list)
        assert "schema" in spec["returns"]
        assert spec["description"]
    assert [p["name"] for p in listed["if"]["parameters"]] == ["value", "accept", "reject"]
    assert set(listed) <= runnable  # nothing is listed that cannot run


def _download(api: Api, graph: dict[str, Any], path: Path) -> Path:
    response = api.post("/result", {"process": {"process_graph": graph}})
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return path


def test_max_and_if_run(api: Api, tmp_path: Path) -> None:
    x = {"from_parameter": "x"}
    graph = {
        "load": _load(spatial_extent=BOLZANO_UTM),
        "reduce": {
            "process_id": "reduce_dimension",
            "arguments": {
                "data": {"from_node": "load"},
                "dimension": "bands",
                "reducer": {
                    "process_graph": {
                        "max": {
                            "process_id": "max",
                            "arguments": {"data": {"from_parameter": "data"}},
                            "result": True,
                        }
                    }
                },
            },
        },
        "mask": {
            "process_id": "apply",
            "arguments": {
                "data": {"from_node": "reduce"},
                "process": {
                    "process_graph": {
                        "gt": {"process_id": "gt", "arguments": {"x": x, "y": 500}},
                        "lt": {"process_id": "lt", "arguments": {"x": x, "y": 3000}},
                        "and": {
                            "process_id": "and",
                            "arguments": {"x": {"from_node": "gt"}, "y": {"from_node": "lt"}},
                        },
                        "if": {
                            "process_id": "if",
                            "arguments": {"value": {"from_node": "and"}, "accept": x, "reject": None},
                            "result": True,
                        },
                    }
                },
            },
        },
        "save": {
            "process_id": "save_result",
            "arguments": {"data": {"from_node": "mask"}, "format": "GTiff"},
            "result": True,
        },
    }
    assert api.post("/validation", {"process_graph": graph}).json() == {"errors": []}
    out = _download(api, graph, tmp_path / "max-and-if.tif")
    raw = _download(
        api, {"load": {**_load(spatial_extent=BOLZANO_UTM), "result": True}}, tmp_path / "raw.tif"
    )
    with rasterio.open(raw) as ds:
        red, nir = ds.read(1), ds.read(2)
    with rasterio.open(out) as ds:
        result = ds.read(1)
    highest = np.fmax(red, nir)
    expected = np.where((highest > 500) & (highest < 3000), highest, np.nan)
    assert result.shape == (100, 100)
    assert np.isfinite(expected).sum() > 100
    assert np.isnan(expected).sum() > 100
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    np.testing.assert_allclose(result, expected, equal_nan=True)


# --- 18: collections have "type": "Collection" ------------------------------------------------------------


def test_collections_have_their_stac_type(api: Api) -> None:
    listing = api.get("/collections").json()["collections"]
    assert listing
    assert all(c["type"] == "Collection" for c in listing), listing
    assert api.get(f"/collections/{COLLECTION}").json()["type"] == "Collection"


# --- 19: PATCH /jobs/{id} and GET /jobs/{id}/estimate ------------------------------------------------------


def test_patch_a_created_job(api: Api) -> None:
    job_id = api.create_job(_ndvi_graph(), title="before")
    response = api.patch(f"/jobs/{job_id}", {"title": "after", "description": "renamed by a test"})
    assert response.status_code == 204, response.text
    job = api.get(f"/jobs/{job_id}").json()
    assert (job["title"], job["description"], job["status"]) == ("after", "renamed by a test", "created")
    # A new, valid process replaces the old one; an invalid one is refused with its error.
    kempen = _ndvi_graph(spatial_extent={"west": 5.25, "south": 51.24, "east": 5.27, "north": 51.26})
    kempen["load"]["arguments"]["temporal_extent"] = ["2019-04-11", "2019-04-12"]
    assert api.patch(f"/jobs/{job_id}", {"process": {"process_graph": kempen}}).status_code == 204
    assert api.get(f"/jobs/{job_id}").json()["process"]["process_graph"] == kempen
    # An invalid (but well-formed) process is accepted too, and checked when the job starts.
    invalid = copy.deepcopy(kempen)
    invalid["load"]["arguments"]["spatial_extent"] = BOW_TIE
    assert api.patch(f"/jobs/{job_id}", {"process": {"process_graph": invalid}}).status_code == 204
    assert api.get(f"/jobs/{job_id}").json()["process"]["process_graph"] == invalid
    assert api.run_job(job_id) == "error"
    assert "Self-intersection" in _error(api.get(f"/jobs/{job_id}/results"), 424, "ProcessParameterInvalid")
    assert api.patch(f"/jobs/{job_id}", {"process": {"process_graph": kempen}}).status_code == 204
    _error(api.patch(f"/jobs/{job_id}", {"status": "finished"}), 400, "PropertyNotEditable")
    unchanged = api.get(f"/jobs/{job_id}").json()
    assert api.patch(f"/jobs/{job_id}", {}).status_code == 204  # an empty patch changes nothing
    assert api.get(f"/jobs/{job_id}").json() == unchanged
    _error(api.patch(f"/jobs/{job_id}", ["title"]), 400, "JSONInvalid")
    _error(api.patch(f"/jobs/{job_id}", data="{title"), 400, "JSONInvalid")
    _error(api.patch("/jobs/j-0000000000000000", {"title": "x"}), 404, "JobNotFound")
    assert api.get(f"/jobs/{job_id}").json()["title"] == "after"
    # The job runs the new process; a finished job can be renamed too.
    assert api.run_job(job_id) == "finished", api.get(f"/jobs/{job_id}/logs").json()
    assert api.patch(f"/jobs/{job_id}", {"title": "done"}).status_code == 204
    assert api.get(f"/jobs/{job_id}").json()["title"] == "done"
    endpoints = {e["path"]: e["methods"] for e in api.get("/").json()["endpoints"]}
    assert "PATCH" in endpoints["/jobs/{job_id}"]
    assert "GET" in endpoints["/jobs/{job_id}/estimate"]


def test_patch_of_a_running_job_is_locked(api: Api) -> None:
    # All 140 Romanian dates: seconds of work, so the job is queued or running when patched.
    job_id = api.create_job(_ndvi_graph(spatial_extent=ROMANIA_BBOX, temporal_extent=None), title="busy")
    assert api.post(f"/jobs/{job_id}/results").status_code == 202
    try:
        _error(api.patch(f"/jobs/{job_id}", {"title": "renamed"}), 400, "JobLocked")
        _error(api.patch(f"/jobs/{job_id}", {}), 400, "JobLocked")
        assert api.status(job_id) in ("queued", "running")
    finally:
        requests.delete(f"{api.url}/jobs/{job_id}/results", headers=api.headers, timeout=TIMEOUT)
    assert api.get(f"/jobs/{job_id}").json()["title"] == "busy"


def _logs(api: Api, job_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/jobs/{job_id}/logs")
    assert response.status_code == 200, response.text
    return list(response.json()["logs"])


def _asset_bboxes(api: Api, job_id: str) -> list[list[float]]:
    response = api.get(f"/jobs/{job_id}/results")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["openeo:status"] == "finished"
    return [item["bbox"] for item in _result_items(api, body)]


def _result_items(api: Api, results: dict[str, Any]) -> list[dict[str, Any]]:
    items = [link["href"] for link in results["links"] if link.get("rel") == "item"]
    return [requests.get(href, headers=api.headers, timeout=TIMEOUT).json() for href in items]


def test_starting_a_finished_job_runs_it_again_without_its_old_results_and_logs(api: Api) -> None:
    job_id = api.create_job(_ndvi_graph(), title="restart me")
    assert api.run_job(job_id) == "finished"
    first_logs = _logs(api, job_id)
    assert first_logs[0]["message"] == "Job created."
    first_results = api.get(f"/jobs/{job_id}/results").json()
    assert first_results["assets"]
    # The API: starting a finished job restarts it and discards the previous results (a 202).
    assert api.run_job(job_id) == "finished"
    logs = _logs(api, job_id)
    assert logs[0]["message"].startswith("Job restarted (it was finished)"), logs
    assert not [e for e in logs if e["message"] == "Job created."], logs  # the old run's logs are gone
    assert sum("running in worker" in e["message"] for e in logs) == 1, logs
    # Log ids keep counting up: a reader of the logs from an offset never sees an old id again.
    assert int(logs[0]["id"]) > max(int(e["id"]) for e in first_logs)
    again = api.get(f"/jobs/{job_id}/results").json()
    assert sorted(again["assets"]) == sorted(first_results["assets"])
    # Every asset of the new run downloads.
    for asset in again["assets"].values():
        download = requests.get(asset["href"], headers=api.headers, timeout=TIMEOUT)
        assert download.status_code == 200, asset
        assert download.content[:4] in (b"II*\x00", b"MM\x00*")


def test_a_new_process_discards_the_results_of_a_finished_job(api: Api) -> None:
    job_id = api.create_job(_ndvi_graph(), title="change my process")
    assert api.run_job(job_id) == "finished"
    bolzano = _asset_bboxes(api, job_id)
    assert bolzano and all(11.2 < b[0] < 11.4 for b in bolzano), bolzano
    old_hrefs = [a["href"] for a in api.get(f"/jobs/{job_id}/results").json()["assets"].values()]
    kempen = _ndvi_graph(
        spatial_extent={"west": 5.25, "south": 51.24, "east": 5.27, "north": 51.26},
        temporal_extent=["2019-04-11", "2019-04-12"],
    )
    assert api.patch(f"/jobs/{job_id}", {"process": {"process_graph": kempen}}).status_code == 204
    # The status stays (a PATCH does not change it); the results of the old process are gone, so they
    # never pass for the new process's results.
    job = api.get(f"/jobs/{job_id}").json()
    assert (job["status"], job["process"]["process_graph"]) == ("finished", kempen)
    assert api.get(f"/jobs/{job_id}/results").json()["assets"] == {}
    for href in old_hrefs:
        assert requests.get(href, headers=api.headers, timeout=TIMEOUT).status_code >= 400
    logs = _logs(api, job_id)
    assert "previous process were discarded" in logs[0]["message"], logs
    # A new title alone keeps the results.
    assert api.run_job(job_id) == "finished"
    kempen_boxes = _asset_bboxes(api, job_id)
    assert kempen_boxes and all(5.2 < b[0] < 5.3 for b in kempen_boxes), kempen_boxes
    assert api.patch(f"/jobs/{job_id}", {"title": "renamed"}).status_code == 204
    assert _asset_bboxes(api, job_id) == kempen_boxes


_DURATION = re.compile(r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?", duration)
    assert match, duration
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_estimate_is_derived_from_the_graph(api: Api, con: openeo.Connection, tmp_path: Path) -> None:
    graph = {"load": {**_load(spatial_extent=BOLZANO_UTM), "result": True}}
    job_id = api.create_job(graph)
    response = api.get(f"/jobs/{job_id}/estimate")
    assert response.status_code == 200, response.text
    estimate = response.json()
    assert estimate["costs"] == 0
    assert _DURATION.match(estimate["duration"]), estimate
    assert "downloads_included" not in estimate  # its default, null: unlimited
    # The loaded data: 100 x 100 pixels x 2 bands x 1 date of float32, as a real run writes it.
    raw = _download(api, graph, tmp_path / "raw.tif")
    with rasterio.open(raw) as ds:
        assert (ds.count, ds.height, ds.width, ds.dtypes[0]) == (2, 100, 100, "float32")
        assert estimate["size"] == ds.count * ds.height * ds.width * 4 == 80_000
    # More data (140 dates) is a larger and longer estimate; the client reads it too.
    long_id = api.create_job(_ndvi_graph(spatial_extent=ROMANIA_BBOX, temporal_extent=None))
    long = dict(con.job(long_id).estimate())
    bbox = ",".join(str(v) for v in ROMANIA_BBOX.values())
    dates = len(api.get(f"/scenes/search?bbox={bbox}").json()["features"])
    assert dates == 140
    assert long["size"] > 140 * estimate["size"] / 10
    assert long["size"] % (2 * dates * 4) == 0
    assert _seconds(long["duration"]) > _seconds(estimate["duration"])
    # A job that fails its checks at start is estimated as what it is: free, nothing written, and no
    # duration claimed; the client reads it.
    invalid = _ndvi_graph()
    invalid["load"]["arguments"]["id"] = "NO_SUCH_COLLECTION"
    refused = api.create_job(invalid)
    response = api.get(f"/jobs/{refused}/estimate")
    assert response.status_code == 200, response.text
    assert response.json() == {"costs": 0, "size": 0}
    assert dict(con.job(refused).estimate())["size"] == 0
    # A graph without data is estimated as running it ends: NoDataAvailable.
    nothing = api.create_job(_ndvi_graph(temporal_extent=["2021-01-05", "2021-01-06"]))
    assert "Bolzano" in _error(api.get(f"/jobs/{nothing}/estimate"), 400, "NoDataAvailable")
    _error(api.get("/jobs/j-0000000000000000/estimate"), 404, "JobNotFound")


# --- 19, app side: apex_core renames a job and reads its estimate through the openeo client -----------------

BOLZANO_POLYGON = {
    "type": "Polygon",
    "coordinates": [[[11.30, 46.47], [11.38, 46.47], [11.38, 46.51], [11.30, 46.51], [11.30, 46.47]]],
}


def test_apex_core_renames_and_estimates_a_created_job(
    openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str], api: Api
) -> None:
    user, password = openeo_credentials
    con = connect(openeo_backend.url, "basic", username=user, password=password)
    request = NdviRequest.for_backend(BOLZANO_POLYGON, dt.date(2022, 6, 12), openeo_backend.url)
    job = create_job(con, build_ndvi_cube(request, con), "estimate me")
    assert job.status == "created"
    estimate = job_estimate(con, job.id)
    assert estimate == JobEstimate.from_dict(api.get(f"/jobs/{job.id}/estimate").json(), "EUR")
    assert estimate.costs == 0
    assert estimate.size is not None and estimate.size > 0
    assert estimate.seconds is not None and estimate.seconds >= 1
    assert "free" in estimate.summary()
    renamed = rename_job(con, job.id, "  renamed by apex_core  ")
    assert (renamed.id, renamed.title, renamed.status) == (job.id, "renamed by apex_core", "created")
    with pytest.raises(InputError) as empty:
        rename_job(con, job.id, "   ")
    assert empty.value.field == "title"
    assert user_message(empty.value).title == "This value cannot be used"
    with pytest.raises(InputError) as long_title:
        rename_job(con, job.id, "x" * 201)
    assert long_title.value.field == "title"
    started = start_job(con, job.id)
    assert started.status in ("queued", "running", "finished")
    assert api.run_job(job.id) == "finished"
    assert rename_job(con, job.id, "finished and renamed").title == "finished and renamed"
    # While a job runs (all 140 Romanian dates: seconds), the backend refuses to rename it.
    romania = con.load_collection(COLLECTION, spatial_extent=ROMANIA_BBOX, bands=["B04", "B08"])
    busy = create_job(con, romania.ndvi().save_result("GTiff"), "busy")
    start_job(con, busy.id)
    try:
        with pytest.raises(BackendError) as locked:
            rename_job(con, busy.id, "too late")
        assert (locked.value.code, locked.value.status) == ("JobLocked", 400)
        assert locked.value.request_id
        assert not isinstance(locked.value, JobError)  # the job did not fail: it runs
        assert user_message(locked.value).title == "The openEO backend reported an error"
        assert api.status(busy.id) in ("queued", "running")
    finally:
        cancel_job(con, busy.id)
    assert job_info(con, busy.id).title == "busy"
    # A start the backend refuses is its error, not a failed job.
    with pytest.raises(BackendError) as unknown:
        start_job(con, "j-0000000000000000")
    assert (unknown.value.code, unknown.value.status) == ("JobNotFound", 404)
    assert not isinstance(unknown.value, JobError)
    # A job whose data does not exist has no estimate: the backend's error, through the one error tree.
    nothing = create_job(
        con,
        build_ndvi_cube(
            NdviRequest.for_backend(BOLZANO_POLYGON, dt.date(2021, 1, 5), openeo_backend.url), con
        ),
        "no data",
    )
    with pytest.raises(BackendError) as no_data:
        job_estimate(con, nothing.id)
    assert (no_data.value.code, no_data.value.status) == ("NoDataAvailable", 400)
    assert no_data.value.request_id
    assert not isinstance(no_data.value, JobError)
    assert user_message(no_data.value).title == "The openEO backend reported an error"
