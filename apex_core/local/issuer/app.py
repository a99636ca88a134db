"""The local OIDC provider as a FastAPI application.

Endpoints (all on loopback):

- ``GET /.well-known/openid-configuration`` - discovery document
- ``GET /jwks`` - the public signing key, with ``kid``
- ``POST /token`` - grants ``client_credentials``, device code (RFC 8628) and ``refresh_token``;
  client authentication by HTTP basic or form fields (``client_secret_basic`` / ``client_secret_post``),
  or none for the public client ``apex-local-app`` (device flow, optionally with PKCE)
- ``GET|POST /userinfo`` - OIDC userinfo for a bearer access token this issuer signed (signature, ``exp``
  and ``iss`` checked; 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` otherwise). This is how
  openeo-driver validates the tokens it is given.
- ``POST /device/authorize`` - RFC 8628 device authorization endpoint
- ``GET /device`` and ``POST /device`` - the HTML page where a person enters the user code and approves
  (or denies) the request as one of the configured accounts. There is no password: the issuer is a
  loopback test double, not an identity provider.

Device-flow and refresh-token state lives in memory; it ends with the process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import logging
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from apex_core.local.issuer.state import DEFAULT_AUDIENCE, PUBLIC_CLIENT_ID, IssuerClient, IssuerState

__all__ = ["IssuerConfig", "create_app"]

logger = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no accidental words


@dataclass(frozen=True)
class IssuerConfig:
    """How the issuer behaves; ``issuer_url`` is its public base URL (no trailing slash)."""

    issuer_url: str
    token_lifetime: int = 3600
    device_code_lifetime: int = 600
    device_interval: int = 1
    refresh_lifetime: int = 86400
    audience: str = DEFAULT_AUDIENCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer_url": self.issuer_url,
            "token_lifetime": self.token_lifetime,
            "device_code_lifetime": self.device_code_lifetime,
            "device_interval": self.device_interval,
            "refresh_lifetime": self.refresh_lifetime,
            "audience": self.audience,
        }


@dataclass(frozen=True)
class _DeviceGrant:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    code_challenge: str | None
    status: str = "pending"  # pending | approved | denied | used
    account: str | None = None
    last_poll: float | None = None


@dataclass(frozen=True)
class _RefreshGrant:
    client_id: str
    account: str
    scope: str
    expires_at: float


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="apex-local"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _invalid_token(description: str) -> JSONResponse:
    """RFC 6750 section 3.1: the bearer token is missing, malformed, expired or not ours."""
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=401,
        headers={
            "Cache-Control": "no-store",
            "WWW-Authenticate": (
                f'Bearer realm="apex-local", error="invalid_token", error_description="{description}"'
            ),
        },
    )


def _bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def _new_user_code() -> str:
    chars = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def _normalise_user_code(value: str) -> str:
    letters = "".join(ch for ch in value.upper() if ch.isalpha())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else value.strip().upper()


class _Store:
    """Thread-safe in-memory device and refresh grants."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.devices: dict[str, _DeviceGrant] = {}
        self.refresh: dict[str, _RefreshGrant] = {}

    def put_device(self, grant: _DeviceGrant) -> None:
        with self._lock:
            now = time.time()
            self.devices = {k: v for k, v in self.devices.items() if v.expires_at > now - 60}
            self.devices[grant.device_code] = grant

    def device(self, device_code: str) -> _DeviceGrant | None:
        with self._lock:
            return self.devices.get(device_code)

    def by_user_code(self, user_code: str) -> _DeviceGrant | None:
        with self._lock:
            return next((g for g in self.devices.values() if g.user_code == user_code), None)

    def update_device(self, grant: _DeviceGrant) -> None:
        with self._lock:
            self.devices[grant.device_code] = grant


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _pkce_ok(challenge: str, verifier: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


def create_app(state: IssuerState, config: IssuerConfig) -> FastAPI:
    app = FastAPI(title="APEx local OIDC issuer", docs_url=None, redoc_url=None, openapi_url=None)
    store = _Store()
    base = config.issuer_url.rstrip("/")

    def authenticate_client(request: Request, form: dict[str, str]) -> IssuerClient | JSONResponse | None:
        """The confidential client, None for the public client, or an error response."""
        basic = _basic_credentials(request)
        client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        if basic and form.get("client_id") and form["client_id"] != client_id:
            return _oauth_error("invalid_request", "client_id in the form differs from the basic auth one.")
        if client_id == PUBLIC_CLIENT_ID:
            return None
        client = state.client(client_id)
        if client is None:
            return _oauth_error("invalid_client", "Unknown client.", 401)
        if secret is None or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        return client

    def token_response(*, client_id: str, account: IssuerClient, scope: str) -> JSONResponse:
        access = state.sign(
            issuer=base,
            subject=account.name,
            roles=account.roles,
            azp=client_id,
            lifetime=config.token_lifetime,
            audience=config.audience,
            scope=scope,
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": config.token_lifetime,
            "scope": scope,
        }
        if "offline_access" in scope.split():
            refresh = secrets.token_urlsafe(32)
            store.refresh[refresh] = _RefreshGrant(
                client_id=client_id,
                account=account.name,
                scope=scope,
                expires_at=time.time() + config.refresh_lifetime,
            )
            body["refresh_token"] = refresh
            body["refresh_expires_in"] = config.refresh_lifetime
        logger.info(
            "Issued a token for %s (client %s, roles %s)", account.name, client_id, list(account.roles)
        )
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": base,
            "jwks_uri": f"{base}/jwks",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "device_authorization_endpoint": f"{base}/device/authorize",
            "grant_types_supported": ["client_credentials", DEVICE_GRANT, "refresh_token"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "azp",
                "preferred_username",
                "realm_access",
                "roles",
            ],
        }

    public_key = state.private_key.public_key()

    async def userinfo(request: Request) -> Response:
        token = _bearer_token(request)
        if token is None:
            return _invalid_token("A bearer access token is required.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public_key,
                algorithms=["RS256"],
                issuer=base,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            return _invalid_token("The access token has expired.")
        except jwt.InvalidTokenError as exc:
            # the exception text names the failed check only, never the token
            logger.info("userinfo refused a token: %s", type(exc).__name__)
            return _invalid_token("The access token is not valid for this issuer.")
        account = state.account(str(claims["sub"]))
        if account is None:
            return _invalid_token("The access token's subject is not a known account.")
        realm = claims.get("realm_access")
        roles = realm.get("roles", []) if isinstance(realm, dict) else []
        body = {
            "sub": claims["sub"],
            "preferred_username": claims.get("preferred_username", claims["sub"]),
            "realm_access": {"roles": list(roles)},
            "roles": list(roles),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    app.add_api_route("/userinfo", userinfo, methods=["GET", "POST"])

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return state.jwks()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/device/authorize")
    async def device_authorize(request: Request) -> Response:
        form = await _form(request)
        client = authenticate_client(request, form)
        if isinstance(client, JSONResponse):
            return client
        challenge = form.get("code_challenge")
        if challenge and form.get("code_challenge_method", "plain") != "S256":
            return _oauth_error("invalid_request", "Only code_challenge_method S256 is supported.")
        grant = _DeviceGrant(
            device_code=secrets.token_urlsafe(32),
            user_code=_new_user_code(),
            client_id=client.client_id if client else PUBLIC_CLIENT_ID,
            scope=form.get("scope") or "openid",
            expires_at=time.time() + config.device_code_lifetime,
            code_challenge=challenge or None,
        )
        store.put_device(grant)
        return JSONResponse(
            {
                "device_code": grant.device_code,
                "user_code": grant.user_code,
                "verification_uri": f"{base}/device",
                "verification_uri_complete": f"{base}/device?user_code={grant.user_code}",
                "expires_in": config.device_code_lifetime,
                "interval": config.device_interval,
            },
            headers={"Cache-Control": "no-store"},
        )

    def device_token(form: dict[str, str], client: IssuerClient | None) -> JSONResponse:
        grant = store.device(form.get("device_code", ""))
        client_id = client.client_id if client else PUBLIC_CLIENT_ID
        if grant is None or grant.client_id != client_id or grant.status == "used":
            return _oauth_error("invalid_grant", "Unknown or already used device_code.")
        now = time.time()
        if now >= grant.expires_at:
            return _oauth_error("expired_token", "The device code has expired; start again.")
        if grant.code_challenge and not _pkce_ok(grant.code_challenge, form.get("code_verifier", "")):
            return _oauth_error("invalid_grant", "PKCE verification failed.")
        if grant.last_poll is not None and now - grant.last_poll < config.device_interval:
            return _oauth_error("slow_down", f"Poll at most every {config.device_interval} s.")
        store.update_device(replace(grant, last_poll=now))
        if grant.status == "denied":
            return _oauth_error("access_denied", "The user denied the request.")
        if grant.status == "pending" or grant.account is None:
            return _oauth_error("authorization_pending", "Waiting for the user to approve.")
        account = state.account(grant.account)
        if account is None:
            return _oauth_error("invalid_grant", "The approving account no longer exists.")
        store.update_device(replace(grant, status="used", last_poll=now))
        return token_response(client_id=client_id, account=account, scope=grant.scope)

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = await _form(request)
        client = authenticate_client(request, form)
        if isinstance(client, JSONResponse):
            return client
        grant_type = form.get("grant_type", "")
        if grant_type == "client_credentials":
            if client is None:
                return _oauth_error("unauthorized_client", "A public client cannot use client_credentials.")
            return token_response(
                client_id=client.client_id, account=client, scope=form.get("scope") or "openid"
            )
        if grant_type == DEVICE_GRANT:
            return device_token(form, client)
        if grant_type == "refresh_token":
            held = store.refresh.pop(form.get("refresh_token", ""), None)
            client_id = client.client_id if client else PUBLIC_CLIENT_ID
            if held is None or held.client_id != client_id or held.expires_at <= time.time():
                return _oauth_error("invalid_grant", "Unknown, expired or foreign refresh token.")
            account = state.account(held.account)
            if account is None:
                return _oauth_error("invalid_grant", "The account no longer exists.")
            return token_response(client_id=client_id, account=account, scope=held.scope)
        return _oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")

    def page(message: str, user_code: str = "", status: int = 200) -> HTMLResponse:
        accounts = "".join(
            f'<label><input type="radio" name="account" value="{html.escape(c.name)}"'
            f"{' checked' if i == 0 else ''}> {html.escape(c.name)}"
            f" (roles: {html.escape(', '.join(c.roles) or 'none')})</label><br>"
            for i, c in enumerate(state.clients)
        )
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>APEx local sign-in</title></head>
<body>
<h1>APEx local sign-in</h1>
<p id="message">{html.escape(message)}</p>
<form method="post" action="{html.escape(base)}/device">
<p><label>User code <input name="user_code" value="{html.escape(user_code)}" autocomplete="off"></label></p>
<fieldset><legend>Sign in as</legend>{accounts}</fieldset>
<p><button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button></p>
</form>
</body></html>"""
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @app.get("/device")
    def device_page(user_code: str = "") -> HTMLResponse:
        return page("Enter the code shown by the application and choose an account.", user_code)

    @app.post("/device")
    async def device_decide(request: Request) -> HTMLResponse:
        form = await _form(request)
        user_code = _normalise_user_code(form.get("user_code", ""))
        grant = store.by_user_code(user_code)
        if grant is None or grant.status != "pending" or time.time() >= grant.expires_at:
            return page("Unknown or expired code. Request a new one in the application.", status=400)
        if form.get("action") == "deny":
            store.update_device(replace(grant, status="denied"))
            return page("Request denied. You can close this page.")
        account = state.account(form.get("account", ""))
        if account is None:
            return page("Choose one of the listed accounts.", user_code, status=400)
        store.update_device(replace(grant, status="approved", account=account.name))
        logger.info("Device code approved as %s", account.name)
        return page(f"Approved as {account.name}. You can close this page and return to the application.")

    return app
