"""The catalogue's read side (apex_core.browse) against the embedded catalogue and loopback servers:
what each account may see, paging of collections and items, the token kept to the catalogue's origin,
and failures as the project's errors."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import requests

from apex_core.browse import (
    CollectionView,
    item_footprints,
    open_collection,
    read_collections,
    search_collections,
    timeline_rows,
)
from apex_core.catalogue import AccessToken
from apex_core.errors import (
    CatalogueError,
    CatalogueUnavailable,
    ForbiddenError,
    TokenExpired,
    UnauthorizedError,
)
from apex_core.local.catalogue import CatalogueHandle
from apex_core.local.process import free_port
from tests.services import loopback_http
from tests.stacdocs import EDITOR_AUTH as PRIVATE
from tests.stacdocs import canary_collection, canary_item

pytestmark = pytest.mark.services

T = 15  # seconds, every request
PUBLIC = {"read": ["anonymous"], "write": ["stac-admin-local"]}
ITEMS = 7

Headers = Callable[[str], dict[str, str]]
Tokens = Callable[[str], str]


def _post(url: str, doc: dict[str, Any], headers: dict[str, str]) -> None:
    resp = requests.post(url, json=doc, headers=headers, timeout=T)
    assert resp.status_code in (200, 201), resp.text


@pytest.fixture(scope="module")
def made(catalogue: CatalogueHandle, auth_header: Headers) -> dict[str, str]:
    """A public collection (the admin's), and a private one of the editor's with 7 items on 7 days."""
    tag = uuid.uuid4().hex[:8]
    ids = {"public": f"browse-public-{tag}", "private": f"browse-private-{tag}", "tag": tag}
    admin, editor = auth_header("admin"), auth_header("editor")
    _post(
        f"{catalogue.url}/collections",
        canary_collection(ids["public"], PUBLIC, title=f"Browse public {tag}", keywords=["ndvi", tag]),
        admin,
    )
    _post(
        f"{catalogue.url}/collections",
        canary_collection(ids["private"], PRIVATE, title=f"Browse private {tag}"),
        editor,
    )
    for n in range(ITEMS):
        item = canary_item(f"item-{n}", ids["private"])
        item["properties"]["datetime"] = f"2019-08-{19 + (n * 5) % ITEMS:02d}T11:52:21Z"  # out of order
        _post(f"{catalogue.url}/collections/{ids['private']}/items", item, editor)
    return ids


def token(token_for: Tokens, name: str) -> AccessToken:
    return AccessToken(token_for(name), source="test")


def ids_of(url: str, tok: AccessToken | None, **kw: Any) -> list[str]:
    return [c.id for c in read_collections(url, tok, timeout=T, **kw).collections]


# --- who sees what ------------------------------------------------------------------------------


def test_a_public_collection_is_listed_and_opened_anonymously(
    catalogue: CatalogueHandle, made: dict[str, str]
) -> None:
    listed = {c.id: c for c in read_collections(catalogue.url, None, timeout=T).collections}
    public = listed[made["public"]]
    assert public.title == f"Browse public {made['tag']}"
    assert public.bbox == (-16.0, 27.6, -15.3, 28.2)
    assert public.interval == ("2019-08-19T00:00:00Z", None)
    assert public.public is None  # the embedded catalogue, like APEx's, never echoes `_auth`
    assert search_collections(tuple(listed.values()), f"NDVI {made['tag']}").collections == (public,)
    view = open_collection(catalogue.url, None, made["public"], timeout=T)
    assert view is not None and view.collection["id"] == made["public"]
    assert view.items == () and not view.truncated


def test_a_private_collection_shows_only_to_its_role(
    catalogue: CatalogueHandle, made: dict[str, str], token_for: Tokens
) -> None:
    assert made["private"] not in ids_of(catalogue.url, None)
    assert made["private"] not in ids_of(catalogue.url, token(token_for, "noroles"))
    editor = ids_of(catalogue.url, token(token_for, "editor"))
    assert made["private"] in editor and made["public"] in editor
    assert open_collection(catalogue.url, None, made["private"], timeout=T) is None
    assert open_collection(catalogue.url, token(token_for, "noroles"), made["private"], timeout=T) is None
    assert open_collection(catalogue.url, None, f"no-such-{made['tag']}", timeout=T) is None


def test_the_listing_is_sorted_by_title_and_capped(
    catalogue: CatalogueHandle, made: dict[str, str], token_for: Tokens
) -> None:
    listed = read_collections(catalogue.url, token(token_for, "admin"), timeout=T).collections
    assert [(c.title.casefold(), c.id) for c in listed] == sorted((c.title.casefold(), c.id) for c in listed)
    assert (
        len(read_collections(catalogue.url, token(token_for, "admin"), timeout=T, limit=1).collections) == 1
    )


# --- paging -------------------------------------------------------------------------------------


def test_collections_are_read_over_every_page(
    catalogue: CatalogueHandle, made: dict[str, str], token_for: Tokens
) -> None:
    editor = token(token_for, "editor")
    first_page = requests.get(
        f"{catalogue.url}/collections",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {editor.access_token}"},
        timeout=T,
    ).json()
    assert len(first_page["collections"]) == 1
    assert any(link["rel"] == "next" for link in first_page["links"])  # the server pages at limit=1
    paged = ids_of(catalogue.url, editor, page_size=1)
    assert sorted(paged) == sorted(ids_of(catalogue.url, editor))
    assert {made["public"], made["private"]} <= set(paged)


def test_items_are_read_over_every_page_sorted_by_time(
    catalogue: CatalogueHandle, made: dict[str, str], token_for: Tokens
) -> None:
    view = open_collection(catalogue.url, token(token_for, "editor"), made["private"], timeout=T, page_size=3)
    assert view is not None and not view.truncated
    assert len(view.items) == ITEMS
    starts = [i.start for i in view.items]
    assert starts == sorted(starts) and len(set(starts)) == ITEMS
    assert [d["id"] for d in view.item_docs] == [i.id for i in view.items]
    assert view.item("item-3") == next(d for d in view.item_docs if d["id"] == "item-3")
    assert view.collection["id"] == made["private"]
    assert len(item_footprints(view)["features"]) == ITEMS
    assert [r["item"] for r in timeline_rows(view)] == [i.id for i in view.items]
    assert CollectionView.from_dict(json.loads(json.dumps(view.to_dict()))) == view


def test_items_past_max_items_are_cut_and_flagged(
    catalogue: CatalogueHandle, made: dict[str, str], token_for: Tokens
) -> None:
    view = open_collection(
        catalogue.url, token(token_for, "editor"), made["private"], timeout=T, max_items=5, page_size=2
    )
    assert view is not None and view.truncated and len(view.items) == 5
    exact = open_collection(
        catalogue.url, token(token_for, "editor"), made["private"], timeout=T, max_items=ITEMS, page_size=2
    )
    assert exact is not None and not exact.truncated and len(exact.items) == ITEMS


def test_read_collections_says_whether_the_limit_cut_the_list(
    catalogue: CatalogueHandle, made: dict[str, str], token_for: Tokens
) -> None:
    editor = token(token_for, "editor")
    whole = read_collections(catalogue.url, editor, timeout=T)
    assert not whole.truncated and {made["public"], made["private"]} <= {c.id for c in whole.collections}
    assert whole.collections == read_collections(catalogue.url, editor, timeout=T).collections
    n = len(whole.collections)
    exact = read_collections(catalogue.url, editor, timeout=T, limit=n, page_size=1)
    assert not exact.truncated and exact.collections == whole.collections
    cut = read_collections(catalogue.url, editor, timeout=T, limit=n - 1, page_size=1)
    assert cut.truncated and len(cut.collections) == n - 1
    capped = read_collections(catalogue.url, editor, timeout=T, page_size=1, max_pages=1)
    assert capped.truncated and len(capped.collections) == 1  # a next link was left at the page cap


# --- errors -------------------------------------------------------------------------------------


def test_a_garbage_token_reads_as_anonymous_on_the_embedded_catalogue(
    catalogue: CatalogueHandle, made: dict[str, str]
) -> None:
    """The embedded catalogue treats an invalid token on a read as no token (its access rules; a 401
    from a catalogue that refuses it is tested with a loopback server below)."""
    garbage = AccessToken("garbage-" + uuid.uuid4().hex, source="test")
    listed = ids_of(catalogue.url, garbage)
    assert made["public"] in listed and made["private"] not in listed
    assert open_collection(catalogue.url, garbage, made["private"], timeout=T) is None


def test_a_closed_port_is_catalogue_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CatalogueUnavailable) as caught:
        read_collections(url, AccessToken("secret-token-value"), timeout=3)
    assert url in caught.value.message and "not reachable" in caught.value.message
    assert "secret-token-value" not in str(caught.value)
    with pytest.raises(CatalogueUnavailable):
        open_collection(url, None, "x", timeout=3)


# --- the token stays on the catalogue's origin ---------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers from ``routes`` (path -> (status, JSON)) and records each request's path and headers."""

    url: ClassVar[str]
    routes: ClassVar[dict[str, tuple[int, Any]]]
    seen: ClassVar[list[tuple[str, dict[str, str]]]]
    release: ClassVar[threading.Event]

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers.items())))
        status, body = self.routes.get(self.path, (404, {"code": "NotFound", "description": "no"}))
        if status == 0:  # never answers (until the test ends)
            self.release.wait(10)
            return
        if isinstance(body, bytes):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if status in (301, 302, 307):
            self.send_response(status)
            self.send_header("Location", body)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


