"""Regression tests over HTTP of what the openEO compliance suite found missing in the embedded backend:
``GET /service_types``, ``POST /validation`` of a body without a process graph, and the user-defined
processes (``/process_graphs``): stored per user in the backend's state directory, invisible to other
users, and ids that could name a path are refused before any file is touched.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from apex_core.local.openeo.service import DEFAULT_PASSWORD, DEFAULT_USER, OpenEoBackendService
from tests.services import OIDC_PROVIDER_ID

pytestmark = pytest.mark.services

TIMEOUT = 60

# The compliance suite's own example (payload_examples/put_process_graphs): "absolute" without its
# required argument, which a stored process may leave to later use.
INCOMPLETE = {
    "process_graph": {"absolute2": {"process_id": "absolute", "arguments": {}, "result": True}},
    "parameters": [],
    "id": "test123",
}
EVI_PART = {
    "summary": "NIR minus red",
    "description": "Subtracts the red band from the near infrared band.",
    "parameters": [
        {"name": "red", "description": "Red.", "schema": {"type": "number"}},
        {"name": "nir", "description": "Near infrared.", "schema": {"type": "number"}},
    ],
    "returns": {"description": "The difference.", "schema": {"type": "number"}},
    "process_graph": {
        "sub": {
            "process_id": "subtract",
            "arguments": {"x": {"from_parameter": "nir"}, "y": {"from_parameter": "red"}},
            "result": True,
        }
    },
}


@dataclass(frozen=True)
class User:
    url: str
    headers: dict[str, str]

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        return requests.request(method, f"{self.url}{path}", headers=self.headers, timeout=TIMEOUT, **kwargs)

    def raw(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
        """The request with ``path`` sent exactly as given (no client normalises ``..`` away)."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT)
        try:
            headers = {**self.headers, "Content-Type": "application/json"}
            conn.request(method, parts.path + path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        finally:
            conn.close()
        return response.status, json.loads(text) if text.strip().startswith("{") else {"text": text}


@pytest.fixture(scope="module")
def demo(openeo_backend_oidc: OpenEoBackendService) -> User:
    response = requests.get(
        f"{openeo_backend_oidc.url}/credentials/basic", auth=(DEFAULT_USER, DEFAULT_PASSWORD), timeout=TIMEOUT
    )
    response.raise_for_status()
    token = response.json()["access_token"]
    return User(openeo_backend_oidc.url, {"Authorization": f"Bearer basic//{token}"})


@pytest.fixture(scope="module")
def editor(openeo_backend_oidc: OpenEoBackendService, token_for: Callable[[str], str]) -> User:
    """Another user of the same backend, signed in through the local OIDC issuer."""
    bearer = f"Bearer oidc/{OIDC_PROVIDER_ID}/{token_for('editor')}"
    return User(openeo_backend_oidc.url, {"Authorization": bearer})


def _error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == code, body
    assert body["message"]
    return str(body["message"])


def _endpoints(user: User) -> dict[str, list[str]]:
    return {e["path"]: e["methods"] for e in user.call("GET", "/").json()["endpoints"]}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "logs" not in p.relative_to(root).parts}


# --- GET /service_types -----------------------------------------------------------------------------------


def test_service_types_is_an_empty_object(demo: User) -> None:
    response = requests.get(f"{demo.url}/service_types", timeout=TIMEOUT)  # public, like /file_formats
    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert "GET" in _endpoints(demo)["/service_types"]


# --- POST /validation without a process graph -------------------------------------------------------------


def test_validation_of_a_body_without_a_process_graph_lists_process_graph_missing(demo: User) -> None:
    response = demo.call("POST", "/validation", {})
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert [e["code"] for e in errors] == ["ProcessGraphMissing"]
    assert errors[0]["message"]
    # Any object without one, too; a process graph that is not one is listed as such.
    assert [e["code"] for e in demo.call("POST", "/validation", {"title": "x"}).json()["errors"]] == [
        "ProcessGraphMissing"
    ]
    invalid = demo.call("POST", "/validation", {"process_graph": {}})
    assert [e["code"] for e in invalid.json()["errors"]] == ["ProcessGraphInvalid"]
    # No body at all, or a body that is not an object, stays a client error.
    no_body = requests.post(f"{demo.url}/validation", headers=demo.headers, timeout=TIMEOUT)
    assert 400 <= no_body.status_code < 500, no_body.text
    _error(demo.call("POST", "/validation", ["process_graph"]), 400, "ProcessGraphMissing")


# --- /process_graphs ----------------------------------------------------------------------------------------


def test_store_read_list_replace_and_delete_a_user_defined_process(
    demo: User, openeo_backend_oidc: OpenEoBackendService
) -> None:
    process_id = str(uuid.uuid4())  # dashes: lenient, the API's pattern is ^\w+$
    path = f"/process_graphs/{process_id}"
    stored = demo.call("PUT", path, INCOMPLETE)
    assert stored.status_code == 200, stored.text
    got = demo.call("GET", path)
    assert got.status_code == 200, got.text
    assert got.json() == {**INCOMPLETE, "id": process_id}  # the path's id, not the body's
    listing = demo.call("GET", "/process_graphs")
    assert listing.status_code == 200, listing.text
    assert {"id": process_id, "parameters": []} in listing.json()["processes"]
    # Kept in the state directory, one file per process.
    files = list((openeo_backend_oidc.state_dir / "openeo" / "process_graphs").glob(f"*/{process_id}.json"))
    assert len(files) == 1, files
    assert json.loads(files[0].read_text())["process_graph"] == INCOMPLETE["process_graph"]
    # PUT again replaces it; non-standard fields such as "public" are not kept.
    assert demo.call("PUT", path, {**EVI_PART, "public": True}).status_code == 200
    assert demo.call("GET", path).json() == {**EVI_PART, "id": process_id}
    listed = next(p for p in demo.call("GET", "/process_graphs").json()["processes"] if p["id"] == process_id)
    assert listed["summary"] == EVI_PART["summary"]
    assert "process_graph" not in listed  # the listing is the short form
    # Delete: 204, then it is gone.
    deleted = demo.call("DELETE", path)
    assert deleted.status_code == 204, deleted.text
    assert process_id in _error(demo.call("GET", path), 404, "ProcessGraphNotFound")
    _error(demo.call("DELETE", path), 404, "ProcessGraphNotFound")
    assert process_id not in {p["id"] for p in demo.call("GET", "/process_graphs").json()["processes"]}
    assert not files[0].exists()
    endpoints = _endpoints(demo)
    assert set(endpoints["/process_graphs/{process_graph_id}"]) >= {"GET", "PUT", "DELETE"}
    assert "GET" in endpoints["/process_graphs"]


