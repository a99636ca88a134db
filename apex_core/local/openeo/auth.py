"""Who may use the embedded backend: demo basic-auth users and OIDC providers (light: no server imports).

Basic auth uses the configured users (default ``demo``/``demo``). OIDC: add an
:class:`OidcProviderOptions` for an issuer (e.g. the embedded issuer) and the backend accepts its
bearer tokens, validated by openeo-driver at the issuer's userinfo endpoint; the openEO client
discovers it at ``/credentials/oidc``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AuthOptions", "OidcProviderOptions", "auth_options_from_dict"]


@dataclass(frozen=True)
class OidcProviderOptions:
    """An OIDC provider whose bearer tokens the backend accepts (checked at its userinfo endpoint)."""

    id: str
    issuer: str
    title: str
    scopes: tuple[str, ...] = ("openid",)
    default_clients: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issuer": self.issuer,
            "title": self.title,
            "scopes": list(self.scopes),
            "default_clients": [dict(c) for c in self.default_clients],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OidcProviderOptions:
        return cls(
            id=str(d["id"]),
            issuer=str(d["issuer"]),
            title=str(d.get("title") or d["id"]),
            scopes=tuple(d.get("scopes") or ("openid",)),
            default_clients=tuple(d.get("default_clients") or ()),
        )


@dataclass(frozen=True)
class AuthOptions:
    """Who may use the backend: basic-auth users (name -> password) and OIDC providers."""

    basic_users: Mapping[str, str] = field(default_factory=lambda: {"demo": "demo"}, repr=False)
    oidc_providers: tuple[OidcProviderOptions, ...] = ()

    def check_password(self, username: str, password: str) -> bool:
        expected = self.basic_users.get(username)
        if expected is None:
            hmac.compare_digest(password.encode(), b"x" * len(password))  # same work either way
            return False
        return hmac.compare_digest(password.encode(), expected.encode())

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """JSON-safe; passwords are replaced by a marker unless ``include_secrets``."""
        return {
            "basic_users": {u: (p if include_secrets else "***") for u, p in self.basic_users.items()},
            "oidc_providers": [p.to_dict() for p in self.oidc_providers],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuthOptions:
        return auth_options_from_dict(d)


def auth_options_from_dict(d: Mapping[str, Any]) -> AuthOptions:
    users = d.get("basic_users") or {"demo": "demo"}
    return AuthOptions(
        basic_users={str(k): str(v) for k, v in dict(users).items()},
        oidc_providers=tuple(OidcProviderOptions.from_dict(p) for p in d.get("oidc_providers", [])),
    )
