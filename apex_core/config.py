"""Settings: ``APEX_*`` environment variables > secrets passed in by the app > defaults.

``apex_core`` never reads Streamlit itself: the app passes ``st.secrets`` (any mapping) to
:meth:`Settings.load`. Secret values are kept out of ``repr`` and :meth:`Settings.to_dict`.

Leaving ``openeo_url`` / ``catalogue_url`` unset means *embedded*: the app starts the local
services on loopback and talks to them over HTTP exactly as it would to production ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apex_core.errors import ConfigError

__all__ = ["ENV_PREFIX", "PROJECT_ROOT", "Settings"]

ENV_PREFIX = "APEX_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL such as https://openeo.dataspace.copernicus.eu")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials; set them as separate secrets")
    return value.rstrip("/")


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number")
    return number


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
    return level


def _bool(value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _path(value: str) -> Path:
    return Path(value).expanduser().resolve()


def _store_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError("must be a PostgreSQL URL such as postgresql://user@db.example.org:5432/apex")
    return value.strip()


def _header_name(value: str) -> str:
    name = value.strip()
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError("must be an HTTP header name such as X-Forwarded-User")
    return name


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


_PARSERS: dict[str, Callable[[str], Any]] = {
    "state_dir": _path,
    "data_dir": _path,
    "openeo_url": _url,
    "catalogue_url": _url,
    "oidc_issuer": _url,
    "oidc_client_id": _text,
    "oidc_client_secret": _text,
    "stac_browser_url": _url,
    "max_aoi_km2": _positive_float,
    "http_timeout": _positive_float,
    "log_level": _log_level,
    "embedded_autostart": _bool,
    "basemap_url": _text,
    "basemap_attribution": _text,
    "project_store_url": _store_url,
    "s3_endpoint_url": _url,
    "s3_bucket": _text,
    "s3_prefix": _text,
    "s3_region": _text,
    "s3_public_url": _url,
    "s3_access_key_id": _text,
    "s3_secret_access_key": _text,
    "openeo_workspace": _text,
    "user_header": _header_name,
}

# Names whose values are credentials: never in repr, to_dict or logs.
SECRET_FIELDS = frozenset(
    {"oidc_client_secret", "project_store_url", "s3_access_key_id", "s3_secret_access_key"}
)


@dataclass(frozen=True)
class Settings:
    """The app's settings. Build with :meth:`load`; every field has an ``APEX_<NAME>`` variable."""

    state_dir: Path = PROJECT_ROOT / ".apex"
    data_dir: Path | None = None
    openeo_url: str | None = None
    catalogue_url: str | None = None
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    stac_browser_url: str | None = None
    max_aoi_km2: float = 2500.0
    http_timeout: float = 30.0
    log_level: str = "INFO"
    embedded_autostart: bool = True
    basemap_url: str = "OpenStreetMap"
    basemap_attribution: str = "© OpenStreetMap contributors"
    # Unset: projects in SQLite under state_dir. A PostgreSQL URL (it may carry a password: kept
    # out of repr and logs like a secret) for several app replicas behind a load balancer.
    project_store_url: str | None = field(default=None, repr=False)
    # Asset hosting on an S3-compatible bucket (issue 8); unset bucket: the embedded catalogue's asset store.
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_prefix: str | None = None
    s3_region: str | None = None
    s3_public_url: str | None = None
    s3_access_key_id: str | None = field(default=None, repr=False)
    s3_secret_access_key: str | None = field(default=None, repr=False)
    # The openEO workspace id offered for export_workspace on the Job page (unset: not offered).
    openeo_workspace: str | None = None
    # The header a sign-in proxy (oauth2-proxy, Keycloak gatekeeper…) sets to the user's name: projects
    # are then each user's own. Unset: no identity, the projects are shared by everyone on the server.
    user_header: str | None = None

    @property
    def sample_data_dir(self) -> Path:
        """Where the embedded backend reads the Sentinel-2 sample (default ``<state_dir>/data``)."""
        return self.data_dir if self.data_dir is not None else self.state_dir / "data"

    @property
    def embedded_openeo(self) -> bool:
        return self.openeo_url is None

    @property
    def embedded_catalogue(self) -> bool:
        return self.catalogue_url is None

    @classmethod
    def load(
        cls,
        secrets: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read settings: ``APEX_*`` variables in ``environ`` win over ``secrets``, which win over defaults.

        ``secrets`` uses the field names as keys (``openeo_url = "https://..."``), flat or under an
        ``[apex]`` table. Keys that are not settings are ignored (secrets may serve other uses).
        """
        env = os.environ if environ is None else environ
        flat: dict[str, Any] = {}
        if secrets:
            nested = secrets.get("apex")
            if isinstance(nested, Mapping):
                flat.update(nested)
            flat.update({k: v for k, v in secrets.items() if k != "apex"})
        values: dict[str, Any] = {}
        for f in fields(cls):
            env_name = ENV_PREFIX + f.name.upper()
            if env_name in env and env[env_name] != "":
                values[f.name] = _parse(f.name, env[env_name], source=f"environment variable {env_name}")
            elif f.name in flat and flat[f.name] not in (None, ""):
                values[f.name] = _parse(f.name, str(flat[f.name]), source=f"secret '{f.name}'")
        unknown = sorted(
            k for k in env if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() not in _PARSERS
        )
        if unknown:
            raise ConfigError(
                f"Unknown setting {unknown[0]}: known settings are "
                + ", ".join(ENV_PREFIX + n.upper() for n in _PARSERS),
                field=unknown[0],
            )
        return replace(cls(), **values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe view for display and logs; secret values are replaced by a marker."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                out[f.name] = "***" if value else None
            elif isinstance(value, Path):
                out[f.name] = str(value)
            else:
                out[f.name] = value
        return out


def _parse(name: str, raw: str, *, source: str) -> Any:
    try:
        return _PARSERS[name](raw)
    except ValueError as exc:
        shown = "(hidden)" if name in SECRET_FIELDS else repr(raw)
        raise ConfigError(f"Invalid {source} = {shown}: {exc}.", field=name) from exc
