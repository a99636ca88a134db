"""The embedded catalogue: stac-fastapi-pgstac with the APEx write rules and an asset store.

- Every write route (POST/PUT/PATCH/DELETE of collections and items, bulk items, asset PUT) has a
  route dependency validating the bearer token; the transactions clients below apply the
  ``_auth`` rules of :mod:`apex_core.local.catalogue.auth` with the request body.
- ``_auth`` is stored in ``apex.collection_auth`` (same database, same transaction as the pgstac
  write) and removed from the collection before pgstac sees it, so responses never echo it.
- ``GET /collections``, ``GET /collections/{id}`` and the item routes of collections whose
  ``_auth.read`` lacks ``anonymous`` are filtered for callers without a readable role
  (:class:`ReadFilterMiddleware`); ``/search`` results are filtered the same way, page by page.
- ``GET/HEAD /assets/{path}`` serves the asset folder read-only (Range supported by Starlette's
  ``FileResponse``); ``PUT /assets/{path}`` stores a file (admin or one of the asset roles).

Run it through :mod:`apex_core.local.catalogue.__main__`, configured by environment variables
(:meth:`CatalogueSettings.from_env`) plus the ``PG*`` variables of stac-fastapi-pgstac.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import asyncpg  # type: ignore[import-untyped]
import json_merge_patch  # type: ignore[import-untyped]
import jsonpatch
import jsonpointer
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from apex_core.local.catalogue.access import CollectionRules, ReadRules, ids_matching, token_collection
from apex_core.local.catalogue.auth import (
    CollectionAuth,
    Principal,
    TokenValidator,
    check_collection_write,
    check_new_auth,
)
from apex_core.local.catalogue.validation import (
    DEFAULT_MAX_BULK_BYTES,
    DEFAULT_MAX_DOCUMENT_BYTES,
    InputLimits,
    InputRefused,
    ValidatingClientMixin,
    bulk_refusals,
    check_bulk_items,
    explain_bulk_refusal,
    id_problem,
    install_input_checks,
    is_read,
    model_problem,
)
from apex_core.local.errors import (
    LocalError,
    LocalForbiddenError,
    LocalMetadataError,
    LocalServiceError,
    LocalUnauthorizedError,
)

__all__ = ["CatalogueSettings", "create_app", "safe_asset_path"]

logger = logging.getLogger(__name__)

DEFAULT_ADMIN_ROLE = "stac-admin-local"
DEFAULT_ASSET_ROLES: tuple[str, ...] = ("apex-editor",)
DEFAULT_AUDIENCE = "apex-catalogue-local"
"""The ``aud`` every write token must carry (the local issuer's default audience)."""
_PRINCIPAL = "apex_principal"
_SEGMENT = re.compile(r"^[A-Za-z0-9._~@+=,-]+$")


@dataclass(frozen=True)
class CatalogueSettings:
    """What the catalogue process needs besides the database."""

    issuer_url: str
    asset_dir: Path
    admin_role: str = DEFAULT_ADMIN_ROLE
    audience: str = DEFAULT_AUDIENCE
    asset_roles: tuple[str, ...] = DEFAULT_ASSET_ROLES
    max_asset_bytes: int = 4 * 1024**3
    filter_reads: bool = True
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    max_bulk_bytes: int = DEFAULT_MAX_BULK_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CatalogueSettings:
        env = os.environ if env is None else env
        try:
            issuer = env["APEX_CATALOGUE_ISSUER"]
            asset_dir = Path(env["APEX_CATALOGUE_ASSET_DIR"])
        except KeyError as exc:
            raise LocalServiceError(f"The catalogue needs the environment variable {exc}.") from exc
        roles = env.get("APEX_CATALOGUE_ASSET_ROLES")
        return cls(
            issuer_url=issuer.rstrip("/"),
            asset_dir=asset_dir,
            admin_role=env.get("APEX_CATALOGUE_ADMIN_ROLE") or DEFAULT_ADMIN_ROLE,
            audience=env.get("APEX_CATALOGUE_AUDIENCE") or DEFAULT_AUDIENCE,
            asset_roles=tuple(r for r in roles.split(",") if r) if roles is not None else DEFAULT_ASSET_ROLES,
            max_asset_bytes=int(env.get("APEX_CATALOGUE_MAX_ASSET_BYTES") or 4 * 1024**3),
            filter_reads=(env.get("APEX_CATALOGUE_FILTER_READS", "1") != "0"),
            max_document_bytes=int(
                env.get("APEX_CATALOGUE_MAX_DOCUMENT_BYTES") or DEFAULT_MAX_DOCUMENT_BYTES
            ),
            max_bulk_bytes=int(env.get("APEX_CATALOGUE_MAX_BULK_BYTES") or DEFAULT_MAX_BULK_BYTES),
        )

    def to_env(self) -> dict[str, str]:
        out = {
            "APEX_CATALOGUE_ISSUER": self.issuer_url,
            "APEX_CATALOGUE_ASSET_DIR": str(self.asset_dir),
            "APEX_CATALOGUE_ADMIN_ROLE": self.admin_role,
            "APEX_CATALOGUE_ASSET_ROLES": ",".join(self.asset_roles),
            "APEX_CATALOGUE_MAX_ASSET_BYTES": str(self.max_asset_bytes),
            "APEX_CATALOGUE_FILTER_READS": "1" if self.filter_reads else "0",
            "APEX_CATALOGUE_MAX_DOCUMENT_BYTES": str(self.max_document_bytes),
            "APEX_CATALOGUE_MAX_BULK_BYTES": str(self.max_bulk_bytes),
            "APEX_CATALOGUE_AUDIENCE": self.audience,
        }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer_url": self.issuer_url,
            "asset_dir": str(self.asset_dir),
            "admin_role": self.admin_role,
            "audience": self.audience,
            "asset_roles": list(self.asset_roles),
            "max_asset_bytes": self.max_asset_bytes,
            "filter_reads": self.filter_reads,
            "max_document_bytes": self.max_document_bytes,
            "max_bulk_bytes": self.max_bulk_bytes,
        }


