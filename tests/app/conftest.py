"""AppTest fixtures: the embedded openEO backend fixtures of tests/local, shared (not moved)."""

from __future__ import annotations

from tests.local.conftest import openeo_backend, openeo_credentials, openeo_data_dir

__all__ = ["openeo_backend", "openeo_credentials", "openeo_data_dir"]
