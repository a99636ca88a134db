"""The embedded catalogue over HTTP: the APEx auth rules, bulk items, asset store, persistence."""

from __future__ import annotations

import http.client
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from apex_core.local.catalogue import CatalogueHandle, TokenValidator, start_catalogue
from apex_core.local.errors import LocalTokenExpired, LocalUnauthorizedError
from apex_core.local.issuer import IssuerHandle, IssuerState
from tests.stacdocs import canary_collection as collection
from tests.stacdocs import canary_item as item

pytestmark = pytest.mark.services

Headers = Callable[[str], dict[str, str]]
T = 15  # seconds, every request

PRIVATE = {"read": ["apex-editor"], "write": ["apex-editor"]}


def new_id(prefix: str = "col") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(cat: CatalogueHandle, headers: dict[str, str], doc: dict[str, Any]) -> requests.Response:
    return requests.post(f"{cat.url}/collections", json=doc, headers=headers, timeout=T)


@pytest.fixture
def editor_collection(catalogue: CatalogueHandle, auth_header: Headers) -> str:
    cid = new_id()
    resp = create(catalogue, auth_header("editor"), collection(cid, PRIVATE))
    assert resp.status_code == 201, resp.text
    return cid


# --- reads ------------------------------------------------------------------------------------


def test_reads_are_open_and_transactions_are_advertised(catalogue: CatalogueHandle) -> None:
    landing = requests.get(catalogue.url, timeout=T)
    assert landing.status_code == 200
    conformance = requests.get(f"{catalogue.url}/conformance", timeout=T).json()["conformsTo"]
    assert any("transaction" in c for c in conformance)
    assert requests.get(f"{catalogue.url}/collections", timeout=T).status_code == 200


# --- 401 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/collections"),
        ("PUT", "/collections/x"),
        ("PATCH", "/collections/x"),
        ("DELETE", "/collections/x"),
        ("POST", "/collections/x/items"),
        ("PUT", "/collections/x/items/i"),
        ("PATCH", "/collections/x/items/i"),
        ("DELETE", "/collections/x/items/i"),
        ("POST", "/collections/x/bulk_items"),
        ("PUT", "/assets/x/a.tif"),
    ],
)
def test_every_write_route_needs_a_token(catalogue: CatalogueHandle, method: str, path: str) -> None:
    resp = requests.request(method, f"{catalogue.url}{path}", json={}, timeout=T)
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith("Bearer")


def test_malformed_authorization_header_is_401(catalogue: CatalogueHandle) -> None:
    for value in ("Basic abc", "Bearer", "Bearer not-a-jwt"):
        resp = create(catalogue, {"Authorization": value}, collection(new_id(), PRIVATE))
        assert resp.status_code == 401, (value, resp.text)


def test_expired_token_is_401_and_says_so(catalogue: CatalogueHandle, issuer: IssuerHandle) -> None:
    state = issuer.state()
    editor = issuer.client("editor")
    token = state.sign(
        issuer=issuer.issuer_url, subject="editor", roles=editor.roles, azp=editor.client_id, lifetime=-30
    )
    resp = create(catalogue, {"Authorization": f"Bearer {token}"}, collection(new_id(), PRIVATE))
    assert resp.status_code == 401
    assert "expired" in resp.json()["detail"].lower()


def test_token_signed_by_a_foreign_key_is_401(catalogue: CatalogueHandle, issuer: IssuerHandle) -> None:
    foreign_dir = Path(tempfile.mkdtemp(prefix="apex-foreign-"))
    try:
        foreign = IssuerState.load_or_create(foreign_dir)
        token = foreign.sign(
            issuer=issuer.issuer_url, subject="admin", roles=["stac-admin-local"], azp="x", lifetime=300
        )
    finally:
        shutil.rmtree(foreign_dir)
    resp = create(catalogue, {"Authorization": f"Bearer {token}"}, collection(new_id(), PRIVATE))
    assert resp.status_code == 401
    assert "signed" in resp.json()["detail"]


