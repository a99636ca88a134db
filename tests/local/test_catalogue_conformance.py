"""The embedded catalogue through the notebook's own clients, and stac-api-validator against it, offline.

- owslib's ``Records`` with a bearer auth delegate, exactly as the APEx notebook builds it, for the whole
  read/write cycle of items (owslib has no collection create: requests, as the notebook does);
- the notebook's ``requests.post(f"{CATALOGUE}/collections", auth=BearerAuth(token), json=...)`` with a
  collection built from the recorded production document;
- stac-api-validator's ``validate_api`` in-process, every schema resolved to pystac's bundled STAC 1.1.0
  schemas and every non-loopback connection refused.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import owslib.ogcapi
import pytest
import requests
from owslib.ogcapi.records import Records
from owslib.util import Authentication

from apex_core.local.catalogue import CatalogueHandle
from tests.services import shared_fixture

pytestmark = pytest.mark.services

TokenFor = Callable[[str], str]
Headers = Callable[[str], dict[str, str]]
T = 15  # seconds, every request

PRODUCTION_COLLECTION = shared_fixture("apex_catalogue_collection_response.json")

PRIVATE = {"read": ["apex-editor"], "write": ["apex-editor"]}
PUBLIC = {"read": ["anonymous"], "write": ["apex-editor"]}
# links the catalogue generates itself (the recorded document shows production's, pointing at production)
SERVER_LINKS = {"self", "items", "root", "parent"}


class BearerAuth(requests.auth.AuthBase):
    """The notebook's helper "to support the authentication with owslib and requests libraries"."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["authorization"] = "Bearer " + self.token
        return r


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def collection(cid: str, auth: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.1.0",
        "title": "Gran Canaria NDVI (test)",
        "description": "NDVI over Gran Canaria, written by the conformance tests.",
        "license": "CC-BY-4.0",
        "keywords": ["ndvi", "sentinel-2"],
        "providers": [{"name": "APEx Publisher tests", "roles": ["processor", "host"]}],
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-15.9, 27.7, -15.3, 28.2]]},
            "temporal": {"interval": [["2019-08-19T00:00:00Z", "2019-08-21T00:00:00Z"]]},
        },
        "_auth": auth,
    }


def item(
    iid: str, cid: str, x: float, day: int, assets: dict[str, Any] | None = None, y: float = 27.9
) -> dict[str, Any]:
    """A 0.1 degree square footprint with its south-west corner at (``x``, ``y``), on 2019-08-``day``."""
    east, north = round(x + 0.1, 6), round(y + 0.1, 6)
    ring = [[x, y], [east, y], [east, north], [x, north], [x, y]]
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [x, y, east, north],
        "properties": {"datetime": f"2019-08-{day:02d}T11:52:21Z", "title": f"NDVI {iid}"},
        "links": [],
        "assets": assets or {},
    }


@pytest.fixture
def owslib_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """owslib shares one module-level header dict and writes Content-Type into it: give each test its own."""
    monkeypatch.setattr(owslib.ogcapi, "REQUEST_HEADERS", dict(owslib.ogcapi.REQUEST_HEADERS))


# --- 1. owslib Records, as the notebook ----------------------------------------------------------