def _http_error(exc: LocalError) -> HTTPException:
    status = exc.status or (403 if isinstance(exc, LocalForbiddenError) else 400)
    headers = None
    if isinstance(exc, LocalUnauthorizedError):
        status = 401
        headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.message}"'}
    elif isinstance(exc, LocalMetadataError):
        status = 400
    elif isinstance(exc, LocalServiceError):
        status = 503
    return HTTPException(status_code=status, detail=exc.message, headers=headers)


def safe_asset_path(root: Path, relative: str) -> Path:
    """``root/relative`` if ``relative`` is a plain relative path of safe segments; else ValueError."""
    if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative:
        raise ValueError("The asset path must be a relative path with '/' separators.")
    parts = relative.split("/")
    if len(parts) > 16 or any(p in (".", "..") or not _SEGMENT.match(p) or p.startswith(".") for p in parts):
        raise ValueError(
            "Each asset path segment may use letters, digits and ._~@+=,- and must not start with a dot."
        )
    target = root.joinpath(*parts).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError("The asset path leaves the asset folder.")
    return target


_AUTH_BY_MERGE = 'Change `_auth` with a merge patch ({"_auth": {...}}) or a PUT.'


def _patched_collection(
    collection_id: str, existing: dict[str, Any], ops: list[dict[str, Any]] | None, merge: Any
) -> dict[str, Any]:
    """``existing`` with a JSON Patch (``ops``) or a merge patch (``merge``, a stac-fastapi model) applied.

    The path id is the only collection a patch may touch: a result with another id (``"id"`` in a merge
    patch, ``replace /id``, a whole-document replace) is refused, as is a JSON Patch touching ``_auth``
    (rules change by merge patch or PUT, where they are checked). Refusals are :class:`InputRefused`.
    """
    if ops is not None:
        if any(_touches(op, "/_auth") for op in ops):
            raise InputRefused(_AUTH_BY_MERGE, code="InvalidPatch")
        try:
            doc = jsonpatch.apply_patch(existing, ops)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise InputRefused(f"The JSON Patch cannot be applied: {exc}.", code="InvalidPatch") from exc
        if isinstance(doc, dict) and "_auth" in doc:  # a whole-document replace carrying rules
            raise InputRefused(_AUTH_BY_MERGE, code="InvalidPatch")
    else:
        partial = merge.model_dump(mode="json")
        partial.pop("_auth", None)  # the rules are not part of the document (apex.collection_auth)
        doc = json_merge_patch.merge(existing, partial)
    if not isinstance(doc, dict) or doc.get("id") != collection_id:
        found = doc.get("id") if isinstance(doc, dict) else None
        raise InputRefused(
            f"A patch of collection {collection_id} may not change its id (the result's id is {found!r}). "
            "The id in the path is the only collection a write may touch.",
            code="IdMismatch",
        )
    return doc


