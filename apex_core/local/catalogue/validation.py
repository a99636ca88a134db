"""What the embedded catalogue accepts: one set of input rules for every write route and every query.

Every write route (``POST /collections``, ``PUT``/``PATCH /collections/{id}``, ``POST
/collections/{id}/items``, ``PUT``/``PATCH /collections/{id}/items/{item_id}``, ``POST
/collections/{id}/bulk_items``) applies the same rules; a refusal is a 4xx with a JSON body
``{"code": ..., "description": ...}`` naming the field (and, in bulk, the items), and nothing is written.

- **Size** (:class:`InputMiddleware`): a request body larger than ``max_document_bytes`` (one
  collection, item, patch or search; 1 MiB by default) or ``max_bulk_bytes`` (one ``bulk_items``
  request; 64 MiB) is a 413 naming the limit, answered after reading at most limit + 1 bytes (at once
  when ``Content-Length`` says so, also for chunked bodies). One document, also each item of a bulk
  request and the result of a patch, may not serialise to more than ``max_document_bytes``.
- **Numbers**: JSON's ``NaN``, ``Infinity``, ``-Infinity`` (which Python's parser accepts) and numbers
  too large for a double are refused anywhere in a body, naming the JSON path.
- **Ids** (:func:`id_problem`): collection and item ids, in the body and in the path: 1 to 255
  characters from ``A-Z a-z 0-9 . _ - ~`` (RFC 3986's unreserved characters, so an id is its own URL
  path segment), not starting with ``.``; whitespace, control characters and ``/`` are named as such.
- **Geometry** (:func:`geometry_problems`): GeoJSON positions of 2 or 3 finite numbers with the
  longitude in [-180, 180] and the latitude in [-90, 90], closed rings of 4+ positions, not empty, and
  valid as a simple feature (shapely's ``is_valid``; the reason from ``explain_validity``, e.g. a
  self-intersection). **bbox** (:func:`bbox_problems`): 4 or 6 finite numbers in range, south <= north
  (west > east is a box across the antimeridian); for items and each bbox of a collection's
  ``extent.spatial.bbox``.
- **hrefs** (:func:`href_problem`): every ``href`` in a document (links, assets, alternate assets...)
  and each provider ``url`` is a relative reference or uses one of :data:`ALLOWED_SCHEMES`; no control
  characters or surrounding whitespace (the tricks that turn `` javascript:`` into a script).
- **Queries** (:func:`query_problem`): malformed ``intersects``, ``query``, ``fields`` and ``bbox``
  parameters of ``GET /search``, ``/collections`` and ``/collections/{id}/items`` are 400s with the
  reason; a ``POST /search`` body must be a JSON object. Whatever JSON still fails to parse deeper in
  the stack is a 400 (:func:`install_input_checks`), while any other unexpected error stays a logged 500.
- **Bulk refusals by the database** (:func:`explain_bulk_refusal`): which items, and why.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ALLOWED_SCHEMES",
    "DEFAULT_MAX_BULK_BYTES",
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "ID_MAX_LENGTH",
    "InputLimits",
    "InputMiddleware",
    "InputRefused",
    "Problem",
    "ValidatingClientMixin",
    "bbox_problems",
    "bulk_refusals",
    "check_bulk_items",
    "check_collection",
    "check_item",
    "collection_problems",
    "explain_bulk_refusal",
    "geometry_problems",
    "href_problem",
    "id_problem",
    "install_input_checks",
    "is_read",
    "item_problems",
    "query_problem",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENT_BYTES = 1024**2
DEFAULT_MAX_BULK_BYTES = 64 * 1024**2
ID_MAX_LENGTH = 255
ALLOWED_SCHEMES: tuple[str, ...] = ("http", "https", "s3", "gs", "az", "abfs", "abfss", "ftp", "file")
"""Schemes an href may use (else it is relative): the web, object stores, FTP and local files."""

_ID_CHAR = re.compile(r"[A-Za-z0-9._~-]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_MAX_PROBLEMS = 5
_MAX_BULK_CULPRITS = 10
# cheap pre-check: a body can only hold a non-finite number if one of these occurs in it
_MAYBE_NON_FINITE = re.compile(rb"NaN|Infinity|[eE]\+?0*[1-9]\d{2}|\d{300}")


@dataclass(frozen=True)
class InputLimits:
    """Sizes in bytes: one document (collection, item, patch, search body), one bulk_items request."""

    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    max_bulk_bytes: int = DEFAULT_MAX_BULK_BYTES


@dataclass(frozen=True)
class Problem:
    """One broken rule: a machine ``code``, where (a dotted JSON path), and why."""

    code: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputRefused(Exception):
    """A request refused before anything is written: ``status`` with ``{"code", "description"}``."""

    def __init__(
        self,
        description: str,
        *,
        code: str = "InvalidInput",
        status: int = 400,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(description)
        self.description = description
        self.code = code
        self.status = status
        self.errors = list(errors)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "description": self.description}
        if self.errors:
            out["errors"] = self.errors
        return out


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _size_text(n: int) -> str:
    if n % 1024**2 == 0:
        return f"{n} bytes ({n // 1024**2} MiB)"
    if n % 1024 == 0:
        return f"{n} bytes ({n // 1024} KiB)"
    return f"{n} bytes"


# --------------------------------------------------------------------------------------------------
# ids
# --------------------------------------------------------------------------------------------------


def id_problem(value: object, what: str = "id") -> str | None:
    """Why ``value`` is not a valid collection or item id (None if it is). ``what`` names it."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}."
    if not value:
        return f"{what} is empty."
    if value != value.strip():
        return f"{what} {value!r} has leading or trailing whitespace."
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        return f"{what} {value!r} contains control characters."
    if "/" in value:
        return f"{what} {value!r} contains '/'."
    if len(value) > ID_MAX_LENGTH:
        return f"{what} is {len(value)} characters long; the limit is {ID_MAX_LENGTH}."
    bad = sorted({c for c in value if not _ID_CHAR.fullmatch(c)})
    if bad:
        return (
            f"{what} {value!r} contains {' '.join(repr(c) for c in bad)}: an id may only use the letters "
            "A-Z a-z, the digits 0-9 and . _ - ~."
        )
    if value.startswith("."):
        return f"{what} {value!r} starts with '.'."
    return None


