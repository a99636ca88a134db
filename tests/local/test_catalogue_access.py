"""The embedded catalogue's access rules, tried from the side that must be refused, over HTTP.

- A write touches only the ids in its path: a body naming another collection or item is a 400 and
  the other record is unchanged, on every write route.
- What a reader may not see does not show through search pages, counts, paging tokens or links.
- Files in the asset store are read under their collection's ``_auth.read`` (Range requests too),
  and written under its ``_auth.write``.
- Tokens minted for another audience write nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
import requests

from apex_core.local.catalogue import CatalogueHandle
from apex_core.local.issuer import IssuerHandle
from tests.stacdocs import canary_collection, canary_item

pytestmark = pytest.mark.services

Headers = Callable[[str], dict[str, str]]
T = 15  # seconds, every request
PRIVATE = {"read": ["apex-editor"], "write": ["apex-editor"]}
ADMIN_ONLY = {"read": ["stac-admin-local"], "write": ["stac-admin-local"]}
PUBLIC_ADMIN = {"read": ["anonymous"], "write": ["stac-admin-local"]}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _created(resp: requests.Response) -> None:
    assert resp.status_code in (200, 201), resp.text


def make_collection(cat: CatalogueHandle, headers: dict[str, str], auth: Any, prefix: str = "acc") -> str:
    cid = new_id(prefix)
    _created(
        requests.post(f"{cat.url}/collections", json=canary_collection(cid, auth), headers=headers, timeout=T)
    )
    return cid


def make_item(cat: CatalogueHandle, headers: dict[str, str], cid: str, iid: str) -> None:
    _created(
        requests.post(
            f"{cat.url}/collections/{cid}/items", json=canary_item(iid, cid), headers=headers, timeout=T
        )
    )


def read(cat: CatalogueHandle, path: str, headers: dict[str, str]) -> dict[str, Any]:
    resp = requests.get(f"{cat.url}{path}", headers=headers, timeout=T)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.fixture(scope="module")
def victims(catalogue: CatalogueHandle, auth_header: Headers) -> dict[str, str]:
    """The admin's public collection, an admin-only one, and the editor's own; each with one item."""
    admin = auth_header("admin")
    ids = {
        "public": make_collection(catalogue, admin, PUBLIC_ADMIN, "admin-public"),
        "admin_only": make_collection(catalogue, admin, ADMIN_ONLY, "admin-only"),
        "own": make_collection(catalogue, auth_header("editor"), PRIVATE, "editor-own"),
    }
    for name, cid in ids.items():
        make_item(catalogue, admin, cid, f"{name}-item")
    return ids


@pytest.fixture
def unchanged(catalogue: CatalogueHandle, auth_header: Headers, victims: dict[str, str]) -> Iterator[None]:
    """After the test, every victim collection and item reads back exactly as before."""
    admin = auth_header("admin")

    def snapshot() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, cid in victims.items():
            out[cid] = read(catalogue, f"/collections/{cid}", admin)
            out[f"{cid}/item"] = read(catalogue, f"/collections/{cid}/items/{name}-item", admin)
        for doc in out.values():
            doc.pop("links", None)
        return out

    before = snapshot()
    yield
    assert snapshot() == before


# --- 1. the path ids are the only ids a write may touch ---------------------------------------------


@pytest.mark.parametrize("target", ["public", "admin_only"])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda other: {"id": other, "title": "owned"}, id="merge-patch-id"),
        pytest.param(
            lambda other: [{"op": "replace", "path": "/id", "value": other}], id="json-patch-replace-id"
        ),
        pytest.param(lambda other: [{"op": "add", "path": "/id", "value": other}], id="json-patch-add-id"),
        pytest.param(
            lambda other: [
                {"op": "add", "path": "/title", "value": other},
                {"op": "move", "from": "/title", "path": "/id"},
            ],
            id="json-patch-move-to-id",
        ),
        pytest.param(
            lambda other: [
                {"op": "replace", "path": "", "value": {**canary_collection(other), "title": "owned"}}
            ],
            id="json-patch-whole-document",
        ),
    ],
)
@pytest.mark.usefixtures("unchanged")
def test_patching_own_collection_cannot_rewrite_another(
    catalogue: CatalogueHandle,
    auth_header: Headers,
    victims: dict[str, str],
    target: str,
    body: Callable[[str], Any],
) -> None:
    editor = auth_header("editor")
    resp = requests.patch(
        f"{catalogue.url}/collections/{victims['own']}", json=body(victims[target]), headers=editor, timeout=T
    )
    assert resp.status_code == 400, resp.text
    assert "id" in resp.text


@pytest.mark.usefixtures("unchanged")
def test_patch_with_the_path_id_in_the_body_still_works(
    catalogue: CatalogueHandle, auth_header: Headers, victims: dict[str, str]
) -> None:
    admin = auth_header("admin")
    cid = make_collection(catalogue, auth_header("editor"), PRIVATE)
    url = f"{catalogue.url}/collections/{cid}"
    merged = requests.patch(url, json={"id": cid, "title": "renamed"}, headers=admin, timeout=T)
    assert merged.status_code == 200, merged.text
    patched = requests.patch(
        url, json=[{"op": "replace", "path": "/description", "value": "d2"}], headers=admin, timeout=T
    )
    assert patched.status_code == 200, patched.text
    doc = read(catalogue, f"/collections/{cid}", admin)
    assert (doc["id"], doc["title"], doc["description"]) == (cid, "renamed", "d2")


@pytest.mark.usefixtures("unchanged")
def test_json_patch_that_cannot_apply_is_400(
    catalogue: CatalogueHandle, auth_header: Headers, victims: dict[str, str]
) -> None:
    resp = requests.patch(
        f"{catalogue.url}/collections/{victims['own']}",
        json=[{"op": "remove", "path": "/no/such/member"}],
        headers=auth_header("editor"),
        timeout=T,
    )
    assert resp.status_code == 400, resp.text
    assert "cannot be applied" in resp.text


@pytest.mark.usefixtures("unchanged")
def test_put_collection_with_another_id_is_400(
    catalogue: CatalogueHandle, auth_header: Headers, victims: dict[str, str]
) -> None:
    doc = {**canary_collection(victims["public"], PRIVATE), "title": "owned"}
    resp = requests.put(
        f"{catalogue.url}/collections/{victims['own']}", json=doc, headers=auth_header("editor"), timeout=T
    )
    assert resp.status_code == 400, resp.text


@pytest.mark.parametrize("target", ["public", "admin_only"])
@pytest.mark.usefixtures("unchanged")
def test_item_writes_into_own_collection_cannot_touch_another(
    catalogue: CatalogueHandle, auth_header: Headers, victims: dict[str, str], target: str
) -> None:
    editor = auth_header("editor")
    own, other = victims["own"], victims[target]
    own_url = f"{catalogue.url}/collections/{own}/items"
    foreign_item = {
        **canary_item(f"{target}-item", other),
        "properties": {"datetime": "2019-08-19T11:52:21Z", "title": "owned"},
    }
    attempts = [
        requests.post(own_url, json=foreign_item, headers=editor, timeout=T),  # body collection differs
        requests.put(f"{own_url}/own-item", json=foreign_item, headers=editor, timeout=T),
        requests.put(
            f"{own_url}/own-item", json={**canary_item(f"{target}-item", own)}, headers=editor, timeout=T
        ),  # body item id differs
        requests.patch(f"{own_url}/own-item", json={"collection": other}, headers=editor, timeout=T),
        requests.patch(f"{own_url}/own-item", json={"id": f"{target}-item"}, headers=editor, timeout=T),
        requests.patch(
            f"{own_url}/own-item",
            json=[{"op": "replace", "path": "/collection", "value": other}],
            headers=editor,
            timeout=T,
        ),
        requests.patch(
            f"{own_url}/own-item",
            json=[{"op": "replace", "path": "/id", "value": f"{target}-item"}],
            headers=editor,
            timeout=T,
        ),
        requests.post(
            own_url,
            json={"type": "FeatureCollection", "features": [foreign_item]},
            headers=editor,
            timeout=T,
        ),
    ]
    for resp in attempts:
        assert resp.status_code == 400, (resp.request.method, resp.request.url, resp.text)
    bulk = requests.post(
        f"{catalogue.url}/collections/{own}/bulk_items",
        json={"items": {f"{target}-item": foreign_item}, "method": "upsert"},
        headers=editor,
        timeout=T,
    )
    # refused as a whole, the item named; nothing written (the fixture reads every victim back)
    assert bulk.status_code == 400, bulk.text
    assert [e["id"] for e in bulk.json()["errors"]] == [f"{target}-item"]
    assert "differs from the collection in the path" in bulk.text


def test_writes_to_another_collection_by_path_are_403_or_not_found(
    catalogue: CatalogueHandle, auth_header: Headers, victims: dict[str, str]
) -> None:
    """403 naming the roles for a collection the caller can read; for one it cannot, the same 404 as for
    a collection that does not exist (a write must not reveal a hidden collection or its rules)."""
    editor, noroles = auth_header("editor"), auth_header("noroles")
    public = f"{catalogue.url}/collections/{victims['public']}"
    assert requests.patch(public, json={"title": "x"}, headers=editor, timeout=T).status_code == 403
    assert requests.delete(f"{public}/items/public-item", headers=editor, timeout=T).status_code == 403
    hidden, missing = victims["admin_only"], new_id("no-such")
    for who in (editor, noroles):
        answers = []
        for cid in (hidden, missing):
            url = f"{catalogue.url}/collections/{cid}"
            for resp in (
                requests.patch(url, json={"title": "x"}, headers=who, timeout=T),
                requests.delete(url, headers=who, timeout=T),
                requests.post(f"{url}/items", json=canary_item("x", cid), headers=who, timeout=T),
                requests.put(f"{url}/items/x", json=canary_item("x", cid), headers=who, timeout=T),
                requests.delete(f"{url}/items/admin_only-item", headers=who, timeout=T),
                requests.post(
                    f"{url}/bulk_items", json={"items": {"x": canary_item("x", cid)}}, headers=who, timeout=T
                ),
            ):
                answers.append((resp.status_code, resp.text.replace(cid, "<id>")))
        half = len(answers) // 2
        assert [s for s, _ in answers[:half]] == [s for s, _ in answers[half:]], answers
        assert all(status == 404 for status, _ in answers[:half]), answers
        assert not any("stac-admin-local" in text for _, text in answers), answers
        # files: the hidden collection's folder is not found either, and nothing is stored there
        put_file = requests.put(f"{catalogue.url}/assets/{hidden}/x.tif", data=b"x", headers=who, timeout=T)
        assert put_file.status_code == 404 and "stac-admin-local" not in put_file.text, put_file.text
        assert not (catalogue.asset_dir / hidden / "x.tif").exists()


# --- 2. paging shows nothing hidden -------------------------------------------------------------------


def _tokens(links: list[dict[str, Any]]) -> list[str]:
    out = []
    for link in links:
        query = parse_qs(urlsplit(link.get("href", "")).query)
        out += query.get("token", [])
        body = link.get("body")
        if isinstance(body, dict) and body.get("token"):
            out.append(str(body["token"]))
    return out


def _walk(
    catalogue: CatalogueHandle, method: str, headers: dict[str, str], query: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str], list[Any]]:
    """Every page of a search, following ``next``; returns features, paging tokens and counts."""
    features: list[dict[str, Any]] = []
    tokens: list[str] = []
    counts: list[Any] = []
    url = f"{catalogue.url}/search"
    body: dict[str, Any] | None = dict(query)
    for _ in range(200):
        if method == "GET":
            resp = (
                requests.get(url, params=body, headers=headers, timeout=T)
                if body is not None
                else requests.get(url, headers=headers, timeout=T)
            )
        else:
            resp = requests.post(url, json=body, headers=headers, timeout=T)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        features += page["features"]
        counts.append(page.get("numberMatched"))
        tokens += _tokens(page.get("links", []))
        nxt = [link for link in page.get("links", []) if link.get("rel") == "next"]
        if not nxt:
            return features, tokens, counts
        link = nxt[0]
        if method == "GET":
            url, body = link["href"], None
        else:
            url = link["href"]
            body = {**(body or {}), **link.get("body", {})}
    raise AssertionError("paging did not end")


def _decoded(token: str) -> str:
    """A paging token with its parts made readable: pgstac's are ``next:<hex collection>:<hex item>``."""
    parts = unquote(token).split(":")
    readable = list(parts)
    for part in parts:
        with contextlib.suppress(ValueError):
            readable.append(bytes.fromhex(part).decode("utf-8", "replace"))
    return " ".join(readable)


