"""The boundary between the app and the embedded services, without starting any service: the serve
line's one codec, serve's own settings, and the app's translation of the services' errors."""

from __future__ import annotations

import http.server
import json
from pathlib import Path
from typing import Any

import pytest

from apex_core.aoi import embedded_footprints
from apex_core.config import Settings
from apex_core.errors import BackendError, ServiceError, user_message
from apex_core.local.contract import IMPORT_ROOT, EmbeddedEndpoints, LocalClient
from apex_core.local.errors import LocalBackendError, LocalServiceError
from apex_core.local.process import free_port
from apex_core.local.settings import ServeSettings
from tests.services import loopback_http


def test_the_serve_line_reads_back_as_written() -> None:
    endpoints = EmbeddedEndpoints(
        openeo_url="http://127.0.0.1:1/openeo/1.2",
        catalogue_url="http://127.0.0.1:2",
        assets_url="http://127.0.0.1:2/assets",
        oidc_issuer="http://127.0.0.1:3",
        token_url="http://127.0.0.1:3/token",
        device_authorization_url="http://127.0.0.1:3/device/authorize",
        public_client_id="apex-local-app",
        audience="apex-catalogue-local",
        openeo_oidc_provider_id="apex-local",
        openeo_username="demo",
        openeo_password="demo-password",
        clients=(LocalClient("editor", "apex-local-editor", "s3cr3t", ("apex-editor",)),),
        pid=42,
        pids={"serve": 42, "postgres": None, "openeo": 43},
    )
    line = endpoints.to_line()
    assert json.loads(line)["openeo_pid"] == 43  # the key scripts read before "pids" existed
    assert "\n" not in line and "s3cr3t" in line  # the one place the local secrets are printed
    assert EmbeddedEndpoints.from_line(line) == endpoints
    assert EmbeddedEndpoints.from_line(line.encode()).client("editor").client_secret == "s3cr3t"
    with pytest.raises(LocalServiceError, match="unreadable"):
        EmbeddedEndpoints.from_line("not json")
    with pytest.raises(LocalServiceError, match="no JSON object"):
        EmbeddedEndpoints.from_line("[1]")
    with pytest.raises(LocalServiceError, match="unreadable"):
        EmbeddedEndpoints.from_line('{"openeo_url": "http://x", "pid": "not a number"}')


def test_serve_settings_environment_over_secrets_over_defaults(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    assert ServeSettings.load({}, secrets) == ServeSettings(
        IMPORT_ROOT / ".apex", IMPORT_ROOT / ".apex" / "data"
    )
    app_defaults = Settings()  # serve reads the same keys with the same defaults as the app
    assert ServeSettings.load({}, secrets) == ServeSettings(
        app_defaults.state_dir, app_defaults.sample_data_dir
    )
    secrets.write_text(f'[apex]\nstate_dir = "{tmp_path / "s"}"\n')
    assert ServeSettings.load({}, secrets) == ServeSettings(tmp_path / "s", tmp_path / "s" / "data")
    env = {"APEX_STATE_DIR": str(tmp_path / "e"), "APEX_DATA_DIR": str(tmp_path / "d"), "APEX_OTHER": "x"}
    assert ServeSettings.load(env, secrets) == ServeSettings(tmp_path / "e", tmp_path / "d")


def test_a_failed_scene_search_is_the_apps_error_keeping_what_the_backend_said() -> None:
    with pytest.raises(ServiceError, match="cannot be reached") as unreachable:
        embedded_footprints(f"http://127.0.0.1:{free_port()}/openeo/1.2", timeout=5)
    assert isinstance(unreachable.value.__cause__, LocalServiceError)
    assert user_message(unreachable.value).title == "A service is not available"

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"code": "BboxInvalid", "message": "The bbox is not W,S,E,N.", "id": "r-1"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with loopback_http(Refusing) as url, pytest.raises(BackendError) as refused:
        embedded_footprints(url, timeout=5)
    assert isinstance(refused.value.__cause__, LocalBackendError)
    error = refused.value
    assert (error.message, error.code, error.status, error.request_id) == (
        "The bbox is not W,S,E,N.",
        "BboxInvalid",
        400,
        "r-1",
    )
