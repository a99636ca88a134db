from __future__ import annotations

from pathlib import Path

import pytest

from apex_core import ConfigError, Settings
from apex_core.config import PROJECT_ROOT


def test_defaults_mean_embedded_services() -> None:
    s = Settings.load(secrets={}, environ={})
    assert s.embedded_openeo and s.embedded_catalogue
    assert s.state_dir == PROJECT_ROOT / ".apex"
    assert s.sample_data_dir == PROJECT_ROOT / ".apex" / "data"
    assert s.max_aoi_km2 == 2500.0


def test_env_wins_over_secrets_which_win_over_defaults() -> None:
    secrets = {"openeo_url": "https://from-secrets.example/", "catalogue_url": "https://cat.example"}
    env = {"APEX_OPENEO_URL": "https://openeo.dataspace.copernicus.eu/"}
    s = Settings.load(secrets=secrets, environ=env)
    assert s.openeo_url == "https://openeo.dataspace.copernicus.eu"
    assert s.catalogue_url == "https://cat.example"
    assert not s.embedded_openeo


def test_secrets_may_be_nested_under_apex_table(tmp_path: Path) -> None:
    s = Settings.load(secrets={"apex": {"state_dir": str(tmp_path), "max_aoi_km2": 12}}, environ={})
    assert s.state_dir == tmp_path
    assert s.max_aoi_km2 == 12.0
    assert s.sample_data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("APEX_OPENEO_URL", "openeo.example", "http(s) URL"),
        ("APEX_CATALOGUE_URL", "https://user:pw@cat.example", "credentials"),
        ("APEX_MAX_AOI_KM2", "-3", "positive"),
        ("APEX_MAX_AOI_KM2", "lots", "could not convert"),
        ("APEX_LOG_LEVEL", "LOUD", "DEBUG, INFO"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(secrets={}, environ={name: value})
    assert name in str(info.value)
    assert needle in str(info.value)
    assert info.value.field == name.removeprefix("APEX_").lower()


def test_unknown_apex_variable_is_reported() -> None:
    with pytest.raises(ConfigError, match="APEX_OPENEO_ULR"):
        Settings.load(secrets={}, environ={"APEX_OPENEO_ULR": "https://x.example"})


def test_secret_values_never_shown() -> None:
    s = Settings.load(secrets={"oidc_client_secret": "s3cr3t-value"}, environ={})
    assert s.oidc_client_secret == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(s)
    assert s.to_dict()["oidc_client_secret"] == "***"
    with pytest.raises(ConfigError) as info:
        Settings.load(secrets={}, environ={"APEX_OIDC_CLIENT_SECRET": "   "})
    assert "(hidden)" in str(info.value)
