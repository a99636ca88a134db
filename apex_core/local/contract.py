"""The one door between the app and the embedded services: everything the app may know of them.

The rest of ``apex_core`` and the pages import from ``apex_core.local`` only this module (import-linter
enforces it, see ``pyproject.toml``). It needs nothing but the standard library, ``requests`` and the
services' own errors (:mod:`apex_core.local.errors`), so the app never loads a server library:

- :class:`EmbeddedServices` runs ``python -m apex_core.local serve`` as one child process (issuer,
  catalogue and openEO backend on loopback) and reads, in a background thread, the one JSON line it
  prints; pages ask :attr:`EmbeddedServices.status` and show "starting" until it is ``ready``.
- :class:`EmbeddedEndpoints` is that line: ``serve`` writes it with :meth:`EmbeddedEndpoints.to_line`,
  the app reads it with :meth:`EmbeddedEndpoints.from_line` (one codec for both ends).
- :data:`DEFAULT_USER`/:data:`DEFAULT_PASSWORD` are the embedded backend's demo account.
- :func:`search_scenes` asks the embedded backend (over HTTP) which :class:`Scene` it has for an area,
  with each scene's bands (:attr:`Scene.has_scl`: whether the SCL cloud mask can be computed there).
- The one copy-or-download-and-verify code (:mod:`apex_core.local.provision`, standard library only):
  :func:`ensure_files`, :func:`load_manifest`, :data:`SAMPLE_FILES`..., which setup uses through
  ``apex_core.sampledata`` and the embedded backend uses when its data folder is missing or incomplete;
  what that found is :attr:`EmbeddedEndpoints.sample_data` (a :class:`DataStatus`: never a silently
  empty backend).

Failures are :class:`~apex_core.local.errors.LocalError` subclasses; the app turns them into its own
errors where it calls (``raise ServiceError.carrying(exc) from exc``).

The child's stdin is a pipe from the app: when the app exits, even without a chance to clean up, the
pipe closes and the services stop themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests

from apex_core.local.errors import (
    LocalBackendError,
    LocalChecksumError,
    LocalDataError,
    LocalError,
    LocalServiceError,
)
from apex_core.local.provision import (
    DEFAULT_SAMPLE_SOURCE,
    SAMPLE_FILES,
    DataStatus,
    SampleFile,
    SampleResult,
    ensure_files,
    load_manifest,
    provision_sample_data,
    sha256_of,
)

__all__ = [
    "COLLECTION_ID",
    "DEFAULT_PASSWORD",
    "DEFAULT_SAMPLE_SOURCE",
    "DEFAULT_USER",
    "EMBEDDED_WORKSPACE",
    "IMPORT_ROOT",
    "SAMPLE_FILES",
    "SCL_BAND",
    "DataStatus",
    "EmbeddedEndpoints",
    "EmbeddedServices",
    "LocalBackendError",
    "LocalChecksumError",
    "LocalClient",
    "LocalDataError",
    "LocalError",
    "LocalServiceError",
    "SampleFile",
    "SampleResult",
    "Scene",
    "Status",
    "child_pythonpath",
    "ensure_files",
    "load_manifest",
    "parse_datetime",
    "provision_sample_data",
    "search_scenes",
    "sha256_of",
]

logger = logging.getLogger(__name__)

DEFAULT_USER = "demo"
DEFAULT_PASSWORD = "demo"  # noqa: S105 - the documented demo account of the offline backend

EMBEDDED_WORKSPACE = "local"
"""The folder workspace the embedded backend offers (``<state dir>/workspace``), used when no
``APEX_OPENEO_WORKSPACE`` is set and the target is the embedded backend."""

COLLECTION_ID = "SENTINEL2_L2A"
"""The one collection of the embedded backend."""

SCL_BAND = "SCL"
"""The scene classification band; :attr:`Scene.has_scl` says whether a scene has it."""

IMPORT_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``apex_core`` package; every ``python -m apex_core.local…`` child imports it."""


