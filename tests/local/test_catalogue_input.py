"""The embedded catalogue's input rules over HTTP (apex_core/local/catalogue/validation.py).

Every rule on every write route: ``POST /collections``, ``PUT``/``PATCH /collections/{id}`` (merge patch and
JSON Patch), ``POST /collections/{id}/items``, ``PUT``/``PATCH /collections/{id}/items/{item_id}`` and
``POST /collections/{id}/bulk_items``. A refusal is a 4xx with ``{"code", "description"}`` naming the field
(in bulk, the item), and the catalogue reads back exactly as before. Then hostile query parameters, which
are 400s with the reason, never 500s.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from apex_core.local.catalogue import CatalogueHandle
from apex_core.local.catalogue.settings import CatalogueSettings
from apex_core.local.catalogue.validation import DEFAULT_MAX_BULK_BYTES, DEFAULT_MAX_DOCUMENT_BYTES
from tests.stacdocs import canary_collection, canary_item

pytestmark = pytest.mark.services

Headers = Callable[[str], dict[str, str]]
T = 15  # seconds, every request
PRIVATE = {"read": ["apex-editor"], "write": ["apex-editor"]}
NAN, INF = math.nan, math.inf
MiB = 1024**2

ITEM_ROUTES = ["post", "put", "merge_patch", "json_patch", "bulk"]
COLLECTION_ROUTES = ["post", "put", "merge_patch", "json_patch"]


# --- documents and routes ---
# Items on Gran Canaria in private collections: the conformance test's validator searches the shared
# catalogue (anonymously) from its newest item.


def new_id(prefix: str = "input") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def collection(cid: str, **extra: Any) -> dict[str, Any]:
    return canary_collection(cid, PRIVATE, **{"description": "input rules test collection", **extra})


item = canary_item


def send(method: str, url: str, headers: dict[str, str], body: Any, *, json_patch: bool = False) -> Any:
    """``body`` as JSON text as Python writes it: NaN and Infinity become the bare literals."""
    kind = "application/json-patch+json" if json_patch else "application/json"
    return requests.request(
        method, url, data=json.dumps(body), headers={**headers, "Content-Type": kind}, timeout=T
    )


@pytest.fixture
def editor(auth_header: Headers) -> dict[str, str]:
    return auth_header("editor")


@pytest.fixture
def cid(catalogue: CatalogueHandle, editor: dict[str, str]) -> str:
    """A fresh private collection holding one valid item, ``base``."""
    cid = new_id()
    assert send("POST", f"{catalogue.url}/collections", editor, collection(cid)).status_code == 201
    resp = send("POST", f"{catalogue.url}/collections/{cid}/items", editor, item("base", cid))
    assert resp.status_code == 201, resp.text
    return cid


def snapshot(catalogue: CatalogueHandle, editor: dict[str, str], cid: str) -> dict[str, Any]:
    """The collection and all its items as a reader sees them."""
    col = requests.get(f"{catalogue.url}/collections/{cid}", headers=editor, timeout=T)
    items = requests.get(
        f"{catalogue.url}/collections/{cid}/items", params={"limit": 1000}, headers=editor, timeout=T
    )
    assert col.status_code == 200
    assert items.status_code == 200
    return {"collection": col.json(), "items": {f["id"]: f for f in items.json()["features"]}}


def write_item(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, changes: dict[str, Any]
) -> Any:
    """Write ``changes`` (top-level fields) through ``route``: a new item ``new`` (post; bulk, beside a
    valid item ``good``), or item ``base`` replaced (put) or patched (merge_patch, json_patch)."""
    url = f"{catalogue.url}/collections/{cid}/items"
    if route == "post":
        return send("POST", url, editor, {**item("new", cid), **changes})
    if route == "bulk":
        bad = {**item("new", cid), **changes}
        key = bad["id"] if isinstance(bad.get("id"), str) else "new"
        body = {"items": {"good": item("good", cid), key: bad}, "method": "insert"}
        return send("POST", f"{catalogue.url}/collections/{cid}/bulk_items", editor, body)
    if route == "put":
        return send("PUT", f"{url}/base", editor, {**item("base", cid), **changes})
    if route == "merge_patch":
        return send("PATCH", f"{url}/base", editor, changes)
    ops = [{"op": "add", "path": f"/{k}", "value": v} for k, v in changes.items()]
    return send("PATCH", f"{url}/base", editor, ops, json_patch=True)


def write_collection(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, changes: dict[str, Any]
) -> tuple[Any, str]:
    """Write ``changes`` through ``route``: a new collection (post), or ``cid`` replaced or patched.
    Returns the answer and the id of the collection written."""
    if route == "post":
        target = new_id()
        return send("POST", f"{catalogue.url}/collections", editor, {**collection(target), **changes}), target
    url = f"{catalogue.url}/collections/{cid}"
    if route == "put":
        current = snapshot(catalogue, editor, cid)["collection"]
        return send("PUT", url, editor, {**current, "_auth": PRIVATE, **changes}), cid
    if route == "merge_patch":
        return send("PATCH", url, editor, changes), cid
    ops = [{"op": "add", "path": f"/{k}", "value": v} for k, v in changes.items()]
    return send("PATCH", url, editor, ops, json_patch=True), cid


def assert_refused(resp: Any, status: int, code: str, *fragments: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code, body
    for fragment in fragments:
        assert fragment in body["description"], (fragment, body["description"])
    return dict(body)


def assert_item_write_refused(
    catalogue: CatalogueHandle,
    editor: dict[str, str],
    cid: str,
    route: str,
    changes: dict[str, Any],
    code: str,
    *fragments: str,
    status: int = 400,
) -> None:
    before = snapshot(catalogue, editor, cid)
    resp = write_item(catalogue, editor, cid, route, changes)
    body = assert_refused(resp, status, code, *fragments)
    if route == "bulk":
        named = {e["id"] for e in body["errors"]}
        assert named == {changes.get("id", "new")}, body  # the bad item, not the good one
        assert repr(changes.get("id", "new")) in body["description"]
    assert snapshot(catalogue, editor, cid) == before  # nothing written, "good" neither


def assert_collection_write_refused(
    catalogue: CatalogueHandle,
    editor: dict[str, str],
    cid: str,
    route: str,
    changes: dict[str, Any],
    code: str,
    *fragments: str,
    status: int = 400,
) -> None:
    before = snapshot(catalogue, editor, cid)
    resp, target = write_collection(catalogue, editor, cid, route, changes)
    assert_refused(resp, status, code, *fragments)
    assert snapshot(catalogue, editor, cid) == before
    if target != cid:
        assert (
            requests.get(f"{catalogue.url}/collections/{target}", headers=editor, timeout=T).status_code
            == 404
        )


def patch_path(route: str, field: str, rest: str) -> str:
    """Where a value set through ``route`` sits in the request body, as the refusal names it."""
    if route == "json_patch":
        return f"0.value.{rest}" if rest else "0.value"
    prefix = "items.new." if route == "bulk" else ""
    return f"{prefix}{field}.{rest}" if rest else f"{prefix}{field}"


# --- 5: numbers that are not finite ---

NON_FINITE_ITEM_CASES = [
    ("geometry", {"type": "Point", "coordinates": [NAN, 27.9]}, "coordinates.0", "NaN"),
    ("bbox", [-15.6, 27.9, INF, 27.9], "2", "Infinity"),
    (
        "properties",
        {"datetime": "2019-08-19T11:52:21Z", "eo:cloud_cover": -INF},
        "eo:cloud_cover",
        "-Infinity",
    ),
]


@pytest.mark.parametrize("route", ITEM_ROUTES)
@pytest.mark.parametrize(("field", "value", "rest", "token"), NON_FINITE_ITEM_CASES)
def test_non_finite_numbers_in_items_are_refused(
    catalogue: CatalogueHandle,
    editor: dict[str, str],
    cid: str,
    route: str,
    field: str,
    value: Any,
    rest: str,
    token: str,
) -> None:
    where = patch_path(route, field, rest)
    before = snapshot(catalogue, editor, cid)
    resp = write_item(catalogue, editor, cid, route, {field: value})
    assert_refused(resp, 400, "NonFiniteNumber", f"{token} at {where}")
    assert snapshot(catalogue, editor, cid) == before


@pytest.mark.parametrize("route", COLLECTION_ROUTES)
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_collections_are_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, token: str
) -> None:
    value = {"NaN": NAN, "Infinity": INF, "-Infinity": -INF}[token]
    extent = {
        "spatial": {"bbox": [[-16.0, 27.6, value, 28.2]]},
        "temporal": {"interval": [["2019-08-19T00:00:00Z", None]]},
    }
    where = patch_path(route, "extent", "spatial.bbox.0.2")
    assert_collection_write_refused(
        catalogue, editor, cid, route, {"extent": extent}, "NonFiniteNumber", f"{token} at {where}"
    )


def test_python_float_overflow_is_refused_like_infinity(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str
) -> None:
    """1e400 parses to inf in Python: as good as an Infinity literal."""
    before = snapshot(catalogue, editor, cid)
    text = json.dumps(item("new", cid)).replace("[-15.6, 27.9]", "[-15.6, 1e400]", 1)
    resp = requests.post(
        f"{catalogue.url}/collections/{cid}/items",
        data=text,
        headers={**editor, "Content-Type": "application/json"},
        timeout=T,
    )
    assert_refused(resp, 400, "NonFiniteNumber", "1e400 at geometry.coordinates.1")
    assert snapshot(catalogue, editor, cid) == before


# --- 6: geometry and bbox ---

BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[-15.6, 27.9], [-15.5, 28.0], [-15.5, 27.9], [-15.6, 28.0], [-15.6, 27.9]]],
}
GEOMETRY_CASES = {
    "self-intersection": (
        {"geometry": BOWTIE, "bbox": [-15.6, 27.9, -15.5, 28.0]},
        "InvalidGeometry",
        "Self-intersection",
    ),
    "longitude 400": (
        {"geometry": {"type": "Point", "coordinates": [400, 27.9]}, "bbox": [-15.6, 27.9, -15.6, 27.9]},
        "InvalidGeometry",
        "geometry.coordinates.0: longitude 400 is outside [-180, 180]",
    ),
    "latitude -95": (
        {"geometry": {"type": "Point", "coordinates": [-15.6, -95]}},
        "InvalidGeometry",
        "geometry.coordinates.1: latitude -95 is outside [-90, 90]",
    ),
    "empty polygon": (
        {"geometry": {"type": "Polygon", "coordinates": []}},
        "InvalidGeometry",
        "the Polygon has no coordinates",
    ),
    "bbox south > north": (
        {"bbox": [-15.6, 28.9, -15.6, 27.9]},
        "InvalidBbox",
        "bbox: south 28.9 is greater than north 27.9",
    ),
    "bbox longitude 200": (
        {"bbox": [-15.6, 27.9, 200, 27.9]},
        "InvalidBbox",
        "bbox: east 200 is outside [-180, 180]",
    ),
    "bbox heights upside down": (
        {"bbox": [-15.6, 27.9, 100, -15.6, 27.9, 10]},
        "InvalidBbox",
        "the minimum height 100 is greater than the maximum 10",
    ),
}


@pytest.mark.parametrize("route", ITEM_ROUTES)
@pytest.mark.parametrize("case", list(GEOMETRY_CASES))
def test_invalid_item_geometry_and_bbox_are_refused_on_every_route(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, case: str
) -> None:
    changes, code, fragment = GEOMETRY_CASES[case]
    assert_item_write_refused(catalogue, editor, cid, route, changes, code, fragment)


@pytest.mark.parametrize("route", ["merge_patch", "json_patch"])
def test_a_patch_that_leaves_an_open_ring_is_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str
) -> None:
    """Patches are not checked by the item model: the result is checked by the same function."""
    ring = [[-15.6, 27.9], [-15.5, 27.9], [-15.5, 28.0], [-15.6, 28.0]]
    changes = {"geometry": {"type": "Polygon", "coordinates": [ring]}}
    assert_item_write_refused(catalogue, editor, cid, route, changes, "InvalidGeometry", "not closed")


@pytest.mark.parametrize("route", COLLECTION_ROUTES)
@pytest.mark.parametrize(
    ("box", "fragment"),
    [
        ([-200.0, 27.6, -15.3, 28.2], "extent.spatial.bbox.0: west -200 is outside [-180, 180]"),
        ([-16.0, 27.6, -15.3, 95.0], "extent.spatial.bbox.0: north 95 is outside [-90, 90]"),
        ([-16.0, 27.6, -15.3], "extent.spatial.bbox.0: a bbox must be a list of 4 or 6 numbers"),
    ],
)
def test_invalid_collection_extent_bbox_is_refused(
    catalogue: CatalogueHandle,
    editor: dict[str, str],
    cid: str,
    route: str,
    box: list[float],
    fragment: str,
) -> None:
    extent = {"spatial": {"bbox": [box]}, "temporal": {"interval": [["2019-08-19T00:00:00Z", None]]}}
    before = snapshot(catalogue, editor, cid)
    resp, target = write_collection(catalogue, editor, cid, route, {"extent": extent})
    if route in ("post", "put") and resp.status_code == 400 and "code" not in resp.json():
        # the collection model refuses some boxes itself, before any handler: still a 400 naming the field
        assert "bbox" in resp.text
    else:
        assert_refused(resp, 400, "InvalidBbox", fragment)
    assert snapshot(catalogue, editor, cid) == before
    assert (
        target == cid or requests.get(f"{catalogue.url}/collections/{target}", timeout=T).status_code == 404
    )


def test_valid_geometries_are_still_accepted(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str
) -> None:
    """The rules leave real footprints alone: a polygon with a hole, a box across the antimeridian, 3D."""
    url = f"{catalogue.url}/collections/{cid}/items"
    outer = [[-15.9, 27.7], [-15.3, 27.7], [-15.3, 28.2], [-15.9, 28.2], [-15.9, 27.7]]
    hole = [[-15.7, 27.9], [-15.6, 27.9], [-15.6, 28.0], [-15.7, 28.0], [-15.7, 27.9]]
    docs = [
        item(
            "holed",
            cid,
            geometry={"type": "Polygon", "coordinates": [outer, hole]},
            bbox=[-15.9, 27.7, -15.3, 28.2],
        ),
        item("across", cid, geometry={"type": "Point", "coordinates": [180, 0]}, bbox=[170, -1, -170, 1]),
        item(
            "high",
            cid,
            geometry={"type": "Point", "coordinates": [-15.6, 27.9, 1950]},
            bbox=[-15.6, 27.9, 0, -15.6, 27.9, 1950],
        ),
    ]
    for doc in docs:
        resp = send("POST", url, editor, doc)
        assert resp.status_code == 201, resp.text
    assert {"holed", "across", "high"} <= set(snapshot(catalogue, editor, cid)["items"])


# --- 7: hrefs ---

BAD_HREFS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\nscript:alert(1)",
    "\u200bjavascript:alert(1)",
    "javascript:alert(1) ",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
]
GOOD_HREFS = [
    "https://example.com/ndvi.tif",
    "HTTP://example.com/ndvi.tif",
    "s3://bucket/ndvi.tif",
    "file:///tmp/ndvi.tif",
    "./ndvi.tif",
    "../other/collection.json",
    "ndvi.tif",
]


@pytest.mark.parametrize("href", BAD_HREFS)
@pytest.mark.parametrize("route", ["post", "bulk"])
def test_script_hrefs_in_item_assets_are_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, href: str
) -> None:
    changes = {"assets": {"ndvi": {"href": href, "type": "image/tiff"}}}
    assert_item_write_refused(catalogue, editor, cid, route, changes, "UnsafeHref", "assets.ndvi.href")


@pytest.mark.parametrize("href", BAD_HREFS)
def test_script_hrefs_in_collection_links_are_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, href: str
) -> None:
    changes = {"links": [{"rel": "license", "href": href}]}
    assert_collection_write_refused(catalogue, editor, cid, "post", changes, "UnsafeHref", "links.0.href")


@pytest.mark.parametrize("route", ITEM_ROUTES)
@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"links": [{"rel": "via", "href": " javascript:alert(1)"}]}, "links.0.href"),
        (
            {
                "assets": {
                    "ndvi": {"href": "https://example.com/a.tif", "alternate": {"x": {"href": "data:,x"}}}
                }
            },
            "assets.ndvi.alternate.x.href",
        ),
    ],
)
def test_script_hrefs_are_refused_on_every_item_route(
    catalogue: CatalogueHandle,
    editor: dict[str, str],
    cid: str,
    route: str,
    changes: dict[str, Any],
    where: str,
) -> None:
    assert_item_write_refused(catalogue, editor, cid, route, changes, "UnsafeHref", where)


COLLECTION_HREF_CASES = {
    "link": ({"links": [{"rel": "about", "href": "vbscript:msgbox(1)"}]}, "links.0.href"),
    "provider": ({"providers": [{"name": "x", "url": "javascript:alert(1)"}]}, "providers.0.url"),
    "asset": ({"assets": {"thumbnail": {"href": "\njavascript:alert(1)"}}}, "assets.thumbnail.href"),
}


@pytest.mark.parametrize(
    ("route", "changes", "where"),
    [
        (route, *COLLECTION_HREF_CASES[case])
        for route in COLLECTION_ROUTES
        for case in COLLECTION_HREF_CASES
        # stac-fastapi's merge-patch model takes collection links as an object: no list gets that far
        if (route, case) != ("merge_patch", "link")
    ],
)
def test_script_hrefs_are_refused_on_every_collection_route(
    catalogue: CatalogueHandle,
    editor: dict[str, str],
    cid: str,
    route: str,
    changes: dict[str, Any],
    where: str,
) -> None:
    assert_collection_write_refused(catalogue, editor, cid, route, changes, "UnsafeHref", where)


def test_ordinary_hrefs_are_stored(catalogue: CatalogueHandle, editor: dict[str, str], cid: str) -> None:
    assets = {f"a{i}": {"href": href} for i, href in enumerate(GOOD_HREFS)}
    links = [{"rel": "via", "href": href} for href in GOOD_HREFS]
    resp = send(
        "POST",
        f"{catalogue.url}/collections/{cid}/items",
        editor,
        item("hrefs", cid, assets=assets, links=links),
    )
    assert resp.status_code == 201, resp.text
    stored = snapshot(catalogue, editor, cid)["items"]["hrefs"]
    assert [stored["assets"][f"a{i}"]["href"] for i in range(len(GOOD_HREFS))] == GOOD_HREFS


# --- 8: size limits ---


def raw_exchange(
    catalogue: CatalogueHandle, head: str, chunks: Sequence[bytes] = ()
) -> tuple[int, dict[str, Any]]:
    """Send a request head and some body bytes over a plain socket, without ending the body; the answer.

    A server that waited for the whole body would never answer (the socket times out)."""
    parts = urlsplit(catalogue.url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=T) as sock:
        sock.sendall(head.encode("latin-1"))
        for chunk in chunks:
            sock.sendall(chunk)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, json.loads(resp.read())


def test_a_20_mb_collection_is_413_and_not_stored(catalogue: CatalogueHandle, editor: dict[str, str]) -> None:
    cid = new_id("huge")
    resp = send("POST", f"{catalogue.url}/collections", editor, collection(cid, description="x" * 20 * MiB))
    body = assert_refused(
        resp, 413, "PayloadTooLarge", str(DEFAULT_MAX_DOCUMENT_BYTES), "APEX_CATALOGUE_MAX_DOCUMENT_BYTES"
    )
    assert "1 MiB" in body["description"]
    assert requests.get(f"{catalogue.url}/collections/{cid}", headers=editor, timeout=T).status_code == 404
    listing = requests.get(f"{catalogue.url}/collections", params={"limit": 1000}, headers=editor, timeout=T)
    assert cid not in {c["id"] for c in listing.json()["collections"]}


def test_a_document_under_the_limit_is_accepted(catalogue: CatalogueHandle, editor: dict[str, str]) -> None:
    cid = new_id("large")
    resp = send(
        "POST", f"{catalogue.url}/collections", editor, collection(cid, description="x" * (MiB - 4096))
    )
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/collections", DEFAULT_MAX_DOCUMENT_BYTES),
        ("/collections/{cid}/items", DEFAULT_MAX_DOCUMENT_BYTES),
        ("/collections/{cid}/bulk_items", DEFAULT_MAX_BULK_BYTES),
    ],
)
def test_a_declared_length_over_the_limit_is_413_before_any_body_byte(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, path: str, limit: int
) -> None:
    before = snapshot(catalogue, editor, cid)
    head = (
        f"POST {path.format(cid=cid)} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: {editor['Authorization']}\r\nContent-Length: {limit + 1}\r\n\r\n"
    )
    status, body = raw_exchange(catalogue, head)  # no body byte sent at all
    assert status == 413
    assert body["code"] == "PayloadTooLarge"
    assert f"{limit} bytes" in body["description"]
    assert snapshot(catalogue, editor, cid) == before


@pytest.mark.parametrize("path", ["/collections", "/collections/{cid}/items/base"])
def test_a_chunked_body_over_the_limit_is_413_before_it_ends(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, path: str
) -> None:
    before = snapshot(catalogue, editor, cid)
    method = "PUT" if "base" in path else "POST"
    head = (
        f"{method} {path.format(cid=cid)} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: {editor['Authorization']}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = 64 * 1024
    count = DEFAULT_MAX_DOCUMENT_BYTES // piece + 1  # one chunk past the limit, and no final chunk
    chunks = [f"{piece:x}\r\n".encode() + b" " * piece + b"\r\n" for _ in range(count)]
    status, body = raw_exchange(catalogue, head, chunks)
    assert status == 413
    assert str(DEFAULT_MAX_DOCUMENT_BYTES) in body["description"]
    assert snapshot(catalogue, editor, cid) == before


def test_an_item_over_the_document_limit_in_a_bulk_request_is_named(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str
) -> None:
    """The bulk request fits its own limit, but one of its items is larger than one document may be."""
    changes = {"properties": {"datetime": "2019-08-19T11:52:21Z", "description": "x" * (MiB + 10)}}
    assert_item_write_refused(
        catalogue,
        editor,
        cid,
        "bulk",
        changes,
        "DocumentTooLarge",
        "APEX_CATALOGUE_MAX_DOCUMENT_BYTES",
        status=413,
    )


def test_a_patch_may_not_grow_a_document_over_the_limit(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str
) -> None:
    half = "x" * (MiB // 2 + 4096)
    url = f"{catalogue.url}/collections/{cid}"
    assert send("PATCH", url, editor, {"description": half}).status_code == 200
    assert_collection_write_refused(
        catalogue,
        editor,
        cid,
        "merge_patch",
        {"title": half},
        "DocumentTooLarge",
        "the document is",
        status=413,
    )


def test_limits_are_settings(catalogue: CatalogueHandle) -> None:
    health = requests.get(f"{catalogue.url}/_apex/health", timeout=T).json()["settings"]
    assert (health["max_document_bytes"], health["max_bulk_bytes"]) == (MiB, 64 * MiB)
    env = {
        "APEX_CATALOGUE_ISSUER": "http://127.0.0.1:1/realms/x",
        "APEX_CATALOGUE_ASSET_DIR": "/tmp/assets",
        "APEX_CATALOGUE_MAX_DOCUMENT_BYTES": "2048",
        "APEX_CATALOGUE_MAX_BULK_BYTES": "4096",
    }
    settings = CatalogueSettings.from_env(env)
    assert (settings.max_document_bytes, settings.max_bulk_bytes) == (2048, 4096)
    assert CatalogueSettings.from_env(settings.to_env()) == settings


# --- 9: ids ---

BAD_IDS = {
    "whitespace only": (" ", "leading or trailing whitespace"),
    "leading space": (" ndvi", "leading or trailing whitespace"),
    "trailing newline": ("ndvi\n", "leading or trailing whitespace"),
    "tab inside": ("nd\tvi", "control characters"),
    "zero-width space": ("nd\u200bvi", "control characters"),
    "slash": ("a/b", "contains '/'"),
    "too long": ("x" * 256, "the limit is 255"),
    "space inside": ("nd vi", "' '"),
    "non-ASCII": ("ndví", "'í'"),
    "leading dot": (".ndvi", "starts with '.'"),
}
GOOD_IDS = ["openEO_2023-06-01", "sentinel-2-ndvi", "openEO", "c.d_e-1", "a~b", "x" * 255]


@pytest.mark.parametrize(
    ("route", "case"),
    [(route, case) for route in ("post", "bulk", "merge_patch", "json_patch") for case in BAD_IDS],
)
def test_bad_item_ids_are_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, case: str
) -> None:
    value, reason = BAD_IDS[case]
    assert_item_write_refused(catalogue, editor, cid, route, {"id": value}, "InvalidId", reason)


@pytest.mark.parametrize("case", list(BAD_IDS))
def test_bad_collection_ids_are_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, case: str
) -> None:
    """A new collection's id (PUT and PATCH may not change the id at all: the path's id is checked)."""
    value, reason = BAD_IDS[case]
    assert_collection_write_refused(catalogue, editor, cid, "post", {"id": value}, "InvalidId", reason)


@pytest.mark.parametrize("route", ["post", "bulk"])
def test_an_empty_id_is_still_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str
) -> None:
    """An empty id is refused on every route (400 naming ``id``; a bulk request as a whole)."""
    before = snapshot(catalogue, editor, cid)
    resp = write_item(catalogue, editor, cid, route, {"id": ""})
    assert resp.status_code == 400, resp.text
    assert "id" in resp.text
    after = snapshot(catalogue, editor, cid)
    assert "" not in after["items"]
    resp, _ = write_collection(catalogue, editor, cid, "post", {"id": ""})
    assert resp.status_code == 400, resp.text
    assert after == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/collections/{cid}/items/%20base"),
        ("PATCH", "/collections/{cid}/items/base%20"),
        ("PUT", "/collections/%20{cid}"),
        ("PATCH", "/collections/{cid}%09"),
        ("POST", "/collections/%20{cid}/items"),
        ("POST", "/collections/{cid}%20/bulk_items"),
    ],
)
def test_bad_ids_in_the_path_are_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, method: str, path: str
) -> None:
    before = snapshot(catalogue, editor, cid)
    resp = send(method, f"{catalogue.url}{path.format(cid=cid)}", editor, {"title": "x"})
    assert_refused(resp, 400, "InvalidId", "in the path")
    assert snapshot(catalogue, editor, cid) == before


@pytest.mark.parametrize("value", GOOD_IDS)
def test_real_ids_are_accepted(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, value: str
) -> None:
    col_id = f"{value[:246]}-{uuid.uuid4().hex[:8]}"  # at most 255 characters
    assert send("POST", f"{catalogue.url}/collections", editor, collection(col_id)).status_code == 201
    items = f"{catalogue.url}/collections/{cid}"
    assert send("POST", f"{items}/items", editor, item(value, cid)).status_code == 201
    bulk = {"items": {f"b{value}"[:255]: item(f"b{value}"[:255], cid)}, "method": "insert"}
    resp = send("POST", f"{items}/bulk_items", editor, bulk)
    assert resp.status_code == 200, resp.text
    assert {value, f"b{value}"[:255]} <= set(snapshot(catalogue, editor, cid)["items"])


# --- 10: bulk writes the database refuses name the items ---


def test_bulk_insert_of_existing_items_names_them(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str
) -> None:
    before = snapshot(catalogue, editor, cid)
    url = f"{catalogue.url}/collections/{cid}/bulk_items"
    body = {
        "items": {f"n{i}": item(f"n{i}", cid) for i in range(20)} | {"base": item("base", cid)},
        "method": "insert",
    }
    resp = send("POST", url, editor, body)
    refused = assert_refused(resp, 409, "ConflictError", "1 of 21 items already exist", "base", "upsert")
    assert refused["errors"] == [{"id": "base", "msg": "already exists"}]
    assert snapshot(catalogue, editor, cid) == before


@pytest.mark.parametrize("method", ["insert", "upsert"])
def test_bulk_items_the_database_refuses_are_named_with_the_reason(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, method: str
) -> None:
    before = snapshot(catalogue, editor, cid)
    backwards = {
        "datetime": None,
        "start_datetime": "2019-08-19T00:00:00Z",
        "end_datetime": "2018-08-19T00:00:00Z",
    }
    docs = {f"ok{i}": item(f"ok{i}", cid) for i in range(30)}
    docs["back7"] = item("back7", cid, properties=backwards)
    docs["back23"] = item("back23", cid, properties=backwards)
    resp = send(
        "POST", f"{catalogue.url}/collections/{cid}/bulk_items", editor, {"items": docs, "method": method}
    )
    refused = assert_refused(
        resp, 400, "RefusedByDatabase", "The database refused the data:", "'back7'", "'back23'"
    )
    assert {e["id"] for e in refused["errors"]} == {"back7", "back23"}
    assert all("end_datetime" in e["msg"] for e in refused["errors"]), refused
    assert snapshot(catalogue, editor, cid) == before


# --- 11: hostile query parameters ---

# (path, query, what the reason names): these were 500s
MALFORMED_QUERIES = [
    ("/search", "intersects={bad", "intersects"),
    ("/search", "intersects=[1,2]", "intersects"),
    ("/search", "fields=+,-,,", "fields"),
    ("/collections", "fields=+,-,,", "fields"),
    ("/collections/{cid}/items", "fields=+,-,,", "fields"),
    ("/search", "fields=id,,bbox", "fields"),
    ("/collections", "fields=-id", "fields"),
    ("/search", "query={bad", "query"),
    ("/collections", "query={bad", "query"),
    ("/collections/{cid}/items", "query={bad", "query"),
    ("/search", "bbox=1e400,0,1,1", "bbox"),
    ("/collections/{cid}/items", "bbox=-inf,0,1,1", "bbox"),
]
# answered with a reason already; they must stay 4xx
OTHER_HOSTILE = [
    "bbox=1,2,3",
    "bbox=a,b,c,d",
    "datetime=garbage",
    "datetime=2021-01-01/2020-01-01",
    "limit=-1",
    "limit=abc",
    "sortby=%2B",
    "filter=garbage(",
    "filter-lang=cql2-json&filter={bad",
    "token=next:x",
    "token=prev:",
    "offset=abc",
    "collections=%00",
]


@pytest.mark.parametrize(("path", "query", "named"), MALFORMED_QUERIES)
def test_malformed_query_parameters_are_400_with_the_reason(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, path: str, query: str, named: str
) -> None:
    parts = urlsplit(catalogue.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=T)
    try:
        conn.request("GET", f"{path.format(cid=cid)}?{query}", headers=editor)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 400, body
        assert body["code"] == "InvalidParameter"
        assert named in body["description"]
        assert not resp.will_close  # the keep-alive connection survives: the next request reuses it
        conn.request("GET", "/_mgmt/ping")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


@pytest.mark.parametrize("query", OTHER_HOSTILE)
@pytest.mark.parametrize("path", ["/search", "/collections", "/collections/{cid}/items"])
def test_hostile_query_parameters_are_never_a_server_error(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, path: str, query: str
) -> None:
    resp = requests.get(f"{catalogue.url}{path.format(cid=cid)}?{query}", headers=editor, timeout=T)
    assert resp.status_code < 500, resp.text
    assert resp.json()  # a JSON answer either way


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ("[]", "InvalidBody", "JSON object"),
        ('"x"', "InvalidBody", "JSON object"),
        ("null", "InvalidBody", "JSON object"),
        ('{"limit": 1e400}', "NonFiniteNumber", "at limit"),
        ('{"bbox": [NaN, 0, 1, 1]}', "NonFiniteNumber", "NaN at bbox.0"),
        ('{"intersects": {"type": "Point", "coordinates": [Infinity, 0]}}', "NonFiniteNumber", "intersects"),
    ],
)
def test_malformed_search_bodies_are_400(
    catalogue: CatalogueHandle, body: str, code: str, named: str
) -> None:
    resp = requests.post(
        f"{catalogue.url}/search", data=body, headers={"Content-Type": "application/json"}, timeout=T
    )
    assert_refused(resp, 400, code, named)


def test_well_formed_queries_still_work(catalogue: CatalogueHandle, editor: dict[str, str], cid: str) -> None:
    point = json.dumps({"type": "Point", "coordinates": [-15.6, 27.9]})
    for path, params in [
        ("/search", {"collections": cid, "intersects": point, "fields": "id,-properties"}),
        ("/collections", {"fields": "id,title", "limit": 1000}),
        (f"/collections/{cid}/items", {"bbox": "-16,27,-15,28", "fields": "+id"}),
    ]:
        resp = requests.get(f"{catalogue.url}{path}", params=params, headers=editor, timeout=T)
        assert resp.status_code == 200, (path, resp.text)
    found = requests.get(
        f"{catalogue.url}/search", params={"collections": cid, "intersects": point}, headers=editor, timeout=T
    )
    assert [f["id"] for f in found.json()["features"]] == ["base"]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/properties/nope"}],
        [{"op": "test", "path": "/id", "value": "other"}],
        [{"op": "replace", "path": "/assets/missing/href", "value": "a.tif"}],
    ],
)
def test_an_item_json_patch_that_cannot_be_applied_is_400(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, ops: list[dict[str, Any]]
) -> None:
    before = snapshot(catalogue, editor, cid)
    resp = send("PATCH", f"{catalogue.url}/collections/{cid}/items/base", editor, ops, json_patch=True)
    assert_refused(resp, 400, "InvalidPatch", "cannot be applied")
    assert snapshot(catalogue, editor, cid) == before


# --- found by the adversarial review: patches that break the document, and hostile reads -----------------

ITEM_ROUTES = ["post", "bulk", "put", "merge_patch", "json_patch"]


@pytest.mark.parametrize("links", ["notalist", [1], [{"rel": "x"}], {"a": 1}])
@pytest.mark.parametrize("route", ["merge_patch", "json_patch"])
def test_a_patch_cannot_leave_a_document_the_model_refuses(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, links: Any
) -> None:
    """A patch result is checked as a whole, like a POST: broken `links` were stored, then every read of
    the collection, the listing and the item pages answered 500."""
    before = snapshot(catalogue, editor, cid)
    for resp in (
        write_collection(catalogue, editor, cid, route, {"links": links})[0],
        write_item(catalogue, editor, cid, route, {"links": links}),
    ):
        # refused by the model check of the result, or already by a merge patch's own model (FastAPI's
        # {"detail"} format)
        assert resp.status_code == 400 and "links" in resp.text, resp.text
    assert snapshot(catalogue, editor, cid) == before
    listing = requests.get(f"{catalogue.url}/collections", params={"limit": 1000}, headers=editor, timeout=T)
    assert listing.status_code == 200, listing.text


@pytest.mark.parametrize("field", ["type", "extent", "license", "description"])
def test_a_json_patch_cannot_remove_a_required_collection_field(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, field: str
) -> None:
    before = snapshot(catalogue, editor, cid)
    resp = send(
        "PATCH",
        f"{catalogue.url}/collections/{cid}",
        editor,
        [{"op": "remove", "path": f"/{field}"}],
        json_patch=True,
    )
    assert_refused(resp, 400, "InvalidCollection", field)
    assert snapshot(catalogue, editor, cid) == before


@pytest.mark.parametrize("href", [["javascript:alert(1)"], {"x": "javascript:alert(1)"}, 42, None])
@pytest.mark.parametrize("route", ["merge_patch", "json_patch"])
def test_an_href_must_be_a_string(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str, href: Any
) -> None:
    """A list or object href passed the patch routes (POST and PUT bodies are refused by the models);
    a browser would turn ``["javascript:alert(1)"]`` into the string it holds."""
    before = snapshot(catalogue, editor, cid)
    assets = {"a": {"href": href}}
    answers = [
        write_item(catalogue, editor, cid, route, {"assets": assets}),
        write_collection(catalogue, editor, cid, route, {"assets": assets})[0],
    ]
    for resp in answers:
        assert resp.status_code == 400, resp.text
        assert resp.json()["code"] in ("UnsafeHref", "InvalidItem", "InvalidCollection"), resp.text
        assert "href" in resp.json()["description"]
    assert snapshot(catalogue, editor, cid) == before


def _refused_bulk(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, changes: dict[str, Any], code: str
) -> None:
    """A bulk body the input middleware refuses whole (before any item is looked at): nothing written."""
    before = snapshot(catalogue, editor, cid)
    assert_refused(write_item(catalogue, editor, cid, "bulk", changes), 400, code)
    assert snapshot(catalogue, editor, cid) == before


@pytest.mark.parametrize("route", ITEM_ROUTES)
def test_an_integer_too_large_for_a_double_is_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str
) -> None:
    """`1` and 400 zeros: stored as sent, the item could no longer be read ("number is infinity")."""
    huge = int("1" + "0" * 400)
    changes = {"properties": {"datetime": "2019-08-19T11:52:21Z", "count": huge}}
    if route == "bulk":
        _refused_bulk(catalogue, editor, cid, changes, "NonFiniteNumber")
    else:
        assert_item_write_refused(
            catalogue, editor, cid, route, changes, "NonFiniteNumber", "count", "401 digits"
        )


@pytest.mark.parametrize("route", ["post", "bulk", "merge_patch", "json_patch"])
def test_documents_nested_too_deep_are_refused(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str, route: str
) -> None:
    """Depth 254 was a 500 (pydantic's serialisation depth); an item at depth 900 broke later patches."""
    deep: Any = 0
    for _ in range(300):
        deep = [deep]
    props = {"datetime": "2019-08-19T11:52:21Z", "deep": deep}
    if route == "bulk":
        _refused_bulk(catalogue, editor, cid, {"properties": props}, "TooDeep")
    else:
        assert_item_write_refused(
            catalogue, editor, cid, route, {"properties": props}, "TooDeep", "64 levels"
        )
    if route != "bulk":
        assert_collection_write_refused(catalogue, editor, cid, route, {"x": deep}, "TooDeep")
    search = send("POST", f"{catalogue.url}/search", editor, {"filter": {"op": "and", "args": deep}})
    assert_refused(search, 400, "TooDeep")
    shallow: Any = 0
    for _ in range(40):
        shallow = [shallow]
    ok = write_item(
        catalogue, editor, cid, "post", {"id": "nested-40", "properties": {**props, "deep": shallow}}
    )
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/collections", {"q": "(((( & | !"}),
        ("/search", {"filter": "A_CONTAINS(id, ('a'))"}),
    ],
)
def test_queries_the_database_cannot_run_are_400(
    catalogue: CatalogueHandle, auth_header: Headers, path: str, params: dict[str, str]
) -> None:
    # as the admin, who reads every collection (a reader who may read none gets an empty answer at once)
    resp = requests.get(f"{catalogue.url}{path}", params=params, headers=auth_header("admin"), timeout=T)
    assert_refused(resp, 400, "InvalidParameter", "could not be run")


def test_an_empty_and_filter_is_400(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    body = {"filter": {"op": "and", "args": []}}
    resp = requests.post(f"{catalogue.url}/search", json=body, headers=auth_header("admin"), timeout=T)
    assert_refused(resp, 400, "InvalidParameter", "could not be run")


@pytest.mark.parametrize("suffix", ["", "/items", "/queryables", "/items/x"])
def test_a_collection_id_no_collection_can_have_is_not_found(catalogue: CatalogueHandle, suffix: str) -> None:
    """A NUL in the path was a 500 from the read filter's database lookup."""
    resp = requests.get(f"{catalogue.url}/collections/%00{suffix}", timeout=T)
    assert resp.status_code == 404, resp.text


def test_a_bulk_item_without_geometry_refuses_the_batch(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str
) -> None:
    """pgstac skips an item without geometry and writes the others (200): all or nothing here."""
    before = snapshot(catalogue, editor, cid)
    body = assert_refused(
        write_item(catalogue, editor, cid, "bulk", {"geometry": None}), 400, "InvalidGeometry"
    )
    assert [e["id"] for e in body["errors"]] == ["new"]
    assert snapshot(catalogue, editor, cid) == before


def test_concurrent_patches_of_a_collection_all_apply(
    catalogue: CatalogueHandle, editor: dict[str, str], cid: str
) -> None:
    """Each patch reads, changes and writes the collection in one locked transaction: none is lost."""
    url = f"{catalogue.url}/collections/{cid}"
    keys = [f"k{n}" for n in range(12)]

    def patch(key: str) -> int:
        return send("PATCH", url, editor, {"summaries": {key: [key]}}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(patch, keys)) == [200] * len(keys)
    summaries = snapshot(catalogue, editor, cid)["collection"]["summaries"]
    assert {k: summaries.get(k) for k in keys} == {k: [k] for k in keys}
