"""The embedded catalogue: stac-fastapi-pgstac with the APEx write rules and an asset store.

- Every write route (POST/PUT/PATCH/DELETE of collections and items, bulk items, asset PUT) has a
  route dependency validating the bearer token; the transactions clients (:mod:`.transactions`) apply the
  ``_auth`` rules of :mod:`apex_core.local.catalogue.auth` with the request body.
- ``_auth`` is stored in ``apex.collection_auth`` (same database, same transaction as the pgstac
  write) and removed from the collection before pgstac sees it, so responses never echo it.
- ``GET /collections``, ``GET /collections/{id}`` and the item routes of collections whose
  ``_auth.read`` lacks ``anonymous`` are filtered for callers without a readable role
  (:class:`~.reads.ReadFilterMiddleware`); ``/search`` results are filtered the same way, page by page.
- ``GET/HEAD /assets/{path}`` serves the asset folder read-only (Range supported by Starlette's
  ``FileResponse``); ``PUT /assets/{path}`` stores a file (admin or one of the asset roles).

The parts, one module each: :mod:`.settings`, :mod:`.guard` (token and ``_auth`` checks of writes),
:mod:`.transactions` (the write clients), :mod:`.reads` (read filtering), :mod:`.assets` (the asset
routes) and :mod:`.failures` (one table from exception to response); :func:`create_app` assembles them.

Run it through :mod:`apex_core.local.catalogue.__main__`, configured by environment variables
(:meth:`CatalogueSettings.from_env`) plus the ``PG*`` variables of stac-fastapi-pgstac.
"""

from __future__ import annotations

from typing import Any, cast

from brotli_asgi import BrotliMiddleware
from fastapi import Depends, FastAPI
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import Settings
from stac_fastapi.pgstac.core import CoreCrudClient
from starlette.types import Scope

from apex_core.local.catalogue.access import ReadRules
from apex_core.local.catalogue.assets import router as asset_router
from apex_core.local.catalogue.auth import TokenValidator
from apex_core.local.catalogue.failures import install_failure_handlers
from apex_core.local.catalogue.guard import WRITE_SCOPES, WriteGuard
from apex_core.local.catalogue.reads import ReadFilterMiddleware, ReadScopedClient
from apex_core.local.catalogue.settings import CatalogueSettings
from apex_core.local.catalogue.transactions import AuthExtensions
from apex_core.local.catalogue.validation import InputLimits, install_input_checks

__all__ = ["create_app"]


def create_app(settings: CatalogueSettings | None = None) -> FastAPI:
    """The ASGI app; reads :class:`CatalogueSettings` and the ``PG*`` variables from the environment."""
    cfg = settings or CatalogueSettings.from_env()
    validator = TokenValidator(cfg.issuer_url, audience=cfg.audience)
    guard = WriteGuard(cfg, validator, ReadRules(validator, cfg.admin_role))

    pg_settings = Settings(enable_transactions_extensions=True)
    api = instantiate_api(
        client=ReadScopedClient if cfg.filter_reads else CoreCrudClient,
        extensions=AuthExtensions(settings=pg_settings),
        settings=pg_settings,
    )
    app: FastAPI = api.app
    app.state.apex_guard = guard
    install_failure_handlers(app)
    # Size limits, finite numbers, ids, geometry, hrefs, malformed query parameters (validation.py).
    install_input_checks(app, InputLimits(cfg.max_document_bytes, cfg.max_bulk_bytes))

    api.add_route_dependencies(scopes=WRITE_SCOPES, dependencies=[Depends(guard.require_token)])

    cfg.asset_dir.mkdir(parents=True, exist_ok=True)
    app.include_router(asset_router)

    # Compression off: loopback only, and it would break Range requests on assets and body rewriting.
    app.user_middleware = [m for m in app.user_middleware if cast(Any, m.cls) is not BrotliMiddleware]
    if cfg.filter_reads:

        async def readable(scope: Scope, collection_id: str) -> bool:
            return await guard.rules.readable(app.state.readpool, scope.get("headers", []), collection_id)

        app.add_middleware(ReadFilterMiddleware, readable=readable)

    @app.get("/_apex/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"status": "ok", "settings": cfg.to_dict()}

    return app