def child_pythonpath() -> str:
    """``PYTHONPATH`` for a child started from any working directory: :data:`IMPORT_ROOT` first."""
    existing = os.environ.get("PYTHONPATH")
    return f"{IMPORT_ROOT}{os.pathsep}{existing}" if existing else str(IMPORT_ROOT)


# --- the serve JSON line ------------------------------------------------------------------------------


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

    def to_dict(self, *, include_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "client_id": self.client_id, "roles": list(self.roles)}
        if include_secret:
            out["client_secret"] = self.client_secret
        return out


@dataclass(frozen=True)
class EmbeddedEndpoints:
    """What ``python -m apex_core.local serve`` announces: URLs, local credentials, process ids."""

    openeo_url: str
    catalogue_url: str | None = None
    assets_url: str | None = None
    oidc_issuer: str | None = None
    token_url: str | None = None
    device_authorization_url: str | None = None
    public_client_id: str | None = None
    audience: str | None = None
    openeo_oidc_provider_id: str | None = None
    openeo_username: str | None = None
    openeo_password: str | None = field(default=None, repr=False)
    clients: tuple[LocalClient, ...] = ()
    pid: int | None = None
    pids: Mapping[str, int | None] = field(default_factory=dict, hash=False)  # a mapping: not hashed
    sample_data: DataStatus | None = None
    """What the openEO backend's data folder holds (``None``: a ``serve`` that did not say)."""
    timings: Mapping[str, float] = field(default_factory=dict, hash=False)
    """Seconds from ``serve``'s start until each service answered (``all``: the line printed)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddedEndpoints:
        if not data.get("openeo_url"):
            raise LocalServiceError(f"The embedded services announced no openEO URL: keys {sorted(data)}.")
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
            device_authorization_url=opt("device_authorization_url"),
            public_client_id=opt("public_client_id"),
            audience=opt("audience"),
            openeo_oidc_provider_id=opt("openeo_oidc_provider_id"),
            openeo_username=opt("openeo_username"),
            openeo_password=opt("openeo_password"),
            clients=clients,
            pid=int(data["pid"]) if data.get("pid") else None,
            pids={str(k): None if v is None else int(v) for k, v in (data.get("pids") or {}).items()},
            sample_data=DataStatus.from_dict(data["sample_data"]) if data.get("sample_data") else None,
            timings={str(k): float(v) for k, v in (data.get("timings") or {}).items()},
        )

    @classmethod
    def from_line(cls, line: str | bytes) -> EmbeddedEndpoints:
        """Read the line ``serve`` printed; :class:`LocalServiceError` if it is not one."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise LocalServiceError(f"The embedded services announced an unreadable line: {exc}") from exc
        if not isinstance(data, Mapping):
            raise LocalServiceError("The embedded services announced no JSON object.")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError, AttributeError) as exc:  # a pid that is no number, clients no list
            raise LocalServiceError(f"The embedded services announced an unreadable line: {exc}") from exc

    def to_line(self) -> str:
        """The one line ``serve`` prints, WITH the local secrets (the one place they are printed)."""
        line = {
            "openeo_url": self.openeo_url,
            "catalogue_url": self.catalogue_url,
            "assets_url": self.assets_url,
            "oidc_issuer": self.oidc_issuer,
            "token_url": self.token_url,
            "device_authorization_url": self.device_authorization_url,
            "public_client_id": self.public_client_id,
            "audience": self.audience,
            "openeo_oidc_provider_id": self.openeo_oidc_provider_id,
            "openeo_username": self.openeo_username,
            "openeo_password": self.openeo_password,
            "clients": [c.to_dict(include_secret=True) for c in self.clients],
            "pid": self.pid,
            "pids": dict(self.pids),
            "openeo_pid": self.pids.get("openeo"),  # kept for scripts that read it before "pids" existed
            "sample_data": self.sample_data.to_dict() if self.sample_data is not None else None,
            "timings": dict(self.timings),
        }
        return json.dumps(line)

    def client(self, name: str) -> LocalClient:
        for c in self.clients:
            if name in (c.name, c.client_id):
                return c
        raise LocalServiceError(f"The local issuer has no client {name!r}: {[c.name for c in self.clients]}.")

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
            "sample_data": self.sample_data.to_dict() if self.sample_data is not None else None,
        }


