"""Who may write what: the bearer token on every write route and the ``_auth`` rules of the collection.

One :class:`WriteGuard` per app, kept in ``app.state`` (:func:`guard_of`): the write routes depend on
:meth:`WriteGuard.require_token` (:data:`WRITE_SCOPES`), the transactions clients
(:mod:`~apex_core.local.catalogue.transactions`) and the asset routes ask it before they write.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from stac_fastapi.types.errors import NotFoundError

from apex_core.local.catalogue.access import ReadRules
from apex_core.local.catalogue.auth import (
    CollectionAuth,
    Principal,
    TokenValidator,
    check_collection_write,
    check_new_auth,
)
from apex_core.local.catalogue.failures import http_error
from apex_core.local.catalogue.settings import CatalogueSettings, safe_asset_path
from apex_core.local.errors import LocalError

__all__ = ["WRITE_SCOPES", "WriteGuard", "guard_of", "save_auth"]

logger = logging.getLogger(__name__)

_PRINCIPAL = "apex_principal"

WRITE_SCOPES: list[dict[str, str]] = [
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
"""The stac-fastapi routes that write: each depends on :meth:`WriteGuard.require_token`."""


@dataclass(frozen=True)
class WriteGuard:
    settings: CatalogueSettings
    validator: TokenValidator
    rules: ReadRules

    @property
    def admin(self) -> str:
        return self.settings.admin_role

    def require_token(self, request: Request) -> None:
        """Route dependency: a valid bearer token, else 401 (sync: PyJWKClient blocks, runs in a thread)."""
        try:
            principal = self.validator.validate(request.headers.get("authorization"))
        except LocalError as exc:
            raise http_error(exc) from exc
        setattr(request.state, _PRINCIPAL, principal)

    @staticmethod
    def principal_of(request: Request) -> Principal:
        principal = getattr(request.state, _PRINCIPAL, None)
        if not isinstance(principal, Principal):  # fail closed if a route missed the dependency
            raise HTTPException(status_code=401, detail="This request needs a bearer token.")
        return principal

    async def load_auth(self, request: Request, collection_id: str) -> CollectionAuth | None:
        """The collection's rules (None if it has none); 404 if the collection does not exist."""
        found = await self.rules.rules_of(request.app.state.readpool, collection_id)
        if not found.collection_exists:
            raise NotFoundError(f"Collection {collection_id} does not exist.")
        return found.auth

    async def require_write(self, request: Request, collection_id: str) -> None:
        """403 naming the roles a write needs; but 404, as for a missing collection, when the caller may not
        even read it: a hidden collection's existence and rules do not show through a write either."""
        auth = await self.load_auth(request, collection_id)
        principal = self.principal_of(request)
        if auth is not None and not auth.can_read(principal, self.admin):
            raise NotFoundError(f"Collection {collection_id} does not exist.")
        try:
            check_collection_write(collection_id, auth, principal, self.admin)
        except LocalError as exc:
            raise http_error(exc) from exc

    async def body_auth(self, request: Request, *, required: bool = False) -> CollectionAuth | None:
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
            check_new_auth(new, self.principal_of(request), self.admin)
        except LocalError as exc:
            raise http_error(exc) from exc
        return new

    async def required_body_auth(self, request: Request) -> CollectionAuth:
        new = await self.body_auth(request, required=True)
        if new is None:  # unreachable: body_auth raised already
            raise HTTPException(status_code=400, detail="`_auth` is required.")
        return new

    def remove_files_of(self, collection_id: str) -> None:
        """A deleted collection's asset folder (after the commit: a failure is logged, the delete stands)."""
        try:
            folder = safe_asset_path(self.settings.asset_dir, collection_id)
            if folder.is_dir():
                shutil.rmtree(folder)
        except (ValueError, OSError) as exc:
            logger.error("The files of deleted collection %s were not removed: %s", collection_id, exc)


def guard_of(request: Request) -> WriteGuard:
    """The app's guard (``create_app`` keeps it in ``app.state.apex_guard``)."""
    guard: WriteGuard = request.app.state.apex_guard
    return guard


async def save_auth(conn: Any, collection_id: str, auth: CollectionAuth) -> None:
    """Store a collection's rules in ``apex.collection_auth`` (in the caller's transaction)."""
    await conn.execute(
        "INSERT INTO apex.collection_auth (collection_id, read, write) "
        "VALUES ($1, $2::text::jsonb, $3::text::jsonb) "
        "ON CONFLICT (collection_id) DO UPDATE SET read = EXCLUDED.read, write = EXCLUDED.write, "
        "updated = now()",
        collection_id,
        json.dumps(list(auth.read)),
        json.dumps(list(auth.write)),
    )
