"""Start and stop the embedded catalogue: PostgreSQL + pgstac, then the API as a child process.

State directory layout (``state_dir``)::

    postgres.log  pgdata/  db-secret.json (0600)   the PostgreSQL cluster
    assets/                                         the asset store served at /assets/
    catalogue.log                                   the API's log
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apex_core.local.catalogue.postgres import PostgresCluster
from apex_core.local.catalogue.settings import (
    DEFAULT_ADMIN_ROLE,
    DEFAULT_ASSET_ROLES,
    DEFAULT_AUDIENCE,
    CatalogueSettings,
)
from apex_core.local.errors import LocalServiceError
from apex_core.local.process import LocalService, free_port

__all__ = ["CatalogueHandle", "start_catalogue"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogueHandle:
    """A running catalogue: its URL, asset store, settings and processes. ``stop()`` stops both."""

    url: str
    assets_url: str
    state_dir: Path
    settings: CatalogueSettings
    postgres: PostgresCluster = field(repr=False)
    service: LocalService = field(repr=False)
    startup_seconds: float = 0.0

    @property
    def asset_dir(self) -> Path:
        return self.settings.asset_dir

    @property
    def running(self) -> bool:
        return self.service.running

    def stop(self) -> None:
        """Stop the API, then PostgreSQL (``pg_ctl stop -m fast``)."""
        try:
            self.service.stop()
        finally:
            self.postgres.stop()

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalogue_url": self.url,
            "assets_url": self.assets_url,
            "oidc_issuer": self.settings.issuer_url,
            "admin_role": self.settings.admin_role,
            "asset_roles": list(self.settings.asset_roles),
            "audience": self.settings.audience,
        }

    def __enter__(self) -> CatalogueHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_catalogue(
    state_dir: Path,
    issuer_url: str,
    port: int | None = None,
    *,
    admin_role: str = DEFAULT_ADMIN_ROLE,
    audience: str = DEFAULT_AUDIENCE,
    asset_roles: tuple[str, ...] = DEFAULT_ASSET_ROLES,
    filter_reads: bool = True,
    db_port: int | None = None,
    host: str = "127.0.0.1",
    timeout: float = 60.0,
) -> CatalogueHandle:
    """Start PostgreSQL (creating and migrating the cluster on first use), then the API.

    Restarting on an existing ``state_dir`` keeps its collections, items, rules and assets.
    ``issuer_url`` is the OIDC issuer whose tokens the write routes accept, when their ``aud``
    names ``audience``; the issuer must be reachable when the first write arrives (its keys are
    fetched lazily).
    """
    started = time.monotonic()
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    cluster = PostgresCluster(state_dir)
    cluster.init()
    cluster.start(db_port or free_port(host))
    try:
        cluster.migrate()
        port = port or free_port(host)
        base = f"http://{host}:{port}"
        settings = CatalogueSettings(
            issuer_url=issuer_url.rstrip("/"),
            asset_dir=state_dir / "assets",
            admin_role=admin_role,
            audience=audience,
            asset_roles=asset_roles,
            filter_reads=filter_reads,
        )
        env = {
            **cluster.env(),
            **settings.to_env(),
            "ENABLE_TRANSACTIONS_EXTENSIONS": "TRUE",
            "STAC_FASTAPI_TITLE": "APEx local Product Catalogue",
            "STAC_FASTAPI_DESCRIPTION": "Embedded STAC API with the APEx _auth rules (loopback only).",
        }
        service = LocalService(
            "STAC catalogue",
            [sys.executable, "-m", "apex_core.local.catalogue", "--host", host, "--port", str(port)],
            health_url=f"{base}/_mgmt/ping",
            log_path=state_dir / "catalogue.log",
            env=env,
            cwd=state_dir,  # stac-fastapi reads a .env from its working directory
        ).start(timeout=timeout)
    except (LocalServiceError, OSError):
        cluster.stop()
        raise
    elapsed = time.monotonic() - started
    logger.info("Catalogue ready at %s in %.1f s", base, elapsed)
    return CatalogueHandle(
        url=base,
        assets_url=f"{base}/assets",
        state_dir=state_dir,
        settings=settings,
        postgres=cluster,
        service=service,
        startup_seconds=elapsed,
    )
