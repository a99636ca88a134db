"""The catalogue's read side for the Catalogue page: collections, one collection's items, and metadata
rendered for people, read through pystac-client with the bearer token kept to the catalogue's origin.

- :func:`read_collections` reads ``GET /collections`` (every page, following ``next`` links) into
  :class:`CollectionSummary` rows sorted by title, in a :class:`CollectionList` that says whether the
  catalogue has more; :func:`search_collections` filters and pages them for the page (no request).
- :func:`open_collection` reads one collection as the token may read it and its items (following
  paging links) into a :class:`CollectionView`; ``None`` when it does not exist or is hidden (404).
- :func:`footprints`, :func:`item_footprints` and :func:`timeline_rows` shape those for a map and an
  Altair timeline; :func:`readable` renders a collection's metadata (:class:`ReadableMetadata`).

The token goes only to the origin (scheme, host, port) of the catalogue URL: it is added by the
transport adapter of pystac-client's :class:`~pystac_client.stac_api_io.StacApiIO` session when a request
is sent (so pystac-client's debug log of the prepared request never contains it), and any request to
another origin (a ``next`` link, a redirect) is sent without it. Failures become the project's errors
(:func:`apex_core.catalogue.error_from_response`: 401, 403, 404, 5xx; no answer is
:class:`~apex_core.errors.CatalogueUnavailable`), whose messages never contain the token.

Paging is bounded: a ``next`` link already followed ends the reading (a cycle of pages), so does a
page that adds nothing new (only unusable or repeated entries) and a cap on the number of pages; an id
is kept once.

Documents are read defensively: a missing or ill-typed field becomes empty, non-finite numbers are
dropped, and nothing here raises on an odd document.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from pystac import Link
from pystac.errors import DuplicateObjectKeyError, RequiredPropertyMissing, STACError, STACTypeError
from pystac_client import Client
from pystac_client.errors import ClientTypeError
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from apex_core.catalogue import AccessToken, error_from_response
from apex_core.errors import ApexError, CatalogueError, CatalogueUnavailable
from apex_core.merge import SERVER_LINK_PREFIX

__all__ = [
    "CollectionList",
    "CollectionPage",
    "CollectionSummary",
    "CollectionView",
    "ItemSummary",
    "ReadableMetadata",
    "footprints",
    "item_footprints",
    "open_collection",
    "read_collections",
    "readable",
    "search_collections",
    "timeline_rows",
]

Bbox = tuple[float, float, float, float]
_HIDDEN_LINKS = frozenset({"self", "root", "parent", "items", "collection"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


# --------------------------------------------------------------------------------------------------
# Reading odd documents without raising
# --------------------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> int | float | None:
    """A finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in _list(value) if isinstance(v, str))


def _bbox(value: Any) -> Bbox | None:
    """A 2D box from a 4- or 6-number list (3D boxes reduced), finite and south <= north; else None."""
    box = _list(value)
    if len(box) == 6:
        box = [box[0], box[1], box[3], box[4]]
    if len(box) != 4:
        return None
    nums = [_num(v) for v in box]
    if any(n is None for n in nums):
        return None
    west, south, east, north = (float(n) for n in nums if n is not None)
    if south > north:
        return None
    return (west, south, east, north)


def _first_bbox(extent: Any) -> Bbox | None:
    boxes = _list(_map(_map(extent).get("spatial")).get("bbox"))
    if not boxes:
        return None
    if isinstance(boxes[0], list | tuple):
        return _bbox(boxes[0])
    return _bbox(boxes)  # a flat box where a list of boxes belongs


def _first_interval(extent: Any) -> tuple[str | None, str | None]:
    intervals = _list(_map(_map(extent).get("temporal")).get("interval"))
    if not intervals:
        pair: list[Any] = []
    elif isinstance(intervals[0], list | tuple):
        pair = list(intervals[0])
    else:
        pair = intervals  # a flat interval where a list of intervals belongs
    start = _str(pair[0]) if len(pair) > 0 else None
    end = _str(pair[1]) if len(pair) > 1 else None
    return (start, end)


def _public(doc: Mapping[str, Any]) -> bool | None:
    auth = doc.get("_auth")
    if not isinstance(auth, Mapping):
        return None
    return "anonymous" in _strings(auth.get("read"))


