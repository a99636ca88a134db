"""Process-graph execution: openeo-pg-parser-networkx + openeo-processes-dask, plus the adapters they lack.

The process registry is built the way ``openeo.local.processing`` builds it (every implementation of
openeo-processes-dask that has an official spec, under its openEO id: ``_max`` runs ``max``), then four
processes are replaced:

* ``load_collection`` reads :class:`~apex_core.local.openeo.data.DataCatalogue` (extents, bands,
  float + NaN nodata; unknown extra arguments such as ``featureflags`` are ignored);
* ``ndvi`` names its result ``NDVI`` so the saved band carries that description;
* ``resample_spatial`` refuses a negative or non-numeric resolution (``ProcessParameterInvalid``);
* ``save_result`` records the requested format; :func:`write_results` writes the GeoTIFF as a COG
  (named after the ``filename_prefix`` option when given), one per date; a result without time
  (``reduce_dimension`` over ``t``: a composite) is one file whose interval is the time the graph's
  ``load_collection`` asked for (:attr:`SaveRequest.interval`);
* ``export_workspace`` records the workspace and merge path; the worker copies the written files there
  (:mod:`~apex_core.local.openeo.workspaces`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import openeo_processes_dask.process_implementations as opd_impl
import openeo_processes_dask.specs as opd_specs
import rasterio
import rasterio.shutil
import rasterio.warp
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr
from openeo_pg_parser_networkx import OpenEOProcessGraph, ProcessRegistry
from openeo_pg_parser_networkx.process_registry import Process
from openeo_processes_dask.process_implementations.core import process as opd_process
from pyproj import CRS

from apex_core.local.openeo.data import COLLECTION_ID, DataCatalogue, parse_temporal_extent
from apex_core.local.openeo.model import (
    OUTPUT_FORMATS,
    BandStatistics,
    CollectionNotFound,
    ProcessGraphError,
    ProcessParameterInvalid,
    ProcessUnsupported,
    ResultFile,
)
from apex_core.local.openeo.validation import FORMAT_ALIASES, check_resolution
from apex_core.local.openeo.workspaces import merge_problem

__all__ = [
    "OUTPUT_FORMATS",
    "ProcessGraphError",
    "ResultFile",
    "SaveRequest",
    "band_statistics",
    "build_process_registry",
    "execute",
    "filename_stem",
    "process_specs",
    "runnable_processes",
    "write_results",
]

logger = logging.getLogger(__name__)

_BAND_NAME_ATTR = "long_name"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SaveRequest:
    """What ``save_result`` asked for; the data is written after the graph ran."""

    data: xr.DataArray
    format: str
    options: Mapping[str, Any]
    # (workspace id, merge path) per export_workspace applied to this result, in order.
    exports: tuple[tuple[str, str | None], ...] = ()
    # The time loaded (both ends included): the temporal extent of the graph's load_collection (the
    # first and last date loaded where it is open); a result without time dimension covers it.
    interval: tuple[dt.datetime, dt.datetime] | None = None


# --- the registry -------------------------------------------------------------------------------------------

# Processes that reach the network or run user code: not offered by an offline loopback backend.
_EXCLUDED = frozenset({"load_stac", "load_url", "load_uploaded_files", "run_udf", "export_workspace"})
_REGISTRY_LOCK = threading.Lock()
_BASE_REGISTRY: ProcessRegistry | None = None


def _official_specs() -> dict[str, dict[str, Any]]:
    """The official openEO process definitions openeo-processes-dask ships (its ``specs`` package loads
    the JSON files of the openeo-processes repository), by process id. The module attribute of a spec
    whose id is a Python builtin or keyword is prefixed with ``_`` (``_max``, ``_and``, ``_if``...)."""
    specs: dict[str, dict[str, Any]] = {}
    for attr in opd_specs.__all__:
        spec = getattr(opd_specs, attr, None)
        if isinstance(spec, dict) and isinstance(spec.get("id"), str):
            specs[spec["id"]] = spec
    return specs


_SPECS = _official_specs()


def _process_id(function_name: str) -> str:
    """The openEO id of an openeo-processes-dask implementation: functions named after a builtin or a
    keyword carry an underscore (``_max``, ``and_``...), which the process registry strips too."""
    return function_name.strip("_")


def _base_registry() -> ProcessRegistry:
    """openeo-processes-dask's processes, registered as ``openeo.local.processing`` does (built once)."""
    global _BASE_REGISTRY
    with _REGISTRY_LOCK:
        if _BASE_REGISTRY is None:
            registry = ProcessRegistry(wrap_funcs=[opd_process])
            for name, func in inspect.getmembers(opd_impl, inspect.isfunction):
                process_id = _process_id(name)
                if process_id in _EXCLUDED:
                    continue
                spec = _SPECS.get(process_id)
                if spec is None:
                    continue
                registry[process_id] = Process(spec=spec, implementation=func)
            _BASE_REGISTRY = registry
        return _BASE_REGISTRY


