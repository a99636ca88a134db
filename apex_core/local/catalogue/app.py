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
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apex_core.errors import ApexError, ForbiddenError, MetadataError, ServiceError, UnauthorizedError
from apex_core.local.catalogue.auth import (
    CollectionAuth,
    Principal,
    TokenValidator,
    check_collection_write,
    check_new_auth,
)

__all__ = ["CatalogueSettings", "create_app", "safe_asset_path"]

logger = logging.getLogger(__name__)

DEFAULT_ADMIN_ROLE = "stac-admin-local"
DEFAULT_ASSET_ROLES: tuple[str, ...] = ("apex-editor",)
_PRINCIPAL = "apex_principal"
_SEGMENT = re.compile(r"^[A-Za-z0-9._~@+=,-]+$")


@dataclass(frozen=True)
class CatalogueSettings:
    """What the catalogue process needs besides the database."""

    issuer_url: str
    asset_dir: Path
    admin_role: str = DEFAULT_ADMIN_ROLE
    audience: str | None = None
    asset_roles: tuple[str, ...] = DEFAULT_ASSET_ROLES
    max_asset_bytes: int = 4 * 1024**3
    filter_reads: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CatalogueSettings:
        env = os.environ if env is None else env
        try:
            issuer = env["APEX_CATALOGUE_ISSUER"]
            asset_dir = Path(env["APEX_CATALOGUE_ASSET_DIR"])
        except KeyError as exc:
            raise ServiceError(f"The catalogue needs the environment variable {exc}.") from exc
        roles = env.get("APEX_CATALOGUE_ASSET_ROLES")
        return cls(
            issuer_url=issuer.rstrip("/"),
            asset_dir=asset_dir,
            admin_role=env.get("APEX_CATALOGUE_ADMIN_ROLE") or DEFAULT_ADMIN_ROLE,
            audience=env.get("APEX_CATALOGUE_AUDIENCE") or None,
            asset_roles=tuple(r for r in roles.split(",") if r) if roles is not None else DEFAULT_ASSET_ROLES,
            max_asset_bytes=int(env.get("APEX_CATALOGUE_MAX_ASSET_BYTES") or 4 * 1024**3),
            filter_reads=(env.get("APEX_CATALOGUE_FILTER_READS", "1") != "0"),
        )

    def to_env(self) -> dict[str, str]:
        out = {
            "APEX_CATALOGUE_ISSUER": self.issuer_url,
            "APEX_CATALOGUE_ASSET_DIR": str(self.asset_dir),
            "APEX_CATALOGUE_ADMIN_ROLE": self.admin_role,
            "APEX_CATALOGUE_ASSET_ROLES": ",".join(self.asset_roles),
            "APEX_CATALOGUE_MAX_ASSET_BYTES": str(self.max_asset_bytes),
            "APEX_CATALOGUE_FILTER_READS": "1" if self.filter_reads else "0",
        }
        if self.audience:
            out["APEX_CATALOGUE_AUDIENCE"] = self.audience
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
        }


def _validation_message(exc: Any) -> str:
    """A pydantic ValidationError as one line: ``geometry.coordinates.0: List should have …``."""
    return "; ".join(
        ".".join(str(part) for part in err.get("loc", ())) + ": " + str(err.get("msg", ""))
        for err in exc.errors()[:3]
    )


def _http_error(exc: ApexError) -> HTTPException:
    status = exc.status or (403 if isinstance(exc, ForbiddenError) else 400)
    headers = None
    if isinstance(exc, UnauthorizedError):
        status = 401
        headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.message}"'}
    elif isinstance(exc, MetadataError):
        status = 400
    elif isinstance(exc, ServiceError):
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