def _polygon(west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def _bbox_geometry(box: Bbox) -> dict[str, Any]:
    """A Polygon, or a MultiPolygon of two when the box crosses the antimeridian (west > east)."""
    west, south, east, north = box
    if west > east:
        return {
            "type": "MultiPolygon",
            "coordinates": [_polygon(west, south, 180.0, north), _polygon(-180.0, south, east, north)],
        }
    return {"type": "Polygon", "coordinates": _polygon(west, south, east, north)}


def _positions(coords: Any, depth: int = 0) -> Iterator[tuple[float, float]]:
    items = _list(coords)
    if len(items) >= 2 and all(_num(v) is not None for v in items[:2]):
        yield (float(items[0]), float(items[1]))
        return
    if depth > 8:
        return
    for item in items:
        yield from _positions(item, depth + 1)


def _geometry_bbox(geometry: Mapping[str, Any] | None) -> Bbox | None:
    if geometry is None:
        return None
    points = list(_positions(geometry.get("coordinates")))
    if not points:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _geometry(value: Any) -> dict[str, Any] | None:
    if isinstance(value, Mapping) and isinstance(value.get("type"), str):
        return dict(value)
    return None


def _box_of(data: Any) -> Bbox | None:
    box = _list(data)
    if len(box) != 4:
        return None
    return _bbox(box)


# --------------------------------------------------------------------------------------------------
# Collections
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionSummary:
    """One row of the collection list."""

    id: str
    title: str
    description: str
    license: str | None
    bbox: Bbox | None
    interval: tuple[str | None, str | None]
    keywords: tuple[str, ...]
    public: bool | None

    @classmethod
    def from_stac(cls, doc: Mapping[str, Any]) -> CollectionSummary | None:
        """The row of a collection document; None when it has no string id."""
        cid = _str(doc.get("id"))
        if not cid:
            return None
        title = _str(doc.get("title"))
        return cls(
            id=cid,
            title=title.strip() if title and title.strip() else cid,
            description=_str(doc.get("description")) or "",
            license=_str(doc.get("license")),
            bbox=_first_bbox(doc.get("extent")),
            interval=_first_interval(doc.get("extent")),
            keywords=_strings(doc.get("keywords")),
            public=_public(doc),
        )

    def matches(self, query: str) -> bool:
        """Whether every whitespace-separated word of ``query`` is in the id, title, description or
        keywords (case-insensitive); an empty query matches every collection."""
        text = "\n".join((self.id, self.title, self.description, *self.keywords)).casefold()
        return all(word in text for word in query.casefold().split())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "license": self.license,
            "bbox": list(self.bbox) if self.bbox else None,
            "interval": list(self.interval),
            "keywords": list(self.keywords),
            "public": self.public,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionSummary:
        interval = _list(data.get("interval"))
        public = data.get("public")
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or data["id"]),
            description=str(data.get("description") or ""),
            license=_str(data.get("license")),
            bbox=_box_of(data.get("bbox")),
            interval=(
                _str(interval[0]) if len(interval) > 0 else None,
                _str(interval[1]) if len(interval) > 1 else None,
            ),
            keywords=_strings(data.get("keywords")),
            public=public if isinstance(public, bool) else None,
        )


@dataclass(frozen=True)
class CollectionPage:
    """One page of the filtered collection list."""

    collections: tuple[CollectionSummary, ...]
    total: int
    page: int
    pages: int


def search_collections(
    collections: Sequence[CollectionSummary], query: str, page: int = 1, page_size: int = 20
) -> CollectionPage:
    """The collections matching ``query`` (:meth:`CollectionSummary.matches`), one page of them; the
    page number is clamped into ``[1, pages]``."""
    size = max(1, int(page_size))
    found = [c for c in collections if c.matches(query)]
    pages = max(1, math.ceil(len(found) / size))
    page = min(max(1, int(page)), pages)
    start = (page - 1) * size
    return CollectionPage(tuple(found[start : start + size]), len(found), page, pages)