Origin = type[_Recorder]  # a loopback server: its ``url``, the ``routes`` it answers, what it has ``seen``


@contextlib.contextmanager
def serving_origin() -> Iterator[Origin]:
    """A loopback server answering nothing but what a test adds to its ``routes``."""
    origin: Origin = type("Recorder", (_Recorder,), {"routes": {}, "seen": [], "release": threading.Event()})
    try:
        with loopback_http(origin) as url:
            origin.url = url
            yield origin
    finally:
        origin.release.set()


def _landing(url: str) -> dict[str, Any]:
    return {
        "type": "Catalog",
        "id": "home",
        "stac_version": "1.1.0",
        "description": "a catalogue",
        "conformsTo": ["https://api.stacspec.org/v1.0.0/collections"],
        "links": [{"rel": "data", "href": f"{url}/collections"}],
    }


@pytest.fixture
def home() -> Iterator[Origin]:
    """The catalogue: a STAC API landing page at ``/``, the rest as the test adds to ``home.routes``."""
    with serving_origin() as origin:
        origin.routes["/"] = (200, _landing(origin.url))
        yield origin


@pytest.fixture
def foreign() -> Iterator[Origin]:
    """Another origin, which must never see the catalogue's token."""
    with serving_origin() as origin:
        yield origin