def _touches(op: Mapping[str, Any], pointer: str) -> bool:
    """Whether a JSON Patch operation reads or writes ``pointer`` or below it."""
    return any(
        isinstance(p, str) and (p == pointer or p.startswith(pointer + "/"))
        for p in (op.get("path"), op.get("from"))
    )


def _asset_media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return "image/tiff; application=geotiff"
    if suffix in (".json", ".geojson"):
        return "application/geo+json" if suffix == ".geojson" else "application/json"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class ReadFilterMiddleware:
    """Hides collections (and everything below them) whose ``_auth.read`` the caller does not satisfy.

    A pure ASGI middleware: ``GET``/``HEAD`` of ``/collections/{id}`` and every path below it answer
    404 for a collection the caller may not read, exactly as for one that does not exist. Listings
    and ``/search`` are restricted in the query itself (:class:`ReadScopedClient`), so that pages,
    counts and paging tokens never involve a hidden collection. A database that cannot be reached
    is a 503 with a JSON reason, here as on every route.
    """

    def __init__(self, app: ASGIApp, *, readable: Callable[[Scope, str], Awaitable[bool]]) -> None:
        self.app = app
        self.readable = readable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            parts = [p for p in str(scope["path"]).split("/") if p]
            if len(parts) >= 2 and parts[0] == "collections":
                try:  # an id no collection can have (the id rule) is not found, like a hidden one
                    visible = id_problem(parts[1]) is None and await self.readable(scope, parts[1])
                except _DATABASE_DOWN as exc:
                    await _send_json(send, 503, _unavailable_body(exc))
                    return
                if not visible:
                    body = json.dumps(
                        {"code": "NotFoundError", "description": f"Collection {parts[1]} does not exist."}
                    )
                    await _send_json(send, 404, body.encode())
                    return
        await self.app(scope, receive, send)


# The database cannot be reached (stopped, restarting, connections lost): a 503 the client may retry,
# with a JSON reason, on every route; never a bare 500.
_DATABASE_DOWN: tuple[type[Exception], ...] = (
    ConnectionError,  # refused or reset: nothing listens on the database's port
    TimeoutError,  # no connection from the pool in time
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InterfaceError,
)


def _unavailable_body(exc: BaseException) -> bytes:
    logger.warning("The catalogue database is unavailable: %s: %s", type(exc).__name__, exc)
    return json.dumps(
        {
            "code": "ServiceUnavailable",
            "description": "The catalogue's database is unavailable; nothing was changed. Try again shortly.",
        }
    ).encode()


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# The collections the current /collections request may list (None: all), read by _clean_search_args.
_LISTING_SCOPE: ContextVar[frozenset[str] | None] = ContextVar("apex_listing_scope", default=None)