# --- the process the app starts -----------------------------------------------------------------------

Status = Literal["stopped", "starting", "ready", "failed"]


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
                    self._argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env={**os.environ, "PYTHONPATH": child_pythonpath()},
                )
            except OSError as exc:
                self._status, self._error = "failed", f"Could not start the embedded services: {exc}"
                raise LocalServiceError(self._error) from exc
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
                    raise LocalServiceError(
                        f"The embedded services stopped before they were ready (exit code {proc.wait()}); "
                        f"see {self.log_path}."
                    )
                self._endpoints = EmbeddedEndpoints.from_line(line)
                self._status = "ready"
                logger.info("embedded services ready in %.1f s", self.elapsed)
            except LocalError as exc:
                self._status, self._error = "failed", str(exc)
                logger.error("embedded services failed: %s", exc)
            finally:
                self._ready.set()

    def wait(self, timeout: float | None = None) -> EmbeddedEndpoints:
        """Block until ready (for tests and scripts; pages use :attr:`status`)."""
        if self.status == "stopped":
            self.start()
        if not self._ready.wait(self.timeout if timeout is None else timeout):
            raise LocalServiceError(
                f"The embedded services were not ready within {timeout or self.timeout:.0f} s."
            )
        endpoints = self.endpoints
        if endpoints is None:
            raise LocalServiceError(self._error or "The embedded services are not running.")
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


# --- scene search ---------------------------------------------------------------------------------------