def test_decoded_tokens_are_readable() -> None:  # the check below must be able to fail
    assert "page-hidden-x secret-1" in _decoded("next:" + b"page-hidden-x".hex() + ":" + b"secret-1".hex())


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_paging_never_shows_hidden_records(
    catalogue: CatalogueHandle, auth_header: Headers, method: str
) -> None:
    admin, editor = auth_header("admin"), auth_header("editor")
    public = make_collection(catalogue, admin, PUBLIC_ADMIN, "page-public")
    hidden = make_collection(catalogue, admin, ADMIN_ONLY, "page-hidden")
    for n in range(3):
        make_item(catalogue, admin, public, f"pub-{n}")
        make_item(catalogue, admin, hidden, f"secret-{n}")

    for who, headers in (("anonymous", {}), ("editor", editor), ("noroles", auth_header("noroles"))):
        for query in (
            {"limit": 1},
            {"limit": 1, "collections": [public, hidden]},
            {"limit": 1, "ids": ["secret-0", "pub-0"]},
        ):
            q = dict(query)
            if method == "GET":
                q = {k: ",".join(v) if isinstance(v, list) else v for k, v in q.items()}
            features, tokens, counts = _walk(catalogue, method, headers, q)
            seen = {(f["collection"], f["id"]) for f in features}
            assert not any(c == hidden for c, _ in seen), (who, query, seen)
            for token in tokens:
                assert hidden not in _decoded(token) and "secret-" not in _decoded(token), (who, query, token)
            if "collections" in query:
                assert seen == {(public, f"pub-{n}") for n in range(3)}, (who, seen)
                assert all(c in (None, 3) for c in counts), (who, counts)

    # the admin does see the hidden items, through the same paging
    features, _, _ = _walk(
        catalogue, method, admin, {"limit": 1, "collections": [hidden] if method == "POST" else hidden}
    )
    assert {f["id"] for f in features} == {f"secret-{n}" for n in range(3)}


