"""Start and stop the local OIDC issuer as a child process."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apex_core.local.issuer.state import DEFAULT_AUDIENCE, PUBLIC_CLIENT_ID, IssuerClient, IssuerState
from apex_core.local.process import LocalService, free_port

__all__ = ["IssuerHandle", "issuer_url_for", "openeo_provider_for", "start_issuer"]

logger = logging.getLogger(__name__)


def issuer_url_for(port: int, host: str = "127.0.0.1") -> str:
    """The issuer URL :func:`start_issuer` on ``host:port`` has: known before it starts, so services
    that only need it at request time (the catalogue's token checks, openEO's OIDC provider) can start
    at the same time as the issuer."""
    return f"http://{host}:{port}"


def openeo_provider_for(issuer_url: str, provider_id: str = "apex-local") -> dict[str, Any]:
    """The issuer at ``issuer_url`` as an entry of an openEO back-end's ``GET /credentials/oidc``
    ``providers`` list (see :meth:`IssuerHandle.openeo_provider`)."""
    return {
        "id": provider_id,
        "issuer": issuer_url,
        "title": "APEx local sign-in",
        "scopes": ["openid"],
        "default_clients": [
            {
                "id": PUBLIC_CLIENT_ID,
                "grant_types": [
                    "urn:ietf:params:oauth:grant-type:device_code+pkce",
                    "refresh_token",
                ],
            }
        ],
    }


@dataclass(frozen=True)
class IssuerHandle:
    """A running issuer: its URLs, its clients (with secrets: keep them out of logs) and its process."""

    issuer_url: str
    token_url: str
    device_authorization_url: str
    jwks_url: str
    userinfo_url: str
    audience: str
    token_lifetime: int
    state_dir: Path
    clients: tuple[IssuerClient, ...]
    service: LocalService = field(repr=False, compare=False)

    @property
    def startup_seconds(self) -> float | None:
        return self.service.startup_seconds

    def client(self, name: str) -> IssuerClient:
        """The client called ``name`` (``admin``, ``editor``, ``noroles``)."""
        for client in self.clients:
            if client.name == name or client.client_id == name:
                return client
        raise KeyError(name)

    def state(self) -> IssuerState:
        """The issuer's key and clients (for tests that mint tokens themselves)."""
        return IssuerState.load_or_create(self.state_dir)

    def openeo_provider(self, provider_id: str = "apex-local") -> dict[str, Any]:
        """This issuer as an entry of an openEO back-end's ``GET /credentials/oidc`` ``providers`` list.

        With it, the stock client's ``Connection.authenticate_oidc_device()`` picks the public client
        ``apex-local-app`` and uses the device flow with PKCE against this issuer, and openeo-driver
        validates the bearer tokens it receives at this issuer's ``/userinfo``. For the backend's
        options: ``OidcProviderOptions.from_dict(handle.openeo_provider())``.
        """
        return openeo_provider_for(self.issuer_url, provider_id)

    def stop(self) -> None:
        self.service.stop()

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """URLs and clients; secrets only with ``include_secrets`` (the local ``serve`` line)."""
        return {
            "oidc_issuer": self.issuer_url,
            "token_url": self.token_url,
            "device_authorization_url": self.device_authorization_url,
            "audience": self.audience,
            "clients": [c.to_dict(include_secret=include_secrets) for c in self.clients],
        }

    def __enter__(self) -> IssuerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_issuer(
    state_dir: Path,
    port: int | None = None,
    token_lifetime: int = 3600,
    *,
    device_code_lifetime: int = 600,
    device_interval: int = 1,
    audience: str = DEFAULT_AUDIENCE,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
) -> IssuerHandle:
    """Start the issuer on ``host:port`` (a free port if None); keys and secrets live in ``state_dir``.

    The key and secrets are created here, before the child starts, so the handle can report them.
    """
    state_dir = Path(state_dir).resolve()
    state = IssuerState.load_or_create(state_dir)
    port = port or free_port(host)
    base = issuer_url_for(port, host)
    argv = [
        sys.executable,
        "-m",
        "apex_core.local.issuer",
        "--state-dir",
        str(state_dir),
        "--host",
        host,
        "--port",
        str(port),
        "--token-lifetime",
        str(token_lifetime),
        "--device-code-lifetime",
        str(device_code_lifetime),
        "--device-interval",
        str(device_interval),
        "--audience",
        audience,
    ]
    service = LocalService(
        "OIDC issuer",
        argv,
        health_url=f"{base}/health",
        log_path=state_dir / "issuer.log",
    ).start(timeout=timeout)
    return IssuerHandle(
        issuer_url=base,
        token_url=f"{base}/token",
        device_authorization_url=f"{base}/device/authorize",
        jwks_url=f"{base}/jwks",
        userinfo_url=f"{base}/userinfo",
        audience=audience,
        token_lifetime=token_lifetime,
        state_dir=state_dir,
        clients=state.clients,
        service=service,
    )
