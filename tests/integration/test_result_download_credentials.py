"""Result downloads: the backend's credentials go to the backend's own host (its result links may sit
outside the API root) and never to another host, over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import openeo
import pytest

from apex_core.jobs import download_results
from tests.services import loopback_http

TIF = b"II*\x00" + bytes(64)


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with ``TIF`` and records the Authorization header per path."""

    seen: ClassVar[dict[str, str | None]] = {}

    def do_GET(self) -> None:
        type(self).seen[self.path] = self.headers.get("Authorization")
        self.send_response(200)
        self.send_header("Content-Length", str(len(TIF)))
        self.end_headers()
        self.wfile.write(TIF)

    def log_message(self, *args: Any) -> None:
        pass


class _Elsewhere(_Recorder):
    seen: ClassVar[dict[str, str | None]] = {}


class _Backend(_Recorder):
    """A minimal openEO API at /openeo/1.2: basic sign-in, one finished job whose results link a file on
    the backend's own host outside the API root and one on another host."""

    seen: ClassVar[dict[str, str | None]] = {}
    elsewhere = ""

    def _json(self, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        host = f"http://{self.headers['Host']}"
        if self.path in ("/openeo/1.2", "/openeo/1.2/"):
            return self._json(
                {
                    "api_version": "1.2.0",
                    "backend_version": "1",
                    "stac_version": "1.0.0",
                    "id": "t",
                    "title": "t",
                    "description": "t",
                    "endpoints": [
                        {"path": "/credentials/basic", "methods": ["GET"]},
                        {"path": "/jobs/{job_id}", "methods": ["GET"]},
                        {"path": "/jobs/{job_id}/results", "methods": ["GET"]},
                    ],
                    "links": [],
                }
            )
        if self.path == "/openeo/1.2/credentials/basic":
            return self._json({"access_token": "s3cret-token"})
        if self.path == "/openeo/1.2/jobs/j-1":
            return self._json(
                {
                    "id": "j-1",
                    "status": "finished",
                    "title": "t",
                    "process": {},
                    "created": "2026-01-01T00:00:00Z",
                }
            )
        if self.path == "/openeo/1.2/jobs/j-1/results":
            return self._json(
                {
                    "type": "Collection",
                    "id": "j-1",
                    "stac_version": "1.0.0",
                    "description": "t",
                    "license": "proprietary",
                    "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]}, "temporal": {"interval": [[None, None]]}},
                    "links": [],
                    "assets": {
                        "own.tif": {"href": f"{host}/download/own.tif", "type": "image/tiff"},
                        "other.tif": {"href": f"{self.elsewhere}/other.tif", "type": "image/tiff"},
                    },
                }
            )
        return super().do_GET()


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    _Backend.seen, _Elsewhere.seen = {}, {}
    with loopback_http(_Elsewhere) as elsewhere, loopback_http(_Backend) as backend:
        _Backend.elsewhere = elsewhere
        yield backend, elsewhere


def test_credentials_go_to_the_backend_host_only(servers: tuple[str, str], tmp_path: Path) -> None:
    backend, _elsewhere = servers
    con = openeo.connect(f"{backend}/openeo/1.2").authenticate_basic("alice", "pw")
    job = download_results(con, "j-1", tmp_path, timeout=10)
    assert {a.key: a.path.read_bytes() for a in job.assets} == {"own.tif": TIF, "other.tif": TIF}
    assert _Backend.seen["/download/own.tif"] == "Bearer basic//s3cret-token"  # outside the API root
    assert _Elsewhere.seen == {"/other.tif": None}  # another host: no credential