_ADAPTERS = ("load_collection", "save_result", "ndvi", "resample_spatial")


def runnable_processes(*, workspaces: bool = False) -> list[str]:
    """The ids of every process :func:`execute` runs: the registry's, the adapters, and
    ``export_workspace`` when workspaces are configured."""
    names = set(_names(_base_registry())) | set(_ADAPTERS)
    if workspaces:
        names.add("export_workspace")
    return sorted(names)


def process_specs(*, workspaces: bool = False) -> list[dict[str, Any]]:
    """The official specs of every process this backend can run (for ``GET /processes``);
    ``export_workspace`` only when workspaces are configured."""
    specs = []
    for name in runnable_processes(workspaces=workspaces):
        spec = _SPECS.get(name)
        if spec is None:  # every runnable process has one (the registry is built from them)
            raise RuntimeError(f"no official spec for the process {name!r}")
        specs.append(spec)
    return specs


def _names(registry: ProcessRegistry) -> list[str]:
    return [str(name) for _namespace, name in registry]


def _spec(name: str) -> dict[str, Any]:
    return _SPECS[name]


def build_process_registry(
    catalogue: DataCatalogue, loaded: list[tuple[dt.datetime, dt.datetime]] | None = None
) -> ProcessRegistry:
    """A registry for one evaluation: the shared processes plus the adapters bound to ``catalogue``;
    each ``load_collection`` appends the time it loaded (see :func:`_loaded_interval`) to ``loaded``."""
    base = _base_registry()
    registry = ProcessRegistry(wrap_funcs=[opd_process])
    # Share the already wrapped implementations: assigning through __setitem__ would wrap them again.
    registry.store = {namespace: dict(procs) for namespace, procs in base.store.items()}

    def load_collection(
        id: str,
        spatial_extent: Any = None,
        temporal_extent: Any = None,
        bands: list[str] | None = None,
        properties: Any = None,
        **extra: Any,
    ) -> xr.DataArray:
        if extra:
            logger.info("load_collection: ignoring extra arguments %s", sorted(extra))
        if id != COLLECTION_ID:
            raise CollectionNotFound(str(id), (COLLECTION_ID,))
        cube = catalogue.load(spatial_extent=spatial_extent, temporal_extent=temporal_extent, bands=bands)
        if loaded is not None:
            loaded.append(_loaded_interval(temporal_extent, cube))
        return cube

    def ndvi(data: xr.DataArray, nir: str = "nir", red: str = "red", target_band: str | None = None) -> Any:
        result = opd_impl.ndvi(data, nir=nir, red=red, target_band=target_band)
        if target_band is None and isinstance(result, xr.DataArray):
            # The bands dimension is dropped (openEO spec); remember the name for save_result.
            attrs = dict(result.attrs)
            result = result.clip(-1.0, 1.0)
            result.name = "NDVI"
            result.attrs = {**attrs, _BAND_NAME_ATTR: "NDVI"}
        return result

    def save_result(data: Any, format: str, options: Mapping[str, Any] | None = None) -> SaveRequest:
        fmt = FORMAT_ALIASES.get(str(format).lower())
        if fmt is None:
            raise ProcessParameterInvalid(
                "save_result", "format", f"{format!r} is not supported; use one of {list(OUTPUT_FORMATS)}."
            )
        if not isinstance(data, xr.DataArray):
            raise ProcessGraphError("save_result needs a raster data cube.")
        return SaveRequest(data=data, format=fmt, options=dict(options or {}))

    def export_workspace(data: Any, workspace: str, merge: str | None = None) -> SaveRequest:
        if not isinstance(data, SaveRequest):
            raise ProcessGraphError("export_workspace needs the result of save_result as its data.")
        if merge is not None and (problem := merge_problem(merge)) is not None:
            raise ProcessParameterInvalid("export_workspace", "merge", problem)
        return replace(data, exports=(*data.exports, (str(workspace), merge)))

    def resample_spatial(
        data: xr.DataArray,
        projection: Any = None,
        resolution: Any = 0,
        method: str = "near",
        align: str = "upper-left",
    ) -> Any:
        check_resolution(resolution)
        return opd_impl.resample_spatial(
            data, projection=projection, resolution=resolution, method=method, align=align
        )

    registry["resample_spatial"] = Process(spec=_spec("resample_spatial"), implementation=resample_spatial)
    registry["load_collection"] = Process(spec=_spec("load_collection"), implementation=load_collection)
    registry["export_workspace"] = Process(spec=_spec("export_workspace"), implementation=export_workspace)
    registry["ndvi"] = Process(spec=_spec("ndvi"), implementation=ndvi)
    registry["save_result"] = Process(spec=_spec("save_result"), implementation=save_result)
    return registry