def test_owslib_records_crud_with_a_bearer_delegate(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: Headers, owslib_headers: None
) -> None:
    CATALOGUE = catalogue.url  # the notebook's name
    auth = BearerAuth(token_for("editor"))
    cid = new_id("owslib")
    created = requests.post(f"{CATALOGUE}/collections", auth=auth, json=collection(cid, PRIVATE), timeout=T)
    assert created.status_code == 201, created.text
    items_url = f"{CATALOGUE}/collections/{cid}/items"
    editor = auth_header("editor")
    try:
        r = Records(CATALOGUE, auth=Authentication(auth_delegate=auth))
        anonymous = Records(CATALOGUE)

        listed = r.collections()
        assert cid in {c["id"] for c in listed["collections"]}
        assert all("_auth" not in c for c in listed["collections"])
        assert cid not in {c["id"] for c in anonymous.collections()["collections"]}  # private

        one = r.collection(cid)
        assert one["id"] == cid
        assert one["title"] == "Gran Canaria NDVI (test)"
        assert "_auth" not in one
        with pytest.raises(RuntimeError, match="does not exist"):
            anonymous.collection(cid)
        assert r.collection_items(cid)["features"] == []

        # create: owslib POSTs the dict as JSON (Content-Type application/geo+json)
        assert r.collection_item_create(cid, item("a", cid, -15.8, 19)) is True
        assert r.collection_item_create(cid, item("b", cid, -15.5, 20)) is True
        got = requests.get(f"{items_url}/a", headers=editor, timeout=T)
        assert got.status_code == 200, got.text
        assert got.json()["properties"]["datetime"] == "2019-08-19T11:52:21Z"
        assert got.json()["bbox"] == [-15.8, 27.9, -15.7, 28.0]
        with pytest.raises(RuntimeError, match="already exists"):
            r.collection_item_create(cid, item("a", cid, -15.8, 19))

        # update: a PUT of the whole item
        changed = item("a", cid, -15.8, 19)
        changed["properties"]["title"] = "updated through owslib"
        assert r.collection_item_update(cid, "a", changed) is True
        got = requests.get(f"{items_url}/a", headers=editor, timeout=T)
        assert got.json()["properties"]["title"] == "updated through owslib"
        assert r.collection_item(cid, "a")["properties"]["title"] == "updated through owslib"

        # reads with the query parameters owslib knows
        everything = r.collection_items(cid, limit=10)
        assert {f["id"] for f in everything["features"]} == {"a", "b"}
        on_the_19th = r.collection_items(cid, datetime_="2019-08-19T00:00:00Z/2019-08-19T23:59:59Z")
        assert [f["id"] for f in on_the_19th["features"]] == ["a"]
        east = r.collection_items(cid, bbox=[-15.6, 27.8, -15.3, 28.1])
        assert [f["id"] for f in east["features"]] == ["b"]

        # writes are refused without a token, or with a role outside `_auth.write`
        with pytest.raises(RuntimeError, match="bearer token"):
            anonymous.collection_item_create(cid, item("c", cid, -15.6, 20))
        outsider = Records(CATALOGUE, auth=Authentication(auth_delegate=BearerAuth(token_for("noroles"))))
        # an outsider may not even read the private collection: for it, it does not exist (no roles shown)
        with pytest.raises(RuntimeError, match="does not exist") as refused:
            outsider.collection_item_delete(cid, "b")
        assert "apex-editor" not in str(refused.value)
        assert requests.get(f"{items_url}/c", headers=editor, timeout=T).status_code == 404
        assert requests.get(f"{items_url}/b", headers=editor, timeout=T).status_code == 200

        # delete
        assert r.collection_item_delete(cid, "a") is True
        assert requests.get(f"{items_url}/a", headers=editor, timeout=T).status_code == 404
        remaining = requests.get(items_url, headers=editor, timeout=T).json()
        assert [f["id"] for f in remaining["features"]] == ["b"]
    finally:
        requests.delete(f"{CATALOGUE}/collections/{cid}", auth=auth, timeout=T)
    assert requests.get(f"{CATALOGUE}/collections/{cid}", headers=editor, timeout=T).status_code == 404


# --- 2. the notebook's create call, with the recorded production collection ----------------------


def notebook_collection(cid: str) -> dict[str, Any]:
    """The recorded production document as a body to POST: new id, no server links, ``_auth`` added."""
    doc: dict[str, Any] = json.loads(PRODUCTION_COLLECTION.read_text(encoding="utf-8"))
    doc["id"] = cid
    doc["links"] = [link for link in doc["links"] if link.get("rel") not in SERVER_LINKS]
    doc["_auth"] = PRIVATE
    return doc