def parse_datetime(value: str) -> dt.datetime:
    """An ISO 8601 date or datetime as an aware UTC datetime (naive values are taken as UTC)."""
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True)
class Scene:
    """One acquisition of one area: what the scene search returns as a STAC item."""

    area_id: str
    datetime: dt.datetime
    bbox: tuple[float, float, float, float]
    epsg: int
    shape: tuple[int, int]
    cloud_cover: float | None = None
    bands: tuple[str, ...] = ()
    """The bands of the collection this scene has (``SCL`` where a cloud mask can be computed); empty when
    not known (an answer of a backend that did not say)."""

    @property
    def id(self) -> str:
        return f"{COLLECTION_ID}_{self.area_id}_{self.datetime:%Y%m%d}"

    @property
    def date(self) -> dt.date:
        return self.datetime.date()

    @property
    def has_scl(self) -> bool:
        """Whether the scene has the scene classification band, which the SCL cloud mask needs."""
        return SCL_BAND in self.bands

    @property
    def geometry(self) -> dict[str, Any]:
        w, s, e, n = self.bbox
        return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}

    def to_stac_item(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "datetime": self.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "proj:code": f"EPSG:{self.epsg}",
            "proj:shape": list(self.shape),
            "apex:area": self.area_id,
            "platform": "sentinel-2",
            "constellation": "sentinel-2",
        }
        if self.cloud_cover is not None:
            props["eo:cloud_cover"] = round(self.cloud_cover, 2)
        if self.bands:
            props["bands"] = [{"name": b} for b in self.bands]  # STAC 1.1 common metadata
        return {
            "type": "Feature",
            "stac_version": "1.1.0",
            "stac_extensions": [
                "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
                "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
            ],
            "id": self.id,
            "collection": COLLECTION_ID,
            "bbox": list(self.bbox),
            "geometry": self.geometry,
            "properties": props,
            "links": [],
            "assets": {},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "area_id": self.area_id,
            "datetime": self.datetime.isoformat(),
            "bbox": list(self.bbox),
            "epsg": self.epsg,
            "shape": list(self.shape),
            "cloud_cover": self.cloud_cover,
            "bands": list(self.bands),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scene:
        bbox = [float(v) for v in d["bbox"]]
        shape = [int(v) for v in d["shape"]]
        cover = d.get("cloud_cover")
        return cls(
            area_id=str(d["area_id"]),
            datetime=parse_datetime(str(d["datetime"])),
            bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
            epsg=int(d["epsg"]),
            shape=(shape[0], shape[1]),
            cloud_cover=float(cover) if cover is not None else None,
            bands=tuple(str(b) for b in d.get("bands") or ()),
        )

    @classmethod
    def from_stac_item(cls, item: Mapping[str, Any]) -> Scene:
        props = item["properties"]
        code = str(props.get("proj:code", "EPSG:4326"))
        bbox = [float(v) for v in item["bbox"]]
        shape = [int(v) for v in props.get("proj:shape", (0, 0))]
        cover = props.get("eo:cloud_cover")
        return cls(
            area_id=str(props.get("apex:area", "")),
            datetime=parse_datetime(str(props["datetime"])),
            bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
            epsg=int(code.split(":")[-1]),
            shape=(shape[0], shape[1]),
            cloud_cover=float(cover) if cover is not None else None,
            bands=tuple(
                str(b["name"]) for b in props.get("bands") or () if isinstance(b, Mapping) and b.get("name")
            ),
        )


def _iso(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ".."
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def search_scenes(
    openeo_url: str,
    *,
    bbox: Sequence[float] | None = None,
    start: dt.date | dt.datetime | None = None,
    end: dt.date | dt.datetime | None = None,
    max_cloud_cover: float | None = None,
    limit: int = 1000,
    timeout: float = 30.0,
    session: requests.Session | None = None,
) -> list[Scene]:
    """Observations of ``SENTINEL2_L2A`` intersecting ``bbox`` (W, S, E, N in WGS84), newest first
    (``GET <openeo_url>/scenes/search``), with real acquisition dates and cloud cover.

    ``start``/``end`` bound the acquisition time: ``[start, end)``; a date ``end`` equal to ``start``
    means that one day. Each scene says which bands it has (:attr:`Scene.bands`, :attr:`Scene.has_scl`).
    Raises :class:`LocalServiceError` when the backend cannot be reached and :class:`LocalBackendError`
    when it refuses the request (or offers no scene search, as production backends do not).
    """
    params: dict[str, Any] = {"limit": limit}
    if bbox is not None:
        if len(bbox) != 4:
            raise ValueError("bbox must be (west, south, east, north)")
        params["bbox"] = ",".join(f"{float(v):.6f}" for v in bbox)
    if start is not None or end is not None:
        params["datetime"] = f"{_iso(start)}/{_iso(end)}"
    if max_cloud_cover is not None:
        params["max_cloud_cover"] = max_cloud_cover
    url = openeo_url.rstrip("/") + "/scenes/search"
    http = session or requests.Session()
    try:
        resp = http.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise LocalServiceError(f"The openEO backend at {openeo_url} cannot be reached: {exc}") from exc
    finally:
        if session is None:
            http.close()
    if resp.status_code == 404:
        raise LocalBackendError(
            f"The openEO backend at {openeo_url} offers no scene search.", code="NotFound", status=404
        )
    if resp.status_code >= 400:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        raise LocalBackendError(
            str(body.get("message") or f"Scene search failed: HTTP {resp.status_code}"),
            code=body.get("code"),
            status=resp.status_code,
            request_id=body.get("id") or resp.headers.get("Request-Id"),
        )
    try:
        features = resp.json()["features"]
        scenes = [Scene.from_stac_item(f) for f in features]
    except (ValueError, KeyError, TypeError) as exc:
        raise LocalBackendError(
            f"The scene search of {openeo_url} answered an unreadable document: {exc}"
        ) from exc
    logger.debug("scene search %s: %d scene(s)", params, len(scenes))
    return scenes