def _asset_media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return "image/tiff; application=geotiff"
    if suffix in (".json", ".geojson"):
        return "application/geo+json" if suffix == ".geojson" else "application/json"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class ReadFilterMiddleware:
    """Hides collections (and their items) whose ``_auth.read`` the caller does not satisfy.

    A pure ASGI middleware: it answers 404 for a non-readable collection (and everything below
    it), and drops hidden entries from the ``/collections`` listing and from ``/search`` results
    (GET and POST; counts are those of the filtered page). Tokens on reads are optional; an
    invalid one is ignored (the caller is anonymous). Brotli compression is removed from this
    app, so bodies are plain JSON.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        readable: Callable[[Scope, str], Awaitable[bool]],
        readable_ids: Callable[[Scope], Awaitable[set[str] | None]],
    ) -> None:
        self.app = app
        self.readable = readable
        self.readable_ids = readable_ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if scope["type"] != "http" or method not in ("GET", "HEAD", "POST"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        parts = [p for p in path.split("/") if p]
        if method in ("GET", "HEAD") and len(parts) >= 2 and parts[0] == "collections":
            if not await self.readable(scope, parts[1]):
                body = json.dumps(
                    {"code": "NotFoundError", "description": f"Collection {parts[1]} does not exist."}
                )
                await _send_json(send, 404, body.encode())
                return
        elif (method == "GET" and parts == ["collections"]) or parts == ["search"]:
            allowed = await self.readable_ids(scope)
            if allowed is not None:
                key, field = ("collections", "id") if parts == ["collections"] else ("features", "collection")
                await self._filtered(scope, receive, send, allowed, key, field)
                return
        await self.app(scope, receive, send)

    async def _filtered(
        self, scope: Scope, receive: Receive, send: Send, allowed: set[str], key: str, field: str
    ) -> None:
        """Run the app, then drop the entries of ``key`` whose ``field`` is not in ``allowed``."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    assert start is not None
                    body = b"".join(chunks)
                    if start["status"] == 200:
                        try:
                            doc = json.loads(body)
                            doc[key] = [e for e in doc.get(key, []) if e.get(field) in allowed]
                            for count in ("numberReturned", "numberMatched"):
                                if count in doc:  # numberMatched: exact on a single page only
                                    doc[count] = len(doc[key])
                            body = json.dumps(doc).encode()
                        except (ValueError, AttributeError):
                            logger.warning("Could not filter the response of %s", scope["path"])
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    headers.append((b"content-length", str(len(body)).encode()))
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(settings: CatalogueSettings | None = None) -> FastAPI:
    """The ASGI app; reads :class:`CatalogueSettings` and the ``PG*`` variables from the environment."""
    import asyncpg  # type: ignore[import-untyped]
    from brotli_asgi import BrotliMiddleware
    from pydantic import ValidationError
    from stac_fastapi.api.models import JSONResponse as StacJSONResponse  # type: ignore[attr-defined]
    from stac_fastapi.extensions import BulkTransactionExtension, TransactionExtension
    from stac_fastapi.pgstac.app import instantiate_api
    from stac_fastapi.pgstac.config import Settings
    from stac_fastapi.pgstac.db import dbfunc
    from stac_fastapi.pgstac.models.extensions import Extensions
    from stac_fastapi.pgstac.models.links import CollectionLinks
    from stac_fastapi.pgstac.transactions import BulkTransactionsClient, TransactionsClient
    from stac_fastapi.types.errors import ConflictError, NotFoundError
    from stac_pydantic import Item as StacItem

    cfg = settings or CatalogueSettings.from_env()
    validator = TokenValidator(cfg.issuer_url, audience=cfg.audience)
    admin = cfg.admin_role

    def principal_of(request: Request) -> Principal:
        principal = getattr(request.state, _PRINCIPAL, None)
        if not isinstance(principal, Principal):  # fail closed if a route missed the dependency
            raise HTTPException(status_code=401, detail="This request needs a bearer token.")
        return principal

    async def load_auth(request: Request, collection_id: str) -> CollectionAuth | None:
        """The collection's rules (None if it has none); 404 if the collection does not exist."""
        async with request.app.state.get_connection(request, "r") as conn:
            row = await conn.fetchrow(
                "SELECT c.id, a.read, a.write FROM pgstac.collections c "
                "LEFT JOIN apex.collection_auth a ON a.collection_id = c.id WHERE c.id = $1",
                collection_id,
            )
        if row is None:
            raise NotFoundError(f"Collection {collection_id} does not exist.")
        if row["read"] is None:
            return None
        return CollectionAuth(read=tuple(row["read"]), write=tuple(row["write"]))

    async def require_write(request: Request, collection_id: str) -> None:
        auth = await load_auth(request, collection_id)
        try:
            check_collection_write(collection_id, auth, principal_of(request), admin)
        except ApexError as exc:
            raise _http_error(exc) from exc

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
        except ApexError as exc:
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

    class AuthTransactionsClient(TransactionsClient):  # type: ignore[misc]
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
            await require_write(request, collection_id)
            if isinstance(patch, list):
                if any(str(op.path).startswith("/_auth") for op in patch):
                    raise HTTPException(
                        status_code=400,
                        detail='Change `_auth` with a merge patch ({"_auth": {...}}) or a PUT.',
                    )
                new = None
            else:
                new = await body_auth(request)
            result = await super().patch_collection(collection_id, patch, request, **kwargs)
            if new is not None:
                async with request.app.state.get_connection(request, "w") as conn:
                    await save_auth(conn, collection_id, new)
            if isinstance(result, dict):
                result.pop("_auth", None)
            return result

        async def delete_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
            await require_write(request, collection_id)
            async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
                await dbfunc(conn, "delete_collection", collection_id)
                await conn.execute("DELETE FROM apex.collection_auth WHERE collection_id = $1", collection_id)
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
            # The bulk model takes items as plain dicts, so nothing checked their geometry: an invalid one
            # was stored, or failed the whole batch in PostGIS (500). Check each as a single POST would,
            # and report the failures the way this API reports per-item errors (200 with ``errors``).
            valid, failed = {}, []
            for item_id, doc in items.items.items():
                try:
                    StacItem.model_validate(doc)
                    valid[item_id] = doc
                except ValidationError as exc:
                    failed.append({"id": item_id, "msg": _validation_message(exc)})
            answer = await super().bulk_item_insert(items.model_copy(update={"items": valid}), **kwargs)
            if failed and isinstance(answer, dict):
                answer = {
                    **answer,
                    "received": len(items.items),
                    "errors": [*failed, *answer.get("errors", [])],
                }
            return answer

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
    api = instantiate_api(extensions=AuthExtensions(settings=pg_settings), settings=pg_settings)
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

    def require_token(request: Request) -> None:
        """Route dependency: a valid bearer token, else 401 (sync: PyJWKClient blocks, runs in a thread)."""
        try:
            principal = validator.validate(request.headers.get("authorization"))
        except ApexError as exc:
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

    @app.get("/assets/{path:path}", include_in_schema=True)
    @app.head("/assets/{path:path}", include_in_schema=False)
    def get_asset(path: str) -> FileResponse:
        target = asset_target(path)
        if not target.is_file():
            raise HTTPException(status_code=404, detail=f"No asset at {path}.")
        return FileResponse(target, media_type=_asset_media_type(target))

    @app.put("/assets/{path:path}", dependencies=[Depends(require_token)], status_code=201)
    async def put_asset(path: str, request: Request) -> JSONResponse:
        principal = principal_of(request)
        if not (principal.is_admin(admin) or principal.roles.intersection(cfg.asset_roles)):
            allowed = ", ".join((admin, *cfg.asset_roles))
            raise HTTPException(status_code=403, detail=f"Storing assets needs one of the roles: {allowed}.")
        target = asset_target(path)
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

    # --- read filtering ------------------------------------------------------------------------
    async def reader(scope: Scope) -> Principal | None:
        headers = dict(cast(list[tuple[bytes, bytes]], scope.get("headers", [])))
        value = headers.get(b"authorization")
        if not value:
            return None
        import anyio.to_thread

        try:
            return await anyio.to_thread.run_sync(validator.validate, value.decode("latin-1"))
        except ApexError:
            return None

    async def readable(scope: Scope, collection_id: str) -> bool:
        pool = app.state.readpool
        row = await pool.fetchrow(
            "SELECT read, write FROM apex.collection_auth WHERE collection_id = $1", collection_id
        )
        if row is None:  # no rules (or no collection: let pgstac answer 404)
            return True
        auth = CollectionAuth(read=tuple(row["read"]), write=tuple(row["write"]))
        return auth.public or auth.can_read(await reader(scope), admin)

    async def readable_ids(scope: Scope) -> set[str] | None:
        pool = app.state.readpool
        rows = await pool.fetch("SELECT collection_id, read, write FROM apex.collection_auth")
        hidden_rules = {
            r["collection_id"]: CollectionAuth(read=tuple(r["read"]), write=tuple(r["write"]))
            for r in rows
            if "anonymous" not in r["read"]
        }
        if not hidden_rules:
            return None
        principal = await reader(scope)
        ids = await pool.fetch("SELECT id FROM pgstac.collections")
        return {
            r["id"]
            for r in ids
            if r["id"] not in hidden_rules or hidden_rules[r["id"]].can_read(principal, admin)
        }

    # Compression off: loopback only, and it would break Range requests on assets and body rewriting.
    app.user_middleware = [m for m in app.user_middleware if cast(Any, m.cls) is not BrotliMiddleware]
    if cfg.filter_reads:
        app.add_middleware(ReadFilterMiddleware, readable=readable, readable_ids=readable_ids)

    @app.get("/_apex/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"status": "ok", "settings": cfg.to_dict()}

    return app
