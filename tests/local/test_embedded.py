"""The embedded services as the app starts them: in the background, announced by one JSON line."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from apex_core.local.contract import EmbeddedEndpoints, EmbeddedServices
from apex_core.local.errors import LocalServiceError

from ..conftest import traversable_tmpdir

pytestmark = pytest.mark.services


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = traversable_tmpdir("apex-embedded-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_starts_in_the_background_and_announces_its_endpoints(state_dir: Path, openeo_data_dir: Path) -> None:
    services = EmbeddedServices(state_dir, openeo_data_dir)
    try:
        services.start()
        # start() returned before the services were up: pages are never blocked by it.
        assert services.status == "starting"
        assert services.endpoints is None
        assert services.start() is services  # idempotent while starting
        endpoints = services.wait(timeout=180)
        assert services.status == "ready"
        caps = requests.get(endpoints.openeo_url, timeout=10)
        assert caps.status_code == 200
        assert caps.json()["api_version"].startswith("1.")
        shown = str(endpoints.to_dict()) + repr(endpoints)
        for client in endpoints.clients:
            assert client.client_secret not in shown
        assert endpoints.openeo_username == "demo"
        assert endpoints.openeo_password  # announced, for the app's default login
        assert "openeo_password" not in repr(endpoints)
        assert "openeo_password" not in endpoints.to_dict()
    finally:
        services.stop()
    assert services.status == "stopped"
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoints.openeo_url, timeout=5)


def test_a_failing_start_is_reported_not_hung(state_dir: Path, openeo_data_dir: Path) -> None:
    services = EmbeddedServices(state_dir, openeo_data_dir, extra_args=["--no-such-option"])
    services.start()
    with pytest.raises(LocalServiceError, match="stopped before they were ready"):
        services.wait(timeout=60)
    assert services.status == "failed"
    assert "embedded-services.log" in (services.error or "")


def test_announcement_parsing_keeps_secrets_out_of_display() -> None:
    line = {
        "openeo_url": "http://127.0.0.1:1/openeo/1.2",
        "openeo_username": "demo",
        "openeo_password": "demo-password",
        "clients": {"admin": {"client_id": "apex-local-admin", "client_secret": "s3cr3t", "roles": ["a"]}},
        "pid": 42,
    }
    endpoints = EmbeddedEndpoints.from_dict(line)
    assert endpoints.client("admin").client_secret == "s3cr3t"
    assert endpoints.client("apex-local-admin").roles == ("a",)
    assert "s3cr3t" not in repr(endpoints)
    assert "demo-password" not in str(endpoints.to_dict())
    with pytest.raises(LocalServiceError, match="no client"):
        endpoints.client("nobody")
    with pytest.raises(LocalServiceError, match="no openEO URL"):
        EmbeddedEndpoints.from_dict({"pid": 1})