def footprints(collections: Sequence[CollectionSummary]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the collections' boxes (properties ``id``, ``title``); collections
    without a box are left out, a box crossing the antimeridian is a MultiPolygon of two."""
    features = [
        {
            "type": "Feature",
            "geometry": _bbox_geometry(c.bbox),
            "properties": {"id": c.id, "title": c.title},
        }
        for c in collections
        if c.bbox is not None
    ]
    return {"type": "FeatureCollection", "features": features}


# --------------------------------------------------------------------------------------------------
# Items and one collection
# --------------------------------------------------------------------------------------------------


def _is_raster(asset: Mapping[str, Any]) -> bool:
    media = (_str(asset.get("type")) or "").strip().lower()
    path = urlsplit(_str(asset.get("href")) or "").path.lower()
    return media.startswith("image/tiff") or path.endswith((".tif", ".tiff"))


@dataclass(frozen=True)
class ItemSummary:
    """One item: its time, place and GeoTIFF assets."""

    id: str
    start: str | None
    end: str | None
    bbox: Bbox | None
    geometry: dict[str, Any] | None
    raster_keys: tuple[str, ...]

    @classmethod
    def from_stac(cls, doc: Mapping[str, Any]) -> ItemSummary | None:
        """The summary of an item document; None when it has no string id."""
        iid = _str(doc.get("id"))
        if not iid:
            return None
        props = _map(doc.get("properties"))
        moment = _str(props.get("datetime"))
        start = moment or _str(props.get("start_datetime"))
        end = _str(props.get("end_datetime")) or moment
        geometry = _geometry(doc.get("geometry"))
        bbox = _bbox(doc.get("bbox")) or _geometry_bbox(geometry)
        rasters = [
            (key, "data" in _strings(asset.get("roles")))
            for key, asset in _map(doc.get("assets")).items()
            if isinstance(key, str) and isinstance(asset, Mapping) and _is_raster(asset)
        ]
        keys = tuple(key for key, data in sorted(rasters, key=lambda r: not r[1]))
        return cls(iid, start, end, bbox, geometry, keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start": self.start,
            "end": self.end,
            "bbox": list(self.bbox) if self.bbox else None,
            "geometry": self.geometry,
            "raster_keys": list(self.raster_keys),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemSummary:
        return cls(
            id=str(data["id"]),
            start=_str(data.get("start")),
            end=_str(data.get("end")),
            bbox=_box_of(data.get("bbox")),
            geometry=_geometry(data.get("geometry")),
            raster_keys=_strings(data.get("raster_keys")),
        )


def _item_order(pair: tuple[ItemSummary, dict[str, Any]]) -> tuple[bool, str, str]:
    item = pair[0]
    return (item.start is None, item.start or "", item.id)


@dataclass(frozen=True)
class CollectionView:
    """One collection as this token may read it, with its items (at most ``max_items`` of them)."""

    collection: dict[str, Any]
    items: tuple[ItemSummary, ...]
    item_docs: tuple[dict[str, Any], ...]
    truncated: bool

    @classmethod
    def of(cls, collection: Mapping[str, Any], item_docs: Sequence[Any], truncated: bool) -> CollectionView:
        """The view of a collection and its item documents (sorted by start, then id; documents
        without an id left out)."""
        pairs = []
        for doc in item_docs:
            if isinstance(doc, Mapping) and (summary := ItemSummary.from_stac(doc)) is not None:
                pairs.append((summary, dict(doc)))
        pairs.sort(key=_item_order)
        return cls(
            dict(collection),
            tuple(p[0] for p in pairs),
            tuple(p[1] for p in pairs),
            truncated,
        )

    @property
    def summary(self) -> CollectionSummary | None:
        return CollectionSummary.from_stac(self.collection)

    def item(self, item_id: str) -> dict[str, Any] | None:
        """The JSON of the item ``item_id``, None if this view does not hold it."""
        for summary, doc in zip(self.items, self.item_docs, strict=False):
            if summary.id == item_id:
                return doc
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "items": [i.to_dict() for i in self.items],
            "item_docs": list(self.item_docs),
            "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionView:
        return cls(
            collection=dict(_map(data.get("collection"))),
            items=tuple(ItemSummary.from_dict(i) for i in _list(data.get("items"))),
            item_docs=tuple(dict(_map(d)) for d in _list(data.get("item_docs"))),
            truncated=bool(data.get("truncated", False)),
        )


def item_footprints(view: CollectionView) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the items (their geometry, else their box), with properties
    ``id``, ``start``, ``end``; items with neither are left out."""
    features = []
    for item in view.items:
        geometry = item.geometry or (_bbox_geometry(item.bbox) if item.bbox else None)
        if geometry is None:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {"id": item.id, "start": item.start, "end": item.end},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def timeline_rows(view: CollectionView) -> list[dict[str, Any]]:
    """One row per item with a time, ``{"item", "start", "end"}`` (an instant has start == end)."""
    rows = []
    for item in view.items:
        start = item.start or item.end
        end = item.end or item.start
        if start is None or end is None:
            continue
        rows.append({"item": item.id, "start": start, "end": end})
    return rows


# --------------------------------------------------------------------------------------------------
# Reading through pystac-client, the token kept to the catalogue's origin
# --------------------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return (scheme, (parts.hostname or "").lower(), port)


def _safe_url(url: str) -> str:
    """The URL without user info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        pass
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _timed_out(exc: requests.RequestException) -> bool:
    """Whether ``exc`` is a timeout (requests wraps urllib3's when no retry is left)."""
    if isinstance(exc, requests.Timeout):
        return True
    first = exc.args[0] if exc.args else None
    for candidate in (first, getattr(first, "reason", None)):
        # urllib3's NewConnectionError (refused, no route) is a ConnectTimeoutError for history's sake
        if isinstance(candidate, Urllib3Timeout) and not isinstance(candidate, NewConnectionError):
            return True
    return False


class _OriginBearer(HTTPAdapter):
    """Adds the bearer token to requests to one origin when they are sent, removes any other
    ``Authorization`` header (a link's ``headers`` included), and keeps the last failed response for
    the error message."""

    def __init__(self, origin: tuple[str, str, int | None], token: str | None, retries: Retry) -> None:
        super().__init__(max_retries=retries)
        self._origin = origin
        self._token = token
        self.last_failure: requests.Response | None = None

    def __repr__(self) -> str:
        return f"_OriginBearer({self._origin!r}, token={'set' if self._token else 'none'})"

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.headers.pop("Authorization", None)
        if self._token and _origin(request.url or "") == self._origin:
            request.headers["Authorization"] = f"Bearer {self._token}"
        response = super().send(request, *args, **kwargs)
        if response.status_code >= 400:
            self.last_failure = response
        return response


class _Reader:
    """One pystac-client session against one catalogue (the token only in the adapter)."""

    def __init__(self, url: str, token: AccessToken | None, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._secret = token.access_token if token else None
        retries = Retry(
            total=2,
            connect=2,
            read=0,
            status=0,
            backoff_factor=0.2,
            allowed_methods=frozenset({"GET", "HEAD"}),
            raise_on_status=False,
        )
        self.adapter = _OriginBearer(_origin(self.url), self._secret, retries)
        self.io = StacApiIO(timeout=timeout, max_retries=None)
        self.io.session.mount("http://", self.adapter)
        self.io.session.mount("https://", self.adapter)
        self.timeout = timeout

    def close(self) -> None:
        self.io.session.close()

    def error(self, exc: Exception, what: str) -> ApexError:
        """The project's error for a failure while doing ``what`` (the token never in its message)."""
        if isinstance(exc, APIError) and getattr(exc, "status_code", None):
            status = int(exc.status_code or 0)
            resp = self.adapter.last_failure
            if resp is None or resp.status_code != status:
                resp = requests.Response()
                resp.status_code = status
                resp._content = str(exc).encode("utf-8", "replace")
            return self._scrub(error_from_response(resp, what))
        cause = (exc.__cause__ or exc.__context__) if isinstance(exc, APIError) else exc
        if isinstance(cause, requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema):
            return CatalogueError(f"Could not {what}: the catalogue gave a link that is not an http(s) URL.")
        if isinstance(cause, requests.exceptions.InvalidURL):
            return CatalogueError(f"Could not {what}: the catalogue gave a link that is not a valid URL.")
        if isinstance(cause, requests.RequestException):
            if _timed_out(cause):
                reason = f"no answer within {self.timeout:g} s"
            else:
                reason = f"not reachable: {type(cause).__name__}"
            return CatalogueUnavailable(
                f"Could not {what}: the catalogue at {_safe_url(self.url)} did not answer ({reason}). "
                "Try again in a moment."
            )
        detail = str(exc)[:200]
        if isinstance(exc, STACTypeError | STACError | ClientTypeError):
            return self._scrub(
                CatalogueError(
                    f"Could not {what}: {_safe_url(self.url)} does not answer as a STAC API ({detail})."
                )
            )
        if isinstance(exc, ValueError) and not isinstance(exc, APIError):
            return self._scrub(
                CatalogueError(f"Could not {what}: the answer is not a JSON document ({detail}).")
            )
        return self._scrub(CatalogueError(f"Could not {what}: the answer is not usable ({detail})."))

    def _scrub(self, error: ApexError) -> ApexError:
        if self._secret and self._secret in error.message:
            error.message = error.message.replace(self._secret, "[token]")
            error.args = (error.message,)
        return error

    def open(self) -> Client:
        """The root through ``Client.open`` (what the catalogue conforms to is not checked here)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Client.open(self.url, stac_io=self.io, timeout=self.timeout)

    def collections_url(self, client: Client | None) -> str:
        """The root's ``data`` link when it is on the catalogue's origin, else ``<url>/collections``."""
        if client is not None:
            link = client.get_single_link("data")
            href = link.get_absolute_href() if link is not None else None
            if href and _origin(href) == _origin(self.url):
                return href.rstrip("/")
        return f"{self.url}/collections"

    def pages(self, url: str, limit: int | None, max_pages: int) -> _Pages:
        return _Pages(self.io, url, {"limit": limit} if limit else None, max_pages)

    def json(self, url: str) -> dict[str, Any]:
        return self.io.read_json(url)


def _next_link(page: Mapping[str, Any]) -> dict[str, Any] | None:
    """The page's first ``next`` link with a non-empty string ``href``, else None."""
    for link in _list(page.get("links")):
        if isinstance(link, Mapping) and link.get("rel") == "next" and _str(link.get("href")):
            return dict(link)
    return None


def _link_key(link: Mapping[str, Any]) -> str:
    """What identifies the request a link asks for: method, href, body, merge and headers."""
    method = _str(link.get("method")) or "GET"
    parts = [method.upper(), link.get("href"), link.get("body"), bool(link.get("merge")), link.get("headers")]
    return json.dumps(parts, sort_keys=True, default=str)


def _with_query(url: str, parameters: dict[str, Any] | None) -> str:
    """``url`` with ``parameters`` in its query, as a GET sends it (``url`` itself when it cannot)."""
    try:
        return requests.Request("GET", url, params=parameters or {}).prepare().url or url
    except (requests.RequestException, ValueError):
        return url


class _Pages:
    """The pages of a paging endpoint (``/collections``, ``/collections/{id}/items``), following
    ``next`` links like pystac-client's ``get_pages`` (stopping at an empty page), but never the same
    request twice (a ``next`` cycle ends) and at most ``max_pages`` pages.

    ``more``: whether the last page read has a ``next`` link that has not been followed (and is not a
    repeat), i.e. whether the catalogue may have more than was read when the reading stops there."""

    def __init__(self, io: StacApiIO, url: str, parameters: dict[str, Any] | None, max_pages: int) -> None:
        self._io = io
        self._url = url
        self._parameters = parameters
        self._max_pages = max(1, int(max_pages))
        self.more = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seen = {_link_key({"href": self._url}), _link_key({"href": _with_query(self._url, self._parameters)})}
        target: str | Link = self._url
        for _ in range(self._max_pages):
            page: Any = self._io.read_json(target, parameters=self._parameters)
            if not isinstance(page, Mapping):
                raise TypeError("a page of the listing is not a JSON object")
            self.more = False
            if not (page.get("features") or page.get("collections")):
                return
            link = _next_link(page)
            key = _link_key(link) if link is not None else None
            self.more = key is not None and key not in seen
            yield dict(page)
            if link is None or key is None or not self.more:
                return
            seen.add(key)
            target = Link.from_dict(link)


_CAUGHT = (
    APIError,
    requests.RequestException,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    STACError,
    STACTypeError,
    ClientTypeError,
    DuplicateObjectKeyError,
    RequiredPropertyMissing,
)


@dataclass(frozen=True)
class CollectionList:
    """The collections a token may read (sorted by title, then id), and whether the catalogue may have
    more than these (``truncated``: the limit was passed, or the reading stopped at its page cap or at a
    page that added nothing new while a ``next`` link was left)."""

    collections: tuple[CollectionSummary, ...]
    truncated: bool


def read_collections(
    url: str,
    token: AccessToken | None,
    *,
    timeout: float,
    limit: int = 1000,
    page_size: int | None = None,
    max_pages: int = 200,
) -> CollectionList:
    """The collections this token may read (``GET /collections``, following ``next`` links), at most
    ``limit`` of them (the first ones in the catalogue's order), sorted by title (case-insensitive) then
    id; a repeated id is read once. ``page_size``: the ``limit`` asked of the server per page (its
    default when None). The reading stops at a ``next`` link already followed, after a page that adds
    no new collection, or after ``max_pages`` pages (so a hostile catalogue cannot keep it going)."""
    reader = _Reader(url, token, timeout)
    what = f"list the collections of {_safe_url(url)}"
    cap = max(0, limit)
    found: dict[str, CollectionSummary] = {}
    try:
        client = reader.open()
        pages = reader.pages(reader.collections_url(client), page_size, max_pages)
        for page in pages:
            before = len(found)
            for doc in _list(page.get("collections")):
                summary = CollectionSummary.from_stac(doc) if isinstance(doc, Mapping) else None
                if summary is not None and summary.id not in found:
                    found[summary.id] = summary
            if len(found) > cap or len(found) == before:
                break
    except _CAUGHT as exc:
        raise reader.error(exc, what) from exc
    finally:
        reader.close()
    truncated = len(found) > cap or pages.more
    kept = sorted(list(found.values())[:cap], key=lambda c: (c.title.casefold(), c.id))
    return CollectionList(tuple(kept), truncated)


def open_collection(
    url: str,
    token: AccessToken | None,
    collection_id: str,
    *,
    timeout: float,
    max_items: int = 500,
    page_size: int | None = None,
    max_pages: int = 200,
) -> CollectionView | None:
    """The collection ``collection_id`` and up to ``max_items`` of its items (``GET
    /collections/{id}/items``, following ``next`` links), or None when it does not exist or this token
    may not read it (404). ``page_size``: the ``limit`` asked per page (default min(max_items + 1, 100)).
    Items without an id are left out and a repeated id is read once; the reading stops at a ``next``
    link already followed, after a page that adds no new item, or after ``max_pages`` pages. The view
    is ``truncated`` when there were more than ``max_items`` items, or the reading stopped at the page
    cap or at a page adding nothing while a ``next`` link was left."""
    if not collection_id:
        return None
    reader = _Reader(url, token, timeout)
    what = f"read the collection {collection_id}"
    cap = max(0, max_items)
    try:
        client = reader.open()
        base = f"{reader.collections_url(client)}/{quote(collection_id, safe='')}"
        try:
            doc = reader.json(base)
        except APIError as exc:
            if getattr(exc, "status_code", None) == 404:
                return None
            raise
        if not isinstance(doc, Mapping):
            raise CatalogueError(f"Could not {what}: the answer is not a collection.")
        what = f"read the items of collection {collection_id}"
        items: dict[str, Mapping[str, Any]] = {}
        size = page_size or min(max(1, max_items) + 1, 100)
        pages = reader.pages(f"{base}/items", size, max_pages)
        for page in pages:
            before = len(items)
            for feature in _list(page.get("features")):
                iid = _str(feature.get("id")) if isinstance(feature, Mapping) else None
                if iid and iid not in items:
                    items[iid] = feature
            if len(items) > cap or len(items) == before:
                break
    except _CAUGHT as exc:
        raise reader.error(exc, what) from exc
    finally:
        reader.close()
    truncated = len(items) > cap or pages.more
    return CollectionView.of(doc, list(items.values())[:cap], truncated)


# --------------------------------------------------------------------------------------------------
# Metadata for people
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadableMetadata:
    """A collection's metadata as tables and text for people."""

    title: str
    description: str
    license: str
    license_href: str | None
    providers: tuple[dict[str, str], ...]
    spatial: Bbox | None
    temporal: tuple[str | None, str | None]
    keywords: tuple[str, ...]
    bands: tuple[dict[str, Any], ...]
    statistics: tuple[dict[str, Any], ...]
    links: tuple[dict[str, str], ...]
    access: tuple[tuple[str, ...], tuple[str, ...]] | None


def _nodata(value: Any) -> int | float | str | None:
    if isinstance(value, str):
        return value  # STAC 1.1 writes "nan", "inf", "-inf" as strings
    return _num(value)


def _band_rows(container: Mapping[str, Any]) -> list[tuple[dict[str, Any], Mapping[str, Any]]]:
    """(row, statistics) per band of one container: STAC 1.1 ``bands``, else ``eo:bands`` and
    ``raster:bands`` paired by position."""
    out = []
    bands = [b for b in _list(container.get("bands")) if isinstance(b, Mapping)]
    if bands:
        for i, band in enumerate(bands):
            out.append(
                (
                    {
                        "name": _str(band.get("name")) or f"band {i + 1}",
                        "description": _str(band.get("description")) or "",
                        "data_type": _str(band.get("data_type")),
                        "nodata": _nodata(band.get("nodata")),
                        "unit": _str(band.get("unit")),
                    },
                    _map(band.get("statistics")),
                )
            )
        return out
    eo = _list(container.get("eo:bands"))
    raster = _list(container.get("raster:bands"))
    for i in range(max(len(eo), len(raster))):
        e = _map(eo[i]) if i < len(eo) else {}
        r = _map(raster[i]) if i < len(raster) else {}
        name = _str(e.get("name")) or _str(e.get("common_name")) or _str(r.get("name")) or f"band {i + 1}"
        out.append(
            (
                {
                    "name": name,
                    "description": _str(e.get("description")) or _str(r.get("description")) or "",
                    "data_type": _str(r.get("data_type")),
                    "nodata": _nodata(r.get("nodata")),
                    "unit": _str(r.get("unit")),
                },
                _map(r.get("statistics")),
            )
        )
    return out


def _band_containers(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield doc
    yield _map(doc.get("summaries"))
    for group in ("item_assets", "assets"):
        for asset in _map(doc.get(group)).values():
            if isinstance(asset, Mapping):
                yield asset


def _bands_and_statistics(
    doc: Mapping[str, Any],
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    bands: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    for container in _band_containers(doc):
        for row, statistics in _band_rows(container):
            if row not in bands:
                bands.append(row)
            stat = {
                "band": row["name"],
                **{
                    key: _num(statistics.get(key))
                    for key in ("minimum", "maximum", "mean", "stddev", "valid_percent")
                },
            }
            if any(stat[key] is not None for key in stat if key != "band") and stat not in stats:
                stats.append(stat)
    return tuple(bands), tuple(stats)


def readable(collection: Mapping[str, Any]) -> ReadableMetadata:
    """The metadata of ``collection`` for people; never raises on an odd document (a missing or
    ill-typed field is empty, non-finite numbers are dropped)."""
    doc = _map(collection)
    links = [_map(link) for link in _list(doc.get("links"))]
    license_href = next(
        (href for link in links if link.get("rel") == "license" and (href := _str(link.get("href")))),
        None,
    )
    providers = tuple(
        {
            "name": _str(p.get("name")) or "",
            "roles": ", ".join(_strings(p.get("roles"))),
            "url": _str(p.get("url")) or "",
        }
        for p in (_map(p) for p in _list(doc.get("providers")))
        if p
    )
    link_rows = tuple(
        {"rel": rel, "title": _str(link.get("title")) or "", "href": href}
        for link in links
        if (rel := _str(link.get("rel"))) is not None
        and rel not in _HIDDEN_LINKS
        and not rel.startswith(SERVER_LINK_PREFIX)  # the API's own (queryables, conformance): not for people
        and (href := _str(link.get("href")))
    )
    auth = doc.get("_auth")
    access = (_strings(auth.get("read")), _strings(auth.get("write"))) if isinstance(auth, Mapping) else None
    bands, statistics = _bands_and_statistics(doc)
    title = _str(doc.get("title"))
    return ReadableMetadata(
        title=title if title and title.strip() else (_str(doc.get("id")) or ""),
        description=_str(doc.get("description")) or "",
        license=_str(doc.get("license")) or "",
        license_href=license_href,
        providers=providers,
        spatial=_first_bbox(doc.get("extent")),
        temporal=_first_interval(doc.get("extent")),
        keywords=_strings(doc.get("keywords")),
        bands=bands,
        statistics=statistics,
        links=link_rows,
        access=access,
    )