# --------------------------------------------------------------------------------------------------
# numbers, geometry, bbox
# --------------------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _n(value: float) -> str:
    """A number as written, whether it came as 400 or 400.0."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _position_problem(pos: object, path: str) -> Problem | None:
    if not isinstance(pos, list) or len(pos) not in (2, 3):
        return Problem("InvalidGeometry", path, "a position must be a list of 2 or 3 numbers.")
    for i, v in enumerate(pos):
        if not _is_number(v) or not math.isfinite(v):
            return Problem("InvalidGeometry", _join(path, i), f"{v!r} is not a finite number.")
    lon, lat = pos[0], pos[1]
    if not -180 <= lon <= 180:
        return Problem("InvalidGeometry", _join(path, 0), f"longitude {_n(lon)} is outside [-180, 180].")
    if not -90 <= lat <= 90:
        return Problem("InvalidGeometry", _join(path, 1), f"latitude {_n(lat)} is outside [-90, 90].")
    return None


# nesting depth of positions under "coordinates" (0: the position itself)
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _walk_positions(coords: object, depth: int, path: str) -> Iterator[Problem]:
    if depth == 0:
        problem = _position_problem(coords, path)
        if problem:
            yield problem
        return
    if not isinstance(coords, list):
        yield Problem("InvalidGeometry", path, "expected a list.")
        return
    for i, sub in enumerate(coords):
        yield from _walk_positions(sub, depth - 1, _join(path, i))


def _ring_problems(kind: str, coords: list[Any], path: str) -> Iterator[Problem]:
    polygons = [coords] if kind == "Polygon" else coords
    for p, rings in enumerate(polygons):
        base = path if kind == "Polygon" else _join(path, p)
        if not rings:
            yield Problem("InvalidGeometry", base, "a polygon needs at least one ring.")
        for r, ring in enumerate(rings):
            where = _join(base, r)
            if len(ring) < 4:
                yield Problem(
                    "InvalidGeometry", where, f"a ring needs at least 4 positions, not {len(ring)}."
                )
            elif ring[0] != ring[-1]:
                yield Problem("InvalidGeometry", where, "the ring is not closed (first position != last).")


def geometry_problems(geometry: object, path: str = "geometry") -> list[Problem]:
    """Why a GeoJSON geometry is not acceptable (empty list if it is). One function for every write."""
    if not isinstance(geometry, Mapping):
        return [Problem("InvalidGeometry", path, "a geometry must be a GeoJSON object.")]
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        members = geometry.get("geometries")
        if not isinstance(members, list) or not members:
            return [Problem("InvalidGeometry", _join(path, "geometries"), "expected a non-empty list.")]
        out: list[Problem] = []
        for i, member in enumerate(members):
            out.extend(geometry_problems(member, _join(path, f"geometries.{i}")))
        return out
    if kind not in _DEPTH:
        return [Problem("InvalidGeometry", _join(path, "type"), f"{kind!r} is not a GeoJSON geometry type.")]
    coords = geometry.get("coordinates")
    where = _join(path, "coordinates")
    problems = list(_walk_positions(coords, _DEPTH[str(kind)], where))
    if problems:
        return problems
    if not isinstance(coords, list) or (kind != "Point" and not coords):
        return [Problem("InvalidGeometry", where, f"the {kind} has no coordinates.")]
    if kind in ("Polygon", "MultiPolygon"):
        problems = list(_ring_problems(str(kind), coords, where))
        if problems:
            return problems
    from shapely.geometry import shape
    from shapely.validation import explain_validity

    try:
        shp = shape(geometry)
    except Exception as exc:  # shapely/GEOS raise ValueError, TypeError, GEOSException... on bad input
        return [Problem("InvalidGeometry", path, f"not a valid {kind}: {exc}.")]
    if shp.is_empty:
        return [Problem("InvalidGeometry", where, f"the {kind} is empty.")]
    if not shp.is_valid:
        return [Problem("InvalidGeometry", path, f"the {kind} is not valid: {explain_validity(shp)}.")]
    return []


def bbox_problems(bbox: object, path: str = "bbox") -> list[Problem]:
    """Why a bbox is not ``[w, s, e, n]`` or ``[w, s, zmin, e, n, zmax]`` in range (empty if it is)."""
    if not isinstance(bbox, list) or len(bbox) not in (4, 6):
        return [Problem("InvalidBbox", path, "a bbox must be a list of 4 or 6 numbers.")]
    for i, v in enumerate(bbox):
        if not _is_number(v) or not math.isfinite(v):
            return [Problem("InvalidBbox", _join(path, i), f"{v!r} is not a finite number.")]
    if len(bbox) == 4:
        west, south, east, north = bbox
        zmin = zmax = 0.0
    else:
        west, south, zmin, east, north, zmax = bbox
    out = []
    for name, value, limit in (
        ("west", west, 180),
        ("east", east, 180),
        ("south", south, 90),
        ("north", north, 90),
    ):
        if not -limit <= value <= limit:
            out.append(Problem("InvalidBbox", path, f"{name} {_n(value)} is outside [-{limit}, {limit}]."))
    if south > north:
        out.append(Problem("InvalidBbox", path, f"south {_n(south)} is greater than north {_n(north)}."))
    if zmin > zmax:
        out.append(
            Problem(
                "InvalidBbox", path, f"the minimum height {_n(zmin)} is greater than the maximum {_n(zmax)}."
            )
        )
    return out


# --------------------------------------------------------------------------------------------------
# hrefs
# --------------------------------------------------------------------------------------------------


def href_problem(href: object) -> str | None:
    """Why ``href`` may not be stored (None if it may): a relative reference or an allowed scheme."""
    if not isinstance(href, str):
        return f"an href must be a string, not {type(href).__name__}."
    if not href:
        return "the href is empty."
    if href != href.strip():
        return f"the href {href[:80]!r} has leading or trailing whitespace."
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in href):
        return f"the href {href[:80]!r} contains control characters."
    match = _SCHEME.match(href)
    if match and match.group(1).lower() not in ALLOWED_SCHEMES:
        return (
            f"the scheme {match.group(1)!r} is not allowed (only relative hrefs and "
            + ", ".join(f"{s}:" for s in ALLOWED_SCHEMES)
            + ")."
        )
    return None


def _href_problems(doc: object, path: str = "") -> Iterator[Problem]:
    """Every ``href`` anywhere in ``doc`` (links, assets, alternates...) and every provider ``url``."""
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            where = _join(path, key)
            if key == "href":
                reason = href_problem(value) if isinstance(value, str) else "an href must be a string."
                if reason:
                    yield Problem("UnsafeHref", where, reason)
            elif key == "providers" and isinstance(value, list):
                for i, provider in enumerate(value):
                    if isinstance(provider, Mapping) and provider.get("url") is not None:
                        reason = href_problem(provider["url"])
                        if reason:
                            yield Problem("UnsafeHref", _join(where, f"{i}.url"), reason)
                yield from _href_problems(value, where)
            else:
                yield from _href_problems(value, where)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _href_problems(value, _join(path, i))


# --------------------------------------------------------------------------------------------------
# documents
# --------------------------------------------------------------------------------------------------


def _size_problem(doc: Mapping[str, Any], limits: InputLimits | None) -> Problem | None:
    if limits is None:
        return None
    size = len(json.dumps(doc, separators=(",", ":")).encode())
    if size > limits.max_document_bytes:
        return Problem(
            "DocumentTooLarge",
            "",
            f"the document is {size} bytes; the limit is {_size_text(limits.max_document_bytes)} "
            "(APEX_CATALOGUE_MAX_DOCUMENT_BYTES).",
        )
    return None


def item_problems(doc: Mapping[str, Any], limits: InputLimits | None = None) -> list[Problem]:
    """Every rule an item breaks (empty list if none)."""
    out: list[Problem] = []
    if (reason := id_problem(doc.get("id"), "the item id")) is not None:
        out.append(Problem("InvalidId", "id", reason))
    if doc.get("geometry") is not None:
        out.extend(geometry_problems(doc["geometry"]))
    if doc.get("bbox") is not None:
        out.extend(bbox_problems(doc["bbox"]))
    out.extend(_href_problems(doc))
    if (size := _size_problem(doc, limits)) is not None:
        out.append(size)
    return out


def collection_problems(doc: Mapping[str, Any], limits: InputLimits | None = None) -> list[Problem]:
    """Every rule a collection breaks (empty list if none)."""
    out: list[Problem] = []
    if (reason := id_problem(doc.get("id"), "the collection id")) is not None:
        out.append(Problem("InvalidId", "id", reason))
    extent = doc.get("extent")
    spatial = extent.get("spatial") if isinstance(extent, Mapping) else None
    boxes = spatial.get("bbox") if isinstance(spatial, Mapping) else None
    if isinstance(boxes, list):
        for i, box in enumerate(boxes):
            out.extend(bbox_problems(box, f"extent.spatial.bbox.{i}"))
    elif boxes is not None:
        out.append(Problem("InvalidBbox", "extent.spatial.bbox", "expected a list of bboxes."))
    out.extend(_href_problems(doc))
    if (size := _size_problem(doc, limits)) is not None:
        out.append(size)
    return out


def _refusal(what: str, problems: Sequence[Problem]) -> InputRefused:
    shown = "; ".join(str(p).rstrip(".") for p in problems[:_MAX_PROBLEMS])
    more = f" (and {len(problems) - _MAX_PROBLEMS} more)" if len(problems) > _MAX_PROBLEMS else ""
    code = problems[0].code
    return InputRefused(
        f"{what} refused: {shown}{more}. Nothing was written.",
        code=code,
        status=413 if code == "DocumentTooLarge" else 400,
    )


def check_item(doc: Mapping[str, Any], limits: InputLimits | None = None) -> None:
    """Raise :class:`InputRefused` naming every rule the item breaks."""
    problems = item_problems(doc, limits)
    if problems:
        raise _refusal(f"Item {doc.get('id')!r}", problems)


def check_collection(doc: Mapping[str, Any], limits: InputLimits | None = None) -> None:
    """Raise :class:`InputRefused` naming every rule the collection breaks."""
    problems = collection_problems(doc, limits)
    if problems:
        raise _refusal(f"Collection {doc.get('id')!r}", problems)


def check_bulk_items(
    items: Mapping[str, Any],
    limits: InputLimits | None = None,
    *,
    collection_id: str | None = None,
    refused: Mapping[str, str] | None = None,
) -> None:
    """Refuse the whole bulk request if any item breaks a rule, naming each such item and why.

    Bulk writes are all or nothing, like a single write: besides this module's rules, an item whose
    ``id`` differs from its key or whose ``collection`` differs from ``collection_id`` (the path),
    and the reasons in ``refused`` (e.g. the STAC item model's), refuse the batch.
    """
    failed: list[dict[str, Any]] = []
    codes: list[str] = []
    for key, doc in items.items():
        problems = []
        if (reason := id_problem(key, "the item key")) is not None:
            problems.append(Problem("InvalidId", "", reason))
        if refused and key in refused:
            problems.append(Problem("InvalidItem", "", refused[key]))
        if isinstance(doc, Mapping):
            if doc.get("geometry") is None:  # pgstac needs one (it would skip the item, keeping the rest)
                problems.append(
                    Problem("InvalidGeometry", "geometry", "missing or null; a geometry is required.")
                )
            if doc.get("id") != key:
                problems.append(
                    Problem("IdMismatch", "id", f"{doc.get('id')!r} differs from its key {key!r}")
                )
            body_collection = doc.get("collection")
            if collection_id is not None and body_collection not in (None, collection_id):
                problems.append(
                    Problem(
                        "IdMismatch",
                        "collection",
                        f"{body_collection!r} differs from the collection in the path ({collection_id!r})",
                    )
                )
            problems.extend(item_problems(doc, limits))
        if problems:
            codes.append(problems[0].code)
            failed.append({"id": key, "msg": "; ".join(str(p).rstrip(".") for p in problems[:_MAX_PROBLEMS])})
    if failed:
        shown = "; ".join(f"item {f['id']!r}: {f['msg']}" for f in failed[:_MAX_PROBLEMS])
        more = f" (and {len(failed) - _MAX_PROBLEMS} more items)" if len(failed) > _MAX_PROBLEMS else ""
        raise InputRefused(
            f"{len(failed)} of {len(items)} items refused: {shown}{more}. Nothing was written.",
            code=codes[0] if len(set(codes)) == 1 else "InvalidInput",
            status=413 if set(codes) == {"DocumentTooLarge"} else 400,
            errors=failed,
        )


def model_problem(model: Any, doc: Any) -> str | None:
    """Why ``doc`` is not a valid ``model`` (a stac-pydantic class), as one line; None if it is."""
    from pydantic import ValidationError

    try:
        model.model_validate(doc)
    except ValidationError as exc:
        return "; ".join(
            ".".join(str(part) for part in err.get("loc", ())) + ": " + str(err.get("msg", ""))
            for err in exc.errors()[:_MAX_PROBLEMS]
        )
    return None


class ValidatingClientMixin:
    """Put before pgstac's ``TransactionsClient``: its ``_validate_item``/``_validate_collection`` hooks
    (create, update, and the result of a merge patch or JSON Patch) apply this module's rules first,
    then the STAC item or collection model to the whole document: a patch cannot leave a document that
    the model would have refused on a POST (``links`` that are not a list, a removed ``type``...).
    The limits are those :func:`install_input_checks` put in ``app.state.input_limits``."""

    def _validate_item(self, request: Any, item: Any, collection_id: str, *args: Any, **kwargs: Any) -> None:
        from stac_pydantic import Item

        check_item(item, getattr(request.app.state, "input_limits", None))
        if (reason := model_problem(Item, item)) is not None:
            raise _refusal("The item", [Problem("InvalidItem", "", reason)])
        super()._validate_item(request, item, collection_id, *args, **kwargs)  # type: ignore[misc]

    def _validate_collection(self, request: Any, collection: Any) -> None:
        from stac_pydantic import Collection

        check_collection(collection, getattr(request.app.state, "input_limits", None))
        if (reason := model_problem(Collection, collection)) is not None:
            raise _refusal("The collection", [Problem("InvalidCollection", "", reason)])
        super()._validate_collection(request, collection)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# bulk refusals by the database
# --------------------------------------------------------------------------------------------------


def _db_reason(exc: BaseException) -> str:
    cause = exc.__cause__ if not str(exc) and exc.__cause__ is not None else exc
    return str(getattr(cause, "message", "") or cause).strip() or type(cause).__name__


def bulk_refusals() -> tuple[type[Exception], ...]:
    """What a refusal of a bulk write by the database raises (as stac-fastapi-pgstac translates it)."""
    import asyncpg  # type: ignore[import-untyped]
    from stac_fastapi.types.errors import ConflictError, DatabaseError, ForeignKeyError

    return (
        ConflictError,
        DatabaseError,
        ForeignKeyError,
        asyncpg.exceptions.DataError,
        asyncpg.exceptions.IntegrityConstraintViolationError,
        asyncpg.exceptions.RaiseError,
    )


async def explain_bulk_refusal(
    request: Any, items: Mapping[str, Mapping[str, Any]], method: object, exc: BaseException
) -> Exception:
    """The error to answer for a bulk write the database refused (``exc``), naming the items and why.

    A conflict (``insert`` of items that exist) is found by one query; any other refusal by writing
    halves of the batch in savepoints of a transaction that is rolled back (a few bulk writes, on the
    failure path only), up to ten items. Nothing of the batch was written (one pgstac call).
    """
    from stac_fastapi.pgstac.db import dbfunc
    from stac_fastapi.types.errors import ConflictError

    collection_id = str(request.path_params["collection_id"])
    how = str(getattr(method, "value", method))
    # the items pgstac was given (those its own checks passed have the path's collection set)
    batch = [doc for doc in items.values() if doc.get("collection") == collection_id]
    ids = [str(doc.get("id")) for doc in batch]
    refusals = bulk_refusals()
    culprits: list[tuple[str, str]] = []
    async with request.app.state.get_connection(request, "w") as conn:
        if isinstance(exc, ConflictError) and how == "insert":
            rows = await conn.fetch(
                "SELECT id FROM pgstac.items WHERE collection = $1 AND id = ANY($2::text[]) ORDER BY id",
                collection_id,
                ids,
            )
            culprits = [(str(r["id"]), "already exists") for r in rows][:_MAX_BULK_CULPRITS]
        if not culprits:
            func = "create_items" if how == "insert" else "upsert_items"

            async def probe(part: Sequence[Mapping[str, Any]]) -> None:
                if not part or len(culprits) >= _MAX_BULK_CULPRITS:
                    return
                try:
                    async with conn.transaction():  # a savepoint
                        await dbfunc(conn, func, list(part))
                    return
                except refusals as err:
                    if len(part) == 1:
                        culprits.append((str(part[0].get("id")), _db_reason(err)))
                        return
                half = len(part) // 2
                await probe(part[:half])
                await probe(part[half:])

            outer = conn.transaction()
            await outer.start()
            try:
                await probe(batch)
            finally:
                await outer.rollback()
    reason = _db_reason(exc)
    if not culprits:
        logger.warning("Bulk write to %s refused, no single item to blame: %s", collection_id, reason)
        return InputRefused(
            f"The database refused the data: {reason} (no single item of the {len(ids)} fails alone). "
            "Nothing was written.",
            code="RefusedByDatabase",
        )
    conflict = all(r == "already exists" for _, r in culprits)
    shown = "; ".join(f"item {i!r}: {r}" for i, r in culprits)
    count = ("at least " if len(culprits) >= _MAX_BULK_CULPRITS else "") + str(len(culprits))
    logger.info("Bulk write to %s refused: %s", collection_id, shown)
    if conflict:
        hint = " Use the method 'upsert' to replace them." if how == "insert" else ""
        return InputRefused(
            f"{count} of {len(ids)} items already exist in collection {collection_id}: "
            + ", ".join(i for i, _ in culprits)
            + f". Nothing was written.{hint}",
            code="ConflictError",
            status=409,
            errors=[{"id": i, "msg": r} for i, r in culprits],
        )
    return InputRefused(
        f"The database refused the data: {count} of {len(ids)} items: {shown}. Nothing was written.",
        code="RefusedByDatabase",
        errors=[{"id": i, "msg": r} for i, r in culprits],
    )


# --------------------------------------------------------------------------------------------------
# request bodies and query parameters (ASGI middleware)
# --------------------------------------------------------------------------------------------------


class _NonFinite:
    def __init__(self, token: str) -> None:
        self.token = token


def _parse_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _parse_int(text: str) -> int | _NonFinite:
    """An integer, or a non-finite marker when it does not fit a double (the database stores doubles)."""
    value = int(text)
    return value if abs(value) <= sys.float_info.max else _NonFinite(f"{text[:12]}… ({len(text)} digits)")


def _non_finite_paths(doc: object, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(doc, _NonFinite):
        yield path or "(the body)", doc.token
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield from _non_finite_paths(value, _join(path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _non_finite_paths(value, _join(path, i))


MAX_NESTING = 64
"""The deepest nesting of arrays and objects a document may have (a GeoJSON MultiPolygon needs 4, STAC
metadata a few more); deeper documents break serialisers and patch libraries far from the request."""

# a JSON string (skipped whole, whatever brackets it holds) or one bracket
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def nesting_problem(body: bytes, limit: int = MAX_NESTING) -> str | None:
    """Why a JSON body nests arrays and objects deeper than ``limit`` (None if it does not)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return None
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        first = match.group()[0]
        if first in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return f"The body nests arrays and objects deeper than {limit} levels."
        elif first in (0x5D, 0x7D):  # ] }
            depth -= 1
    return None


def non_finite_problem(body: bytes) -> str | None:
    """Why a JSON body holds a number that is not finite (None if it holds none or is not JSON)."""
    if not _MAYBE_NON_FINITE.search(body):
        return None
    try:
        doc = json.loads(body, parse_constant=_NonFinite, parse_float=_parse_float, parse_int=_parse_int)
    except (ValueError, RecursionError):
        return None  # not JSON: the route says so
    found = list(_non_finite_paths(doc))
    if not found:
        return None
    shown = ", ".join(f"{token} at {path}" for path, token in found[:_MAX_PROBLEMS])
    return f"JSON numbers must be finite: {shown}" + (" ..." if len(found) > _MAX_PROBLEMS else "") + "."


def _fields_problem(value: str, listing_collections: bool) -> str | None:
    entries = value.split(",")
    if value and any(not e.strip().lstrip("+-").strip() for e in entries):
        return f"fields={value!r} has an empty field name; use e.g. fields=id,-properties.title."
    if listing_collections and any(e.strip() == "-id" for e in entries):
        return "fields: the collections listing cannot exclude 'id', which names each collection."
    return None


def _json_object_problem(name: str, value: str) -> str | None:
    try:
        parsed = json.loads(unquote_plus(value), parse_constant=_NonFinite, parse_float=_parse_float)
    except (ValueError, RecursionError) as exc:
        return f"{name} is not valid JSON: {exc}."
    if not isinstance(parsed, dict):
        return f"{name} must be a JSON object."
    if any(True for _ in _non_finite_paths(parsed)):
        return f"{name} holds a number that is not finite."
    return None


def query_problem(path: str, query_string: str) -> str | None:
    """Why the query parameters of a read route are malformed (None if they are not, as far as we check)."""
    listing_collections = path.rstrip("/") == "/collections"
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name in ("intersects", "query") and value:
            problem = _json_object_problem(name, value)
        elif name == "fields":
            problem = _fields_problem(value, listing_collections)
        elif name == "bbox" and value:
            try:
                numbers = [float(v) for v in value.split(",")]
            except ValueError:
                numbers = []  # the route says which
            problem = (
                f"bbox={value!r} holds a number that is not finite."
                if any(not math.isfinite(n) for n in numbers)
                else None
            )
        else:
            problem = None
        if problem:
            return problem
    return None


def _route(method: str, path: str) -> str | None:
    """What this request is, for the checks: ``write``, ``bulk``, ``search`` (POST) or ``read``."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if method in ("POST", "PUT", "PATCH") and parts[0] == "collections":
        if len(parts) == 3 and parts[2] == "bulk_items" and method == "POST":
            return "bulk"
        if (
            (len(parts) == 1 and method == "POST")
            or (len(parts) == 2 and method in ("PUT", "PATCH"))
            or (len(parts) == 3 and parts[2] == "items" and method == "POST")
            or (len(parts) == 4 and parts[2] == "items" and method in ("PUT", "PATCH"))
        ):
            return "write"
        return None
    if method == "POST" and parts == ["search"]:
        return "search"
    if method in ("GET", "HEAD") and (
        parts in (["search"], ["collections"])
        or (len(parts) == 3 and parts[0] == "collections" and parts[2] == "items")
    ):
        return "read"
    return None


def _path_id_problem(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    named = [(parts[1], "the collection id in the path")] if len(parts) > 1 else []
    if len(parts) == 4 and parts[2] == "items":
        named.append((parts[3], "the item id in the path"))
    for value, what in named:
        if reason := id_problem(value, what):
            return reason
    return None


async def _send_refusal(send: Send, refusal: InputRefused, *, close: bool = False) -> None:
    body = json.dumps(refusal.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class InputMiddleware:
    """Size limits, finite numbers and path ids of write bodies; malformed read query parameters.

    A pure ASGI middleware: it reads a write (or ``POST /search``) body up to its limit + 1 byte and
    answers 413 as soon as the limit is crossed (at once if ``Content-Length`` is over it), then hands
    the body it read to the app unchanged.
    """

    def __init__(self, app: ASGIApp, *, limits: InputLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        kind = _route(str(scope.get("method")), path)
        if kind is None:
            await self.app(scope, receive, send)
            return
        if kind == "read":
            problem = query_problem(path, scope.get("query_string", b"").decode("latin-1"))
            if problem:
                await _send_refusal(send, InputRefused(problem, code="InvalidParameter"))
                return
            await self.app(scope, receive, send)
            return
        if kind in ("write", "bulk") and (problem := _path_id_problem(path)):
            await _send_refusal(send, InputRefused(problem, code="InvalidId"))
            return
        limit = self.limits.max_bulk_bytes if kind == "bulk" else self.limits.max_document_bytes
        setting = "APEX_CATALOGUE_MAX_BULK_BYTES" if kind == "bulk" else "APEX_CATALOGUE_MAX_DOCUMENT_BYTES"
        what = (
            "a bulk_items request" if kind == "bulk" else "one document (collection, item, patch or search)"
        )
        too_large = InputRefused(
            f"The request body is larger than the limit of {_size_text(limit)} for {what} ({setting}). "
            "Nothing was written.",
            code="PayloadTooLarge",
            status=413,
        )
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_refusal(send, too_large, close=True)
            return
        body, complete = await _read_body(receive, limit)
        if not complete:
            if body is not None:  # over the limit (None: the client went away)
                await _send_refusal(send, too_large, close=True)
            return
        assert body is not None
        if (deep := nesting_problem(body)) is not None:
            await _send_refusal(send, InputRefused(deep, code="TooDeep"))
            return
        problem = non_finite_problem(body)
        if problem is None and kind == "search" and body.strip():
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):
                parsed = {}  # not JSON: the route says so
            if not isinstance(parsed, dict):
                problem = "The search body must be a JSON object."
        if problem:
            await _send_refusal(
                send, InputRefused(problem, code="NonFiniteNumber" if "finite" in problem else "InvalidBody")
            )
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, bool]:
    """(body, True) if it ends within ``limit`` bytes; (b"", False) past it; (None, False) on disconnect."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --------------------------------------------------------------------------------------------------
# wiring
# --------------------------------------------------------------------------------------------------


def is_read(method: str, path: str) -> bool:
    """A request that only reads (GET/HEAD, or a POST /search): what fails in it came from its parameters."""
    return method in ("GET", "HEAD") or path.rstrip("/").endswith("/search")


def install_input_checks(app: Any, limits: InputLimits) -> None:
    """Add :class:`InputMiddleware`, answer :class:`InputRefused` as such, and JSON that fails to parse
    anywhere in the stack (a query parameter pgstac parses itself) or a JSON Patch that cannot be applied
    as a 400 rather than a 500."""
    import jsonpatch
    import jsonpointer
    from fastapi import Request
    from fastapi.responses import JSONResponse

    app.state.input_limits = limits

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputRefused)
        logger.info("%s %s refused: %s", request.method, request.url.path, exc.description)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def bad_json(request: Request, exc: Exception) -> JSONResponse:
        if not is_read(request.method, request.url.path):  # a write's body is parsed by its model: a bug
            logger.error("%s %s failed: %s", request.method, request.url.path, exc)
            return JSONResponse(
                {"code": "ServerError", "description": "The catalogue failed."}, status_code=500
            )
        logger.info("%s %s: unparseable JSON input: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"code": "InvalidParameter", "description": f"A parameter or the body is not valid JSON: {exc}."},
            status_code=400,
        )

    async def bad_patch(request: Request, exc: Exception) -> JSONResponse:
        logger.info("%s %s: JSON Patch not applicable: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"code": "InvalidPatch", "description": f"The JSON Patch cannot be applied: {exc}."},
            status_code=400,
        )

    app.add_exception_handler(InputRefused, refused)
    app.add_exception_handler(json.JSONDecodeError, bad_json)
    # pgstac applies item JSON Patches itself and lets a failing one through (a 500)
    app.add_exception_handler(jsonpatch.JsonPatchException, bad_patch)
    app.add_exception_handler(jsonpointer.JsonPointerException, bad_patch)
    app.add_middleware(InputMiddleware, limits=limits)