def _read_scoped_client(rules: ReadRules) -> type[Any]:
    """pgstac's core client, with listings and searches restricted to what the caller may read.

    The restriction is part of the query pgstac runs (``collections`` of a search, an ``id``
    filter on the collection search), so counts, ``next``/``prev`` tokens and links are those of
    the readable records only: nothing hidden shows through paging.
    """
    from stac_fastapi.pgstac.core import CoreCrudClient

    async def readable_ids(request: Request) -> frozenset[str] | None:
        return await rules.readable_ids(request.app.state.readpool, request.scope.get("headers", []))

    class ReadScopedClient(CoreCrudClient):  # type: ignore[misc]
        async def _search_base(self, search_request: Any, request: Request) -> Any:
            allowed = await readable_ids(request)
            token = getattr(search_request, "token", None)
            if allowed is not None and token and token_collection(token) not in (None, *allowed):
                # answered exactly as a token naming no item: a hidden record's existence, or its place in
                # a sort order, does not show through a hand-made token
                raise asyncpg.exceptions.RaiseError(f"Could not find item using token: {token}")
            if allowed is not None:
                wanted = search_request.collections
                scope = sorted(allowed.intersection(wanted) if wanted else allowed)
                if not scope:
                    return {"type": "FeatureCollection", "features": [], "links": [], "numberReturned": 0}
                search_request = search_request.model_copy(update={"collections": scope})
            return await super()._search_base(search_request, request)

        async def all_collections(self, request: Request, *args: Any, **kwargs: Any) -> Any:
            allowed = await readable_ids(request)
            if allowed is not None and not allowed:
                return {"collections": [], "links": [], "numberMatched": 0, "numberReturned": 0}
            token = _LISTING_SCOPE.set(allowed)
            try:
                return await super().all_collections(request, *args, **kwargs)
            finally:
                _LISTING_SCOPE.reset(token)

        def _clean_search_args(self, base_args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            clean: dict[str, Any] = super()._clean_search_args(base_args, **kwargs)
            allowed = _LISTING_SCOPE.get()
            if allowed is None:
                return clean
            ids = sorted(allowed)
            if "query" in clean and "filter" not in clean:  # pgstac refuses query + filter together
                query = json.loads(clean["query"]) if isinstance(clean["query"], str) else clean["query"]
                try:  # the caller's own condition on ids, applied here to the readable ones
                    ids = ids_matching(query.get("id"), ids)
                except ValueError as exc:
                    raise HTTPException(status_code=400, detail=f"query.id: {exc}") from exc
                clean["query"] = {**query, "id": {"in": ids or [""]}}  # [""]: no id, no collection
                return clean
            only = {"op": "in", "args": [{"property": "id"}, ids]}
            clean["filter"] = {"op": "and", "args": [clean["filter"], only]} if "filter" in clean else only
            clean.setdefault("filter_lang", "cql2-json")
            return clean

    return ReadScopedClient


def create_app(settings: CatalogueSettings | None = None) -> FastAPI:
    """The ASGI app; reads :class:`CatalogueSettings` and the ``PG*`` variables from the environment."""
    from brotli_asgi import BrotliMiddleware
    from stac_fastapi.api.models import JSONResponse as StacJSONResponse  # type: ignore[attr-defined]
    from stac_fastapi.extensions import BulkTransactionExtension, TransactionExtension
    from stac_fastapi.pgstac.app import instantiate_api
    from stac_fastapi.pgstac.config import Settings
    from stac_fastapi.pgstac.core import CoreCrudClient
    from stac_fastapi.pgstac.db import dbfunc
    from stac_fastapi.pgstac.models.extensions import Extensions
    from stac_fastapi.pgstac.models.links import CollectionLinks
    from stac_fastapi.pgstac.transactions import BulkTransactionsClient, TransactionsClient
    from stac_fastapi.types.errors import ConflictError, NotFoundError
    from stac_pydantic import Item as StacItem

    cfg = settings or CatalogueSettings.from_env()
    validator = TokenValidator(cfg.issuer_url, audience=cfg.audience)
    admin = cfg.admin_role
    rules = ReadRules(validator, admin)

    def principal_of(request: Request) -> Principal:
        principal = getattr(request.state, _PRINCIPAL, None)
        if not isinstance(principal, Principal):  # fail closed if a route missed the dependency
            raise HTTPException(status_code=401, detail="This request needs a bearer token.")
        return principal

    async def load_auth(request: Request, collection_id: str) -> CollectionAuth | None:
        """The collection's rules (None if it has none); 404 if the collection does not exist."""
        found = await rules.rules_of(request.app.state.readpool, collection_id)
        if not found.collection_exists:
            raise NotFoundError(f"Collection {collection_id} does not exist.")
        return found.auth

    async def require_write(request: Request, collection_id: str) -> None:
        """403 naming the roles a write needs; but 404, as for a missing collection, when the caller may not
        even read it: a hidden collection's existence and rules do not show through a write either."""
        auth = await load_auth(request, collection_id)
        principal = principal_of(request)
        if auth is not None and not auth.can_read(principal, admin):
            raise NotFoundError(f"Collection {collection_id} does not exist.")
        try:
            check_collection_write(collection_id, auth, principal, admin)
        except LocalError as exc:
            raise _http_error(exc) from exc

    def remove_files_of(collection_id: str) -> None:
        """A deleted collection's asset folder (after the commit: a failure is logged, the delete stands)."""
        try:
            folder = safe_asset_path(cfg.asset_dir, collection_id)
            if folder.is_dir():
                shutil.rmtree(folder)
        except (ValueError, OSError) as exc:
            logger.error("The files of deleted collection %s were not removed: %s", collection_id, exc)

    async def body_auth(request: Request, *, required: bool = False) -> CollectionAuth | None:
        """The body's ``_auth``, validated and allowed for the caller; None if absent and not required."""
        try:
            raw = await request.json()
        except ValueError as exc:
            raise HTTPException(status_code=400, detail="The body is not valid JSON.") from exc
        present = isinstance(raw, dict) and "_auth" in raw
        if not present and not required:
            return None
        try:
            new = CollectionAuth.from_dict(raw["_auth"] if present else None)  # None: 400, as production
            check_new_auth(new, principal_of(request), admin)
        except LocalError as exc:
            raise _http_error(exc) from exc
        return new

    async def required_body_auth(request: Request) -> CollectionAuth:
        new = await body_auth(request, required=True)
        if new is None:  # unreachable: body_auth raised already
            raise HTTPException(status_code=400, detail="`_auth` is required.")
        return new

    async def save_auth(conn: Any, collection_id: str, auth: CollectionAuth) -> None:
        await conn.execute(
            "INSERT INTO apex.collection_auth (collection_id, read, write) "
            "VALUES ($1, $2::text::jsonb, $3::text::jsonb) "
            "ON CONFLICT (collection_id) DO UPDATE SET read = EXCLUDED.read, write = EXCLUDED.write, "
            "updated = now()",
            collection_id,
            json.dumps(list(auth.read)),
            json.dumps(list(auth.write)),
        )

    class AuthTransactionsClient(ValidatingClientMixin, TransactionsClient):  # type: ignore[misc]
        async def create_collection(self, collection: Any, request: Request, **kwargs: Any) -> Any:
            new = await required_body_auth(request)
            doc = collection.model_dump(mode="json")
            doc.pop("_auth", None)
            self._validate_collection(request, doc)
            try:
                async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
                    await dbfunc(conn, "create_collection", doc)
                    await save_auth(conn, doc["id"], new)
            except ConflictError as exc:
                raise ConflictError(f"Collection {doc['id']} already exists.") from exc
            logger.info("Collection %s created by %s", doc["id"], principal_of(request).subject)
            doc["links"] = await CollectionLinks(collection_id=doc["id"], request=request).get_links(
                extra_links=doc.get("links")
            )
            return doc

        async def update_collection(
            self, collection: Any, request: Request, collection_id: str | None = None, **kwargs: Any
        ) -> Any:
            doc = collection.model_dump(mode="json")
            target = collection_id or request.path_params.get("collection_id") or doc["id"]
            if doc["id"] != target:
                raise HTTPException(
                    status_code=400,
                    detail=f"Collection id in the body ({doc['id']}) differs from the path ({target}).",
                )
            await require_write(request, target)
            new = await required_body_auth(request)
            doc.pop("_auth", None)
            self._validate_collection(request, doc)
            async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
                await dbfunc(conn, "update_collection", doc)
                await save_auth(conn, target, new)
            doc["links"] = await CollectionLinks(collection_id=target, request=request).get_links(
                extra_links=doc.get("links")
            )
            return doc

        async def patch_collection(
            self, collection_id: str, patch: Any, request: Request, **kwargs: Any
        ) -> Any:
            """Apply a merge patch or JSON Patch to the stored collection, then write it under its path id.

            The path id is the only collection a patch may touch: a result with another id (``"id"``
            in a merge patch, ``replace /id``, a whole-document replace) is a 400 and nothing is written.
            """
            await require_write(request, collection_id)
            ops = (
                [op.model_dump(mode="json", by_alias=True) for op in patch]
                if isinstance(patch, list)
                else None
            )
            new = None if ops is not None else await body_auth(request)
            # read, patch and write in one transaction, the row locked: concurrent patches apply in turn
            async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
                existing = await conn.fetchval(
                    "SELECT content FROM pgstac.collections WHERE id = $1 FOR UPDATE", collection_id
                )
                if existing is None:
                    raise NotFoundError(f"Collection {collection_id} does not exist.")
                doc = _patched_collection(collection_id, existing, ops, None if ops is not None else patch)
                self._validate_collection(request, doc)
                await dbfunc(conn, "update_collection", doc)
                if new is not None:
                    await save_auth(conn, collection_id, new)
            doc["links"] = await CollectionLinks(collection_id=collection_id, request=request).get_links(
                extra_links=doc.get("links")
            )
            return doc

        async def delete_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
            await require_write(request, collection_id)
            async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
                await dbfunc(conn, "delete_collection", collection_id)
                await conn.execute("DELETE FROM apex.collection_auth WHERE collection_id = $1", collection_id)
            # Its files go with it: left behind, they would fall under the rules of a folder without a
            # collection (readable by every asset role) or of a new collection taking the same id.
            await anyio.to_thread.run_sync(remove_files_of, collection_id)
            logger.info("Collection %s deleted by %s", collection_id, principal_of(request).subject)
            return JSONResponse({"deleted collection": collection_id})

        async def create_item(self, collection_id: str, item: Any, request: Request, **kwargs: Any) -> Any:
            await require_write(request, collection_id)
            try:
                return await super().create_item(collection_id, item, request, **kwargs)
            except ConflictError as exc:
                item_id = getattr(item, "id", None)
                what = f"Item {item_id}" if item_id else "An item"
                raise ConflictError(f"{what} already exists in collection {collection_id}.") from exc

        async def update_item(
            self, request: Request, collection_id: str, item_id: str, item: Any, **kwargs: Any
        ) -> Any:
            await require_write(request, collection_id)
            return await super().update_item(request, collection_id, item_id, item, **kwargs)

        async def patch_item(
            self, collection_id: str, item_id: str, patch: Any, request: Request, **kwargs: Any
        ) -> Any:
            await require_write(request, collection_id)
            return await super().patch_item(collection_id, item_id, patch, request, **kwargs)

        async def delete_item(self, item_id: str, collection_id: str, request: Request, **kwargs: Any) -> Any:
            await require_write(request, collection_id)
            return await super().delete_item(item_id, collection_id, request, **kwargs)

    class AuthBulkTransactionsClient(BulkTransactionsClient):  # type: ignore[misc]
        async def bulk_item_insert(self, items: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request")
            if not isinstance(request, Request):
                raise HTTPException(status_code=500, detail="request is required")
            await require_write(request, request.path_params["collection_id"])
            # All or nothing, like a single write: an item the STAC item model refuses (the bulk model takes
            # plain dicts), one that breaks an input rule (validation.py) or names another id or collection
            # refuses the batch with a 400 naming each; so does a refusal by the database.
            refused = {
                item_id: reason
                for item_id, doc in items.items.items()
                if (reason := model_problem(StacItem, doc)) is not None
            }
            check_bulk_items(
                items.items,
                request.app.state.input_limits,
                collection_id=request.path_params["collection_id"],
                refused=refused,
            )
            try:
                return await super().bulk_item_insert(items, **kwargs)
            except bulk_refusals() as exc:
                raise await explain_bulk_refusal(request, items.items, items.method, exc) from exc

    class AuthExtensions(Extensions):  # type: ignore[misc]
        @property
        def transaction(self) -> list[Any]:
            return [
                TransactionExtension(
                    client=AuthTransactionsClient(), settings=self.settings, response_class=StacJSONResponse
                ),
                BulkTransactionExtension(client=AuthBulkTransactionsClient()),
            ]

    pg_settings = Settings(enable_transactions_extensions=True)
    api = instantiate_api(
        client=_read_scoped_client(rules) if cfg.filter_reads else CoreCrudClient,
        extensions=AuthExtensions(settings=pg_settings),
        settings=pg_settings,
    )
    app: FastAPI = api.app

    # Data the database refuses (a CHECK such as end_datetime >= start_datetime, a value out of range, a
    # pgstac RAISE) is the client's error: 400 with the database's reason, for every route, not a 500.
    # (stac-fastapi already turns duplicates into 409 and missing collections into 404.)
    async def refused_by_database(request: Request, exc: Exception) -> JSONResponse:
        reason = str(getattr(exc, "message", "") or exc).strip()
        logger.info("%s %s refused by the database: %s", request.method, request.url.path, reason)
        return JSONResponse(
            {"code": "RefusedByDatabase", "description": f"The database refused the data: {reason}"},
            status_code=400,
        )

    for refused in (
        asyncpg.exceptions.DataError,
        asyncpg.exceptions.IntegrityConstraintViolationError,
        asyncpg.exceptions.RaiseError,
    ):
        app.add_exception_handler(refused, refused_by_database)

    # A search the database cannot run (free text it cannot parse, a CQL2 function or an empty `and` it
    # lacks) is the caller's error on a read: 400 with the reason. On a write it would be a bug: 500.
    async def query_refused(request: Request, exc: Exception) -> JSONResponse:
        reason = str(getattr(exc, "message", "") or exc).strip()
        if is_read(request.method, request.url.path):
            logger.info(
                "%s %s: the database could not run the query: %s", request.method, request.url.path, reason
            )
            return JSONResponse(
                {"code": "InvalidParameter", "description": f"The query could not be run: {reason}"},
                status_code=400,
            )
        logger.error("%s %s failed in the database: %s", request.method, request.url.path, reason)
        return JSONResponse({"code": "ServerError", "description": "The catalogue failed."}, status_code=500)

    for unrunnable in (asyncpg.exceptions.PostgresSyntaxError, asyncpg.exceptions.UndefinedFunctionError):
        app.add_exception_handler(unrunnable, query_refused)

    async def database_down(request: Request, exc: Exception) -> Response:
        return Response(_unavailable_body(exc), status_code=503, media_type="application/json")

    for down in _DATABASE_DOWN:
        app.add_exception_handler(down, database_down)

    # Size limits, finite numbers, ids, geometry, hrefs, malformed query parameters (validation.py).
    install_input_checks(app, InputLimits(cfg.max_document_bytes, cfg.max_bulk_bytes))

    def require_token(request: Request) -> None:
        """Route dependency: a valid bearer token, else 401 (sync: PyJWKClient blocks, runs in a thread)."""
        try:
            principal = validator.validate(request.headers.get("authorization"))
        except LocalError as exc:
            raise _http_error(exc) from exc
        setattr(request.state, _PRINCIPAL, principal)

    write_scopes = [
        {"path": path, "method": method}
        for path, methods in (
            ("/collections", ("POST",)),
            ("/collections/{collection_id}", ("PUT", "PATCH", "DELETE")),
            ("/collections/{collection_id}/items", ("POST",)),
            ("/collections/{collection_id}/items/{item_id}", ("PUT", "PATCH", "DELETE")),
            ("/collections/{collection_id}/bulk_items", ("POST",)),
        )
        for method in methods
    ]
    api.add_route_dependencies(scopes=write_scopes, dependencies=[Depends(require_token)])

    # --- asset store -------------------------------------------------------------------------
    asset_root = cfg.asset_dir
    asset_root.mkdir(parents=True, exist_ok=True)

    def asset_target(path: str) -> Path:
        try:
            return safe_asset_path(asset_root, path)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc

    async def folder_rules(path: str) -> CollectionRules:
        """The rules of the collection whose folder holds ``path`` (``<collection>/<file>``)."""
        return await rules.rules_of(app.state.readpool, path.split("/", 1)[0])

    @app.get("/assets/{path:path}", include_in_schema=True)
    @app.head("/assets/{path:path}", include_in_schema=False)
    async def get_asset(path: str, request: Request) -> FileResponse:
        """A stored file, readable under its collection's ``_auth.read`` (Range requests included).

        A file the caller may not read is a 404, like a hidden collection: its existence does not show.
        """
        target = asset_target(path)
        if cfg.filter_reads:
            reader = await rules.reader(request.scope.get("headers", []))
            if not (await folder_rules(path)).can_read_files(reader, admin, cfg.asset_roles):
                raise HTTPException(status_code=404, detail=f"No asset at {path}.")
        if not target.is_file():
            raise HTTPException(status_code=404, detail=f"No asset at {path}.")
        return FileResponse(target, media_type=_asset_media_type(target))

    @app.put("/assets/{path:path}", dependencies=[Depends(require_token)], status_code=201)
    async def put_asset(path: str, request: Request) -> JSONResponse:
        """Store a file: in the folder of an existing collection, a role in its ``_auth.write``; in a
        folder with no collection yet (files staged before their collection), an asset role."""
        principal = principal_of(request)
        target = asset_target(path)
        if (reason := id_problem(path.split("/", 1)[0], "the collection folder")) is not None:
            raise HTTPException(
                status_code=400, detail=f"{reason} Files go in the folder of a collection id."
            )
        found = await folder_rules(path)
        if found.auth is not None and not found.auth.can_read(principal, admin):
            raise HTTPException(status_code=404, detail=f"No collection {path.split('/', 1)[0]!r}.")
        if not found.can_write_files(principal, admin, cfg.asset_roles):
            if found.collection_exists:
                allowed = ", ".join(found.auth.write) if found.auth else admin
                what = f"Storing files of collection {path.split('/', 1)[0]!r}"
            else:
                allowed = ", ".join((admin, *cfg.asset_roles))
                what = "Storing assets"
            raise HTTPException(status_code=403, detail=f"{what} needs one of the roles: {allowed}.")
        if target.is_dir():
            raise HTTPException(status_code=409, detail=f"{path} is a folder.")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        size = 0
        existed = target.exists()
        try:
            with tmp.open("wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > cfg.max_asset_bytes:
                        raise HTTPException(status_code=413, detail="The asset is larger than allowed.")
                    fh.write(chunk)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        logger.info("Asset %s stored (%d bytes) by %s", path, size, principal.subject)
        href = str(request.url_for("get_asset", path=path))
        return JSONResponse({"href": href, "size": size}, status_code=200 if existed else 201)

    # Compression off: loopback only, and it would break Range requests on assets and body rewriting.
    app.user_middleware = [m for m in app.user_middleware if cast(Any, m.cls) is not BrotliMiddleware]
    if cfg.filter_reads:

        async def readable(scope: Scope, collection_id: str) -> bool:
            return await rules.readable(app.state.readpool, scope.get("headers", []), collection_id)

        app.add_middleware(ReadFilterMiddleware, readable=readable)

    @app.get("/_apex/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"status": "ok", "settings": cfg.to_dict()}

    return app
