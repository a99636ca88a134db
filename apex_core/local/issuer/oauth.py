"""The local issuer's OAuth core, shared by its routers: settings, grants, client authentication, tokens.

One :class:`Issuer` per app (``app.state.issuer``, :func:`issuer_of`) holds the signing state, the
settings and the in-memory device and refresh grants (they end with the process).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from fastapi.responses import JSONResponse

from apex_core.local.issuer.state import DEFAULT_AUDIENCE, PUBLIC_CLIENT_ID, IssuerClient, IssuerState

__all__ = [
    "DEVICE_GRANT",
    "DeviceGrant",
    "GrantStore",
    "Issuer",
    "IssuerConfig",
    "RefreshGrant",
    "bearer_token",
    "invalid_token",
    "issuer_of",
    "new_user_code",
    "normalise_user_code",
    "oauth_error",
    "read_form",
]

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
class DeviceGrant:
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
class RefreshGrant:
    client_id: str
    account: str
    scope: str
    expires_at: float


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="apex-local"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def invalid_token(description: str) -> JSONResponse:
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


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def new_user_code() -> str:
    chars = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_user_code(value: str) -> str:
    letters = "".join(ch for ch in value.upper() if ch.isalpha())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else value.strip().upper()


class GrantStore:
    """Thread-safe in-memory device and refresh grants."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.devices: dict[str, DeviceGrant] = {}
        self.refresh: dict[str, RefreshGrant] = {}

    def put_device(self, grant: DeviceGrant) -> None:
        with self._lock:
            now = time.time()
            self.devices = {k: v for k, v in self.devices.items() if v.expires_at > now - 60}
            self.devices[grant.device_code] = grant

    def device(self, device_code: str) -> DeviceGrant | None:
        with self._lock:
            return self.devices.get(device_code)

    def by_user_code(self, user_code: str) -> DeviceGrant | None:
        with self._lock:
            return next((g for g in self.devices.values() if g.user_code == user_code), None)

    def update_device(self, grant: DeviceGrant) -> None:
        with self._lock:
            self.devices[grant.device_code] = grant


async def read_form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def basic_credentials(request: Request) -> tuple[str, str] | None:
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


def pkce_ok(challenge: str, verifier: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


@dataclass(frozen=True)
class Issuer:
    """What every route of the issuer works with."""

    state: IssuerState
    config: IssuerConfig
    store: GrantStore = field(default_factory=GrantStore)

    @property
    def base(self) -> str:
        return self.config.issuer_url.rstrip("/")

    @cached_property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.state.private_key.public_key()

    def authenticate_client(
        self, request: Request, form: dict[str, str]
    ) -> IssuerClient | JSONResponse | None:
        """The confidential client, None for the public client, or an error response."""
        basic = basic_credentials(request)
        client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        if basic and form.get("client_id") and form["client_id"] != client_id:
            return oauth_error("invalid_request", "client_id in the form differs from the basic auth one.")
        if client_id == PUBLIC_CLIENT_ID:
            return None
        client = self.state.client(client_id)
        if client is None:
            return oauth_error("invalid_client", "Unknown client.", 401)
        if secret is None or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            return oauth_error("invalid_client", "Client authentication failed.", 401)
        return client

    def token_response(self, *, client_id: str, account: IssuerClient, scope: str) -> JSONResponse:
        access = self.state.sign(
            issuer=self.base,
            subject=account.name,
            roles=account.roles,
            azp=client_id,
            lifetime=self.config.token_lifetime,
            audience=self.config.audience,
            scope=scope,
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.config.token_lifetime,
            "scope": scope,
        }
        if "offline_access" in scope.split():
            refresh = secrets.token_urlsafe(32)
            self.store.refresh[refresh] = RefreshGrant(
                client_id=client_id,
                account=account.name,
                scope=scope,
                expires_at=time.time() + self.config.refresh_lifetime,
            )
            body["refresh_token"] = refresh
            body["refresh_expires_in"] = self.config.refresh_lifetime
        logger.info(
            "Issued a token for %s (client %s, roles %s)", account.name, client_id, list(account.roles)
        )
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def device_token(self, form: dict[str, str], client: IssuerClient | None) -> JSONResponse:
        grant = self.store.device(form.get("device_code", ""))
        client_id = client.client_id if client else PUBLIC_CLIENT_ID
        if grant is None or grant.client_id != client_id or grant.status == "used":
            return oauth_error("invalid_grant", "Unknown or already used device_code.")
        now = time.time()
        if now >= grant.expires_at:
            return oauth_error("expired_token", "The device code has expired; start again.")
        if grant.code_challenge and not pkce_ok(grant.code_challenge, form.get("code_verifier", "")):
            return oauth_error("invalid_grant", "PKCE verification failed.")
        if grant.last_poll is not None and now - grant.last_poll < self.config.device_interval:
            return oauth_error("slow_down", f"Poll at most every {self.config.device_interval} s.")
        self.store.update_device(replace(grant, last_poll=now))
        if grant.status == "denied":
            return oauth_error("access_denied", "The user denied the request.")
        if grant.status == "pending" or grant.account is None:
            return oauth_error("authorization_pending", "Waiting for the user to approve.")
        account = self.state.account(grant.account)
        if account is None:
            return oauth_error("invalid_grant", "The approving account no longer exists.")
        self.store.update_device(replace(grant, status="used", last_poll=now))
        return self.token_response(client_id=client_id, account=account, scope=grant.scope)


def issuer_of(request: Request) -> Issuer:
    """The app's issuer (``create_app`` keeps it in ``app.state.issuer``)."""
    issuer: Issuer = request.app.state.issuer
    return issuer