def execute(process_graph: Mapping[str, Any], catalogue: DataCatalogue) -> SaveRequest:
    """Evaluate a flat process graph; the result is what to write (implicit GTiff if no ``save_result``)."""
    graph = dict(process_graph)
    if "process_graph" in graph:
        graph = dict(graph["process_graph"])
    try:
        parsed = OpenEOProcessGraph({"process_graph": graph})
    except Exception as exc:
        raise ProcessGraphError(f"The process graph is invalid: {exc}") from exc
    loaded: list[tuple[dt.datetime, dt.datetime]] = []
    registry = build_process_registry(catalogue, loaded)
    unknown = sorted(p for p in parsed.required_processes if p not in _known(registry))
    if unknown:
        raise ProcessUnsupported(unknown[0])
    func: Callable[..., Any] = parsed.to_callable(process_registry=registry)
    result = func()
    if isinstance(result, xr.DataArray):
        result = SaveRequest(data=result, format="GTiff", options={})
    if not isinstance(result, SaveRequest):
        raise ProcessGraphError(
            f"The process graph returned {type(result).__name__}, not a raster data cube."
        )
    if loaded:
        result = replace(result, interval=(min(s for s, _ in loaded), max(e for _, e in loaded)))
    return result


def _loaded_interval(temporal_extent: Any, cube: xr.DataArray) -> tuple[dt.datetime, dt.datetime]:
    """The time a ``load_collection`` covers, both ends included: its temporal extent ``[start, end)``
    as ``start`` to ``end`` minus one second; an open end is the first or last date it loaded."""
    requested = parse_temporal_extent(temporal_extent)
    dates = [_utc(value) for value in cube["t"].values] if "t" in cube.dims else []
    start = requested.start or min(dates)
    end = requested.end - dt.timedelta(seconds=1) if requested.end is not None else max(dates)
    return start, end


def _utc(value: Any) -> dt.datetime:
    stamp = str(np.datetime_as_string(value, unit="s"))
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC)


def _known(registry: ProcessRegistry) -> set[str]:
    return set(_names(registry))


# --- writing ------------------------------------------------------------------------------------------------


def write_results(request: SaveRequest, out_dir: Path, *, stem: str | None = None) -> list[ResultFile]:
    """Write ``request`` as Cloud Optimized GeoTIFF(s) in ``out_dir``: one file per date, named after
    ``stem``, else the ``filename_prefix`` option of ``save_result``, else ``openEO``.

    A file per date has that date as its datetime, start and end; a result without time (a composite)
    is one file covering :attr:`SaveRequest.interval` (its datetime: the interval's start)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or filename_stem(request.options)
    data = request.data
    band_dim = next((d for d in data.dims if str(d) in ("bands", "band")), None)
    time_dim = next((d for d in data.dims if str(d) in ("t", "time")), None)
    if band_dim is None:
        name = str(data.attrs.get(_BAND_NAME_ATTR) or data.name or "band_1")
        data = data.expand_dims({"bands": [name]})
        band_dim = "bands"
    extra = [d for d in data.dims if d not in (band_dim, time_dim, "x", "y")]
    if extra:
        raise ProcessGraphError(f"Cannot write dimensions {extra} to GeoTIFF; reduce them first.")
    crs = data.rio.crs
    if crs is None and "crs" in data.attrs:
        crs = CRS.from_user_input(data.attrs["crs"])
    if crs is None:
        raise ProcessGraphError("The result has no coordinate reference system.")
    # (datetime, (start, end), data) per file: one per date, or one covering the loaded interval.
    slices: list[tuple[dt.datetime | None, tuple[dt.datetime, dt.datetime] | None, xr.DataArray]] = []
    if time_dim is None:
        interval = request.interval
        slices.append((interval[0] if interval else None, interval, data))
    else:
        for value in data[time_dim].values:
            observed = _utc(value)
            slices.append((observed, (observed, observed), data.sel({time_dim: value})))
    results = []
    for when, covers, part in slices:
        suffix = f"_{when:%Y-%m-%d}" if when is not None and len(slices) > 1 else ""
        filename = f"{stem}{suffix}.tif"
        written = _write_cog(part, band_dim=str(band_dim), crs=crs, when=when, path=out_dir / filename)
        if covers is not None:
            written = replace(written, start_datetime=covers[0], end_datetime=covers[1])
        results.append(written)
    return results


def filename_stem(options: Mapping[str, Any]) -> str:
    """The result files' name stem: the ``filename_prefix`` option (made file-name safe) or ``openEO``."""
    prefix = options.get("filename_prefix")
    if prefix is None or prefix == "":
        return "openEO"
    if not isinstance(prefix, str):
        raise ProcessGraphError("save_result: the filename_prefix option must be a string.")
    safe = _UNSAFE_NAME.sub("_", prefix).strip("._")
    if not safe:
        raise ProcessGraphError(f"save_result: filename_prefix {prefix!r} has no usable characters.")
    return safe[:100]


