"""The read side of the catalogue: what a caller may not read does not show.

- :class:`ReadFilterMiddleware` answers 404 for ``GET``/``HEAD`` of a collection (and everything below
  it) whose ``_auth.read`` the caller does not satisfy, exactly as for one that does not exist;
- :class:`ReadScopedClient` restricts listings and ``/search`` in the query pgstac runs (the
  ``collections`` of a search, an ``id`` filter on the collection search), so counts, ``next``/``prev``
  tokens and links are those of the readable records only: nothing hidden shows through paging.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import HTTPException, Request
from stac_fastapi.pgstac.core import CoreCrudClient
from starlette.types import ASGIApp, Receive, Scope, Send

from apex_core.local.catalogue.access import ids_matching, token_collection
from apex_core.local.catalogue.failures import DATABASE_DOWN, send_json, unavailable_body
from apex_core.local.catalogue.guard import guard_of
from apex_core.local.catalogue.validation import id_problem

__all__ = ["LISTING_SCOPE", "ReadFilterMiddleware", "ReadScopedClient"]


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
                except DATABASE_DOWN as exc:
                    await send_json(send, 503, unavailable_body(exc))
                    return
                if not visible:
                    body = json.dumps(
                        {"code": "NotFoundError", "description": f"Collection {parts[1]} does not exist."}
                    )
                    await send_json(send, 404, body.encode())
                    return
        await self.app(scope, receive, send)


# The collections the current /collections request may list (None: all), read by _clean_search_args.
LISTING_SCOPE: ContextVar[frozenset[str] | None] = ContextVar("apex_listing_scope", default=None)


async def _readable_ids(request: Request) -> frozenset[str] | None:
    """The collections the caller may read (None: all, the admin)."""
    rules = guard_of(request).rules
    return await rules.readable_ids(request.app.state.readpool, request.scope.get("headers", []))


class ReadScopedClient(CoreCrudClient):  # type: ignore[misc]
    """pgstac's core client, with listings and searches restricted to what the caller may read."""

    async def _search_base(self, search_request: Any, request: Request) -> Any:
        allowed = await _readable_ids(request)
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
        allowed = await _readable_ids(request)
        if allowed is not None and not allowed:
            return {"collections": [], "links": [], "numberMatched": 0, "numberReturned": 0}
        token = LISTING_SCOPE.set(allowed)
        try:
            return await super().all_collections(request, *args, **kwargs)
        finally:
            LISTING_SCOPE.reset(token)

    def _clean_search_args(self, base_args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        clean: dict[str, Any] = super()._clean_search_args(base_args, **kwargs)
        allowed = LISTING_SCOPE.get()
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
