"""What the local token issuer keeps in its state directory: its signing key and its clients.

Both are generated on first use and persisted with file mode 0600, so a restarted issuer signs
with the same key (a catalogue that cached the JWKS keeps accepting its tokens) and the same
client secrets. Signing is done by PyJWT on top of ``cryptography``; nothing here is hand-rolled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from apex_core.local.errors import LocalConfigError
from apex_core.local.files import write_private_file

__all__ = [
    "ADMIN_ROLE",
    "DEFAULT_AUDIENCE",
    "EDITOR_ROLE",
    "PUBLIC_CLIENT_ID",
    "IssuerClient",
    "IssuerState",
    "write_private_file",
]

logger = logging.getLogger(__name__)

ADMIN_ROLE = "stac-admin-local"
EDITOR_ROLE = "apex-editor"
DEFAULT_AUDIENCE = "apex-catalogue-local"
PUBLIC_CLIENT_ID = "apex-local-app"
"""A public client (no secret) for the device authorization grant, as the app uses it."""

_KEY_FILE = "signing-key.pem"
_CLIENTS_FILE = "clients.json"

# name -> roles. Each name is both a confidential client (client_credentials) and an account a
# person can approve a device-flow request as.
_DEFAULT_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "admin": (ADMIN_ROLE,),
    "editor": (EDITOR_ROLE,),
    "noroles": (),
}


@dataclass(frozen=True)
class IssuerClient:
    """One configured OAuth client, which is also an account for the device-flow approval page."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    roles: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IssuerClient:
        try:
            return cls(
                name=str(data["name"]),
                client_id=str(data["client_id"]),
                client_secret=str(data["client_secret"]),
                roles=tuple(str(r) for r in data.get("roles", ())),
            )
        except (KeyError, TypeError) as exc:
            raise LocalConfigError(f"Malformed issuer client entry: missing {exc}.") from exc

    def to_dict(self, *, include_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "client_id": self.client_id, "roles": list(self.roles)}
        if include_secret:
            out["client_secret"] = self.client_secret
        return out


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint, used as ``kid``."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class IssuerState:
    """The issuer's signing key and clients, loaded from (or created in) a state directory."""

    directory: Path
    private_key: rsa.RSAPrivateKey = field(repr=False)
    kid: str
    clients: tuple[IssuerClient, ...]

    @classmethod
    def load_or_create(cls, directory: Path) -> IssuerState:
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / _KEY_FILE
        if key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise LocalConfigError(f"{key_path} does not hold an RSA private key.")
            private_key = loaded
        else:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_private_file(key_path, pem)
            logger.info("Generated a new issuer signing key in %s", directory)
        clients_path = directory / _CLIENTS_FILE
        if clients_path.exists():
            try:
                raw = json.loads(clients_path.read_text())
            except json.JSONDecodeError as exc:
                raise LocalConfigError(f"{clients_path} is not valid JSON.") from exc
            clients = tuple(IssuerClient.from_dict(entry) for entry in raw["clients"])
        else:
            clients = tuple(
                IssuerClient(
                    name=name,
                    client_id=f"apex-local-{name}",
                    client_secret=secrets.token_urlsafe(32),
                    roles=roles,
                )
                for name, roles in _DEFAULT_ACCOUNTS.items()
            )
            body = {"clients": [c.to_dict(include_secret=True) for c in clients]}
            write_private_file(clients_path, json.dumps(body, indent=2).encode())
            logger.info("Generated issuer client secrets in %s", directory)
        return cls(
            directory=directory,
            private_key=private_key,
            kid=_thumbprint(private_key.public_key()),
            clients=clients,
        )

    def client(self, client_id: str) -> IssuerClient | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def account(self, name: str) -> IssuerClient | None:
        return next((c for c in self.clients if c.name == name), None)

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def sign(
        self,
        *,
        issuer: str,
        subject: str,
        roles: Sequence[str],
        azp: str,
        lifetime: int,
        audience: str = DEFAULT_AUDIENCE,
        scope: str = "openid",
        now: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """An RS256 access token shaped like Keycloak's (roles in ``realm_access.roles``).

        ``lifetime`` may be zero or negative to make an already expired token (for tests).
        """
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "azp": azp,
            "iat": issued,
            "exp": issued + lifetime,
            "jti": uuid.uuid4().hex,
            "typ": "Bearer",
            "scope": scope,
            "preferred_username": subject,
            "realm_access": {"roles": list(roles)},
        }
        if extra:
            claims.update(extra)
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})