def _write_cog(
    part: xr.DataArray, *, band_dim: str, crs: Any, when: dt.datetime | None, path: Path
) -> ResultFile:
    arr = part.transpose(band_dim, "y", "x")
    values = np.asarray(arr.values, dtype="float32")
    bands = tuple(str(b) for b in arr[band_dim].values)
    arr = arr.copy(data=values)
    arr = arr.rio.write_crs(crs)
    transform = arr.rio.transform(recalc=True)
    rio_crs = rasterio.crs.CRS.from_user_input(crs)
    height, width = values.shape[1], values.shape[2]
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".write-") as tmp:
        plain = Path(tmp) / "plain.tif"
        with rasterio.open(
            plain,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=len(bands),
            dtype="float32",
            crs=rio_crs,
            transform=transform,
            nodata=np.nan,
            tiled=True,
            blockxsize=256,
            blockysize=256,
        ) as dst:
            dst.write(values)
            for i, name in enumerate(bands, start=1):
                dst.set_band_description(i, name)
                dst.update_tags(i, DESCRIPTION=name)
            if when is not None:
                dst.update_tags(DATETIME=when.strftime("%Y:%m:%d %H:%M:%S"))
        cog = Path(tmp) / "cog.tif"
        rasterio.shutil.copy(
            plain,
            cog,
            driver="COG",
            compress="DEFLATE",
            predictor="2",
            blocksize=256,
            overview_resampling="average",
        )
        shutil.move(str(cog), path)
    left = transform.c
    top = transform.f
    right = left + transform.a * width
    bottom = top + transform.e * height
    proj_bbox = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    w, s, e, n = rasterio.warp.transform_bounds(rio_crs, "EPSG:4326", *proj_bbox)
    epsg = rio_crs.to_epsg()
    return ResultFile(
        statistics=band_statistics(path),
        filename=path.name,
        media_type="image/tiff; application=geotiff; profile=cloud-optimized",
        datetime=when,
        bands=bands,
        epsg=int(epsg) if epsg is not None else None,
        shape=(height, width),
        proj_bbox=proj_bbox,
        bbox=(w, s, e, n),
        size=path.stat().st_size,
    )


def band_statistics(path: Path) -> tuple[BandStatistics, ...]:
    """Per-band statistics of a raster file as written (nodata and non-finite values excluded)."""
    stats = []
    with rasterio.open(path) as ds:
        for index in range(1, ds.count + 1):
            band = np.asarray(ds.read(index), dtype="float64")
            valid = np.isfinite(band)
            if ds.nodata is not None and not np.isnan(ds.nodata):
                valid &= band != ds.nodata
            values = band[valid]
            percent = round(100.0 * values.size / band.size, 3) if band.size else 0.0
            if values.size == 0:
                stats.append(BandStatistics(None, None, None, None, percent))
                continue
            stats.append(
                BandStatistics(
                    minimum=float(values.min()),
                    maximum=float(values.max()),
                    mean=float(values.mean()),
                    stddev=float(values.std()),
                    valid_percent=percent,
                )
            )
    return tuple(stats)