def test_collection_listing_pages_and_counts_show_nothing_hidden(
    catalogue: CatalogueHandle, auth_header: Headers
) -> None:
    admin = auth_header("admin")
    hidden = make_collection(catalogue, admin, ADMIN_ONLY, "list-hidden")
    visible_all = {c["id"] for c in read(catalogue, "/collections?limit=10000", {})["collections"]}
    assert hidden not in visible_all
    seen: list[str] = []
    url: str | None = f"{catalogue.url}/collections?limit=2"
    matched: set[Any] = set()
    while url:
        resp = requests.get(url, timeout=T)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert hidden not in resp.text
        seen += [c["id"] for c in page["collections"]]
        matched.add(page.get("numberMatched"))
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    assert set(seen) == visible_all and len(seen) == len(visible_all)
    assert matched <= {len(visible_all), None}, matched
    # filters and free text combine with the restriction
    both = requests.get(f"{catalogue.url}/collections", params={"q": "test", "limit": 10000}, timeout=T)
    assert both.status_code == 200 and hidden not in both.text
    assert hidden in {c["id"] for c in read(catalogue, "/collections?limit=10000", admin)["collections"]}


# --- 3. files are read and written under their collection's rules ------------------------------------


def test_private_files_need_a_reader_role(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    editor, admin = auth_header("editor"), auth_header("admin")
    private = make_collection(catalogue, editor, PRIVATE, "files-private")
    public = make_collection(catalogue, admin, PUBLIC_ADMIN, "files-public")
    payload = b"II*\x00" + bytes(range(256)) * 4
    private_url = f"{catalogue.url}/assets/{private}/item-ndvi.tif"
    public_url = f"{catalogue.url}/assets/{public}/item-ndvi.tif"
    assert requests.put(private_url, data=payload, headers=editor, timeout=T).status_code == 201
    assert requests.put(public_url, data=payload, headers=admin, timeout=T).status_code == 201

    for refused in ({}, auth_header("noroles"), {"Authorization": "Bearer not-a-token"}):
        for extra in ({}, {"Range": "bytes=0-3"}):
            got = requests.get(private_url, headers={**refused, **extra}, timeout=T)
            assert got.status_code == 404, (refused, extra, got.status_code)
            assert payload[:4] not in got.content
        assert requests.head(private_url, headers=refused, timeout=T).status_code == 404
    for allowed in (editor, admin):
        assert requests.get(private_url, headers=allowed, timeout=T).content == payload
        part = requests.get(private_url, headers={**allowed, "Range": "bytes=4-7"}, timeout=T)
        assert (part.status_code, part.content) == (206, payload[4:8])
    assert requests.get(public_url, timeout=T).content == payload  # public collection: public files
    assert requests.get(public_url, headers={"Range": "bytes=0-3"}, timeout=T).status_code == 206


def test_files_of_another_collection_cannot_be_overwritten(
    catalogue: CatalogueHandle, auth_header: Headers
) -> None:
    admin, editor = auth_header("admin"), auth_header("editor")
    public = make_collection(catalogue, admin, PUBLIC_ADMIN, "files-admin")
    url = f"{catalogue.url}/assets/{public}/item-ndvi.tif"
    original = b"II*\x00original"
    assert requests.put(url, data=original, headers=admin, timeout=T).status_code == 201
    refused = requests.put(url, data=b"II*\x00evil", headers=editor, timeout=T)
    assert refused.status_code == 403, refused.text
    assert "roles" in refused.json()["detail"]
    assert (
        requests.put(
            f"{catalogue.url}/assets/{public}/new.tif", data=b"x", headers=editor, timeout=T
        ).status_code
        == 403
    )
    assert requests.get(url, timeout=T).content == original
    assert (
        hashlib.sha256((catalogue.asset_dir / public / "item-ndvi.tif").read_bytes()).digest()
        == hashlib.sha256(original).digest()
    )


# --- 4. the token's audience ---------------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["another-service", None])
def test_token_for_another_audience_writes_nothing(
    catalogue: CatalogueHandle, issuer: IssuerHandle, audience: str | None
) -> None:
    assert catalogue.settings.audience == issuer.audience
    admin = issuer.client("admin")
    state = issuer.state()
    token = state.sign(
        issuer=issuer.issuer_url,
        subject="admin",
        roles=admin.roles,
        azp=admin.client_id,
        lifetime=300,
        audience=audience or issuer.audience,
    )
    if audience is None:  # a token with no `aud` at all
        claims = jwt.decode(token, options={"verify_signature": False})
        del claims["aud"]
        token = jwt.encode(claims, state.private_key, algorithm="RS256", headers={"kid": state.kid})
    cid = new_id("aud")
    headers = {"Authorization": f"Bearer {token}"}
    resp = requests.post(
        f"{catalogue.url}/collections", json=canary_collection(cid, PRIVATE), headers=headers, timeout=T
    )
    assert resp.status_code == 401, resp.text
    assert "aud" in resp.json()["detail"].lower()
    assert (
        requests.put(f"{catalogue.url}/assets/{cid}/x.tif", data=b"x", headers=headers, timeout=T).status_code
        == 401
    )
    good = issuer.state().sign(
        issuer=issuer.issuer_url,
        subject="admin",
        roles=admin.roles,
        azp=admin.client_id,
        lifetime=300,
        audience=issuer.audience,
    )
    assert (
        requests.get(
            f"{catalogue.url}/collections/{cid}", headers={"Authorization": f"Bearer {good}"}, timeout=T
        ).status_code
        == 404
    )


# --- found by the adversarial review -----------------------------------------------------------------


def test_a_hand_made_token_into_a_hidden_collection_reveals_nothing(
    catalogue: CatalogueHandle, auth_header: Headers
) -> None:
    """A token naming a hidden item answered differently from one naming no item (existence), and placed
    the page right after the hidden item in any sort order (its property values, by bisection)."""
    admin, editor = auth_header("admin"), auth_header("editor")
    hidden = make_collection(catalogue, admin, ADMIN_ONLY, "tok-hidden")
    secret = {
        **canary_item("p0", hidden),
        "properties": {"datetime": "2019-08-19T11:52:21Z", "secret": "KILO"},
    }
    _created(
        requests.post(f"{catalogue.url}/collections/{hidden}/items", json=secret, headers=admin, timeout=T)
    )
    mine = make_collection(catalogue, editor, PRIVATE, "tok-probe")
    for letter in "AJKLZ":
        probe = {
            **canary_item(f"probe-{letter}", mine),
            "properties": {"datetime": "2019-08-19T11:52:21Z", "secret": letter * 4},
        }
        _created(
            requests.post(f"{catalogue.url}/collections/{mine}/items", json=probe, headers=editor, timeout=T)
        )

    def token(cid: str, iid: str, direction: str = "next") -> str:
        return f"{direction}:{cid.encode().hex()}:{iid.encode().hex()}"

    for who in ({}, editor, auth_header("noroles")):
        for direction in ("next", "prev"):
            answers = []
            for iid in ("p0", "no-such-item"):
                for path, params in (
                    ("/search", {"token": token(hidden, iid, direction)}),
                    (
                        "/search",
                        {
                            "collections": mine,
                            "sortby": "properties.secret",
                            "token": token(hidden, iid, direction),
                        },
                    ),
                    (f"/collections/{mine}/items", {"token": token(hidden, iid, direction)}),
                ):
                    resp = requests.get(f"{catalogue.url}{path}", params=params, headers=who, timeout=T)
                    answers.append((resp.status_code, resp.text.replace(iid.encode().hex(), "<item>")))
                post = requests.post(
                    f"{catalogue.url}/search",
                    json={"token": token(hidden, iid, direction)},
                    headers=who,
                    timeout=T,
                )
                answers.append((post.status_code, post.text.replace(iid.encode().hex(), "<item>")))
            half = len(answers) // 2
            assert answers[:half] == answers[half:], answers  # the hidden item and no item: the same answers
            # refused (404: the editor's own collection, hidden from the anonymous caller too)
            assert all(status in (400, 404) for status, _ in answers), answers
            assert not any("KILP" in text or "probe-L" in text for _, text in answers)
    # the admin may page from it
    resp = requests.get(
        f"{catalogue.url}/search", params={"token": token(hidden, "p0")}, headers=admin, timeout=T
    )
    assert resp.status_code == 200, resp.text


def test_a_query_on_id_narrows_the_collection_listing(
    catalogue: CatalogueHandle, auth_header: Headers
) -> None:
    """The listing's restriction to readable collections replaced a caller's own `id` condition."""
    admin, editor = auth_header("admin"), auth_header("editor")
    make_collection(catalogue, admin, ADMIN_ONLY, "q-hidden")  # so that a restriction applies to the editor
    own = make_collection(catalogue, editor, PRIVATE, "q-own")
    other = make_collection(catalogue, admin, PUBLIC_ADMIN, "q-public")

    def listed(query: dict[str, Any], headers: dict[str, str]) -> set[str]:
        resp = requests.get(
            f"{catalogue.url}/collections",
            params={"query": json.dumps(query), "limit": 1000},
            headers=headers,
            timeout=T,
        )
        assert resp.status_code == 200, resp.text
        return {c["id"] for c in resp.json()["collections"]}

    for headers in (editor, admin):
        assert listed({"id": {"eq": own}}, headers) == {own}
        assert listed({"id": {"in": [own, other]}}, headers) == {own, other}
        assert listed({"id": {"startsWith": "q-own-"}}, headers) >= {own}
        assert other not in listed({"id": {"startsWith": "q-own-"}}, headers)
    assert listed({"id": {"eq": own}}, {}) == set()  # anonymous: the editor's collection stays hidden
    bad = requests.get(
        f"{catalogue.url}/collections",
        params={"query": json.dumps({"id": {"regex": ".*"}})},
        headers=editor,
        timeout=T,
    )
    assert bad.status_code == 400, bad.text


def test_files_of_a_deleted_collection_go_with_it(catalogue: CatalogueHandle, auth_header: Headers) -> None:
    """They fell under the rules of a folder without a collection: every asset role could read them."""
    admin, editor = auth_header("admin"), auth_header("editor")
    cid = make_collection(catalogue, admin, ADMIN_ONLY, "del-files")
    url = f"{catalogue.url}/assets/{cid}/report.pdf"
    assert requests.put(url, data=b"ADMIN-ONLY-CONTENT", headers=admin, timeout=T).status_code == 201
    assert requests.get(url, headers=editor, timeout=T).status_code == 404
    assert requests.delete(f"{catalogue.url}/collections/{cid}", headers=admin, timeout=T).status_code == 200
    for headers in (editor, admin, {}):
        assert requests.get(url, headers=headers, timeout=T).status_code == 404
    assert not (catalogue.asset_dir / cid).exists()
