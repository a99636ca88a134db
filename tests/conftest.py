"""Test-session settings: the app under test never touches the project's own state directory.

AppTest runs the app in this process, so the environment set here is what it reads. The embedded
services are not auto-started by in-process app runs (tests that need services start them with
fixtures on free ports and point the app at them); the browser tests' app server sets its own env.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from apex_core.config import Settings
from apex_core.sampledata import ensure_sample_data, ensure_stac_schemas
from tests.services import (
    auth_header,
    catalogue,
    issuer,
    local_state_root,
    openeo_backend,
    openeo_backend_oidc,
    openeo_credentials,
    openeo_data_dir,
    pg_url,
    s3_server,
    token_for,
    traversable_tmpdir,
)

# The embedded services' fixtures, defined once here for every test directory (see tests/services.py).
__all__ = [
    "auth_header",
    "catalogue",
    "issuer",
    "local_state_root",
    "openeo_backend",
    "openeo_backend_oidc",
    "openeo_credentials",
    "openeo_data_dir",
    "pg_url",
    "s3_server",
    "token_for",
    "traversable_tmpdir",
]


@pytest.fixture(scope="session", autouse=True)
def _isolated_app_settings() -> Iterator[Path]:
    data_dir = Settings.load(environ={}).sample_data_dir
    ensure_sample_data(data_dir)
    ensure_stac_schemas(data_dir / "stac-schemas")
    state = traversable_tmpdir("apex-test-state-")
    saved = {k: os.environ.get(k) for k in ("APEX_STATE_DIR", "APEX_DATA_DIR", "APEX_EMBEDDED_AUTOSTART")}
    os.environ.update(APEX_STATE_DIR=str(state), APEX_DATA_DIR=str(data_dir), APEX_EMBEDDED_AUTOSTART="false")
    yield state
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(state, ignore_errors=True)
