"""Shared fixtures for tests that start embedded local services (``pytest -m services``)."""

from __future__ import annotations

# =============================================================================================
# Catalogue + OIDC issuer fixtures (apex_core.local.catalogue / apex_core.local.issuer)
# =============================================================================================
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from apex_core.local.catalogue import CatalogueHandle, start_catalogue
from apex_core.local.issuer import IssuerHandle, start_issuer


@pytest.fixture(scope="session")
def local_state_root() -> Iterator[Path]:
    """A state root under /tmp that the ``postgres`` user can traverse (pytest's tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="apex-local-tests-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def issuer(local_state_root: Path) -> Iterator[IssuerHandle]:
    handle = start_issuer(local_state_root / "issuer")
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def catalogue(issuer: IssuerHandle, local_state_root: Path) -> Iterator[CatalogueHandle]:
    handle = start_catalogue(local_state_root / "catalogue", issuer.issuer_url)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def token_for(issuer: IssuerHandle) -> Callable[[str], str]:
    """``token_for("admin" | "editor" | "noroles")``: a client_credentials access token (cached)."""
    cache: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in cache:
            client = issuer.client(name)
            resp = requests.post(
                issuer.token_url,
                data={"grant_type": "client_credentials"},
                auth=(client.client_id, client.client_secret),
                timeout=10,
            )
            resp.raise_for_status()
            cache[name] = resp.json()["access_token"]
        return cache[name]

    return get


@pytest.fixture(scope="session")
def auth_header(token_for: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    """``auth_header("editor")`` -> ``{"Authorization": "Bearer ..."}``."""
    return lambda name: {"Authorization": f"Bearer {token_for(name)}"}


# =============================================================================================
# end of catalogue + issuer fixtures
# =============================================================================================


# =============================================================================================
# Embedded openEO backend fixtures (apex_core.local.openeo)
# =============================================================================================
from apex_core.config import Settings  # noqa: E402
from apex_core.local.openeo.service import (  # noqa: E402
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    OpenEoBackendService,
    start_openeo_backend,
)
from apex_core.sampledata import ensure_sample_data  # noqa: E402


@pytest.fixture(scope="session")
def openeo_data_dir() -> Path:
    """The verified Sentinel-2 sample (copied from ../shared/data or downloaded when missing)."""
    dest = Settings.load().sample_data_dir
    ensure_sample_data(dest)
    return dest


@pytest.fixture(scope="session")
def openeo_backend(
    openeo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenEoBackendService]:
    """The real embedded backend, on a free loopback port, with its own state directory."""
    service = start_openeo_backend(tmp_path_factory.mktemp("openeo-state"), openeo_data_dir)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def openeo_credentials() -> tuple[str, str]:
    return DEFAULT_USER, DEFAULT_PASSWORD


# =============================================================================================
# end of embedded openEO backend fixtures
# =============================================================================================


# =============================================================================================
# openEO backend with the local issuer as OIDC provider (apex_core.local.openeo + issuer)
# =============================================================================================
from apex_core.local.openeo.auth import AuthOptions, OidcProviderOptions  # noqa: E402

OIDC_PROVIDER_ID = "apex-local"


@pytest.fixture(scope="session")
def openeo_backend_oidc(
    issuer: IssuerHandle, openeo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenEoBackendService]:
    """A second embedded backend (the ``openeo_backend`` one knows no issuer): demo/demo + the issuer."""
    auth = AuthOptions(
        basic_users={DEFAULT_USER: DEFAULT_PASSWORD},
        oidc_providers=(OidcProviderOptions.from_dict(issuer.openeo_provider(OIDC_PROVIDER_ID)),),
    )
    service = start_openeo_backend(tmp_path_factory.mktemp("openeo-oidc-state"), openeo_data_dir, auth=auth)
    yield service
    service.stop()


# =============================================================================================
# end of openEO backend + OIDC fixtures
# =============================================================================================


def wait_for_workers(url: str, count: int = 2, timeout: float = 120.0) -> list[int]:
    """The backend's worker pids once ``count`` workers are ready (a fresh backend loads its engines)."""
    deadline = time.monotonic() + timeout
    while True:
        pids: list[int] = requests.get(f"{url}/health", timeout=10).json()["workers"]
        if len(pids) >= count:
            return pids
        assert time.monotonic() < deadline, f"only {len(pids)} worker(s) ready after {timeout} s"
        time.sleep(0.1)