def test_token_from_another_issuer_url_is_401(catalogue: CatalogueHandle, issuer: IssuerHandle) -> None:
    token = issuer.state().sign(
        issuer="https://elsewhere.example", subject="admin", roles=["stac-admin-local"], azp="x", lifetime=300
    )
    resp = create(catalogue, {"Authorization": f"Bearer {token}"}, collection(new_id(), PRIVATE))
    assert resp.status_code == 401
    assert "issuer" in resp.json()["detail"].lower()


def test_token_validator_in_process(issuer: IssuerHandle, token_for: Any) -> None:
    """The validator the catalogue uses, against the real issuer: audience and issuer checks."""
    token = f"Bearer {token_for('editor')}"
    principal = TokenValidator(issuer.issuer_url).validate(token)
    assert principal.roles == {"apex-editor"}
    assert principal.client_id == issuer.client("editor").client_id
    assert TokenValidator(issuer.issuer_url, audience=issuer.audience).validate(token).subject == "editor"
    with pytest.raises(LocalUnauthorizedError, match=r"(?i)audience"):
        TokenValidator(issuer.issuer_url, audience="someone-else").validate(token)
    with pytest.raises(LocalUnauthorizedError):
        TokenValidator(issuer.issuer_url).validate(None)
    expired = issuer.state().sign(issuer=issuer.issuer_url, subject="s", roles=[], azp="c", lifetime=-1)
    with pytest.raises(LocalTokenExpired):
        TokenValidator(issuer.issuer_url).validate(f"Bearer {expired}")


# --- _auth on collections -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "anonymous",
        ["anonymous"],
        {"read": ["anonymous"]},
        {"write": ["apex-editor"]},
        {"read": "anonymous", "write": ["apex-editor"]},
        {"read": ["apex-editor"], "write": [1]},
        {"read": ["apex-editor"], "write": ["apex-editor"], "admin": ["x"]},
    ],
)
def test_missing_or_malformed_auth_is_400(
    catalogue: CatalogueHandle, auth_header: Headers, auth: Any
) -> None:
    doc = collection(new_id())
    if auth is not None:
        doc["_auth"] = auth
    resp = create(catalogue, auth_header("admin"), doc)
    assert resp.status_code == 400, resp.text
    assert "_auth" in resp.json()["detail"]


