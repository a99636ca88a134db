"""Who may read what in the embedded catalogue: one place the read rules are decided.

Every read path asks this module: a collection's own routes (404 when hidden), the collection
listing and ``/search`` (restricted in the query itself, so that pages, counts and paging tokens
only ever involve readable collections), and the asset store (a file under
``/assets/<collection>/...`` is read under that collection's rules).

- A collection without rules (created before rules existed, or by pgstac directly) is public,
  as it always was.
- Tokens on reads are optional; an invalid one makes the caller anonymous.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from apex_core.local.catalogue.auth import ANONYMOUS, CollectionAuth, Principal, TokenValidator
from apex_core.local.errors import LocalError

__all__ = ["CollectionRules", "ReadRules", "ids_matching", "token_collection"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectionRules:
    """A collection as the rules see it: whether it exists, and its ``_auth`` (None: no rules).

    The ``can_*_files`` methods rule its asset folder, ``/assets/<collection>/``.
    """

    collection_exists: bool
    auth: CollectionAuth | None

    def can_read_files(
        self, principal: Principal | None, admin_role: str, asset_roles: Sequence[str]
    ) -> bool:
        if self.collection_exists:
            return self.auth is None or self.auth.can_read(principal, admin_role)
        # Files staged before their collection exists (the publish order) or left by a failed publish:
        # only those who may store files see them, until a collection gives the folder its rules.
        return principal is not None and (
            principal.is_admin(admin_role) or bool(principal.roles.intersection(asset_roles))
        )

    def can_write_files(self, principal: Principal, admin_role: str, asset_roles: Sequence[str]) -> bool:
        if principal.is_admin(admin_role):
            return True
        if self.collection_exists:
            return self.auth is not None and self.auth.can_write(principal, admin_role)
        return bool(principal.roles.intersection(asset_roles))


class ReadRules:
    """The read side of the ``_auth`` rules, over the API's connection pool."""

    def __init__(self, validator: TokenValidator, admin_role: str) -> None:
        self.validator = validator
        self.admin_role = admin_role

    async def reader(self, headers: Sequence[tuple[bytes, bytes]]) -> Principal | None:
        """The caller behind an optional bearer token (None: anonymous or an invalid token)."""
        value = dict(headers).get(b"authorization")
        if not value:
            return None
        try:  # PyJWKClient blocks on its first fetch: run it in a thread
            return await anyio.to_thread.run_sync(self.validator.validate, value.decode("latin-1"))
        except LocalError:
            return None

    async def readable(self, pool: Any, headers: Sequence[tuple[bytes, bytes]], collection_id: str) -> bool:
        row = await pool.fetchrow(
            "SELECT read, write FROM apex.collection_auth WHERE collection_id = $1", collection_id
        )
        if row is None:  # no rules (or no collection: let pgstac answer 404)
            return True
        auth = CollectionAuth(read=tuple(row["read"]), write=tuple(row["write"]))
        return auth.public or auth.can_read(await self.reader(headers), self.admin_role)

    async def readable_ids(self, pool: Any, headers: Sequence[tuple[bytes, bytes]]) -> frozenset[str] | None:
        """The collections the caller may read; None when every collection is readable by anyone."""
        rows = await pool.fetch("SELECT collection_id, read, write FROM apex.collection_auth")
        hidden = {
            r["collection_id"]: CollectionAuth(read=tuple(r["read"]), write=tuple(r["write"]))
            for r in rows
            if ANONYMOUS not in r["read"]
        }
        if not hidden:
            return None
        principal = await self.reader(headers)
        ids = await pool.fetch("SELECT id FROM pgstac.collections")
        return frozenset(
            r["id"]
            for r in ids
            if r["id"] not in hidden or hidden[r["id"]].can_read(principal, self.admin_role)
        )

    async def rules_of(self, pool: Any, collection_id: str) -> CollectionRules:
        row = await pool.fetchrow(
            "SELECT c.id, a.read, a.write FROM pgstac.collections c "
            "LEFT JOIN apex.collection_auth a ON a.collection_id = c.id WHERE c.id = $1",
            collection_id,
        )
        if row is None:
            return CollectionRules(collection_exists=False, auth=None)
        auth = (
            None
            if row["read"] is None
            else CollectionAuth(read=tuple(row["read"]), write=tuple(row["write"]))
        )
        return CollectionRules(collection_exists=True, auth=auth)


def token_collection(token: str) -> str | None:
    """The collection a pgstac paging token (``next|prev:<hex collection>:<hex item>``) points into."""
    parts = token.strip().lower().split(":")
    if len(parts) != 3 or parts[0] not in ("next", "prev"):
        return None
    try:
        return bytes.fromhex(parts[1]).decode("utf-8")
    except ValueError:  # not hex, or not UTF-8: pgstac refuses it as it is
        return None


_ID_OPS: dict[str, Any] = {
    "eq": lambda i, v: i == v,
    "neq": lambda i, v: i != v,
    "lt": lambda i, v: i < v,
    "lte": lambda i, v: i <= v,
    "gt": lambda i, v: i > v,
    "gte": lambda i, v: i >= v,
    "startsWith": lambda i, v: i.startswith(v),
    "endsWith": lambda i, v: i.endswith(v),
    "contains": lambda i, v: v in i,
    "in": lambda i, v: i in v,
}


def ids_matching(condition: Any, ids: Sequence[str]) -> list[str]:
    """The ``ids`` a Query-extension condition on ``id`` keeps (all of them when there is none).

    The readable collections are given to pgstac as ``id in [...]``; a condition of the caller's own on
    ``id`` is applied here first, so that it narrows the listing instead of being replaced.
    ValueError for an operator or value the Query extension does not define for strings.
    """
    if condition is None:
        return list(ids)
    if not isinstance(condition, dict) or not condition:
        raise ValueError('expected an object of operators, e.g. {"eq": "my-collection"}.')
    for op, value in condition.items():
        if op not in _ID_OPS:
            raise ValueError(f"unknown operator {op!r}; use one of {', '.join(_ID_OPS)}.")
        if op == "in":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("`in` takes a list of ids.")
        elif not isinstance(value, str):
            raise ValueError(f"`{op}` takes an id (a string).")
    return [i for i in ids if all(_ID_OPS[op](i, v) for op, v in condition.items())]
