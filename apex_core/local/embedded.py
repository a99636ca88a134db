"""The embedded services as the app uses them: started in the background, never blocking a page.

:class:`EmbeddedServices` runs ``python -m apex_core.local serve`` as one child process (it starts
the OIDC issuer, the STAC catalogue and the openEO backend on loopback) and reads the one JSON line
it prints in a background thread. Pages ask :attr:`EmbeddedServices.status` and show "starting"
until it is ``ready``; then :attr:`EmbeddedServices.endpoints` has the URLs and local credentials.

The child's stdin is a pipe from this process: when the app exits, even without a chance to clean
up, the pipe closes and the services stop themselves.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from apex_core.errors import ServiceError

__all__ = ["EmbeddedEndpoints", "EmbeddedServices", "LocalClient", "Status"]

logger = logging.getLogger(__name__)

Status = Literal["stopped", "starting", "ready", "failed"]


@dataclass(frozen=True)
class LocalClient:
    """An OIDC client of the local issuer (local test credentials, never shown in full)."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    roles: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> LocalClient:
        return cls(
            name=name,
            client_id=str(data.get("client_id") or data.get("id")),
            client_secret=str(data.get("client_secret") or data.get("secret") or ""),
            roles=tuple(str(r) for r in data.get("roles", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "client_id": self.client_id, "roles": list(self.roles)}


@dataclass(frozen=True)
class EmbeddedEndpoints:
    """What ``python -m apex_core.local serve`` announced."""

    openeo_url: str
    catalogue_url: str | None = None
    assets_url: str | None = None
    oidc_issuer: str | None = None
    token_url: str | None = None
    openeo_username: str | None = None
    openeo_password: str | None = field(default=None, repr=False)
    clients: tuple[LocalClient, ...] = ()
    pid: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddedEndpoints:
        if not data.get("openeo_url"):
            raise ServiceError(f"The embedded services announced no openEO URL: keys {sorted(data)}.")
        raw_clients = data.get("clients") or {}
        if isinstance(raw_clients, Mapping):
            clients = tuple(LocalClient.from_dict(str(k), v) for k, v in raw_clients.items())
        else:
            clients = tuple(LocalClient.from_dict(str(c.get("name", c.get("id"))), c) for c in raw_clients)

        def opt(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value else None

        return cls(
            openeo_url=str(data["openeo_url"]),
            catalogue_url=opt("catalogue_url"),
            assets_url=opt("assets_url"),
            oidc_issuer=opt("oidc_issuer"),
            token_url=opt("token_url"),
            openeo_username=opt("openeo_username"),
            openeo_password=opt("openeo_password"),
            clients=clients,
            pid=int(data["pid"]) if data.get("pid") else None,
        )

    def client(self, name: str) -> LocalClient:
        for c in self.clients:
            if name in (c.name, c.client_id):
                return c
        raise ServiceError(f"The local issuer has no client {name!r}: {[c.name for c in self.clients]}.")

    def to_dict(self) -> dict[str, Any]:
        """For display: URLs and client ids and roles, no secrets."""
        return {
            "openeo_url": self.openeo_url,
            "catalogue_url": self.catalogue_url,
            "assets_url": self.assets_url,
            "oidc_issuer": self.oidc_issuer,
            "token_url": self.token_url,
            "openeo_username": self.openeo_username,
            "clients": [c.to_dict() for c in self.clients],
        }


class EmbeddedServices:
    """One background ``serve`` process per state directory; thread-safe; start is idempotent."""

    def __init__(
        self,
        state_dir: Path,
        data_dir: Path,
        *,
        timeout: float = 180.0,
        python: str = sys.executable,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.state_dir = state_dir
        self.data_dir = data_dir
        self.timeout = timeout
        self._argv = [
            python, "-m", "apex_core.local", "serve",
            "--state-dir", str(state_dir), "--data-dir", str(data_dir), *extra_args,
        ]  # fmt: skip
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._status: Status = "stopped"
        self._endpoints: EmbeddedEndpoints | None = None
        self._error: str | None = None
        self._started_at: float | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "embedded-services.log"

    @property
    def status(self) -> Status:
        with self._lock:
            if self._status == "ready" and self._process is not None and self._process.poll() is not None:
                self._status = "failed"
                self._error = f"The embedded services exited (code {self._process.returncode})."
            return self._status

    @property
    def endpoints(self) -> EmbeddedEndpoints | None:
        return self._endpoints if self.status == "ready" else None

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def elapsed(self) -> float:
        return 0.0 if self._started_at is None else time.monotonic() - self._started_at

    def start(self) -> EmbeddedServices:
        """Start the services in the background unless they are starting or running already."""
        with self._lock:
            if self._status in ("starting", "ready"):
                return self
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.state_dir.chmod(self.state_dir.stat().st_mode | 0o011)  # postgres must traverse it
            log = self.log_path.open("ab")
            try:
                self._process = subprocess.Popen(
                    self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
                )
            except OSError as exc:
                self._status, self._error = "failed", f"Could not start the embedded services: {exc}"
                raise ServiceError(self._error) from exc
            finally:
                log.close()
            self._status, self._error, self._endpoints = "starting", None, None
            self._ready.clear()
            self._started_at = time.monotonic()
            threading.Thread(target=self._read_announcement, name="embedded-services", daemon=True).start()
            logger.info("starting the embedded services (state in %s)", self.state_dir)
        return self

    def _read_announcement(self) -> None:
        proc = self._process
        assert proc is not None and proc.stdout is not None
        line = proc.stdout.readline()
        with self._lock:
            try:
                if not line:
                    raise ServiceError(
                        f"The embedded services stopped before they were ready (exit code {proc.wait()}); "
                        f"see {self.log_path}."
                    )
                self._endpoints = EmbeddedEndpoints.from_dict(json.loads(line))
                self._status = "ready"
                logger.info("embedded services ready in %.1f s", self.elapsed)
            except (ServiceError, ValueError) as exc:
                self._status, self._error = "failed", str(exc)
                logger.error("embedded services failed: %s", exc)
            finally:
                self._ready.set()

    def wait(self, timeout: float | None = None) -> EmbeddedEndpoints:
        """Block until ready (for tests and scripts; pages use :attr:`status`)."""
        if self.status == "stopped":
            self.start()
        if not self._ready.wait(self.timeout if timeout is None else timeout):
            raise ServiceError(
                f"The embedded services were not ready within {timeout or self.timeout:.0f} s."
            )
        endpoints = self.endpoints
        if endpoints is None:
            raise ServiceError(self._error or "The embedded services are not running.")
        return endpoints

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            proc, self._process = self._process, None
            self._status, self._endpoints = "stopped", None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("embedded services did not stop within %.0f s; killing them", timeout)
            proc.kill()
            proc.wait(timeout=timeout)
        finally:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
