"""A STAC API Transactions client for publishing: one ``requests`` session, a timeout on every call,
retries only on idempotent calls, precise errors, and a publish log without credentials.

- :class:`CatalogueClient` talks to one STAC API with an optional bearer token. Every request and its
  outcome is recorded as a :class:`RequestLogEntry` (method, URL, status, milliseconds, message; never
  headers, bodies or tokens). GET/PUT/DELETE/HEAD are retried on 502/503/504 and connection errors by
  urllib3's ``Retry``; POST and PATCH never are.
- Errors follow the APEx catalogue's rules (see ``../shared/fixtures/README.md``): 400 naming the
  ``_auth`` rule the server quoted, 401 (:class:`TokenExpired` when the token expired: sign in again),
  403 (:class:`ForbiddenError` naming the roles the server asked for), 404, 409
  (:class:`CatalogueConflict`), 5xx; each message carries the status, the server's message and the
  request id when the server sent one.
- Tokens: :func:`client_credentials_token`, and the OIDC device sign-in (RFC 8628, with PKCE)
  :func:`device_sign_in` at the catalogue's issuer (the openeo client's flow, run in the background as
  :class:`apex_core.device.DeviceSignIn`). An :class:`AccessToken` keeps the token out of ``repr`` and
  ``to_dict``.

Publishing itself (plan, state, resume, verify, delete) is in :mod:`apex_core.publish`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from openeo.rest.auth.oidc import (
    OidcClientInfo,
    OidcDeviceAuthenticator,
    OidcDeviceCodePollTimeout,
    OidcException,
    OidcProviderInfo,
)
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from apex_core.config import Settings
from apex_core.device import DeviceSignIn, Display, TimeoutSession
from apex_core.errors import (
    ApexError,
    AuthError,
    CatalogueConflict,
    CatalogueError,
    CatalogueUnavailable,
    ForbiddenError,
    NotFoundError,
    TokenExpired,
    UnauthorizedError,
)
from apex_core.local.contract import EmbeddedEndpoints, LocalClient

__all__ = [
    "APEX_ISSUER",
    "TRANSACTION_CLASSES",
    "AccessToken",
    "CatalogueClient",
    "CatalogueTarget",
    "Conformance",
    "OidcEndpoints",
    "RequestLogEntry",
    "apex_client_id",
    "client_credentials_token",
    "device_sign_in",
    "discover_oidc",
    "error_from_response",
    "token_expiry",
]

logger = logging.getLogger(__name__)

APEX_ISSUER = "https://auth.apex.esa.int/realms/apex"
LOCAL_DEVICE_CLIENT = "apex-local-app"  # the embedded issuer's public client (device flow + PKCE)
TRANSACTION_CLASSES = (
    "https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction",
    "https://api.stacspec.org/v1.0.0/collections/extensions/transaction",
)
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD"})
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-amzn-requestid", "traceparent")


def apex_client_id(project: str) -> str:
    """The APEx catalogue client of a project: ``<project>-catalogue-prod``."""
    return f"{project.strip()}-catalogue-prod"


# --------------------------------------------------------------------------------------------------
# Publish log
# --------------------------------------------------------------------------------------------------


def _safe_url(url: str) -> str:
    """The URL without user info, query or fragment (signed queries are credentials too)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"


