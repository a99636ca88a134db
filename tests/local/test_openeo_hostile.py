"""The embedded openEO back-end against hostile graphs an adversarial review found getting through:
a process named by URL made the server fetch that URL (openeo-driver, before any check), and an
``export_workspace`` merge path with ``..`` wrote outside the workspace, over other users' results."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests

from apex_core.local.openeo.service import OpenEoBackendService

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
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
