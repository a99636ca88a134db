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

__all__ = [
    "ENV_PREFIX",
    "NDVI_COLORMAP",
    "PROJECT_ROOT",
    "RENDER_COLORMAPS",
    "Settings",
    "checked_colormap",
    "colormap_name",
    "ndvi_colormap",
    "use_ndvi_colormap",
]

ENV_PREFIX = "APEX_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
NDVI_COLORMAP = "rdylgn"
"""The default NDVI ramp (``ndvi_colormap``): ColorBrewer's RdYlGn as rio-tiler, TiTiler and the render
extension's ``colormap_name`` name it, the ramp NDVI is conventionally drawn with (red-brown where there
is no vegetation, pale yellow at 0, green for vegetation); :data:`apex_core.ndvi.RENDER_COLORMAP`."""
RENDER_COLORMAPS: tuple[str, ...] = ("rdylgn", "viridis", "greens", "ylgn", "cividis", "spectral", "brbg")
"""The colormaps render hints offer (the Metadata form's choices), each a rio-tiler colormap name, so that
TiTiler and the Geospatial Explorer draw them; ``APEX_NDVI_COLORMAP`` is one of them."""
_NDVI_COLORMAP_ENV = ENV_PREFIX + "NDVI_COLORMAP"
_chosen_ndvi_colormap: str | None = None

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


def colormap_name(value: str) -> str:
    """One of :data:`RENDER_COLORMAPS`, as rio-tiler, TiTiler and the render extension's ``colormap_name``
    spell it (lower case); :class:`ValueError` for another name."""
    name = value.strip().lower()
    if name not in RENDER_COLORMAPS:
        others = ", ".join(n for n in RENDER_COLORMAPS if n not in (NDVI_COLORMAP, "cividis", "viridis"))
        raise ValueError(
            f"is not a colormap this app offers: use {NDVI_COLORMAP} (the conventional NDVI ramp, red-brown "
            f"to yellow to green; the default), cividis or viridis (colour-blind safe), or one of {others} "
            "(rio-tiler's names, which TiTiler and the Geospatial Explorer use too)"
        )
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
    "ndvi_colormap": colormap_name,
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
    # The NDVI's colour ramp everywhere (Preview, histogram, quicklook, render hints, Explorer legend), a
    # rio-tiler colormap name: the conventional rdylgn, or e.g. cividis (colour-blind safe).
    ndvi_colormap: str = NDVI_COLORMAP

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


def checked_colormap(name: str, source: str = "the NDVI colormap") -> str:
    """``name`` as :func:`colormap_name` spells it; :class:`ConfigError` (naming ``source``) when
    rio-tiler does not know it."""
    try:
        return colormap_name(name)
    except ValueError as exc:
        raise ConfigError(f"Invalid {source} = {name!r}: {exc}.", field="ndvi_colormap") from exc


def use_ndvi_colormap(name: str | None) -> str:
    """Make ``name`` (:attr:`Settings.ndvi_colormap`) this process's NDVI ramp; None goes back to
    ``APEX_NDVI_COLORMAP``, else :data:`NDVI_COLORMAP`. The app calls it with its settings, so that a
    value from the secrets applies as one from the environment does. Returns the ramp now in use;
    :class:`ConfigError` for a name rio-tiler does not know."""
    global _chosen_ndvi_colormap
    _chosen_ndvi_colormap = None if name is None else checked_colormap(name)
    return ndvi_colormap()


def ndvi_colormap() -> str:
    """The NDVI ramp (a rio-tiler colormap name) that the Preview's map, legend and histogram, the
    Catalogue's quicklook, the proposed render hints and so the Geospatial Explorer's legend use: the one
    :func:`use_ndvi_colormap` chose, else ``APEX_NDVI_COLORMAP``, else :data:`NDVI_COLORMAP`.
    :class:`ConfigError` when ``APEX_NDVI_COLORMAP`` names no colormap."""
    if _chosen_ndvi_colormap is not None:
        return _chosen_ndvi_colormap
    raw = os.environ.get(_NDVI_COLORMAP_ENV, "")
    return checked_colormap(raw, f"environment variable {_NDVI_COLORMAP_ENV}") if raw else NDVI_COLORMAP
