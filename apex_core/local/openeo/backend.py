"""openeo-driver adapters: the parts of ``OpenEoBackendImplementation`` the embedded backend implements.

openeo-driver (VITO's Flask openEO API framework) provides the HTTP API: capabilities, collections,
processes, file formats, basic + OIDC auth, ``/result``, ``/jobs`` and the STAC job-results documents
with asset download. This module supplies the collection catalogue, processing (sync evaluation) and
batch jobs on top of :mod:`~apex_core.local.openeo.data`, :mod:`~apex_core.local.openeo.engine` and
:mod:`~apex_core.local.openeo.jobs`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import importlib
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import jwt
from openeo_driver.backend import (
    BatchJobMetadata,
    BatchJobResultMetadata,
    BatchJobs,
    CollectionCatalog,
    CollectionsListing,
    LoadParameters,
    OpenEoBackendImplementation,
    Processing,
)
from openeo_driver.config import OpenEoBackendConfig
from openeo_driver.errors import (
    JobLockedException,
    JobNotFoundException,
    OpenEOApiException,
    ProcessGraphMissingException,
    PropertyNotEditableException,
    TokenInvalidException,
)
from openeo_driver.processes import ProcessRegistry as DriverProcessRegistry
from openeo_driver.urlsigning import UrlSigner
from openeo_driver.users import User
from openeo_driver.users.auth import AUTHENTICATION_METHOD, HttpAuthHandler
from openeo_driver.users.oidc import OidcProvider
from openeo_driver.utils import EvalEnv

from apex_core.local.openeo.auth import AuthOptions, OidcProviderOptions
from apex_core.local.openeo.data import (
    BANDS,
    COLLECTION_ID,
    DataCatalogue,
    NoDataAvailable,
    parse_spatial_extent,
    parse_temporal_extent,
)
from apex_core.local.openeo.jobs import (
    RESTARTABLE,
    RESTARTED,
    JobNotFound,
    JobRecord,
    JobRunner,
    JobStore,
    WorkerSpec,
    new_job_id,
)
from apex_core.local.openeo.model import (
    OUTPUT_FORMATS,
    CollectionNotFound,
    ProcessGraphError,
    ProcessParameterInvalid,
    ProcessUnsupported,
    ResultFile,
    failure_of,
)
from apex_core.local.openeo.udp import LocalUserDefinedProcesses
from apex_core.local.openeo.validation import is_literal, validate_process_graph
from apex_core.local.openeo.worker import DEFAULT_EXECUTOR, PRELOAD

__all__ = [
    "AuthOptions",
    "LocalBackend",
    "NoDataAvailableException",
    "OidcProviderOptions",
    "build_driver_config",
    "estimate_process",
    "install_signed_basic_tokens",
]

logger = logging.getLogger(__name__)

BACKEND_TITLE = "APEx embedded openEO backend"
BACKEND_VERSION = "1.0.0"
TOKEN_TTL_SECONDS = 24 * 3600


class NoDataAvailableException(OpenEOApiException):  # type: ignore[misc]
    status_code = 400
    code = "NoDataAvailable"
    message = "There is no data available for the given extents."


class ProcessGraphInvalid(OpenEOApiException):  # type: ignore[misc]
    status_code = 400
    code = "ProcessGraphInvalid"
    message = "The process graph cannot be evaluated."


def _engine() -> ModuleType:
    """The execution engine, imported on first use (openeo-processes-dask takes seconds to import;
    the server warms it up in the background so that it answers its health check sooner)."""
    return importlib.import_module("apex_core.local.openeo.engine")


def _api_error(exc: Exception) -> OpenEOApiException:
    if isinstance(exc, OpenEOApiException):
        return exc
    if isinstance(exc, NoDataAvailable):
        return NoDataAvailableException(message=str(exc))
    code, status, message = failure_of(exc)  # the graph's fault (4xx with its reason), else Internal
    if status >= 500:
        logger.error("process graph evaluation failed", exc_info=exc)
    return OpenEOApiException(message=message, code=code, status_code=status)


# --- auth ---------------------------------------------------------------------------------------------------


def _provider(options: OidcProviderOptions) -> OidcProvider:
    return OidcProvider(
        id=options.id,
        issuer=options.issuer,
        title=options.title,
        scopes=list(options.scopes),
        default_clients=[dict(c) for c in options.default_clients] or None,
    )


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:32]


def install_signed_basic_tokens(app: flask.Flask, secret: bytes, ttl: int = TOKEN_TTL_SECONDS) -> None:
    """Make basic-auth access tokens verifiable and expiring.

    openeo-driver's stock basic token is just the base64 user name, which anyone could forge. Here it is
    ``<base64 user>.<expiry>.<HMAC>``; a token that is forged or expired is ``TokenInvalid``.
    """
    handler: HttpAuthHandler = app.extensions["auth_handler"]

    def build(user_id: str) -> str:
        user = base64.urlsafe_b64encode(user_id.encode()).decode("ascii").rstrip("=")
        payload = f"{user}.{int(time.time()) + ttl}"
        return f"{payload}.{_sign(secret, payload)}"

    def resolve(access_token: str) -> User:
        try:
            user, expires, signature = access_token.split(".")
            payload = f"{user}.{expires}"
            valid = hmac.compare_digest(signature, _sign(secret, payload)) and int(expires) > time.time()
            user_id = base64.urlsafe_b64decode(user + "=" * (-len(user) % 4)).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenInvalidException() from exc
        if not valid:
            raise TokenInvalidException()
        return User(
            user_id=user_id, internal_auth_data={"authentication_method": AUTHENTICATION_METHOD.BASIC}
        )

    # Instance attributes shadow the class's methods; the auth decorators call them through ``self``.
    handler.build_basic_access_token = build
    handler.resolve_basic_access_token = resolve


_BEARER_CACHE_SECONDS = 15 * 60


def _bearer_expiry(bearer: str) -> float | None:
    """When the token inside an openEO bearer (``oidc/<provider>/<jwt>`` or ``basic//<ours>``) expires.

    Only read to bound a cache entry: the token itself was verified by the issuer (userinfo) or by
    our HMAC check before it was cached.
    """
    kind, _, token = bearer.partition("/")
    token = token.partition("/")[2]
    try:
        if kind == "oidc":
            claims = jwt.decode(token, options={"verify_signature": False})
            return float(claims["exp"])
        if kind == "basic":
            return float(token.split(".")[1])
    except (jwt.PyJWTError, KeyError, IndexError, ValueError, TypeError):
        return None
    return None


def install_bearer_cache_bound(app: flask.Flask) -> None:
    """openeo-driver caches a bearer token's user for 15 minutes, even past the token's ``exp``: an
    expired token would keep working. Cache each user only until its token expires."""
    handler: HttpAuthHandler = app.extensions["auth_handler"]
    cache = handler._cache  # openeo-driver's TtlCache of bearer -> user

    def get_user_from_bearer_token(request: flask.Request) -> User:
        bearer = handler.get_auth_token(request, "Bearer")
        key = ("bearer", bearer)
        if cache.contains(key):
            cached: User = cache.get(key)
            return cached
        user: User = handler._get_user_from_bearer_token(bearer=bearer)
        expiry = _bearer_expiry(bearer)
        ttl = _BEARER_CACHE_SECONDS if expiry is None else min(_BEARER_CACHE_SECONDS, expiry - time.time())
        if ttl > 0:
            cache.set(key, value=user, ttl=ttl)
        return user

    handler.get_user_from_bearer_token = get_user_from_bearer_token


def build_driver_config(auth: AuthOptions, signing_secret: str) -> OpenEoBackendConfig:
    """The openeo-driver configuration of the embedded backend."""

    def valid_basic_auth(username: str, password: str) -> bool:
        ok = auth.check_password(username, password)
        if not ok:
            logger.warning("basic auth refused for user %r", username)
        return ok

    return OpenEoBackendConfig(
        id="apex-embedded",
        capabilities_title=BACKEND_TITLE,
        capabilities_description=(
            "Embedded openEO backend of the APEx publishing dashboard: real Sentinel-2 L2A samples "
            "(Bolzano 2022, Kempen 2019, a Romanian time series 2015-2021) processed locally with "
            "openeo-processes-dask. Runs on loopback, offline."
        ),
        capabilities_backend_version=BACKEND_VERSION,
        processing_facility="APEx embedded openEO backend (local)",
        processing_software="apex-core openeo-driver + openeo-processes-dask",
        enable_basic_auth=True,
        valid_basic_auth=valid_basic_auth,
        enable_oidc_auth=True,  # lists the providers (possibly none) at /credentials/oidc
        oidc_providers=[_provider(p) for p in auth.oidc_providers],
        url_signer=UrlSigner(secret=signing_secret, expiration=7 * 24 * 3600),
    )


# --- collections --------------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def collection_metadata(catalogue: DataCatalogue) -> dict[str, Any]:
    start, end = catalogue.temporal_extent()
    bboxes = [list(a.bbox) for a in catalogue.areas]
    if bboxes:
        union = [
            min(b[0] for b in bboxes),
            min(b[1] for b in bboxes),
            max(b[2] for b in bboxes),
            max(b[3] for b in bboxes),
        ]
        spatial = [union, *bboxes] if len(bboxes) > 1 else bboxes
    else:
        spatial = [[-180.0, -90.0, 180.0, 90.0]]
    epsgs = sorted({a.epsg for a in catalogue.areas})
    dates = sorted({s.datetime for s in catalogue.scenes})
    return {
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/datacube/v2.2.0/schema.json",
        ],
        "type": "Collection",
        "id": COLLECTION_ID,
        "title": "Sentinel-2 L2A samples (embedded)",
        "description": (
            "Real Sentinel-2 surface reflectance samples served offline: "
            + "; ".join(a.describe() for a in catalogue.areas)
            + ". Values are reflectance x 10000 as float32, nodata NaN."
        ),
        "license": "proprietary",
        "keywords": ["Sentinel-2", "L2A", "sample", "offline"],
        "providers": [
            {
                "name": "European Union/ESA/Copernicus",
                "roles": ["producer", "licensor"],
                "url": "https://sentinel.esa.int",
            },
            {"name": "APEx embedded openEO backend", "roles": ["host", "processor"]},
        ],
        "extent": {
            "spatial": {"bbox": spatial},
            "temporal": {"interval": [[_iso(start), _iso(end)]]},
        },
        "cube:dimensions": {
            "x": {
                "type": "spatial",
                "axis": "x",
                "reference_system": epsgs[0] if len(epsgs) == 1 else 4326,
                "step": 10,
            },
            "y": {
                "type": "spatial",
                "axis": "y",
                "reference_system": epsgs[0] if len(epsgs) == 1 else 4326,
                "step": 10,
            },
            "t": {"type": "temporal", "extent": [_iso(start), _iso(end)], "values": [_iso(d) for d in dates]},
            "bands": {"type": "bands", "values": [b.name for b in BANDS]},
        },
        "summaries": {
            "eo:bands": [b.to_dict() for b in BANDS],
            "bands": [b.to_stac_band() for b in BANDS],
            "platform": ["sentinel-2a", "sentinel-2b"],
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "proj:epsg": epsgs,
            "apex:areas": [a.to_dict() for a in catalogue.areas],
            "apex:attribution": [a.attribution for a in catalogue.areas],
        },
        "links": [],
    }


class _CollectionsListing(CollectionsListing):  # type: ignore[misc]
    """``GET /collections``: openeo-driver keeps a short list of fields in each entry, without the
    STAC ``type`` the openEO API requires there (``GET /collections/{id}`` keeps it)."""

    def to_response_dict(self, normalize: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = super().to_response_dict(normalize)
        out["collections"] = [{"type": "Collection", **c} for c in out["collections"]]
        return out


class LocalCollectionCatalog(CollectionCatalog):  # type: ignore[misc]
    def __init__(self, catalogue: DataCatalogue) -> None:
        super().__init__(all_metadata=[collection_metadata(catalogue)])
        self.catalogue = catalogue

    def get_collections_listing(self) -> CollectionsListing:
        return _CollectionsListing(collections=self.get_all_metadata())

    def load_collection(self, collection_id: str, load_params: LoadParameters, env: EvalEnv) -> Any:
        raise OpenEOApiException(
            message="Not used: evaluation runs in openeo-processes-dask.", status_code=501
        )

    def get_collection_items(self, collection_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
        if collection_id != COLLECTION_ID:
            raise OpenEOApiException(
                message=f"Collection {collection_id!r} does not exist.",
                status_code=404,
                code="CollectionNotFound",
            )
        return scene_search(self.catalogue, parameters)


def scene_search(catalogue: DataCatalogue, params: Mapping[str, Any]) -> dict[str, Any]:
    """STAC item search over the scenes, newest first, as a GeoJSON FeatureCollection of STAC items.

    Parameters: ``bbox=W,S,E,N`` (WGS84), ``datetime=a/b`` (half-open ``[a, b)`` like openEO temporal
    extents; ``..`` or empty for an open end; a single date means that day), ``max_cloud_cover``
    (percent; scenes without cloud cover are then left out) and ``limit`` (default 1000).
    """
    aoi = None
    bbox = params.get("bbox")
    if bbox:
        try:
            w, s, e, n = (float(v) for v in str(bbox).split(","))
        except ValueError as exc:
            raise OpenEOApiException(
                message=f"bbox must be W,S,E,N, got {bbox!r}", status_code=400, code="ParameterInvalid"
            ) from exc
        try:
            aoi = parse_spatial_extent({"west": w, "south": s, "east": e, "north": n})
        except ProcessGraphError as exc:
            reason = exc.reason if isinstance(exc, ProcessParameterInvalid) else str(exc)
            raise OpenEOApiException(
                message=f"Invalid bbox {bbox!r}: {reason}",
                status_code=400,
                code="ParameterInvalid",
            ) from exc
    time_range = None
    when = params.get("datetime")
    if when:
        parts = str(when).split("/")
        if len(parts) == 1:
            parts = [parts[0], parts[0]]
        try:
            time_range = parse_temporal_extent([None if p in ("", "..") else p for p in parts[:2]])
        except ValueError as exc:
            raise OpenEOApiException(
                message=f"Invalid datetime {when!r}: {exc}", status_code=400, code="ParameterInvalid"
            ) from exc
    max_cc = params.get("max_cloud_cover")
    try:
        max_cloud = float(max_cc) if max_cc not in (None, "") else None
        limit = int(params.get("limit") or 1000)
    except ValueError as exc:
        raise OpenEOApiException(message=str(exc), status_code=400, code="ParameterInvalid") from exc
    scenes = catalogue.search(aoi=aoi, time_range=time_range, max_cloud_cover=max_cloud)
    scenes.sort(key=lambda s: s.datetime, reverse=True)
    matched = len(scenes)
    items = [s.to_stac_item() for s in scenes[: max(limit, 0)]]
    return {
        "type": "FeatureCollection",
        "features": items,
        "numberMatched": matched,
        "numberReturned": len(items),
        "links": [],
    }


# --- processing ---------------------------------------------------------------------------------------------


_PRIORITY: dict[type[ProcessGraphError], int] = {
    ProcessGraphError: 0,  # the graph's shape
    ProcessUnsupported: 1,
    CollectionNotFound: 2,
}


class LocalProcessing(Processing):  # type: ignore[misc]
    def __init__(self, catalogue: DataCatalogue, *, workspaces: bool = False) -> None:
        self.catalogue = catalogue
        self.workspaces = workspaces  # offer export_workspace (workspaces are configured)
        self._registry: DriverProcessRegistry | None = None
        self._specs: dict[str, dict[str, Any]] | None = None

    def specs(self) -> dict[str, dict[str, Any]]:
        """The specs of the processes this backend runs, by id (what ``GET /processes`` lists)."""
        if self._specs is None:
            self._specs = {spec["id"]: spec for spec in _engine().process_specs(workspaces=self.workspaces)}
        return self._specs

    def problems(self, process_graph: Any) -> list[ProcessGraphError]:
        """What is wrong with ``process_graph`` before it runs (see :mod:`.validation`)."""
        return validate_process_graph(process_graph, self.specs(), {COLLECTION_ID: [b.name for b in BANDS]})

    def validate(self, process_graph: dict[str, Any], env: EvalEnv = None) -> list[dict[str, Any]]:
        """``POST /validation``: every problem as an openEO error (``code``, ``message``)."""
        return [{"code": p.code, "message": str(p)} for p in self.problems(process_graph)]

    def first_problem(self, process_graph: Any) -> ProcessGraphError | None:
        """The problem of ``process_graph`` that matters most (a process or collection that does not
        exist first), or ``None`` when it is valid."""
        problems = self.problems(process_graph)
        if not problems:
            return None
        return min(problems, key=lambda p: _PRIORITY.get(type(p), len(_PRIORITY)))

    def check(self, process_graph: Any) -> None:
        """Refuse a statically invalid graph with its first problem (its openEO code and status)."""
        problem = self.first_problem(process_graph)
        if problem is not None:
            raise _api_error(problem)

    def check_structure(self, process_graph: Any) -> None:
        """Refuse a graph that is not a well-formed process graph (``ProcessGraphInvalid``: not an object
        of nodes, no single result node, a node without ``process_id``, a ``from_node`` to nowhere).
        Whether its processes, collections and arguments exist and fit is checked when it runs."""
        for problem in self.problems(process_graph):
            if type(problem) is ProcessGraphError:
                raise _api_error(problem)

    def get_process_registry(self, api_version: Any) -> DriverProcessRegistry:
        if self._registry is None:
            registry = DriverProcessRegistry(target_version="2.0.0-rc.1")
            for spec in self.specs().values():
                registry.add_spec(spec)
            self._registry = registry
        return self._registry

    def evaluate(self, process_graph: dict[str, Any], env: EvalEnv = None) -> flask.Response:
        self.check(process_graph)
        try:
            request = _engine().execute(process_graph, self.catalogue)
            if request.exports:
                raise ProcessGraphError("export_workspace runs in batch jobs only: create a batch job.")
            with tempfile.TemporaryDirectory(prefix="apex-openeo-sync-") as tmp:
                files = _engine().write_results(request, Path(tmp))
                if len(files) != 1:
                    raise ProcessGraphError(
                        f"The synchronous result has {len(files)} dates; use a batch job or reduce time."
                    )
                body = (Path(tmp) / files[0].filename).read_bytes()
        except Exception as exc:
            raise _api_error(exc) from exc
        response = flask.Response(body, mimetype="image/tiff; application=geotiff")
        response.headers["Content-Disposition"] = f'attachment; filename="{files[0].filename}"'
        return response


# --- batch jobs ---------------------------------------------------------------------------------------------


def _times(f: ResultFile) -> dict[str, str | None]:
    """``datetime``, ``start_datetime`` and ``end_datetime`` of a result file (its item and asset): an
    observation's date three times; for a composite, the first instant of its range and the range."""
    start, end = f.interval
    return {"datetime": _iso(f.datetime), "start_datetime": _iso(start), "end_datetime": _iso(end)}


def _raster_bands(f: ResultFile) -> list[dict[str, Any]]:
    """STAC raster extension ``raster:bands`` of a result file, statistics as computed from the file."""
    out = []
    for i, name in enumerate(f.bands):
        band: dict[str, Any] = {"name": name, "data_type": f.data_type, "nodata": "nan"}
        if i < len(f.statistics):
            band["statistics"] = f.statistics[i].to_dict()
        out.append(band)
    return out


PROCESS_REPLACED = (
    "The process was replaced: the results (and logs) of the previous process were discarded; "
    "start the job to compute the new results."
)
# Editable properties of a job (openEO API 1.2 ``PATCH /jobs/{job_id}``).
_EDITABLE = ("title", "description", "process", "plan", "budget", "log_level")
_LOG_LEVELS = ("debug", "info", "warning", "error")
# Estimates (GET /jobs/{job_id}/estimate): a job's fixed cost (queue, worker), the rate at which a worker
# loads and processes values (float32 pixels x bands x dates) and the cost of writing one result file
# (one COG per date). Measured on the 2-core development machine with NDVI jobs over the three sample
# areas (Bolzano 1.3 M values: 0.4 s; Romania, 140 dates, 2.8 M values: 4.7 s); a guide, not a promise.
_JOB_OVERHEAD_SECONDS = 0.5
_VALUES_PER_SECOND = 4_000_000
_SECONDS_PER_DATE = 0.03
_BYTES_PER_VALUE = 4  # float32


def _iso_duration(seconds: float) -> str:
    """ISO 8601 duration of ``seconds`` rounded up to whole seconds, e.g. ``PT2M5S``."""
    total = max(1, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        "PT"
        + (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{secs}S" if secs else "")
    )


def estimate_process(process: Mapping[str, Any], catalogue: DataCatalogue) -> dict[str, Any]:
    """The openEO estimate of running ``process`` on this backend.

    ``size`` is the bytes of float32 data every ``load_collection`` of the graph reads: pixels of the
    sample area's native grid under the extent's bounding box x bands x dates (arguments computed by
    the graph count as not given: the whole area, all bands, all dates). It bounds the results'
    uncompressed size; later processes usually shrink it (``ndvi`` keeps one band, a coarser
    ``resample_spatial`` fewer pixels, the COG's DEFLATE compression more). ``duration`` is a fixed
    overhead, plus the loaded values at a measured rate, plus writing one file per date, rounded up to
    whole seconds. ``costs`` are 0: processing is free here.
    A graph whose data does not exist is ``NoDataAvailable``, as running it would be.
    """
    graph = process.get("process_graph", process)
    values = dates = 0
    for node in graph.values() if isinstance(graph, Mapping) else ():
        if not isinstance(node, Mapping) or node.get("process_id") != "load_collection":
            continue
        args = node.get("arguments") or {}
        known = {k: v for k, v in args.items() if is_literal(v)}
        load = catalogue.estimate(
            spatial_extent=known.get("spatial_extent"),
            temporal_extent=known.get("temporal_extent"),
            bands=known.get("bands"),
        )
        values, dates = values + load.values, dates + load.dates
    seconds = _JOB_OVERHEAD_SECONDS + values / _VALUES_PER_SECOND + dates * _SECONDS_PER_DATE
    return {
        "costs": 0,
        "duration": _iso_duration(seconds),
        "size": values * _BYTES_PER_VALUE,
        # No "downloads_included": its default, null, is unlimited downloads (as here).
    }


def _property_invalid(name: str, reason: str) -> OpenEOApiException:
    return OpenEOApiException(
        message=f"The property '{name}' is invalid: {reason}", code="PropertyInvalid", status_code=400
    )


class LocalBatchJobs(BatchJobs):  # type: ignore[misc]
    def __init__(
        self,
        store: JobStore,
        runner: JobRunner,
        config: OpenEoBackendConfig | None = None,
        *,
        processing: LocalProcessing,
    ) -> None:
        super().__init__()
        self.store = store
        self.runner = runner
        self.config = config
        self.processing = processing  # checks graphs before a job is created or changed

    def _get(self, job_id: str, user_id: str) -> JobRecord:
        try:
            return self.store.get(job_id, user_id)
        except JobNotFound as exc:
            raise JobNotFoundException(job_id=job_id) from exc

    @staticmethod
    def _metadata(record: JobRecord) -> BatchJobMetadata:
        files = record.results
        starts = [t for f in files if (t := f.interval[0]) is not None]
        ends = [t for f in files if (t := f.interval[1]) is not None]
        start, end = min(starts, default=None), max(ends, default=None)
        first = files[0] if files else None
        bbox = None
        geometry = None
        if files:
            bbox = [
                min(f.bbox[0] for f in files),
                min(f.bbox[1] for f in files),
                max(f.bbox[2] for f in files),
                max(f.bbox[3] for f in files),
            ]
            w, s, e, n = bbox
            geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
        return BatchJobMetadata(
            id=record.id,
            status=record.status,
            created=record.created,
            updated=record.updated,
            process=record.process,
            job_options=record.job_options,
            title=record.title,
            description=record.description,
            progress=record.progress,
            started=record.started,
            finished=record.finished,
            bbox=bbox,
            geometry=geometry,
            start_datetime=start,
            end_datetime=end,
            epsg=first.epsg if first else None,
            proj_shape=list(first.shape) if first else None,
            proj_bbox=list(first.proj_bbox) if first else None,
            instruments=["msi"],
            costs=0.0,
        )

    def create_job(
        self,
        *,
        user: User,
        process: dict[str, Any],
        api_version: str,
        metadata: dict[str, Any],
        job_options: dict[str, Any] | None = None,
    ) -> BatchJobMetadata:
        # Only a malformed graph is refused now; the rest when the job starts.
        self.processing.check_structure(process.get("process_graph"))
        record = JobRecord(
            id=new_job_id(),
            user_id=user.user_id,
            process=process,
            title=metadata.get("title"),
            description=metadata.get("description"),
            job_options=job_options,
        )
        record = self.store.create(record)
        logger.info("job %s created for %s", record.id, user.user_id)
        return self._metadata(record)

    def get_job_info(self, job_id: str, user_id: str) -> BatchJobMetadata:
        return self._metadata(self._get(job_id, user_id))

    def get_user_jobs(
        self, user_id: str, limit: int | None = None, request_parameters: dict[str, Any] | None = None
    ) -> list[BatchJobMetadata]:
        records = self.store.list(user_id)
        if limit:
            records = records[:limit]
        return [self._metadata(r) for r in records]

    def start_job(self, job_id: str, user: User) -> None:
        """``POST /jobs/{job_id}/results``: the graph is checked in full first (:mod:`.validation`); a
        problem ends the job in ``error`` at once, its openEO code and message in the logs (and in the
        ``424`` of its results), without queueing it. A ``canceled``, ``error`` or ``finished`` job is
        restarted: its previous results and logs are discarded first (openEO API 1.2, start-job); a
        queued or running job is left as it is."""
        record = self._get(job_id, user.user_id)
        if record.status not in RESTARTABLE:
            return
        problem = self.processing.first_problem(record.process.get("process_graph"))
        if problem is None:
            self.runner.start(job_id)
            return
        with self.store.lock:
            status = self._get(job_id, user.user_id).status
            if status not in RESTARTABLE:
                return
            if status != "created":
                self.store.discard_run(job_id, RESTARTED.format(status=status))
            logger.info("job %s refused at start: %s", job_id, problem)
            self.store.log(
                job_id,
                "error",
                f"Job failed: {problem}",
                code=problem.code,
                status="error",
                progress=0.0,
                started=None,
                finished=dt.datetime.now(dt.UTC).replace(microsecond=0),
            )

    def _assets(self, record: JobRecord) -> dict[str, dict[str, Any]]:
        out_dir = str(self.store.results_dir(record.id))
        assets: dict[str, dict[str, Any]] = {}
        for f in record.results:
            assets[f.filename] = {
                "title": f.filename,
                "output_dir": out_dir,
                "type": f.media_type,
                "roles": ["data"],
                "bands": [{"name": b} for b in f.bands],
                "raster:bands": _raster_bands(f),
                "file:size": f.size,
                "proj:epsg": f.epsg,
                "proj:shape": list(f.shape),
                "proj:bbox": list(f.proj_bbox),
                **_times(f),
            }
            if f.exported:
                assets[f.filename].update(self._exported(record, f))
        return assets

    def _exported(self, record: JobRecord, f: ResultFile) -> dict[str, Any]:
        """An exported file: its workspace href is the asset's href (``s3://...`` as on CDSE); the
        backend's download link stays available as the ``openeo`` alternate."""
        alternate: dict[str, Any] = {}
        if self.config is not None and flask.has_request_context():
            url = self.config.asset_url.build_url(
                asset_metadata={}, asset_name=f.filename, job_id=record.id, user_id=record.user_id
            )
            alternate["openeo"] = {"href": url, "title": "Download from the openEO backend"}
        for n, href in enumerate(f.exported):
            alternate[f"workspace-{n + 1}" if n else "workspace"] = {"href": href}
        return {self.ASSET_PUBLIC_HREF: f.exported[-1], "alternate": alternate}

    def get_result_assets(self, job_id: str, user_id: str) -> dict[str, dict[str, Any]]:
        return self._assets(self._get(job_id, user_id))

    def get_result_metadata(self, job_id: str, user_id: str) -> BatchJobResultMetadata:
        record = self._get(job_id, user_id)
        assets = self._assets(record)
        items: dict[str, dict[str, Any]] = {}
        for f in record.results:
            item_id = Path(f.filename).stem
            items[item_id] = {
                "geometry": f.geometry,
                "bbox": list(f.bbox),
                "properties": _times(f),
                "assets": {f.filename: assets[f.filename]},
            }
        return BatchJobResultMetadata(
            assets=assets,
            items=items,
            links=[],
            providers=self._get_providers(job_id=job_id, user_id=user_id),
        )

    def get_log_entries(
        self,
        job_id: str,
        *,
        user_id: str,
        offset: str | None = None,
        limit: int | None = None,
        level: str = "debug",
    ) -> Iterable[dict[str, Any]]:
        order = {"debug": 0, "info": 1, "warning": 2, "error": 3}
        minimum = order.get(level, 0)
        entries = [e.to_dict() for e in self._get(job_id, user_id).logs if order.get(e.level, 0) >= minimum]
        if offset is not None:
            ids = [e["id"] for e in entries]
            entries = entries[ids.index(offset) + 1 :] if offset in ids else entries
        return entries[:limit] if limit else entries

    def update_job(self, job_id: str, user_id: str, changes: Any) -> None:
        """``PATCH /jobs/{job_id}``: title, description and process of a job that is not queued or
        running (``JobLocked`` otherwise). A new process of a ``finished`` job discards its results
        (and logs) of the old process: its status stays ``finished`` (a PATCH does not change it) with
        no result files, until it is started again. ``plan`` (only ``free``), ``budget`` and ``log_level`` are
        checked and accepted but change nothing: processing here is free and every log level is kept.
        An empty object changes nothing (204, as the API's request schema allows and its compliance suite
        expects; the ``NoDataForUpdate`` error of the API's error list is not used)."""
        if not isinstance(changes, Mapping):
            raise OpenEOApiException(
                message="The request body must be a JSON object of the properties to change.",
                code="JSONInvalid",
                status_code=400,
            )
        if not changes:
            if self._get(job_id, user_id).status in ("queued", "running"):
                raise JobLockedException()
            return
        for name in changes:
            if name not in _EDITABLE:
                raise PropertyNotEditableException(property=name)
        update: dict[str, Any] = {}
        for name in ("title", "description"):
            if name in changes:
                value = changes[name]
                if value is not None and not isinstance(value, str):
                    raise _property_invalid(name, "give a string (or null to clear it).")
                update[name] = value
        if "process" in changes:
            process = changes["process"]
            if not isinstance(process, Mapping) or "process_graph" not in process:
                raise ProcessGraphMissingException()
            # A graph that is not an object of nodes is refused here; the rest is checked at start.
            self.processing.check_structure(process["process_graph"])
            update["process"] = {"process_graph": dict(process["process_graph"])}
        if changes.get("plan") not in (None, "free"):
            raise OpenEOApiException(
                message=f"Billing plan {changes['plan']!r} does not exist; this backend has 'free'.",
                code="BillingPlanInvalid",
                status_code=400,
            )
        budget = changes.get("budget")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int | float) or budget < 0
        ):
            raise OpenEOApiException(
                message="The budget must be a non-negative number (or null).",
                code="BudgetInvalid",
                status_code=400,
            )
        if changes.get("log_level") not in (None, *_LOG_LEVELS):
            raise _property_invalid("log_level", f"use one of {list(_LOG_LEVELS)}.")
        with self.store.lock:
            record = self._get(job_id, user_id)
            if record.status in ("queued", "running"):
                raise JobLockedException()
            if "process" in update and record.status == "finished":
                # Results of another process would disagree with the job's process: they go (the
                # status stays, as the API says; starting the job computes the new process's results).
                self.store.discard_run(job_id, PROCESS_REPLACED)
            self.store.log(job_id, "info", f"Job updated: {', '.join(sorted(changes))}.", **update)

    def estimate_job(self, job_id: str, user_id: str) -> dict[str, Any]:
        """``GET /jobs/{job_id}/estimate``: see :func:`estimate_process`. A job whose graph fails the
        checks its start runs ends right there without loading or writing anything: ``costs`` and
        ``size`` 0, no ``duration`` (nothing to estimate)."""
        record = self._get(job_id, user_id)
        if self.processing.first_problem(record.process.get("process_graph")) is not None:
            return {"costs": 0, "size": 0}  # it ends at its start: loads and writes nothing, costs nothing
        try:
            return estimate_process(record.process, self.processing.catalogue)
        except Exception as exc:
            raise _api_error(exc) from exc

    def failure(self, job_id: str) -> OpenEOApiException | None:
        """For a job in status ``error``: its error (the last error log's code and message) as the
        ``424`` ``GET /jobs/{job_id}/results`` answers with; ``None`` for any other status."""
        try:
            record = self.store.get(job_id)
        except JobNotFound:
            return None
        if record.status != "error":
            return None
        errors = [entry for entry in record.logs if entry.level == "error"]
        last = errors[-1] if errors else None
        return OpenEOApiException(
            message=last.message if last else "The batch job failed; see its logs.",
            code=(last.code if last else None) or "Internal",
            status_code=424,
        )

    def cancel_job(self, job_id: str, user_id: str) -> None:
        self._get(job_id, user_id)
        self.runner.cancel(job_id)

    def delete_job(self, job_id: str, user_id: str) -> None:
        self._get(job_id, user_id)
        self.runner.cancel(job_id)
        self.store.delete(job_id)


