"""The APEx Product Catalogue's access rules, without any web framework.

- Writes need an RS256 bearer token from the configured OIDC issuer (keys found through its
  discovery document); roles are read from ``realm_access.roles`` as Keycloak issues them.
- A collection carries ``"_auth": {"read": [...], "write": [...]}`` (lists of role names, where
  ``anonymous`` means everyone). It is required when creating or replacing a collection; a missing or
  malformed one, or ``anonymous`` in ``write``, is a 400 (:class:`LocalMetadataError`). Only the admin
  role may put ``anonymous`` in ``read`` (else 403, :class:`LocalForbiddenError`).
- Writing a collection's items, or replacing/patching/deleting the collection, needs a role in its
  ``_auth.write``; the admin role always passes. Creating a collection needs a role in the new
  ``_auth.write`` (nobody can create a collection they could not write to themselves).
- Audience: the catalogue always names one (``APEX_CATALOGUE_AUDIENCE``, by default the local
  issuer's), and a token whose ``aud`` does not contain it is refused (401), whatever it claims.
  :class:`TokenValidator` checks ``aud`` whenever it is given an audience.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from apex_core.local.errors import (
    LocalForbiddenError,
    LocalMetadataError,
    LocalServiceError,
    LocalTokenExpired,
    LocalUnauthorizedError,
)

__all__ = [
    "ANONYMOUS",
    "CollectionAuth",
    "Principal",
    "TokenValidator",
    "check_collection_write",
    "check_new_auth",
    "roles_from_claims",
]

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
_HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Principal:
    """Who made a request: the token's subject, client and realm roles."""

    subject: str
    roles: frozenset[str]
    client_id: str | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        return cls(
            subject=str(claims.get("sub") or claims.get("preferred_username") or "unknown"),
            roles=roles_from_claims(claims),
            client_id=str(claims["azp"]) if claims.get("azp") else None,
        )

    def is_admin(self, admin_role: str) -> bool:
        return admin_role in self.roles

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "roles": sorted(self.roles), "client_id": self.client_id}


def roles_from_claims(claims: Mapping[str, Any]) -> frozenset[str]:
    realm = claims.get("realm_access")
    roles = realm.get("roles") if isinstance(realm, Mapping) else None
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(str(r) for r in roles)


def _role_list(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) and r.strip() for r in value):
        raise LocalMetadataError(
            f'`_auth.{key}` must be a list of role names (strings), e.g. ["{ANONYMOUS}"].',
            field=f"_auth.{key}",
        )
    return tuple(dict.fromkeys(r.strip() for r in value))


@dataclass(frozen=True)
class CollectionAuth:
    """A collection's ``_auth`` rules."""

    read: tuple[str, ...]
    write: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Any) -> CollectionAuth:
        """Validate an ``_auth`` value from a request body; :class:`LocalMetadataError` (400) if malformed."""
        if data is None:
            raise LocalMetadataError(
                "The collection must carry `_auth` with `read` and `write` role lists, e.g. "
                '{"_auth": {"read": ["anonymous"], "write": ["my-role"]}}.',
                field="_auth",
            )
        if not isinstance(data, Mapping):
            raise LocalMetadataError(
                "`_auth` must be an object with `read` and `write` lists.", field="_auth"
            )
        missing = [k for k in ("read", "write") if k not in data]
        if missing:
            raise LocalMetadataError(f"`_auth` lacks {' and '.join(missing)}.", field="_auth")
        extra = sorted(set(data) - {"read", "write"})
        if extra:
            raise LocalMetadataError(f"`_auth` has unknown keys: {', '.join(extra)}.", field="_auth")
        auth = cls(read=_role_list(data["read"], "read"), write=_role_list(data["write"], "write"))
        if ANONYMOUS in auth.write:
            raise LocalMetadataError("`anonymous` may never be in `_auth.write`.", field="_auth.write")
        return auth

    def to_dict(self) -> dict[str, list[str]]:
        return {"read": list(self.read), "write": list(self.write)}

    @property
    def public(self) -> bool:
        return ANONYMOUS in self.read

    def can_read(self, principal: Principal | None, admin_role: str) -> bool:
        if self.public:
            return True
        if principal is None:
            return False
        return principal.is_admin(admin_role) or bool(principal.roles.intersection(self.read + self.write))

    def can_write(self, principal: Principal, admin_role: str) -> bool:
        return principal.is_admin(admin_role) or bool(principal.roles.intersection(self.write))