def test_notebook_create_and_delete_with_requests(
    catalogue: CatalogueHandle, token_for: TokenFor, auth_header: Headers
) -> None:
    CATALOGUE = catalogue.url  # the notebook's name
    token = token_for("editor")
    cid = new_id("gran-canaria-ndvi")
    body = notebook_collection(cid)
    sent = copy.deepcopy(body)

    resp = requests.post(f"{CATALOGUE}/collections", auth=BearerAuth(token), json=body, timeout=T)
    assert resp.status_code == 201, resp.text
    assert "_auth" not in resp.json()

    url = f"{CATALOGUE}/collections/{cid}"
    assert requests.get(url, timeout=T).status_code == 404  # private: _auth.read has no "anonymous"
    stored = requests.get(url, headers=auth_header("editor"), timeout=T)
    assert stored.status_code == 200, stored.text
    doc = stored.json()
    assert "_auth" not in doc
    for key in ("title", "description", "license", "extent", "summaries", "assets", "providers", "keywords"):
        assert doc[key] == sent[key], key
    assert set(doc["stac_extensions"]) == set(sent["stac_extensions"])
    assert doc["openeo:status"] == "finished"
    by_rel: dict[str, list[str]] = {}
    for link in doc["links"]:
        by_rel.setdefault(link["rel"], []).append(link["href"])
    assert by_rel["self"] == [url]
    assert by_rel["items"] == [f"{url}/items"]
    assert all(href.startswith(CATALOGUE) for rel in SERVER_LINKS for href in by_rel[rel])
    kept = [link["href"] for link in sent["links"]]
    assert sorted(by_rel["derived_from"] + by_rel["card4l-document"]) == sorted(kept)

    deleted = requests.delete(url, auth=BearerAuth(token), timeout=T)
    assert 200 <= deleted.status_code < 300, deleted.text
    assert requests.get(url, auth=BearerAuth(token), timeout=T).status_code == 404
    assert requests.get(url, headers=auth_header("admin"), timeout=T).status_code == 404


