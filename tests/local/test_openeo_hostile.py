"""The embedded openEO back-end against hostile graphs an adversarial review found getting through:
a process named by URL made the server fetch that URL (openeo-driver, before any check), and an
``export_workspace`` merge path with ``..`` wrote outside the workspace, over other users' results."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests

from apex_core.local.openeo.service import OpenEoBackendService
from tests.services import loopback_http

pytestmark = pytest.mark.services

T = 30


class _Listener(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Listener.seen.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    """A loopback HTTP server that records every request it gets."""
    _Listener.seen = []
    with loopback_http(_Listener) as url:
        yield url


def _graph(namespace: str) -> dict[str, Any]:
    return {
        "process": {
            "process_graph": {
                "a": {"process_id": "evil", "namespace": namespace, "arguments": {}, "result": True},
            }
        }
    }


@pytest.mark.parametrize("route", ["/result", "/jobs"])
def test_a_process_named_by_url_is_unsupported_and_never_fetched(
    openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str], listener: str, route: str
) -> None:
    session = requests.Session()
    token = session.get(f"{openeo_backend.url}/credentials/basic", auth=openeo_credentials, timeout=T)
    session.headers["Authorization"] = f"Bearer basic//{token.json()['access_token']}"
    for namespace in (f"{listener}/result-ssrf?secret=1", f"{listener.upper()}/x"):
        resp = session.post(f"{openeo_backend.url}{route}", json=_graph(namespace), timeout=T)
        assert resp.status_code == 400, resp.text
        assert resp.json()["code"] == "ProcessUnsupported"
    inner = _graph(f"{listener}/nested")["process"]["process_graph"]
    nested = {
        "process": {
            "process_graph": {
                "r": {
                    "process_id": "apply",
                    "arguments": {
                        "data": 1,
                        "process": {"process_graph": inner},
                    },
                    "result": True,
                }
            }
        }
    }
    resp = session.post(f"{openeo_backend.url}{route}", json=nested, timeout=T)
    assert resp.status_code == 400 and resp.json()["code"] == "ProcessUnsupported", resp.text
    assert _Listener.seen == []  # the back-end made no request to the URL


LOAD = {
    "process_id": "load_collection",
    "arguments": {
        "id": "SENTINEL2_L2A",
        "spatial_extent": {"west": 11.30, "south": 46.47, "east": 11.34, "north": 46.50},
        "temporal_extent": ["2022-06-12", "2022-06-13"],
        "bands": ["B04", "B08"],
    },
}
SAVE = {
    "process_id": "save_result",
    "arguments": {"data": {"from_node": "x"}, "format": "GTiff"},
    "result": True,
}


def _on_cube(process_id: str, **arguments: Any) -> dict[str, Any]:
    node = {"process_id": process_id, "arguments": {"data": {"from_node": "load"}, **arguments}}
    return {"load": LOAD, "x": node, "save": SAVE}


MISTAKES = {
    "string-plus-number": {
        "a": {"process_id": "add", "arguments": {"x": "1", "y": 2}, "result": True},
    },
    "unknown-crs": _on_cube("resample_spatial", projection=999999, resolution=10),
    "unknown-method": _on_cube("resample_spatial", resolution=20, method="evil"),
    "unknown-band": _on_cube("filter_bands", bands=["ZZ"]),
    "unknown-dimension": _on_cube(
        "reduce_dimension",
        dimension="nope",
        reducer={
            "process_graph": {
                "m": {"process_id": "max", "arguments": {"data": {"from_parameter": "data"}}, "result": True}
            }
        },
    ),
    "huge-index": {
        "a": {"process_id": "array_element", "arguments": {"data": [1, 2], "index": 10**30}, "result": True},
    },
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_user_mistake_is_a_4xx_with_its_reason_never_internal(
    openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str], case: str
) -> None:
    """Each was a 500 "Internal" (TypeError, CRSError, DimensionNotAvailable, OverflowError...)."""
    token = requests.get(f"{openeo_backend.url}/credentials/basic", auth=openeo_credentials, timeout=T)
    headers = {"Authorization": f"Bearer basic//{token.json()['access_token']}"}
    body = {"process": {"process_graph": MISTAKES[case]}}
    resp = requests.post(f"{openeo_backend.url}/result", json=body, headers=headers, timeout=T)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:500])
    error = resp.json()
    assert error["code"] != "Internal" and error["message"], error