def check_new_auth(auth: CollectionAuth, principal: Principal, admin_role: str) -> None:
    """May ``principal`` set these rules on a collection? :class:`LocalForbiddenError` (403) if not."""
    if auth.public and not principal.is_admin(admin_role):
        raise LocalForbiddenError(
            f"Only the catalogue administrators (role {admin_role}) may make a collection readable by "
            "`anonymous`. Ask an administrator, or list the roles that may read it.",
            status=403,
        )
    if not auth.can_write(principal, admin_role):
        raise LocalForbiddenError(
            "None of your roles is in the collection's `_auth.write`: you could not manage it afterwards. "
            f"Your roles: {', '.join(sorted(principal.roles)) or 'none'}.",
            status=403,
        )


def check_collection_write(
    collection_id: str, auth: CollectionAuth | None, principal: Principal, admin_role: str
) -> None:
    """May ``principal`` change ``collection_id`` or its items? A collection without rules is admin-only."""
    if principal.is_admin(admin_role):
        return
    if auth is None or not auth.can_write(principal, admin_role):
        allowed = ", ".join(auth.write) if auth else admin_role
        raise LocalForbiddenError(
            f"Writing to collection {collection_id!r} needs one of the roles: {allowed}. "
            f"Your roles: {', '.join(sorted(principal.roles)) or 'none'}.",
            status=403,
        )


class TokenValidator:
    """Validates bearer tokens against an issuer's JWKS, found through OIDC discovery.

    The discovery document is fetched on first use and the keys are cached by PyJWT's
    :class:`jwt.PyJWKClient` (which refetches when a token names an unknown ``kid``).
    """

    def __init__(self, issuer_url: str, *, audience: str | None = None, leeway: float = 0.0) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.audience = audience
        self.leeway = leeway
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                url = f"{self.issuer_url}/.well-known/openid-configuration"
                try:
                    resp = requests.get(url, timeout=_HTTP_TIMEOUT)
                    resp.raise_for_status()
                    jwks_uri = str(resp.json()["jwks_uri"])
                except (requests.RequestException, ValueError, KeyError) as exc:
                    raise LocalServiceError(
                        f"The token issuer's discovery document at {url} is unusable: {exc}"
                    ) from exc
                self._jwks = jwt.PyJWKClient(
                    jwks_uri, cache_keys=True, lifespan=3600, timeout=int(_HTTP_TIMEOUT)
                )
            return self._jwks

    def validate(self, authorization: str | None) -> Principal:
        """The principal behind an ``Authorization`` header; :class:`LocalUnauthorizedError` (401) if none."""
        if not authorization:
            raise LocalUnauthorizedError(
                "This request needs a bearer token (Authorization: Bearer ...).", status=401
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise LocalUnauthorizedError("The Authorization header must be 'Bearer <token>'.", status=401)
        try:
            key = self._jwks_client().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer_url,
                audience=self.audience,
                leeway=self.leeway,
                options={
                    "require": ["exp", "iat", "iss", "sub"],
                    "verify_aud": self.audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise LocalTokenExpired("The access token has expired; sign in again.", status=401) from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise LocalServiceError(f"The token issuer's keys could not be fetched: {exc}") from exc
        except jwt.PyJWKClientError as exc:
            raise LocalUnauthorizedError(
                "The access token is not signed by a key of the configured issuer.", status=401
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise LocalUnauthorizedError(f"The access token is not valid: {exc}.", status=401) from exc
        return Principal.from_claims(claims)