def paths(origin: Origin) -> list[str]:
    """The paths ``origin`` was asked for, in order."""
    return [path for path, _ in origin.seen]


def collections_page(collections: list[Any], next_href: str | None = None) -> dict[str, Any]:
    """A page of ``/collections``, with a ``next`` link to ``next_href`` when given."""
    return {"collections": collections, "links": [{"rel": "next", "href": next_href}] if next_href else []}


def items_page(features: list[Any], next_href: str | None = None) -> dict[str, Any]:
    """A page of a collection's items, with a ``next`` link to ``next_href`` when given."""
    links = [{"rel": "next", "href": next_href}] if next_href else []
    return {"type": "FeatureCollection", "features": features, "links": links}


def test_the_token_is_not_sent_to_a_next_link_on_another_origin(
    home: Origin, foreign: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # pystac-client logs each prepared request with its headers
    secret = AccessToken("only-for-home-" + uuid.uuid4().hex)
    page = collections_page([canary_collection("at-home")], f"{foreign.url}/collections?page=2")
    home.routes["/collections"] = (200, page)
    foreign.routes["/collections?page=2"] = (200, collections_page([canary_collection("abroad")]))
    assert {c.id for c in read_collections(home.url, secret, timeout=T).collections} == {"at-home", "abroad"}
    assert paths(home) == ["/", "/collections"]
    assert all(headers.get("Authorization") == f"Bearer {secret.access_token}" for _, headers in home.seen)
    assert paths(foreign) == ["/collections?page=2"]
    assert not any("Authorization" in headers for _, headers in foreign.seen)
    assert "page=2" in caplog.text and secret.access_token not in caplog.text


def test_the_token_is_not_sent_to_items_on_another_origin(home: Origin, foreign: Origin) -> None:
    secret = AccessToken("only-for-home-" + uuid.uuid4().hex)
    home.routes.update(
        {
            "/collections/c": (200, canary_collection("c")),
            "/collections/c/items?limit=100": (
                200,
                items_page([canary_item("i1", "c")], f"{home.url}/moved"),
            ),
            "/moved": (302, f"{foreign.url}/items-2"),
        }
    )
    foreign.routes["/items-2"] = (200, items_page([canary_item("i2", "c")]))
    view = open_collection(home.url, secret, "c", timeout=T)
    assert view is not None and [i.id for i in view.items] == ["i1", "i2"]
    assert paths(home) == ["/", "/collections/c", "/collections/c/items?limit=100", "/moved"]
    assert all("Authorization" in headers for _, headers in home.seen)
    assert paths(foreign) == ["/items-2"]
    assert not any("Authorization" in headers for _, headers in foreign.seen)


def test_a_refused_token_is_unauthorized_and_never_in_the_message(home: Origin) -> None:
    garbage = AccessToken("garbage-" + uuid.uuid4().hex, source="test")
    refusal = {"code": "Unauthorized", "description": f"The token {garbage.access_token} is not valid."}
    home.routes["/collections"] = (401, refusal)
    with pytest.raises(UnauthorizedError) as caught:
        read_collections(home.url, garbage, timeout=T)
    assert type(caught.value) is UnauthorizedError and caught.value.status == 401
    assert "list the collections" in caught.value.message and "(HTTP 401)" in str(caught.value)
    assert garbage.access_token not in str(caught.value)  # even when the server echoes it


def test_an_expired_token_is_token_expired(home: Origin) -> None:
    home.routes.update(
        {
            "/collections": (401, {"code": "Unauthorized", "description": "The token has expired."}),
            "/collections/c": (403, {"code": "Forbidden", "description": "no role"}),
        }
    )
    with pytest.raises(TokenExpired) as caught:
        read_collections(home.url, AccessToken("old-token"), timeout=T)
    assert caught.value.status == 401 and "old-token" not in str(caught.value)
    with pytest.raises(ForbiddenError) as forbidden:
        open_collection(home.url, AccessToken("old-token"), "c", timeout=T)
    assert forbidden.value.status == 403 and "read the collection c" in forbidden.value.message


def test_a_catalogue_that_does_not_answer_in_time_is_unavailable(home: Origin) -> None:
    home.routes["/collections"] = (0, None)
    with pytest.raises(CatalogueUnavailable) as caught:
        read_collections(home.url, None, timeout=0.5)
    assert "no answer within 0.5 s" in caught.value.message and home.url in caught.value.message


@pytest.mark.parametrize(
    ("landing", "said"),
    [
        (b"<html>a web page</html>", "not a JSON document"),
        ({"hello": "world"}, "does not answer as a STAC API"),
        ([1, 2], "Could not list the collections"),
    ],
)
def test_an_address_that_is_no_stac_api_is_a_catalogue_error(home: Origin, landing: Any, said: str) -> None:
    home.routes["/"] = (200, landing)
    with pytest.raises(CatalogueError) as caught:
        read_collections(home.url, AccessToken("tok-123456"), timeout=T)
    assert type(caught.value) is CatalogueError and said in caught.value.message
    assert "tok-123456" not in str(caught.value)


def test_odd_listing_pages_are_read_without_crashing(home: Origin) -> None:
    odd = [
        "junk",
        {"id": 3},
        {"id": "no-extent", "title": 5},
        {"id": "text-box", "title": "B", "extent": {"spatial": {"bbox": [["0", 0, 1, 1]]}}},
        {"id": "cube", "title": "a", "extent": {"spatial": {"bbox": [[1, 2, 0, 3, 4, 10]]}}},
    ]
    home.routes["/collections"] = (200, collections_page(odd))
    listed = read_collections(home.url, None, timeout=T).collections
    assert [(c.id, c.title, c.bbox) for c in listed] == [
        ("cube", "a", (1.0, 2.0, 3.0, 4.0)),
        ("text-box", "B", None),
        ("no-extent", "no-extent", None),
    ]


def test_a_relative_next_link_is_a_catalogue_error(home: Origin) -> None:
    home.routes["/collections"] = (200, collections_page([canary_collection("c")], "?page=2"))
    with pytest.raises(CatalogueError) as caught:
        read_collections(home.url, None, timeout=T)
    assert type(caught.value) is CatalogueError and "not an http(s) URL" in caught.value.message


# --- hostile paging: cycles, pages of junk, the page cap -------------------------------------------


def test_a_self_looping_page_of_junk_collections_ends(home: Origin) -> None:
    home.routes["/collections"] = (200, collections_page([None], f"{home.url}/collections"))
    found = read_collections(home.url, None, timeout=T)
    assert found.collections == () and not found.truncated
    assert paths(home) == ["/", "/collections"]


def test_a_page_of_junk_ends_the_listing_even_with_a_new_next_link(home: Origin) -> None:
    def junk(n: int) -> dict[str, Any]:
        return collections_page(["junk", {"id": 3}], f"{home.url}/c?p={n}")

    home.routes["/collections"] = (200, junk(1))
    home.routes.update({f"/c?p={n}": (200, junk(n + 1)) for n in range(1, 5)})
    found = read_collections(home.url, None, timeout=T)
    assert found.collections == () and found.truncated  # a next link was left: there may be more
    assert paths(home) == ["/", "/collections"]


def test_a_cycle_of_two_valid_pages_ends_without_duplicates(home: Origin) -> None:
    first = collections_page(
        [canary_collection("a"), canary_collection("b"), canary_collection("a")],
        f"{home.url}/collections?page=2",
    )
    second = collections_page([canary_collection("b"), canary_collection("c")], f"{home.url}/collections")
    home.routes.update({"/collections": (200, first), "/collections?page=2": (200, second)})
    found = read_collections(home.url, None, timeout=T)
    assert [c.id for c in found.collections] == ["a", "b", "c"] and not found.truncated
    assert paths(home) == ["/", "/collections", "/collections?page=2"]


def test_a_self_looping_page_of_valid_collections_is_read_once(home: Origin) -> None:
    page = collections_page([canary_collection("a")], f"{home.url}/collections?limit=5")
    home.routes["/collections?limit=5"] = (200, page)
    found = read_collections(home.url, None, timeout=T, page_size=5)
    assert [c.id for c in found.collections] == ["a"] and not found.truncated
    assert paths(home) == ["/", "/collections?limit=5"]


def test_an_endless_chain_of_new_pages_stops_at_the_page_cap(home: Origin) -> None:
    def page(n: int) -> dict[str, Any]:
        return collections_page([canary_collection(f"c{n}")], f"{home.url}/c?p={n + 1}")

    home.routes["/collections"] = (200, page(0))
    home.routes.update({f"/c?p={n}": (200, page(n)) for n in range(1, 20)})
    found = read_collections(home.url, None, timeout=T, max_pages=4)
    assert [c.id for c in found.collections] == ["c0", "c1", "c2", "c3"] and found.truncated
    assert len(home.seen) == 1 + 4


def test_a_self_looping_page_of_junk_items_ends(home: Origin) -> None:
    junk = items_page([1], f"{home.url}/collections/c/items")
    home.routes.update(
        {
            "/collections/c": (200, canary_collection("c")),
            "/collections/c/items?limit=100": (200, junk),
            "/collections/c/items": (200, junk),
        }
    )
    view = open_collection(home.url, None, "c", timeout=T)
    assert view is not None and view.items == () and not view.truncated
    assert paths(home) == ["/", "/collections/c", "/collections/c/items?limit=100"]


def test_a_cycle_of_item_pages_ends_without_duplicates(home: Origin) -> None:
    first = items_page(
        [canary_item("i1", "c"), canary_item("i2", "c"), {"no": "id"}],
        f"{home.url}/collections/c/items?page=2",
    )
    second = items_page(
        [canary_item("i2", "c"), canary_item("i3", "c")], f"{home.url}/collections/c/items?limit=100"
    )
    home.routes.update(
        {
            "/collections/c": (200, canary_collection("c")),
            "/collections/c/items?limit=100": (200, first),
            "/collections/c/items?page=2": (200, second),
        }
    )
    view = open_collection(home.url, None, "c", timeout=T)
    assert view is not None and sorted(i.id for i in view.items) == ["i1", "i2", "i3"]
    assert len(view.item_docs) == 3 and not view.truncated
    assert paths(home) == [
        "/",
        "/collections/c",
        "/collections/c/items?limit=100",
        "/collections/c/items?page=2",
    ]
    capped = open_collection(home.url, None, "c", timeout=T, max_pages=1)
    assert capped is not None and [i.id for i in capped.items] == ["i1", "i2"] and capped.truncated