def test_malformed_user_defined_processes_are_refused(demo: User) -> None:
    path = f"/process_graphs/p_{uuid.uuid4().hex}"
    _error(demo.call("PUT", path, {}), 400, "ProcessGraphMissing")
    _error(demo.call("PUT", path, {"summary": "no graph"}), 400, "ProcessGraphMissing")
    _error(demo.call("PUT", path, ["not", "an", "object"]), 400, "ProcessGraphMissing")
    no_result = {"process_graph": {"a": {"process_id": "absolute", "arguments": {"x": 1}}}}
    assert '"result": true' in _error(demo.call("PUT", path, no_result), 400, "ProcessGraphInvalid")
    not_nodes = {"process_graph": "absolute"}
    assert "JSON object" in _error(demo.call("PUT", path, not_nodes), 400, "ProcessGraphInvalid")
    status, body = demo.raw(
        "PUT",
        path,
        b'{"process_graph": {"a": {"process_id": "absolute", "arguments": {"x": NaN}, "result": true}}}',
    )
    assert (status, body.get("code")) == (400, "JSONInvalid"), body
    _error(demo.call("GET", path), 404, "ProcessGraphNotFound")
    unauthenticated = requests.put(f"{demo.url}{path}", json=INCOMPLETE, timeout=TIMEOUT)
    assert unauthenticated.status_code == 401, unauthenticated.text


def test_another_users_process_is_invisible(demo: User, editor: User) -> None:
    process_id = f"mine_{uuid.uuid4().hex}"
    path = f"/process_graphs/{process_id}"
    assert demo.call("PUT", path, EVI_PART).status_code == 200
    # The other user: not found, not listed, not deletable, not reachable under /processes/u:<user>.
    assert process_id in _error(editor.call("GET", path), 404, "ProcessGraphNotFound")
    _error(editor.call("DELETE", path), 404, "ProcessGraphNotFound")
    assert process_id not in {p["id"] for p in editor.call("GET", "/process_graphs").json()["processes"]}
    for namespace in (f"u:{DEFAULT_USER}", "u:demo"):
        public = requests.get(f"{demo.url}/processes/{namespace}/{process_id}", timeout=TIMEOUT)
        assert 400 <= public.status_code < 500, public.text
        assert "process_graph" not in public.json()
    # Storing the same id makes the other user's own process; the owner's is unchanged.
    assert editor.call("PUT", path, INCOMPLETE).status_code == 200
    assert editor.call("GET", path).json()["process_graph"] == INCOMPLETE["process_graph"]
    assert demo.call("GET", path).json() == {**EVI_PART, "id": process_id}
    assert editor.call("DELETE", path).status_code == 204
    assert demo.call("GET", path).status_code == 200
    assert demo.call("DELETE", path).status_code == 204


HOSTILE_IDS = [
    "..",
    ".",
    "a.b",
    "a.json",
    "../../escaped",
    "..%2F..%2Fescaped",  # sent encoded once more: the server sees %2F
    "a/b",
    "/etc/passwd",
    "x" * 129,
    "\uff41\uff42\uff43",  # fullwidth letters
    "a\u2215b",  # division slash
    "caf\u00e9",
    "abc\u200b",  # zero-width space
    "a\u202eb",  # right-to-left override
    "a b",
    "a\x00b",
    "a\nb",
    "~",
    "a:b",
    "a\\b",
]


def test_hostile_process_ids_are_refused_without_touching_files(
    demo: User, openeo_backend_oidc: OpenEoBackendService
) -> None:
    root = openeo_backend_oidc.state_dir.parent  # the backend's state dir and what is next to it
    before = _files(root)
    body = json.dumps(INCOMPLETE).encode()
    for hostile in HOSTILE_IDS:
        encoded = quote(hostile, safe="")
        for path in {f"/process_graphs/{encoded}", f"/process_graphs/{quote(hostile, safe='/.')}"}:
            for method in ("PUT", "GET", "DELETE"):
                status, answer = demo.raw(method, path, body if method == "PUT" else None)
                assert (status, answer.get("code")) == (400, "InvalidId"), (hostile, path, method, answer)
    assert _files(root) == before
    assert not list(root.rglob("escaped*"))
    assert not list(root.rglob("passwd*"))
    # The longest id allowed, with every kind of character allowed, works.
    longest = "A-z_0" + "9" * 123
    assert demo.call("PUT", f"/process_graphs/{longest}", INCOMPLETE).status_code == 200
    assert demo.call("GET", f"/process_graphs/{longest}").json()["id"] == longest
    assert demo.call("DELETE", f"/process_graphs/{longest}").status_code == 204