def test_anonymous_may_never_write(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    doc = collection(new_id(), {"read": ["anonymous"], "write": ["anonymous", "stac-admin-local"]})
    resp = create(catalogue, auth_header("admin"), doc)
    assert resp.status_code == 400
    assert "anonymous" in resp.json()["detail"]


def test_only_admin_may_make_a_collection_public(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    public = {"read": ["anonymous"], "write": ["apex-editor"]}
    cid = new_id()
    refused = create(catalogue, auth_header("editor"), collection(cid, public))
    assert refused.status_code == 403
    assert "anonymous" in refused.json()["detail"]
    assert create(catalogue, auth_header("admin"), collection(cid, public)).status_code == 201
    assert requests.get(f"{catalogue.url}/collections/{cid}", timeout=T).status_code == 200


def test_creating_a_collection_you_cannot_write_is_403(
    catalogue: CatalogueHandle, auth_header: Headers
) -> None:
    resp = create(catalogue, auth_header("noroles"), collection(new_id(), PRIVATE))
    assert resp.status_code == 403
    other = {"read": ["apex-editor"], "write": ["someone-else"]}
    assert create(catalogue, auth_header("editor"), collection(new_id(), other)).status_code == 403


def test_duplicate_collection_is_409(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    resp = create(catalogue, auth_header("editor"), collection(editor_collection, PRIVATE))
    assert resp.status_code == 409
    assert editor_collection in resp.text


def test_auth_is_never_echoed(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    cid = new_id()
    created = create(
        catalogue, auth_header("admin"), collection(cid, {"read": ["anonymous"], "write": ["apex-editor"]})
    )
    assert created.status_code == 201
    assert "_auth" not in created.json()
    one = requests.get(f"{catalogue.url}/collections/{cid}", timeout=T)
    assert one.status_code == 200
    assert "_auth" not in one.json()
    listing = requests.get(f"{catalogue.url}/collections", params={"limit": 1000}, timeout=T).json()
    assert cid in {c["id"] for c in listing["collections"]}
    assert all("_auth" not in c for c in listing["collections"])
    assert (
        "_auth"
        not in requests.get(
            f"{catalogue.url}/collections/{cid}", headers=auth_header("admin"), timeout=T
        ).text
    )


def test_private_collection_is_hidden_from_readers_without_a_role(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    url = f"{catalogue.url}/collections/{editor_collection}"
    assert requests.get(url, timeout=T).status_code == 404
    assert requests.get(url, headers=auth_header("noroles"), timeout=T).status_code == 404
    assert requests.get(url, headers=auth_header("editor"), timeout=T).status_code == 200
    assert requests.get(url, headers=auth_header("admin"), timeout=T).status_code == 200
    assert requests.get(f"{url}/items", timeout=T).status_code == 404

    def ids(headers: dict[str, str]) -> set[str]:
        body = requests.get(
            f"{catalogue.url}/collections", params={"limit": 1000}, headers=headers, timeout=T
        )
        return {c["id"] for c in body.json()["collections"]}

    assert editor_collection not in ids({})
    assert editor_collection in ids(auth_header("editor"))


def test_search_hides_items_of_private_collections(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    cid = editor_collection
    headers = auth_header("editor")
    resp = requests.post(
        f"{catalogue.url}/collections/{cid}/items", json=item("secret", cid), headers=headers, timeout=T
    )
    assert resp.status_code == 201

    def found(method: str, extra: dict[str, str]) -> set[str]:
        if method == "GET":
            r = requests.get(f"{catalogue.url}/search", params={"collections": cid}, headers=extra, timeout=T)
        else:
            r = requests.post(
                f"{catalogue.url}/search", json={"collections": [cid]}, headers=extra, timeout=T
            )
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    for method in ("GET", "POST"):
        assert found(method, {}) == set()
        assert found(method, auth_header("noroles")) == set()
        assert "secret" in found(method, headers)


def test_put_needs_auth_like_production(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    url = f"{catalogue.url}/collections/{editor_collection}"
    fetched = requests.get(url, headers=auth_header("editor"), timeout=T).json()
    fetched["title"] = "Updated"
    without = requests.put(url, json=fetched, headers=auth_header("editor"), timeout=T)
    assert without.status_code == 400
    assert "_auth" in without.json()["detail"]
    with_auth = requests.put(
        url, json={**fetched, "_auth": PRIVATE}, headers=auth_header("editor"), timeout=T
    )
    assert with_auth.status_code == 200, with_auth.text
    assert "_auth" not in with_auth.json()
    assert requests.get(url, headers=auth_header("editor"), timeout=T).json()["title"] == "Updated"
    # the editor cannot make it public by PUT either; the body id must match the path
    public = {**fetched, "_auth": {"read": ["anonymous"], "write": ["apex-editor"]}}
    assert requests.put(url, json=public, headers=auth_header("editor"), timeout=T).status_code == 403
    other = {**fetched, "id": "another", "_auth": PRIVATE}
    assert requests.put(url, json=other, headers=auth_header("editor"), timeout=T).status_code == 400
    # a role outside _auth (and _auth.read) may not PUT: for it the collection does not exist
    assert (
        requests.put(
            url, json={**fetched, "_auth": PRIVATE}, headers=auth_header("noroles"), timeout=T
        ).status_code
        == 404
    )


def test_patch_keeps_auth_and_checks_changes(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    url = f"{catalogue.url}/collections/{editor_collection}"
    patched = requests.patch(url, json={"title": "Patched"}, headers=auth_header("editor"), timeout=T)
    assert patched.status_code == 200, patched.text
    assert "_auth" not in patched.json()
    # rules unchanged: still private, still writable by the editor
    assert requests.get(url, timeout=T).status_code == 404
    public = {"_auth": {"read": ["anonymous"], "write": ["apex-editor"]}}
    assert requests.patch(url, json=public, headers=auth_header("editor"), timeout=T).status_code == 403
    assert requests.patch(url, json=public, headers=auth_header("admin"), timeout=T).status_code == 200
    assert requests.get(url, timeout=T).json()["title"] == "Patched"


def test_json_patch_on_auth_is_refused(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    url = f"{catalogue.url}/collections/{editor_collection}"
    ops = [{"op": "replace", "path": "/_auth", "value": {"read": ["anonymous"], "write": ["apex-editor"]}}]
    headers = {**auth_header("editor"), "Content-Type": "application/json-patch+json"}
    resp = requests.patch(url, json=ops, headers=headers, timeout=T)
    assert resp.status_code == 400
    assert requests.get(url, timeout=T).status_code == 404  # still private
    title = [{"op": "add", "path": "/title", "value": "via json patch"}]
    assert requests.patch(url, json=title, headers=headers, timeout=T).status_code == 200


def test_missing_collection_writes_are_404(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    cid = new_id("missing")
    headers = auth_header("admin")
    assert (
        requests.post(
            f"{catalogue.url}/collections/{cid}/items", json=item("i", cid), headers=headers, timeout=T
        ).status_code
        == 404
    )
    bulk = {"items": {"i": item("i", cid)}, "method": "insert"}
    assert (
        requests.post(
            f"{catalogue.url}/collections/{cid}/bulk_items", json=bulk, headers=headers, timeout=T
        ).status_code
        == 404
    )
    assert (
        requests.delete(f"{catalogue.url}/collections/{cid}", headers=headers, timeout=T).status_code == 404
    )


# --- items ---------------------------------------------------------------------------------------


def test_item_writes_need_a_role_in_write(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    cid = new_id()
    rules = {"read": ["anonymous"], "write": ["other-team"]}
    assert create(catalogue, auth_header("admin"), collection(cid, rules)).status_code == 201
    items_url = f"{catalogue.url}/collections/{cid}/items"
    refused = requests.post(items_url, json=item("a", cid), headers=auth_header("editor"), timeout=T)
    assert refused.status_code == 403
    assert "other-team" in refused.json()["detail"]
    assert (
        requests.post(items_url, json=item("a", cid), headers=auth_header("noroles"), timeout=T).status_code
        == 403
    )
    assert (
        requests.post(items_url, json=item("a", cid), headers=auth_header("admin"), timeout=T).status_code
        == 201
    )
    assert requests.delete(f"{items_url}/a", headers=auth_header("editor"), timeout=T).status_code == 403
    assert (
        requests.delete(
            f"{catalogue.url}/collections/{cid}", headers=auth_header("editor"), timeout=T
        ).status_code
        == 403
    )


def test_item_lifecycle_and_duplicate(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    cid = editor_collection
    headers = auth_header("editor")
    items_url = f"{catalogue.url}/collections/{cid}/items"
    assert requests.post(items_url, json=item("a", cid), headers=headers, timeout=T).status_code == 201
    dup = requests.post(items_url, json=item("a", cid), headers=headers, timeout=T)
    assert dup.status_code == 409
    changed = item("a", cid)
    changed["properties"]["title"] = "changed"
    assert requests.put(f"{items_url}/a", json=changed, headers=headers, timeout=T).status_code == 200
    got = requests.get(f"{items_url}/a", headers=headers, timeout=T).json()
    assert got["properties"]["title"] == "changed"
    patch = {"properties": {"title": "patched"}}
    assert requests.patch(f"{items_url}/a", json=patch, headers=headers, timeout=T).status_code == 200
    assert requests.delete(f"{items_url}/a", headers=headers, timeout=T).status_code == 200
    assert requests.get(f"{items_url}/a", headers=headers, timeout=T).status_code == 404


def test_bulk_items(catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str) -> None:
    cid = editor_collection
    url = f"{catalogue.url}/collections/{cid}/bulk_items"
    body = {"items": {f"b{i}": item(f"b{i}", cid) for i in range(25)}, "method": "insert"}
    # noroles may not read the collection: not found for it
    assert requests.post(url, json=body, headers=auth_header("noroles"), timeout=T).status_code == 404
    resp = requests.post(url, json=body, headers=auth_header("editor"), timeout=T)
    assert resp.status_code == 200, resp.text
    listing = requests.get(
        f"{catalogue.url}/collections/{cid}/items",
        params={"limit": 100},
        headers=auth_header("editor"),
        timeout=T,
    ).json()
    assert {f["id"] for f in listing["features"]} == set(body["items"])
    upsert = {"items": {"b0": item("b0", cid)}, "method": "upsert"}
    assert requests.post(url, json=upsert, headers=auth_header("editor"), timeout=T).status_code == 200


def test_delete_collection_drops_its_rules(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    cid = new_id()
    assert create(catalogue, auth_header("editor"), collection(cid, PRIVATE)).status_code == 201
    assert (
        requests.delete(
            f"{catalogue.url}/collections/{cid}", headers=auth_header("editor"), timeout=T
        ).status_code
        == 200
    )
    # the id is free again, with new rules: the editor may read it, not write it
    other = {"read": ["apex-editor"], "write": ["other-team"]}
    assert create(catalogue, auth_header("admin"), collection(cid, other)).status_code == 201
    resp = requests.post(
        f"{catalogue.url}/collections/{cid}/items",
        json=item("x", cid),
        headers=auth_header("editor"),
        timeout=T,
    )
    assert resp.status_code == 403


# --- asset store -----------------------------------------------------------------------------------


def test_asset_store_round_trip(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    """Files staged in a folder that no collection owns yet are readable only by those who may store
    files (tests/local/test_catalogue_access.py covers the folders of collections)."""
    path = f"{new_id('assets')}/openEO_2019-08-19Z.tif"
    url = f"{catalogue.url}/assets/{path}"
    editor = auth_header("editor")
    payload = b"II*\x00" + bytes(range(256)) * 8
    assert requests.put(url, data=payload, timeout=T).status_code == 401
    assert requests.put(url, data=payload, headers=auth_header("noroles"), timeout=T).status_code == 403
    assert requests.get(url, headers=editor, timeout=T).status_code == 404
    stored = requests.put(url, data=payload, headers=editor, timeout=T)
    assert stored.status_code == 201, stored.text
    assert stored.json()["href"] == url
    assert (catalogue.asset_dir / path).read_bytes() == payload
    assert requests.get(url, timeout=T).status_code == 404  # staged: not public
    assert requests.get(url, headers=auth_header("noroles"), timeout=T).status_code == 404
    got = requests.get(url, headers=editor, timeout=T)
    assert got.status_code == 200
    assert got.content == payload
    assert got.headers["content-type"].startswith("image/tiff")
    part = requests.get(url, headers={"Range": "bytes=4-11", **editor}, timeout=T)
    assert part.status_code == 206
    assert part.content == payload[4:12]
    assert requests.head(url, headers=editor, timeout=T).headers["content-length"] == str(len(payload))
    replaced = requests.put(url, data=b"II*\x00new", headers=auth_header("admin"), timeout=T)
    assert replaced.status_code == 200
    assert requests.get(url, headers=editor, timeout=T).content == b"II*\x00new"


@pytest.mark.parametrize("path", ["a/../../etc/passwd", "..", "a/./b", ".hidden", "a//b", "a\\b.tif"])
def test_asset_path_traversal_is_rejected(
    catalogue: CatalogueHandle, auth_header: Headers, path: str
) -> None:
    # raw HTTP: requests would normalise the dots away before sending
    parts = urlsplit(catalogue.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=T)
    try:
        conn.request("PUT", f"/assets/{path}", body=b"x", headers=auth_header("editor"))
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status in (400, 404)
    assert not (catalogue.asset_dir.parent / "etc").exists()
    assert not any(
        p.name in ("passwd", "b.tif") for p in catalogue.asset_dir.parent.rglob("*") if p.is_file()
    )


# --- persistence -----------------------------------------------------------------------------------


def test_data_and_rules_survive_a_restart(issuer: IssuerHandle, auth_header: Headers) -> None:
    root = Path(tempfile.mkdtemp(prefix="apex-restart-"))
    root.chmod(0o711)
    cid = new_id()
    try:
        first = start_catalogue(root / "cat", issuer.issuer_url)
        try:
            assert create(first, auth_header("editor"), collection(cid, PRIVATE)).status_code == 201
            resp = requests.post(
                f"{first.url}/collections/{cid}/items",
                json=item("kept", cid),
                headers=auth_header("editor"),
                timeout=T,
            )
            assert resp.status_code == 201
        finally:
            first.stop()
        assert not first.running
        second = start_catalogue(root / "cat", issuer.issuer_url)
        try:
            url = f"{second.url}/collections/{cid}"
            assert requests.get(url, timeout=T).status_code == 404  # still private
            assert (
                requests.get(f"{url}/items/kept", headers=auth_header("editor"), timeout=T).status_code == 200
            )
            assert create(second, auth_header("editor"), collection(cid, PRIVATE)).status_code == 409
            bad = requests.post(
                f"{url}/items", json=item("x", cid), headers=auth_header("noroles"), timeout=T
            )
            assert bad.status_code == 404  # noroles may not even read it
        finally:
            second.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- hygiene (runs last in this module: it inspects the logs written by the tests above) ---------


def test_logs_hold_no_tokens_or_secrets(
    catalogue: CatalogueHandle, issuer: IssuerHandle, token_for: Any
) -> None:
    token = token_for("editor")
    secrets = [c.client_secret for c in issuer.clients]
    for log in (catalogue.state_dir / "catalogue.log", issuer.state_dir / "issuer.log"):
        text = log.read_text(errors="replace")
        assert text, log
        assert "eyJ" not in text, f"{log} contains something like a JWT"
        assert token not in text
        assert not any(secret in text for secret in secrets), f"{log} contains a client secret"


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},  # ring too short
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},  # ring not closed
        {"type": "Point", "coordinates": [200.0, 95.0, 1.0, 2.0]},  # too many coordinates
    ],
)
def test_invalid_geometry_is_400_not_500(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str, geometry: dict[str, Any]
) -> None:
    cid = editor_collection
    bad = {**item("bad", cid), "geometry": geometry}
    single = requests.post(
        f"{catalogue.url}/collections/{cid}/items", json=bad, headers=auth_header("editor"), timeout=T
    )
    assert single.status_code == 400, single.text
    assert "geometry" in single.text
    # Bulk writes are all or nothing, like a single write: the bad item is named, the good one not written.
    bulk = requests.post(
        f"{catalogue.url}/collections/{cid}/bulk_items",
        json={"items": {"bad": bad, "good": item("good", cid)}, "method": "insert"},
        headers=auth_header("editor"),
        timeout=T,
    )
    assert bulk.status_code == 400, bulk.text
    answer = bulk.json()
    assert [e["id"] for e in answer["errors"]] == ["bad"]
    assert "geometry" in answer["errors"][0]["msg"]
    assert "Nothing was written" in answer["description"]
    listing = requests.get(
        f"{catalogue.url}/collections/{cid}/items", headers=auth_header("editor"), timeout=T
    )
    assert listing.json()["features"] == []


def test_data_the_database_refuses_is_400_not_500(
    catalogue: CatalogueHandle, auth_header: Headers, editor_collection: str
) -> None:
    """Schema-valid, but refused by pgstac (the interval ends before it starts): a 400 with the reason,
    for single and bulk writes, and nothing stored."""
    cid = editor_collection
    bad = item("backwards", cid)
    bad["properties"].update(start_datetime="2019-08-19T00:00:00Z", end_datetime="2018-08-19T00:00:00Z")
    single = requests.post(
        f"{catalogue.url}/collections/{cid}/items", json=bad, headers=auth_header("editor"), timeout=T
    )
    bulk = requests.post(
        f"{catalogue.url}/collections/{cid}/bulk_items",
        json={"items": {"backwards": bad}, "method": "insert"},
        headers=auth_header("editor"),
        timeout=T,
    )
    for resp in (single, bulk):
        assert resp.status_code == 400, resp.text
        assert resp.json()["description"].startswith("The database refused the data:"), resp.text
    listing = requests.get(
        f"{catalogue.url}/collections/{cid}/items", headers=auth_header("editor"), timeout=T
    )
    assert listing.json()["features"] == []