# --- 3. stac-api-validator, offline ---------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse name resolution and connections to anything but loopback; returns what was refused."""
    refused: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if not _is_loopback(name):
            refused.append(f"resolve {name}")
            raise OSError(f"network access refused in this test: {name}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0])):
            refused.append(f"connect {address[0]}")
            raise OSError(f"network access refused in this test: {address[0]}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return refused


@pytest.fixture
def bundled_schemas_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """stac-validator's file/URL fetching, with every schema URL answered from pystac's bundled schemas.

    Loopback URLs (the catalogue's own documents) and local paths go to the real function; any other URL
    is a schema pystac does not bundle: recorded and refused (an exception, which the validator reports).
    """
    import stac_validator.utilities as sv_utilities
    from pystac.validation.local_validator import get_local_schema_cache

    bundled = get_local_schema_cache()
    real_fetch = sv_utilities.fetch_and_parse_file
    log: dict[str, list[str]] = {"served": [], "refused": []}

    def fetch_and_parse_file(input_path: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        if input_path in bundled:
            log["served"].append(input_path)
            return copy.deepcopy(bundled[input_path])
        if not sv_utilities.is_url(input_path) or _is_loopback(urlsplit(input_path).hostname):
            result: dict[str, Any] = real_fetch(input_path, headers)
            return result
        log["refused"].append(input_path)
        raise RuntimeError(f"{input_path} is not among pystac's bundled schemas (offline test)")

    sv_utilities.fetch_and_parse_schema.cache_clear()
    monkeypatch.setattr(sv_utilities, "fetch_and_parse_file", fetch_and_parse_file)
    for module in ("stac_validator.validate", "stac_check.api_lint"):  # `from ... import` copies
        monkeypatch.setattr(f"{module}.fetch_and_parse_file", fetch_and_parse_file)
    yield log
    sv_utilities.fetch_and_parse_schema.cache_clear()


# The validator's "ids override every other parameter" check looks for an item inside bbox 20,20,21,21 of the
# collection; one item sits there so that the check runs instead of being skipped with a warning.
SEED = [(-15.8, 27.9, 19), (-15.6, 27.9, 19), (-15.4, 27.9, 20), (20.2, 20.2, 20)]


@pytest.fixture
def public_collection(catalogue: CatalogueHandle, auth_header: Headers) -> Iterator[str]:
    """A public STAC 1.1.0 collection (only an admin may create one) with items whose assets are stored."""
    cid = new_id("validator")
    admin = auth_header("admin")
    doc = collection(cid, PUBLIC)
    doc["extent"]["spatial"]["bbox"] = [
        [-15.8, 20.2, 20.3, 28.0],
        [-15.8, 27.9, -15.3, 28.0],
        [20.2, 20.2, 20.3, 20.3],
    ]
    doc["summaries"] = {"platform": ["sentinel-2a"], "instruments": ["msi"], "gsd": [10]}
    created = requests.post(f"{catalogue.url}/collections", json=doc, headers=admin, timeout=T)
    assert created.status_code == 201, created.text
    for n, (x, y, day) in enumerate(SEED):
        iid = f"{cid}-{n}"
        stored = requests.put(
            f"{catalogue.assets_url}/{cid}/{iid}.tif", data=b"II*\x00" + bytes(64), headers=admin, timeout=T
        )
        assert stored.status_code == 201, stored.text
        assets = {
            "ndvi": {
                "href": stored.json()["href"],
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "title": "NDVI",
            }
        }
        resp = requests.post(
            f"{catalogue.url}/collections/{cid}/items",
            json=item(iid, cid, x, day, assets, y=y),
            headers=admin,
            timeout=T,
        )
        assert resp.status_code == 201, resp.text
    yield cid
    requests.delete(f"{catalogue.url}/collections/{cid}", headers=admin, timeout=T)


def test_stac_api_validator_reports_no_errors(
    catalogue: CatalogueHandle,
    public_collection: str,
    loopback_only: list[str],
    bundled_schemas_only: dict[str, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stac_api_validator.validations import QueryConfig, validate_api

    # the guard works: no name resolution, no connection, beyond loopback
    with pytest.raises(OSError, match="refused"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(requests.ConnectionError):
        requests.get("https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json", timeout=1)
    assert loopback_only == ["resolve 192.0.2.1", "resolve schemas.stacspec.org"]
    loopback_only.clear()

    seen: list[tuple[str, str]] = []  # every request made through requests (the validator, pystac-client)
    real_send = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        seen.append((str(request.method), urlsplit(str(request.url)).path))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)

    cid = public_collection
    geometry = {  # intersects the three items around Gran Canaria
        "type": "Polygon",
        "coordinates": [[[-15.9, 27.8], [-15.3, 27.8], [-15.3, 28.1], [-15.9, 28.1], [-15.9, 27.8]]],
    }
    warnings, errors = validate_api(
        root_url=catalogue.url,
        ccs_to_validate=["core", "collections", "features", "item-search", "filter"],
        collection=cid,
        geometry=json.dumps(geometry),
        auth_bearer_token=None,  # anonymous, as any STAC client
        auth_query_parameter=None,
        fields_nested_property=None,
        validate_pagination=True,
        query_config=QueryConfig(*([None] * 13)),
        transaction_collection=None,  # its "transaction" class is not run (see the shared notes)
        headers=None,
    )
    report = [f"stac-api-validator: {len(warnings.as_list())} warning(s), {len(errors.as_list())} error(s)"]
    report += [f"  warning: {warning}" for warning in warnings.as_list()]
    report += [f"  error: {error}" for error in errors.as_list()]
    with capsys.disabled():
        print("\n" + "\n".join(report))  # noqa: T201 - the validator's findings belong in the test output

    assert bundled_schemas_only["refused"] == [], "schemas pystac does not bundle were asked for"
    assert loopback_only == [], "something tried to reach the network"
    assert errors.as_list() == []

    # it really validated: objects against the bundled 1.1.0 schemas, and every conformance class asked for
    served = set(bundled_schemas_only["served"])
    assert "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json" in served
    assert "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json" in served
    requests_made = set(seen)
    for expected in [
        ("GET", "/conformance"),  # core
        ("GET", f"/collections/{cid}"),  # collections
        ("GET", f"/collections/{cid}/items"),  # features
        ("GET", "/search"),  # item-search
        ("POST", "/search"),
        ("GET", "/queryables"),  # filter
    ]:
        assert expected in requests_made, expected
    assert any(path.startswith(f"/collections/{cid}/items/{cid}-") for _, path in requests_made)
