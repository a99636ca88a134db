"""The Explorer hand-over's CORS check, over real HTTP: a preflight to the embedded catalogue (it admits
every origin, but is loopback HTTP), to a loopback server that answers with or without
``Access-Control-Allow-Origin``, and to a port where nothing listens."""

from __future__ import annotations

import contextlib
import http.server
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apex_core.catalogue import CatalogueClient
from apex_core.explorer import EXPLORER_ORIGIN, check_cors, explorer_handover
from apex_core.local.catalogue import CatalogueHandle
from tests.services import loopback_http
from tests.stacdocs import collection_doc, item_doc

pytestmark = pytest.mark.services

TIFF = "image/tiff; application=geotiff; profile=cloud-optimized"


def _handler(allow: str | None, seen: list[dict[str, str]]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            seen.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
            self.send_response(204)
            if allow is not None:
                self.send_header("Access-Control-Allow-Origin", allow)
                self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def cors_server() -> Iterator[Callable[[str | None], tuple[str, list[dict[str, str]]]]]:
    """``start(allow)``: a loopback server answering preflights with ``allow`` as its
    ``Access-Control-Allow-Origin`` (None: no CORS headers); returns its URL and the requests it saw."""
    with contextlib.ExitStack() as servers:

        def start(allow: str | None) -> tuple[str, list[dict[str, str]]]:
            seen: list[dict[str, str]] = []
            return servers.enter_context(loopback_http(_handler(allow, seen))), seen

        yield start


def _handover_at(base: str, cog: str | None = None) -> Any:
    item = item_doc("i1", "c")
    if cog is not None:
        item["assets"] = {"ndvi": {"href": cog, "type": TIFF, "roles": ["data"]}}
    col = f"{base}/collections/c"
    return explorer_handover(collection_doc("c", "d"), [item], col, [f"{col}/items/i1"])


@pytest.mark.parametrize("allow", ["*", EXPLORER_ORIGIN])
def test_a_server_that_allows_the_explorer_meets_cors(allow: str, cors_server: Any) -> None:
    base, seen = cors_server(allow)
    checked = check_cors(_handover_at(base, f"{base}/files/i1.tif"), timeout=5)
    assert checked.cors is not None and [c.allowed for c in checked.cors] == [True, True]
    assert [c.url for c in checked.cors] == [f"{base}/files/i1.tif", f"{base}/collections/c/items/i1"]
    assert not [u for u in checked.unmet if u.rule == "CORS"]
    assert [s["path"] for s in seen] == ["/files/i1.tif", "/collections/c/items/i1"]
    assert all(s["Origin"] == EXPLORER_ORIGIN for s in seen)
    assert all(s["Access-Control-Request-Method"] == "GET" for s in seen)
    assert not any("Authorization" in s for s in seen)


def test_a_server_without_cors_headers_or_for_another_origin_is_unmet(cors_server: Any) -> None:
    base, _ = cors_server(None)
    checked = check_cors(_handover_at(base), timeout=5)
    assert checked.cors is not None and [c.status for c in checked.cors] == [204]
    (cors,) = [u for u in checked.unmet if u.rule == "CORS"]
    assert (
        "without Access-Control-Allow-Origin" in cors.message
        and f"{base}/collections/c/items/i1" in cors.message
    )

    other, _ = cors_server("https://someone.else.example")
    checked = check_cors(_handover_at(other), timeout=5)
    (cors,) = [u for u in checked.unmet if u.rule == "CORS"]
    assert "https://someone.else.example" in cors.message


def test_nothing_listening_is_unmet_and_said() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    checked = check_cors(_handover_at(f"http://127.0.0.1:{port}"), timeout=5)
    assert checked.cors is not None and checked.cors[0].status is None
    (cors,) = [u for u in checked.unmet if u.rule == "CORS"]
    assert "did not answer" in cors.message


def test_the_embedded_catalogue_answers_cors_but_is_neither_https_nor_public(
    catalogue: CatalogueHandle, token_for: Callable[[str], str]
) -> None:
    cid = f"explorer-{uuid.uuid4().hex[:8]}"
    collection = collection_doc(cid, "Explorer CORS check")
    item = item_doc("i1", cid)
    with CatalogueClient(catalogue.url, token_for("editor"), timeout=15) as client:
        client.create_collection(collection)
        try:
            client.create_item(cid, item)
            handover = explorer_handover(
                collection, [item], client.collection_url(cid), [client.item_url(cid, "i1")]
            )
            checked = check_cors(handover, timeout=10)
        finally:
            client.delete_item(cid, "i1")
            client.delete_collection(cid)
    assert checked.cors is not None and len(checked.cors) == 1
    # stac-fastapi's CORS middleware (the STAC API spec's defaults) admits every origin
    assert checked.cors[0].status == 200 and checked.cors[0].allow_origin == "*" and checked.cors[0].allowed
    rules = [u.rule for u in checked.unmet]
    assert "CORS" not in rules
    assert "EXPLORER-REQ-05" in rules  # loopback http
    assert "EXPLORER-REQ-04" in rules  # loopback, and `_auth.read` without anonymous