@dataclass(frozen=True)
class RequestLogEntry:
    """One request and its outcome: never headers, bodies or tokens."""

    at: str
    method: str
    url: str
    status: int | None
    ms: int
    message: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestLogEntry:
        status = data.get("status")
        return cls(
            at=str(data.get("at", "")),
            method=str(data["method"]),
            url=str(data["url"]),
            status=int(status) if status is not None else None,
            ms=int(data.get("ms", 0)),
            message=str(data.get("message", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "ms": self.ms,
            "message": self.message,
        }


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


def _server_message(resp: requests.Response) -> tuple[str, str | None]:
    """The server's message and error code from a JSON error body (FastAPI ``detail``, STAC API
    ``description``/``code``, OAuth ``error_description``), else the start of the text."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300], None
    if not isinstance(body, Mapping):
        return str(body)[:300], None
    code = body.get("code") or body.get("error")
    message: Any = body.get("detail") or body.get("description") or body.get("error_description")
    if isinstance(message, list):  # FastAPI validation errors
        message = "; ".join(
            f"{'.'.join(str(p) for p in m.get('loc', ()))}: {m.get('msg')}"
            if isinstance(m, Mapping)
            else str(m)
            for m in message
        )
    return (str(message) if message else json.dumps(body)[:300]), (str(code) if code else None)


def _request_id(resp: requests.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = resp.headers.get(name)
        if value:
            return value
    return None


_ROLES_NEEDED = re.compile(r"needs one of the roles:\s*([^.]+)\.", re.IGNORECASE)
_ADMIN_ROLE = re.compile(r"\(role ([^)\s]+)\)")


def error_from_response(resp: requests.Response, what: str) -> ApexError:
    """The error for a failed response; ``what`` says what was attempted ("create collection x")."""
    status = resp.status_code
    server, code = _server_message(resp)
    rid = _request_id(resp)
    said = f" The catalogue said: {server}" if server else ""
    kw: dict[str, Any] = {"status": status, "request_id": rid, "code": code}
    if status == 400:
        if "_auth" in server:
            return CatalogueError(
                f"Could not {what}: the collection's access rules (`_auth`) were refused.{said}",
                field="_auth",
                **kw,
            )
        return CatalogueError(f"Could not {what}: the request was refused as invalid.{said}", **kw)
    if status == 401:
        if "expired" in server.lower():
            return TokenExpired(f"Could not {what}: the access token has expired; sign in again.{said}", **kw)
        return UnauthorizedError(f"Could not {what}: not signed in, or the token was refused.{said}", **kw)
    if status == 403:
        needed = _ROLES_NEEDED.search(server)
        admin = _ADMIN_ROLE.search(server)
        if needed:
            role = f" It needs one of the roles: {needed.group(1).strip()}."
        elif admin:
            role = f" It needs the role {admin.group(1)}."
        elif "_auth.write" in server:
            role = " None of your roles is in the collection's `_auth.write`."
        else:
            role = ""
        return ForbiddenError(f"Could not {what}: your account lacks the role.{role}{said}", **kw)
    if status == 404:
        return NotFoundError(f"Could not {what}: not found.{said}", **kw)
    if status == 409:
        return CatalogueConflict(f"Could not {what}: it already exists.{said}", **kw)
    if status == 503:
        return CatalogueUnavailable(
            f"Could not {what}: the catalogue is unavailable right now (503); your work is kept. "
            f"Try again in a moment.{said}",
            **kw,
        )
    if status >= 500:
        return CatalogueError(
            f"Could not {what}: the catalogue failed (server error); what was done is kept, resume to "
            f"continue.{said}",
            **kw,
        )
    return CatalogueError(f"Could not {what}.{said}", **kw)


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conformance:
    """What the catalogue offers for publishing."""

    url: str
    classes: tuple[str, ...]
    bulk: bool

    @property
    def transactions(self) -> bool:
        return any(c in self.classes for c in TRANSACTION_CLASSES) or any(
            c.rstrip("/").endswith("/transaction") for c in self.classes
        )

    @property
    def message(self) -> str:
        if not self.transactions:
            return (
                f"{self.url} does not offer the STAC API Transactions extension (no transaction class in "
                "/conformance): it cannot be published to."
            )
        bulk = "bulk item writes" if self.bulk else "items one by one (no bulk endpoint)"
        return f"{self.url} offers STAC API Transactions; items are written with {bulk}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "classes": list(self.classes),
            "bulk": self.bulk,
            "transactions": self.transactions,
        }


class CatalogueClient:
    """One STAC API, one session, an optional bearer token (kept only in memory), a request log.

    The token is sent only to the catalogue's own origin (and to an asset store given to
    :meth:`put_asset`), never to links the server returns that point elsewhere or to asset sources.
    """

    def __init__(
        self, url: str, token: str | None = None, *, timeout: float = 30.0, retries: int = 3
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._origins = {_origin(self.url)}  # the token goes to these origins only
        self.log: list[RequestLogEntry] = []
        self.session = requests.Session()
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=_IDEMPOTENT,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"CatalogueClient({self.url!r}, token={'set' if self._token else 'none'})"

    def __enter__(self) -> CatalogueClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    def set_token(self, token: str | None) -> None:
        self._token = token

    # --- raw requests -------------------------------------------------------------------------

    def url_of(self, *segments: str) -> str:
        return "/".join([self.url, *(quote(s, safe="") for s in segments)])

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json_body: Any = None,
        data: bytes | Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        ok: Sequence[int] = (),
        auth: bool = True,
    ) -> requests.Response:
        """Send one request; a response with a status >= 400 not in ``ok`` raises the mapped error.

        ``what`` is the phrase for messages ("create collection x"). Connection failures raise
        :class:`CatalogueError`. Every attempt is logged (without headers or bodies).
        """
        sent_headers = dict(headers or {})
        if auth and self._token and _origin(url) in self._origins:
            sent_headers["Authorization"] = f"Bearer {self._token}"
        started = time.monotonic()
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        try:
            resp = self.session.request(
                method,
                url,
                json=json_body,
                data=data,
                headers=sent_headers,
                params=params,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            ms = int((time.monotonic() - started) * 1000)
            reason = type(exc).__name__
            self.log.append(RequestLogEntry(at, method, _safe_url(url), None, ms, f"{what}: {reason}"))
            raise CatalogueUnavailable(
                f"Could not {what}: the catalogue at {_safe_url(self.url)} did not answer ({reason}). "
                "What was done is kept; resume to continue."
            ) from exc
        ms = int((time.monotonic() - started) * 1000)
        if resp.status_code >= 400 and resp.status_code not in ok:
            error = error_from_response(resp, what)
            self.log.append(RequestLogEntry(at, method, _safe_url(url), resp.status_code, ms, error.message))
            raise error
        self.log.append(RequestLogEntry(at, method, _safe_url(url), resp.status_code, ms, what))
        return resp

    def get_json(self, url: str, *, what: str, params: Mapping[str, Any] | None = None) -> Any:
        resp = self.request("GET", url, what=what, params=params)
        try:
            return resp.json()
        except ValueError as exc:
            raise CatalogueError(
                f"Could not {what}: the answer is not JSON.",
                status=resp.status_code,
                request_id=_request_id(resp),
            ) from exc

    # --- discovery ----------------------------------------------------------------------------

    def conformance(self) -> Conformance:
        """The conformance classes, and whether bulk item writes are offered (a conformance class
        naming bulk transactions, or ``/bulk_items`` in the API description)."""
        doc = self.get_json(f"{self.url}/conformance", what="read the catalogue's conformance classes")
        raw = doc.get("conformsTo") if isinstance(doc, Mapping) else None
        classes = tuple(str(c) for c in raw) if isinstance(raw, list) else ()
        bulk = any("bulk" in c.lower() for c in classes) or self._openapi_has_bulk()
        return Conformance(self.url, classes, bulk)

    def _openapi_has_bulk(self) -> bool:
        try:
            landing = self.get_json(self.url + "/", what="read the catalogue's landing page")
            desc = next(
                (str(link["href"]) for link in landing.get("links", []) if link.get("rel") == "service-desc"),
                None,
            )
            if desc is None:
                return False
            api = self.request(
                "GET",
                desc,
                what="read the catalogue's API description",
                headers={"Accept": "application/json"},
            ).json()
        except (ApexError, ValueError, AttributeError, KeyError):
            return False
        paths = api.get("paths") if isinstance(api, Mapping) else None
        return isinstance(paths, Mapping) and any(str(p).endswith("/bulk_items") for p in paths)

    # --- collections and items ----------------------------------------------------------------

    def collection_url(self, collection_id: str) -> str:
        return self.url_of("collections", collection_id)

    def item_url(self, collection_id: str, item_id: str) -> str:
        return self.url_of("collections", collection_id, "items", item_id)

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        """The collection as the catalogue serves it to this token, or None (404)."""
        resp = self.request(
            "GET", self.collection_url(collection_id), what=f"read collection {collection_id}", ok=(404,)
        )
        return None if resp.status_code == 404 else dict(resp.json())

    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None:
        resp = self.request(
            "GET", self.item_url(collection_id, item_id), what=f"read item {item_id}", ok=(404,)
        )
        return None if resp.status_code == 404 else dict(resp.json())

    def collections(self, *, page_size: int = 100, max_pages: int = 50) -> list[dict[str, Any]]:
        """Every collection this token can read (``GET /collections``, following ``next`` links)."""
        url: str | None = f"{self.url}/collections"
        params: dict[str, Any] | None = {"limit": page_size}
        found: dict[str, dict[str, Any]] = {}
        for _ in range(max_pages):
            if url is None:
                break
            page = self.get_json(url, what="list the catalogue's collections", params=params)
            for doc in page.get("collections", []) if isinstance(page, Mapping) else []:
                if isinstance(doc, Mapping) and doc.get("id") is not None:
                    found.setdefault(str(doc["id"]), dict(doc))
            links = page.get("links", []) if isinstance(page, Mapping) else []
            url = next((str(link["href"]) for link in links if link.get("rel") == "next"), None)
            params = None
        return list(found.values())

    def items(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        *,
        page_size: int = 500,
        max_pages: int = 100,
    ) -> dict[str, dict[str, Any]]:
        """The collection's items (id -> item) as listed by ``/collections/{id}/items``; only those of
        ``ids`` when given (one by one by GET when they are few). Empty if the collection is absent."""
        if ids is not None and len(ids) <= 10:
            got = {iid: self.get_item(collection_id, iid) for iid in ids}
            return {iid: doc for iid, doc in got.items() if doc is not None}
        wanted = set(ids) if ids is not None else None
        url: str | None = self.url_of("collections", collection_id, "items")
        params: dict[str, Any] | None = {"limit": page_size}
        found: dict[str, dict[str, Any]] = {}
        for _ in range(max_pages):
            if url is None:
                break
            resp = self.request(
                "GET", url, what=f"list the items of {collection_id}", params=params, ok=(404,)
            )
            if resp.status_code == 404:
                return {}
            page = resp.json()
            for doc in page.get("features", []):
                iid = str(doc.get("id"))
                if wanted is None or iid in wanted:
                    found[iid] = dict(doc)
            url = next(
                (str(link["href"]) for link in page.get("links", []) if link.get("rel") == "next"), None
            )
            params = None
        return found

    def item_ids(self, collection_id: str, *, page_size: int = 500, max_pages: int = 100) -> set[str]:
        """Every item id of the collection (following ``next`` links); empty if the collection is absent."""
        return set(self.items(collection_id, page_size=page_size, max_pages=max_pages))

    def create_collection(self, collection: Mapping[str, Any]) -> requests.Response:
        cid = str(collection.get("id"))
        return self.request(
            "POST", f"{self.url}/collections", what=f"create collection {cid}", json_body=collection
        )

    def patch_collection(
        self, collection_id: str, changes: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> requests.Response:
        """PATCH the collection: a merge patch (a mapping: RFC 7396), or JSON Patch operations (a list:
        RFC 6902; stac-fastapi's merge patch model refuses a list of ``links``). ``_auth`` is kept."""
        ops = not isinstance(changes, Mapping)
        return self.request(
            "PATCH",
            self.collection_url(collection_id),
            what=f"update collection {collection_id} (PATCH)",
            json_body=list(changes) if ops else changes,
            headers={"Content-Type": "application/json-patch+json"} if ops else None,
        )

    def put_collection(self, collection: Mapping[str, Any]) -> requests.Response:
        cid = str(collection.get("id"))
        return self.request(
            "PUT", self.collection_url(cid), what=f"replace collection {cid} (PUT)", json_body=collection
        )

    def delete_collection(self, collection_id: str) -> bool:
        """Delete the collection; False when it did not exist."""
        resp = self.request(
            "DELETE", self.collection_url(collection_id), what=f"delete collection {collection_id}", ok=(404,)
        )
        return resp.status_code != 404

    def create_item(self, collection_id: str, item: Mapping[str, Any]) -> requests.Response:
        iid = str(item.get("id"))
        return self.request(
            "POST",
            self.url_of("collections", collection_id, "items"),
            what=f"create item {iid} in {collection_id}",
            json_body=item,
        )

    def put_item(self, collection_id: str, item: Mapping[str, Any]) -> requests.Response:
        iid = str(item.get("id"))
        return self.request(
            "PUT", self.item_url(collection_id, iid), what=f"replace item {iid} (PUT)", json_body=item
        )

    def delete_item(self, collection_id: str, item_id: str) -> bool:
        resp = self.request(
            "DELETE", self.item_url(collection_id, item_id), what=f"delete item {item_id}", ok=(404,)
        )
        return resp.status_code != 404

    def bulk_items(
        self, collection_id: str, items: Sequence[Mapping[str, Any]], *, upsert: bool = False
    ) -> requests.Response:
        """``POST /collections/{id}/bulk_items`` (Bulk Transactions extension); 404/405/501 pass through
        (``ok``) so the caller can fall back to single writes."""
        body = {"items": {str(i["id"]): i for i in items}, "method": "upsert" if upsert else "insert"}
        return self.request(
            "POST",
            self.url_of("collections", collection_id, "bulk_items"),
            what=f"{'upsert' if upsert else 'insert'} {len(items)} items in {collection_id} (bulk)",
            json_body=body,
            ok=(404, 405, 501),
        )

    def put_asset(self, assets_url: str, path: str, data: bytes, media_type: str) -> str:
        """Store a file at ``{assets_url}/{path}`` (PUT with the bearer token); returns its href."""
        url = "/".join([assets_url.rstrip("/"), *(quote(p, safe="") for p in path.split("/"))])
        self._origins.add(_origin(assets_url))  # the asset store the caller chose takes the token too
        resp = self.request(
            "PUT", url, what=f"store asset {path}", data=data, headers={"Content-Type": media_type}
        )
        try:
            href = resp.json().get("href")
        except (ValueError, AttributeError):
            href = None
        return str(href or url)


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------


def token_expiry(token: str) -> dt.datetime | None:
    """The ``exp`` of a JWT access token, read without verifying (display only); None if opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return dt.datetime.fromtimestamp(int(payload["exp"]), tz=dt.UTC)
    except (ValueError, KeyError, TypeError, OverflowError):
        return None


@dataclass(frozen=True)
class AccessToken:
    """An access token (never in ``repr`` or ``to_dict``) and when it expires."""

    access_token: str = field(repr=False)
    expires_at: dt.datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    source: str = ""

    @classmethod
    def from_response(cls, data: Mapping[str, Any], source: str) -> AccessToken:
        token = str(data["access_token"])
        expires = token_expiry(token)
        if expires is None and data.get("expires_in"):
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(data["expires_in"]))
        refresh = data.get("refresh_token")
        return cls(token, expires, str(refresh) if refresh else None, source)

    @classmethod
    def pasted(cls, token: str) -> AccessToken:
        text = token.strip()
        if text.lower().startswith("bearer "):
            text = text[7:].strip()
        if not text:
            raise UnauthorizedError("The pasted access token is empty.")
        return cls(text, token_expiry(text), None, "pasted")

    def seconds_left(self, now: dt.datetime | None = None) -> float | None:
        if self.expires_at is None:
            return None
        return (self.expires_at - (now or dt.datetime.now(dt.UTC))).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True)
class OidcEndpoints:
    issuer: str
    token_endpoint: str
    device_authorization_endpoint: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OidcEndpoints:
        device = data.get("device_authorization_endpoint")
        return cls(str(data["issuer"]), str(data["token_endpoint"]), str(device) if device else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "device_authorization_endpoint": self.device_authorization_endpoint,
        }


def _oauth_error(resp: requests.Response, what: str) -> AuthError:
    server, code = _server_message(resp)
    return AuthError(
        f"Could not {what}: the issuer said {server.rstrip('.') or 'nothing'}.",
        code=code,
        status=resp.status_code,
        request_id=_request_id(resp),
    )


def _post_form(url: str, data: Mapping[str, str], timeout: float, what: str, **kw: Any) -> requests.Response:
    try:
        return requests.post(url, data=dict(data), timeout=timeout, **kw)
    except requests.RequestException as exc:
        raise AuthError(
            f"Could not {what}: the issuer at {_safe_url(url)} did not answer ({type(exc).__name__})."
        ) from exc


def discover_oidc(issuer: str, *, timeout: float = 30.0) -> OidcEndpoints:
    """The issuer's endpoints from ``{issuer}/.well-known/openid-configuration``."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        resp = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise AuthError(
            f"The sign-in service at {_safe_url(url)} did not answer ({type(exc).__name__})."
        ) from exc
    if resp.status_code != 200:
        raise _oauth_error(resp, "read the sign-in service's discovery document")
    try:
        return OidcEndpoints.from_dict(resp.json())
    except (ValueError, KeyError) as exc:
        raise AuthError(f"The discovery document at {_safe_url(url)} is unusable.") from exc


def client_credentials_token(
    token_endpoint: str, client_id: str, client_secret: str, *, timeout: float = 30.0, scope: str = "openid"
) -> AccessToken:
    """A token for a confidential client (OAuth client credentials grant, HTTP basic client auth)."""
    resp = _post_form(
        token_endpoint,
        {"grant_type": "client_credentials", "scope": scope},
        timeout,
        "sign in with client credentials",
        auth=(client_id, client_secret),
    )
    if resp.status_code != 200:
        raise _oauth_error(resp, f"sign in as client {client_id}")
    return AccessToken.from_response(resp.json(), f"client credentials ({client_id})")


def device_sign_in(
    issuer: str,
    client_id: str,
    *,
    client_secret: str | None = None,
    timeout: float = 30.0,
    max_poll_time: float = 300.0,
) -> DeviceSignIn[AccessToken]:
    """The device sign-in (RFC 8628; PKCE for a public client) at the catalogue's ``issuer``, run by the
    openeo client's ``OidcDeviceAuthenticator`` in the background (:class:`~apex_core.device.DeviceSignIn`:
    its state shows the link and code; its result is the :class:`AccessToken`)."""

    def sign_in(display: Display) -> AccessToken:
        session = TimeoutSession(timeout)
        refused: dict[str, requests.Response] = {}  # the issuer's last error answer, to explain a failure

        def keep_refusal(resp: requests.Response, *_a: Any, **_k: Any) -> None:
            if resp.status_code >= 400:
                refused["last"] = resp

        session.hooks["response"].append(keep_refusal)
        try:
            provider = OidcProviderInfo(issuer=issuer, requests_session=session)
            client = OidcClientInfo(client_id=client_id, provider=provider, client_secret=client_secret)
            got = OidcDeviceAuthenticator(
                client,
                display=display,
                max_poll_time=max_poll_time,
                use_pkce=client_secret is None,
                requests_session=session,
            ).get_tokens()
        except OidcException as exc:
            raise _device_error(issuer, exc, refused.get("last")) from exc
        except requests.RequestException as exc:
            raise AuthError(
                f"The sign-in service at {_safe_url(issuer)} did not answer ({type(exc).__name__})."
            ) from exc
        return AccessToken.from_response(
            {
                "access_token": got.access_token,
                "expires_in": got.expires_in,
                "refresh_token": got.refresh_token,
            },
            f"device flow ({client_id})",
        )

    return DeviceSignIn.start(issuer, sign_in)


def _device_error(issuer: str, exc: OidcException, refused: requests.Response | None) -> AuthError:
    """The device flow's failure in the words the page shows: the issuer's own answer (its OAuth error
    code, status and request id) when it refused a request, else what the client says."""
    expired = "The sign-in code has expired; start the sign-in again."
    if isinstance(exc, OidcDeviceCodePollTimeout):
        return AuthError(expired, code="expired_token")
    if refused is not None:
        code = _server_message(refused)[1]
        status = refused.status_code
        if code == "expired_token":
            return AuthError(expired, code=code, status=status, request_id=_request_id(refused))
        if code == "access_denied":
            return AuthError(
                "The sign-in was denied.", code=code, status=status, request_id=_request_id(refused)
            )
        if refused.request.method == "GET":
            return AuthError(
                f"Could not read the sign-in service's discovery document at {_safe_url(issuer)}.",
                status=status,
                request_id=_request_id(refused),
            )
        if code not in ("authorization_pending", "slow_down"):
            body = refused.request.body or ""
            polling = "grant_type" in (body.decode("latin-1") if isinstance(body, bytes) else str(body))
            return _oauth_error(
                refused, "finish the device sign-in" if polling else "start the device sign-in"
            )
    text = str(exc)
    if "No support for device authorization grant" in text:
        return AuthError(
            f"The sign-in service {issuer} offers no device flow (no device_authorization_endpoint)."
        )
    if "discovery document" in text:
        return AuthError(f"Could not read the sign-in service's discovery document at {_safe_url(issuer)}.")
    return AuthError(f"Could not finish the device sign-in at {_safe_url(issuer)}: {text}")


# --------------------------------------------------------------------------------------------------
# Where to publish
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueTarget:
    """The catalogue to publish to and how to sign in to it (no secrets except local test clients,
    which never leave ``repr``)."""

    url: str
    embedded: bool
    assets_url: str | None = None
    oidc_issuer: str | None = None
    token_url: str | None = None
    device_client_id: str | None = None
    local_clients: tuple[LocalClient, ...] = ()
    settings_client: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, endpoints: EmbeddedEndpoints | None) -> CatalogueTarget | None:
        """The configured catalogue, else the embedded one (None while it is not ready)."""
        if settings.catalogue_url:
            issuer = settings.oidc_issuer or (
                APEX_ISSUER if "apex.esa.int" in settings.catalogue_url else None
            )
            return cls(
                url=settings.catalogue_url,
                embedded=False,
                oidc_issuer=issuer,
                device_client_id=settings.oidc_client_id,
                settings_client=bool(settings.oidc_client_id and settings.oidc_client_secret),
            )
        if endpoints is None or not endpoints.catalogue_url:
            return None
        return cls(
            url=endpoints.catalogue_url,
            embedded=True,
            assets_url=endpoints.assets_url,
            oidc_issuer=endpoints.oidc_issuer,
            token_url=endpoints.token_url,
            device_client_id=LOCAL_DEVICE_CLIENT,
            local_clients=endpoints.clients,
        )

    @property
    def sign_in_methods(self) -> tuple[str, ...]:
        """What the page offers, in order: local account, client credentials, device flow, paste."""
        out = []
        if self.local_clients and self.token_url:
            out.append("local account")
        if self.settings_client and self.oidc_issuer:
            out.append("client credentials")
        if self.oidc_issuer:
            out.append("device sign-in")
        out.append("paste a token")
        return tuple(out)

    def local_token(self, name: str, *, timeout: float = 30.0) -> AccessToken:
        """A token for one of the embedded issuer's accounts (admin, editor, noroles)."""
        client = next((c for c in self.local_clients if name in (c.name, c.client_id)), None)
        if client is None or not self.token_url:
            raise AuthError(f"The local sign-in service has no account {name!r}.")
        return client_credentials_token(
            self.token_url, client.client_id, client.client_secret, timeout=timeout
        )

    def settings_token(self, settings: Settings, *, timeout: float = 30.0) -> AccessToken:
        """A token for the client configured in settings (client credentials grant)."""
        if not (self.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
            raise AuthError("Set APEX_OIDC_ISSUER, APEX_OIDC_CLIENT_ID and APEX_OIDC_CLIENT_SECRET first.")
        endpoint = discover_oidc(self.oidc_issuer, timeout=timeout).token_endpoint
        return client_credentials_token(
            endpoint, settings.oidc_client_id, settings.oidc_client_secret, timeout=timeout
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "embedded": self.embedded,
            "assets_url": self.assets_url,
            "oidc_issuer": self.oidc_issuer,
            "token_url": self.token_url,
            "device_client_id": self.device_client_id,
            "local_accounts": [c.to_dict() for c in self.local_clients],
            "settings_client": self.settings_client,
        }