# --- the backend --------------------------------------------------------------------------------------------


class LocalBackend(OpenEoBackendImplementation):  # type: ignore[misc]
    def __init__(
        self,
        catalogue: DataCatalogue,
        jobs_dir: Path,
        config: OpenEoBackendConfig,
        workers: int = 2,
        *,
        workspaces_file: Path | None = None,
    ):
        self.data = catalogue
        self.job_store = JobStore(jobs_dir)
        spec = WorkerSpec(
            executor=DEFAULT_EXECUTOR,
            data_dir=catalogue.data_dir,
            log_level=str(logging.getLevelName(logging.getLogger().getEffectiveLevel())),
            # The server module too: a forked worker re-runs the main module (``-m ...server``).
            preload=(*PRELOAD, "apex_core.local.openeo.server"),
            workspaces_file=workspaces_file,
        )
        self.job_runner = JobRunner(self.job_store, spec, workers=workers)
        processing = LocalProcessing(catalogue, workspaces=workspaces_file is not None)
        self.local_jobs = LocalBatchJobs(self.job_store, self.job_runner, config, processing=processing)
        # User-defined processes (/process_graphs), next to the jobs: <state dir>/openeo/process_graphs.
        self.udps = LocalUserDefinedProcesses(jobs_dir.parent / "process_graphs")
        super().__init__(
            catalog=LocalCollectionCatalog(catalogue),
            processing=processing,
            batch_jobs=self.local_jobs,
            user_defined_processes=self.udps,
            config=config,
        )

    def file_formats(self) -> dict[str, Any]:
        return {"input": {}, "output": OUTPUT_FORMATS}

    def capabilities_billing(self) -> dict[str, Any]:
        return {
            "currency": "EUR",
            "default_plan": "free",
            "plans": [
                {
                    "name": "free",
                    "description": "Local processing on this machine, free of charge.",
                    "paid": False,
                },
            ],
        }

    def health_check(self, options: Any = None) -> dict[str, Any]:
        return {
            "health": "OK",
            "areas": [a.id for a in self.data.areas],
            "scenes": len(self.data.scenes),
            # Process ids of the batch-job workers that are ready (jobs wait in the queue until one is).
            "workers": self.job_runner.worker_pids(),
        }

    def postprocess_capabilities(self, capabilities: dict[str, Any]) -> dict[str, Any]:
        links = [
            link
            for link in capabilities.get("links", [])
            if link.get("rel") not in ("terms-of-service", "privacy-policy")
        ]
        capabilities["links"] = links
        capabilities["production"] = False
        endpoints: list[dict[str, Any]] = capabilities["endpoints"]
        for entry in endpoints:  # openeo-driver hides PATCH /jobs/{job_id}: install_api_extensions has it
            if entry["path"] == "/jobs/{job_id}" and "PATCH" not in entry["methods"]:
                entry["methods"] = [*entry["methods"], "PATCH"]
        endpoints.append({"path": "/jobs/{job_id}/estimate", "methods": ["GET"]})
        endpoints.append({"path": "/service_types", "methods": ["GET"]})
        endpoints.append({"path": "/scenes/search", "methods": ["GET"]})
        return capabilities

    def shutdown(self) -> None:
        self.job_runner.shutdown()


_ACTIVE_CONFIG: OpenEoBackendConfig | None = None


def set_active_config(config: OpenEoBackendConfig) -> None:
    """Make ``config`` the one openeo-driver's ``get_backend_config()`` returns (see ``driver_config.py``)."""
    global _ACTIVE_CONFIG
    _ACTIVE_CONFIG = config


def active_config() -> OpenEoBackendConfig:
    if _ACTIVE_CONFIG is None:
        raise RuntimeError("the embedded backend's openeo-driver config was not set")
    return _ACTIVE_CONFIG
