"""The one table from what goes wrong in the catalogue to the HTTP answer.

- the services' own errors (:class:`~apex_core.local.errors.LocalError`, raised by the ``_auth`` rules
  and the token check) become an :class:`HTTPException` by :func:`http_error`;
- what the database says is handled for every route by the handlers of :data:`HANDLERS`, installed by
  :func:`install_failure_handlers`: data it refuses is a 400 with its reason, a query it cannot run a
  400 on a read (a 500 on a write: a bug), and a database that cannot be reached a 503 with a JSON
  reason that the client may retry, never a bare 500. (stac-fastapi already turns duplicates into 409
  and missing collections into 404.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Send

from apex_core.local.catalogue.validation import is_read
from apex_core.local.errors import (
    LocalError,
    LocalForbiddenError,
    LocalMetadataError,
    LocalServiceError,
    LocalUnauthorizedError,
)

__all__ = [
    "DATABASE_DOWN",
    "HANDLERS",
    "http_error",
    "install_failure_handlers",
    "send_json",
    "unavailable_body",
]

logger = logging.getLogger(__name__)


def http_error(exc: LocalError) -> HTTPException:
    """A rule's or the token check's refusal as the HTTP answer: 401 (with ``WWW-Authenticate``), 403,
    400 for a malformed ``_auth``, 503 when the issuer cannot be asked."""
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


# The database cannot be reached (stopped, restarting, connections lost): a 503 the client may retry,
# with a JSON reason, on every route; never a bare 500.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    ConnectionError,  # refused or reset: nothing listens on the database's port
    TimeoutError,  # no connection from the pool in time
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InterfaceError,
)


def unavailable_body(exc: BaseException) -> bytes:
    logger.warning("The catalogue database is unavailable: %s: %s", type(exc).__name__, exc)
    return json.dumps(
        {
            "code": "ServiceUnavailable",
            "description": "The catalogue's database is unavailable; nothing was changed. Try again shortly.",
        }
    ).encode()


async def send_json(send: Send, status: int, body: bytes) -> None:
    """Answer with a JSON body from a pure ASGI middleware."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "message", "") or exc).strip()


async def refused_by_database(request: Request, exc: Exception) -> Response:
    """Data the database refuses (a CHECK such as end_datetime >= start_datetime, a value out of range,
    a pgstac RAISE) is the client's error: 400 with the database's reason, not a 500."""
    reason = _reason(exc)
    logger.info("%s %s refused by the database: %s", request.method, request.url.path, reason)
    return JSONResponse(
        {"code": "RefusedByDatabase", "description": f"The database refused the data: {reason}"},
        status_code=400,
    )


async def query_refused(request: Request, exc: Exception) -> Response:
    """A search the database cannot run (free text it cannot parse, a CQL2 function or an empty `and`
    it lacks) is the caller's error on a read: 400 with the reason. On a write it would be a bug: 500."""
    reason = _reason(exc)
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


async def database_down(request: Request, exc: Exception) -> Response:
    return Response(unavailable_body(exc), status_code=503, media_type="application/json")


Handler = Callable[[Request, Exception], Awaitable[Response]]

HANDLERS: tuple[tuple[tuple[type[Exception], ...], Handler], ...] = (
    (
        (
            asyncpg.exceptions.DataError,
            asyncpg.exceptions.IntegrityConstraintViolationError,
            asyncpg.exceptions.RaiseError,
        ),
        refused_by_database,
    ),
    ((asyncpg.exceptions.PostgresSyntaxError, asyncpg.exceptions.UndefinedFunctionError), query_refused),
    (DATABASE_DOWN, database_down),
)
"""Exception classes -> the handler answering them, on every route."""


def install_failure_handlers(app: FastAPI) -> None:
    for classes, handler in HANDLERS:
        for cls in classes:
            app.add_exception_handler(cls, handler)
