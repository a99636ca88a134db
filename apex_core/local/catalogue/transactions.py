"""The write side of the catalogue: stac-fastapi-pgstac's transactions clients with the APEx rules.

Every write asks the app's :class:`~apex_core.local.catalogue.guard.WriteGuard` first: the caller must
satisfy the collection's ``_auth.write`` (and may not learn of a collection it cannot read). ``_auth``
is stored in ``apex.collection_auth`` in the same transaction as the pgstac write and removed from the
document before pgstac sees it, so responses never echo it. Documents pass the input rules of
:mod:`~apex_core.local.catalogue.validation` (``ValidatingClientMixin``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import json_merge_patch  # type: ignore[import-untyped]
import jsonpatch
import jsonpointer
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from stac_fastapi.api.models import JSONResponse as StacJSONResponse  # type: ignore[attr-defined]
from stac_fastapi.extensions import BulkTransactionExtension, TransactionExtension
from stac_fastapi.pgstac.db import dbfunc
from stac_fastapi.pgstac.models.extensions import Extensions
from stac_fastapi.pgstac.models.links import CollectionLinks
from stac_fastapi.pgstac.transactions import BulkTransactionsClient, TransactionsClient
from stac_fastapi.types.errors import ConflictError, NotFoundError
from stac_pydantic import Item as StacItem

from apex_core.local.catalogue.guard import WriteGuard, guard_of, save_auth
from apex_core.local.catalogue.validation import (
    InputRefused,
    ValidatingClientMixin,
    bulk_refusals,
    check_bulk_items,
    explain_bulk_refusal,
    model_problem,
)

__all__ = ["AuthBulkTransactionsClient", "AuthExtensions", "AuthTransactionsClient"]

logger = logging.getLogger(__name__)

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


class AuthTransactionsClient(ValidatingClientMixin, TransactionsClient):  # type: ignore[misc]
    async def create_collection(self, collection: Any, request: Request, **kwargs: Any) -> Any:
        new = await guard_of(request).required_body_auth(request)
        doc = collection.model_dump(mode="json")
        doc.pop("_auth", None)
        self._validate_collection(request, doc)
        try:
            async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
                await dbfunc(conn, "create_collection", doc)
                await save_auth(conn, doc["id"], new)
        except ConflictError as exc:
            raise ConflictError(f"Collection {doc['id']} already exists.") from exc
        logger.info("Collection %s created by %s", doc["id"], WriteGuard.principal_of(request).subject)
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
        await guard_of(request).require_write(request, target)
        new = await guard_of(request).required_body_auth(request)
        doc.pop("_auth", None)
        self._validate_collection(request, doc)
        async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
            await dbfunc(conn, "update_collection", doc)
            await save_auth(conn, target, new)
        doc["links"] = await CollectionLinks(collection_id=target, request=request).get_links(
            extra_links=doc.get("links")
        )
        return doc

    async def patch_collection(self, collection_id: str, patch: Any, request: Request, **kwargs: Any) -> Any:
        """Apply a merge patch or JSON Patch to the stored collection, then write it under its path id.

        The path id is the only collection a patch may touch: a result with another id (``"id"``
        in a merge patch, ``replace /id``, a whole-document replace) is a 400 and nothing is written.
        """
        await guard_of(request).require_write(request, collection_id)
        ops = [op.model_dump(mode="json", by_alias=True) for op in patch] if isinstance(patch, list) else None
        new = None if ops is not None else await guard_of(request).body_auth(request)
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
        await guard_of(request).require_write(request, collection_id)
        async with request.app.state.get_connection(request, "w") as conn, conn.transaction():
            await dbfunc(conn, "delete_collection", collection_id)
            await conn.execute("DELETE FROM apex.collection_auth WHERE collection_id = $1", collection_id)
        # Its files go with it: left behind, they would fall under the rules of a folder without a
        # collection (readable by every asset role) or of a new collection taking the same id.
        await anyio.to_thread.run_sync(guard_of(request).remove_files_of, collection_id)
        logger.info("Collection %s deleted by %s", collection_id, WriteGuard.principal_of(request).subject)
        return JSONResponse({"deleted collection": collection_id})

    async def create_item(self, collection_id: str, item: Any, request: Request, **kwargs: Any) -> Any:
        await guard_of(request).require_write(request, collection_id)
        try:
            return await super().create_item(collection_id, item, request, **kwargs)
        except ConflictError as exc:
            item_id = getattr(item, "id", None)
            what = f"Item {item_id}" if item_id else "An item"
            raise ConflictError(f"{what} already exists in collection {collection_id}.") from exc

    async def update_item(
        self, request: Request, collection_id: str, item_id: str, item: Any, **kwargs: Any
    ) -> Any:
        await guard_of(request).require_write(request, collection_id)
        return await super().update_item(request, collection_id, item_id, item, **kwargs)

    async def patch_item(
        self, collection_id: str, item_id: str, patch: Any, request: Request, **kwargs: Any
    ) -> Any:
        await guard_of(request).require_write(request, collection_id)
        return await super().patch_item(collection_id, item_id, patch, request, **kwargs)

    async def delete_item(self, item_id: str, collection_id: str, request: Request, **kwargs: Any) -> Any:
        await guard_of(request).require_write(request, collection_id)
        return await super().delete_item(item_id, collection_id, request, **kwargs)


class AuthBulkTransactionsClient(BulkTransactionsClient):  # type: ignore[misc]
    async def bulk_item_insert(self, items: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request")
        if not isinstance(request, Request):
            raise HTTPException(status_code=500, detail="request is required")
        await guard_of(request).require_write(request, request.path_params["collection_id"])
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
