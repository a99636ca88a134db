"""The embedded backend's one collection, ``SENTINEL2_L2A``: three real sample areas behind one band set.

Each area is read from the verified sample files (see :mod:`apex_core.sampledata`):

* ``bolzano``: one 5-band GeoTIFF (band names in each band's ``DESCRIPTION`` tag), uint16, nodata 0,
  acquired 2022-06-12 (the date is not in the file; it is known from its source process graph).
* ``kempen``: one single-band GeoTIFF per band, uint16, nodata 65535, date from the tag ``t#units``.
* ``romania``: a NetCDF time series (140 dates) with variables ``B2 B3 B4 B8 SCL`` in EPSG:3035.
* optional extra areas (benchmarks): ``<data_dir>/synthetic/manifest.json`` lists multi-band GeoTIFFs
  laid out like Bolzano's (``{"areas": [{"id", "title", "file", "datetime"}]}``, files relative to
  the manifest). The verified sample never has this folder, so the default collection is unchanged.

Everything is exposed with the band names ``B02 B03 B04 B08 SCL``; values are cast to float32 and
nodata becomes NaN, so band arithmetic never wraps around.

Cloud cover of a scene (``eo:cloud_cover``, percent) is computed from the scene classification
layer: valid pixels are those with an SCL class other than 0 (no data) and 1 (saturated or
defective); cloudy pixels are classes 3 (cloud shadow), 8 (cloud, medium probability), 9 (cloud,
high probability) and 10 (thin cirrus). Cover is cloudy / valid * 100. Scenes without SCL (Kempen)
have no cloud cover.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import rasterio
import rasterio.warp
import rasterio.windows
import rioxarray
import shapely
import shapely.geometry
import xarray as xr
from pyproj import CRS, Transformer

from apex_core.local.openeo.model import (
    BANDS,
    CLOUD_CLASSES,
    COLLECTION_ID,
    INVALID_CLASSES,
    Band,
    NoDataAvailable,
    ProcessParameterInvalid,
    Scene,
    TimeRange,
    parse_datetime,
)

__all__ = [
    "BANDS",
    "CLOUD_CLASSES",
    "COLLECTION_ID",
    "INVALID_CLASSES",
    "Band",
    "DataCatalogue",
    "LoadEstimate",
    "NoDataAvailable",
    "SampleArea",
    "Scene",
    "TimeRange",
    "parse_spatial_extent",
    "parse_temporal_extent",
]

logger = logging.getLogger(__name__)

_BAND_NAMES = tuple(b.name for b in BANDS)
_COMMON = {b.name: (b.common_name or "") for b in BANDS}


@dataclass(frozen=True)
class SampleArea:
    """One area of the sample: its files, grid, dates and cloud cover per date."""

    id: str
    title: str
    attribution: str
    kind: str  # "multiband-tiff" | "tiff-per-band" | "netcdf"
    files: tuple[Path, ...]
    epsg: int
    nodata: float | None
    bounds: tuple[float, float, float, float]  # native CRS
    bbox: tuple[float, float, float, float]  # WGS84
    shape: tuple[int, int]
    bands: tuple[str, ...]
    scenes: tuple[Scene, ...] = field(default=())

    @property
    def dates(self) -> tuple[dt.datetime, ...]:
        return tuple(s.datetime for s in self.scenes)

    def describe(self) -> str:
        dates = self.dates
        if len(dates) == 1:
            when = f"{dates[0]:%Y-%m-%d}"
        else:
            when = f"{len(dates)} dates from {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}"
        w, s, e, n = self.bbox
        return f"{self.title} (W {w:.4f}, S {s:.4f}, E {e:.4f}, N {n:.4f}; {when})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "attribution": self.attribution,
            "bbox": list(self.bbox),
            "epsg": self.epsg,
            "bands": list(self.bands),
            "dates": [d.strftime("%Y-%m-%d") for d in self.dates],
        }


@dataclass(frozen=True)
class LoadEstimate:
    """How much data one ``load_collection`` reads: pixels per band and date, bands, dates."""

    area_id: str
    pixels: int
    bands: int
    dates: int

    @property
    def values(self) -> int:
        return self.pixels * self.bands * self.dates


def _wgs84_bbox(epsg: int, bounds: Sequence[float]) -> tuple[float, float, float, float]:
    w, s, e, n = rasterio.warp.transform_bounds(CRS.from_epsg(epsg).to_wkt(), "EPSG:4326", *bounds)
    return (round(w, 6), round(s, 6), round(e, 6), round(n, 6))


def _cloud_cover(scl: np.ndarray[Any, Any]) -> float | None:
    valid = ~np.isin(scl, INVALID_CLASSES) & np.isfinite(scl)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return None
    cloudy = int((np.isin(scl, CLOUD_CLASSES) & valid).sum())
    return 100.0 * cloudy / n_valid


# --- discovery of the three areas ------------------------------------------------------------------------

_BOLZANO = "s2_l2a_bolzano/S2_L2A_sample.tif"
_KEMPEN = "s2_boa_kempen_belgium/ref_check_icor_S2_{band}.tif"
_ROMANIA = "s2_l2a_romania_timeseries/sentinel2_cube_subset_romania_10m.nc"
_ROMANIA_VARS = {"B02": "B2", "B03": "B3", "B04": "B4", "B08": "B8", "SCL": "SCL"}


def _bolzano(data_dir: Path) -> SampleArea | None:
    path = data_dir / _BOLZANO
    if not path.is_file():
        return None
    with rasterio.open(path) as ds:
        names = tuple(ds.tags(i).get("DESCRIPTION", f"band_{i}") for i in range(1, ds.count + 1))
        epsg = int(ds.crs.to_epsg())
        bounds = tuple(ds.bounds)
        shape = (ds.height, ds.width)
        scl = ds.read(names.index("SCL") + 1) if "SCL" in names else None
        nodata = ds.nodata
    bbox = _wgs84_bbox(epsg, bounds)
    when = dt.datetime(2022, 6, 12, tzinfo=dt.UTC)
    cover = _cloud_cover(scl) if scl is not None else None
    bands = tuple(n for n in _BAND_NAMES if n in names)
    return SampleArea(
        id="bolzano",
        title="Bolzano, South Tyrol (Italy)",
        attribution="Contains modified Copernicus Sentinel data 2022, processed by openEO Platform",
        kind="multiband-tiff",
        files=(path,),
        epsg=epsg,
        nodata=nodata,
        bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
        bbox=bbox,
        shape=shape,
        bands=bands,
        scenes=(Scene("bolzano", when, bbox, epsg, shape, cover, bands),),
    )


def _kempen(data_dir: Path) -> SampleArea | None:
    files = tuple(data_dir / _KEMPEN.format(band=b) for b in ("B02", "B03", "B04", "B08"))
    if not all(f.is_file() for f in files):
        return None
    with rasterio.open(files[0]) as ds:
        epsg = int(ds.crs.to_epsg())
        bounds = tuple(ds.bounds)
        shape = (ds.height, ds.width)
        nodata = ds.nodata
        units = ds.tags().get("t#units", "days since 2019-04-11 00:00:00")
    match = re.search(r"since (\d{4}-\d{2}-\d{2})", units)
    when = parse_datetime(match.group(1) if match else "2019-04-11")
    bbox = _wgs84_bbox(epsg, bounds)
    bands = ("B02", "B03", "B04", "B08")  # no SCL: no cloud mask there
    return SampleArea(
        id="kempen",
        title="Kempen, Mol / Lommel (Belgium)",
        attribution="Contains modified Copernicus Sentinel data 2019",
        kind="tiff-per-band",
        files=files,
        epsg=epsg,
        nodata=nodata,
        bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
        bbox=bbox,
        shape=shape,
        bands=bands,
        scenes=(Scene("kempen", when, bbox, epsg, shape, None, bands),),
    )


def _romania(data_dir: Path) -> SampleArea | None:
    path = data_dir / _ROMANIA
    if not path.is_file():
        return None
    with xr.open_dataset(path, decode_coords="all") as ds:
        xs = ds["x"].values
        ys = ds["y"].values
        res_x = float(abs(xs[1] - xs[0]))
        res_y = float(abs(ys[1] - ys[0]))
        bounds = (
            float(xs.min()) - res_x / 2,
            float(ys.min()) - res_y / 2,
            float(xs.max()) + res_x / 2,
            float(ys.max()) + res_y / 2,
        )
        shape = (int(ds.sizes["y"]), int(ds.sizes["x"]))
        times = [parse_datetime(str(np.datetime_as_string(t, unit="s"))) for t in ds["time"].values]
        scl = ds["SCL"].values
    epsg = 3035
    bbox = _wgs84_bbox(epsg, bounds)
    scenes = tuple(
        Scene("romania", when, bbox, epsg, shape, _cloud_cover(scl[i]), _BAND_NAMES)
        for i, when in enumerate(times)
    )
    return SampleArea(
        id="romania",
        title="Forest in south-western Romania",
        attribution="Contains modified Copernicus Sentinel data 2015-2021",
        kind="netcdf",
        files=(path,),
        epsg=epsg,
        nodata=None,
        bounds=bounds,
        bbox=bbox,
        shape=shape,
        bands=_BAND_NAMES,
        scenes=scenes,
    )


_SYNTHETIC_MANIFEST = "synthetic/manifest.json"


def _multiband_area(path: Path, area_id: str, title: str, attribution: str, when: dt.datetime) -> SampleArea:
    with rasterio.open(path) as ds:
        names = tuple(ds.tags(i).get("DESCRIPTION", f"band_{i}") for i in range(1, ds.count + 1))
        epsg = int(ds.crs.to_epsg())
        bounds = tuple(ds.bounds)
        shape = (ds.height, ds.width)
        nodata = ds.nodata
    bbox = _wgs84_bbox(epsg, bounds)
    bands = tuple(n for n in _BAND_NAMES if n in names)
    return SampleArea(
        id=area_id,
        title=title,
        attribution=attribution,
        kind="multiband-tiff",
        files=(path,),
        epsg=epsg,
        nodata=nodata,
        bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
        bbox=bbox,
        shape=shape,
        bands=bands,
        scenes=(Scene(area_id, when, bbox, epsg, shape, None, bands),),
    )


def _extra_areas(data_dir: Path) -> list[SampleArea]:
    """Areas listed in ``synthetic/manifest.json`` (generated scenes for benchmarks), if any."""
    manifest = data_dir / _SYNTHETIC_MANIFEST
    if not manifest.is_file():
        return []
    areas = []
    for entry in json.loads(manifest.read_text()).get("areas", []):
        path = manifest.parent / str(entry["file"])
        areas.append(
            _multiband_area(
                path,
                area_id=str(entry["id"]),
                title=str(entry.get("title", entry["id"])),
                attribution=str(entry.get("attribution", "Synthetic data")),
                when=parse_datetime(str(entry["datetime"])),
            )
        )
    return areas


# --- request parsing ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Turn the process-graph parser's pydantic values back into plain JSON-like values."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_BBOX_KEYS = ("west", "south", "east", "north")
_POLYGONAL = ("Polygon", "MultiPolygon")


def _invalid(parameter: str, reason: str, process: str) -> ProcessParameterInvalid:
    return ProcessParameterInvalid(process, parameter, reason)


def parse_spatial_extent(
    extent: Any, *, process: str = "load_collection", parameter: str = "spatial_extent"
) -> shapely.Geometry | None:
    """An openEO spatial extent (bbox dict with optional crs, or GeoJSON) as a WGS84 shapely geometry.

    A bounding box needs finite numbers with ``west < east`` and ``south < north`` (a box across the
    antimeridian is not supported) and, in WGS84, longitudes and latitudes in range. GeoJSON must be a
    Polygon or MultiPolygon (bare, as a Feature, or a FeatureCollection of them) that is valid in the
    OGC sense (no self-intersection, closed rings...). Anything else raises
    :class:`ProcessParameterInvalid` whose message says what to change.
    """
    value = _plain(extent)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _invalid(
            parameter,
            f"Unsupported spatial extent {value!r}: give a bounding box "
            "{west, south, east, north[, crs]} or a GeoJSON Polygon/MultiPolygon.",
            process,
        )
    if {"west", "south", "east", "north"} <= set(value):
        return _bbox_geometry(value, process=process, parameter=parameter)
    kind = value.get("type")
    if kind == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list) or not features:
            raise _invalid(
                parameter, "the FeatureCollection has no features: add a polygon feature.", process
            )
        geoms = [_feature_geometry(f, process=process, parameter=parameter) for f in features]
        return shapely.union_all(geoms)
    if kind == "Feature":
        return _feature_geometry(value, process=process, parameter=parameter)
    if kind in (*_POLYGONAL, "GeometryCollection"):
        return _geojson_geometry(value, process=process, parameter=parameter)
    missing = [k for k in _BBOX_KEYS if k not in value]
    raise _invalid(
        parameter,
        f"Unsupported spatial extent of type {kind!r}: give a GeoJSON Polygon or MultiPolygon (bare, as a "
        "Feature or in a FeatureCollection)"
        + (f", or a bounding box (missing {', '.join(missing)})." if kind is None else "."),
        process,
    )


def _bbox_geometry(value: Mapping[str, Any], *, process: str, parameter: str) -> shapely.Geometry:
    try:
        w, s, e, n = (float(value[k]) for k in _BBOX_KEYS)
    except (TypeError, ValueError) as exc:
        raise _invalid(parameter, f"west, south, east and north must be numbers ({exc}).", process) from exc
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise _invalid(parameter, "west, south, east and north must be finite numbers.", process)
    if w >= e:
        raise _invalid(
            parameter,
            f"west ({w:g}) must be less than east ({e:g}): swap them if they are the wrong way round "
            "(a box across the antimeridian is not supported; split it in two).",
            process,
        )
    if s >= n:
        raise _invalid(
            parameter,
            f"south ({s:g}) must be less than north ({n:g}): swap them if they are the wrong way round.",
            process,
        )
    geom = shapely.geometry.box(w, s, e, n)
    crs = value.get("crs")
    if crs in (None, "", 4326, "4326", "EPSG:4326"):
        src = CRS.from_epsg(4326)
    else:
        try:
            src = CRS.from_user_input(crs)
        except Exception as exc:  # pyproj's CRSError, or a type it cannot read
            raise _invalid(
                parameter,
                f"crs {crs!r} is not a known coordinate reference system (use an EPSG code).",
                process,
            ) from exc
    if src == CRS.from_epsg(4326):
        _check_lon_lat(geom, process=process, parameter=parameter)
        return geom
    return _reproject(shapely.segmentize(geom, 100.0), src, CRS.from_epsg(4326))


def _check_lon_lat(geom: shapely.Geometry, *, process: str, parameter: str) -> None:
    w, s, e, n = geom.bounds
    if w < -180 or e > 180 or s < -90 or n > 90:
        raise _invalid(
            parameter,
            f"coordinates ({w:g}, {s:g}, {e:g}, {n:g}) are outside longitude -180..180 / latitude -90..90: "
            "give longitude first, then latitude, in degrees (or set crs for projected coordinates).",
            process,
        )


def _feature_geometry(feature: Any, *, process: str, parameter: str) -> shapely.Geometry:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise _invalid(parameter, "every member of a FeatureCollection must be a GeoJSON Feature.", process)
    geometry = feature.get("geometry")
    if geometry is None:
        raise _invalid(
            parameter,
            "the Feature has no geometry (null): give it a Polygon or MultiPolygon geometry.",
            process,
        )
    return _geojson_geometry(geometry, process=process, parameter=parameter)


def _geojson_geometry(geometry: Any, *, process: str, parameter: str) -> shapely.Geometry:
    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    if kind not in (*_POLYGONAL, "GeometryCollection"):
        raise _invalid(
            parameter,
            f"Unsupported geometry type {kind!r}: the extent must be an area, a Polygon or MultiPolygon "
            "(for a point, give a small polygon or a bounding box around it).",
            process,
        )
    try:
        geom = shapely.geometry.shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise _invalid(
            parameter, f"the {kind} is malformed ({exc}): check its coordinates' nesting and rings.", process
        ) from exc
    if kind == "GeometryCollection" and any(g.geom_type not in _POLYGONAL for g in geom.geoms):
        raise _invalid(parameter, "a GeometryCollection may only hold polygons.", process)
    if geom.is_empty:
        raise _invalid(parameter, f"the {kind} is empty: give it coordinates.", process)
    if not geom.is_valid:
        raise _invalid(
            parameter,
            f"the {kind} is not a valid polygon ({shapely.is_valid_reason(geom)}): edges must not cross "
            "or touch (no bow-tie), rings must be closed; redraw it or split it into separate polygons.",
            process,
        )
    _check_lon_lat(geom, process=process, parameter=parameter)
    return geom


def _temporal_bound(value: Any) -> tuple[dt.datetime, bool] | None:
    """(datetime, is_date_only) for one end of a temporal extent."""
    if value is None:
        return None
    root = getattr(value, "root", value)
    if isinstance(root, dt.datetime):
        when = root if root.tzinfo else root.replace(tzinfo=dt.UTC)
        # A plain datetime (pendulum's subclass loses its zone in arithmetic).
        return dt.datetime.fromtimestamp(when.timestamp(), tz=dt.UTC), False
    if isinstance(root, dt.date):
        return dt.datetime(root.year, root.month, root.day, tzinfo=dt.UTC), True
    text = str(root)
    return parse_datetime(text), len(text.strip()) == 10


def parse_temporal_extent(extent: Any, *, process: str = "load_collection") -> TimeRange:
    """An openEO temporal extent as a half-open range; a single day ``d`` (or ``[d, d]``) is ``[d, d+1)``.

    A malformed extent raises :class:`ProcessParameterInvalid` (a ``ValueError``)."""
    if extent is None:
        return TimeRange(None, None)
    root = getattr(extent, "root", extent)
    if isinstance(root, str):
        items = [root, root]
    elif isinstance(root, list | tuple):
        items = list(root)
    else:
        items = []
    if len(items) != 2:
        raise _invalid("temporal_extent", f"it must have two elements [start, end], got {extent!r}.", process)
    try:
        start = _temporal_bound(items[0])
        end = _temporal_bound(items[1])
    except (TypeError, ValueError) as exc:
        raise _invalid(
            "temporal_extent",
            f"{exc}; give ISO 8601 dates or date-times such as '2022-06-12' or '2022-06-12T10:00:00Z'.",
            process,
        ) from exc
    start_dt = start[0] if start else None
    end_dt = end[0] if end else None
    if start_dt is not None and end_dt is not None and end_dt <= start_dt:
        if end_dt < start_dt:
            raise _invalid(
                "temporal_extent", f"it ends before it starts ({extent!r}): swap start and end.", process
            )
        end_dt = start_dt + dt.timedelta(days=1)  # [d, d] means that one day
    return TimeRange(start_dt, end_dt)


# --- the catalogue ------------------------------------------------------------------------------------------


class DataCatalogue:
    """The sample areas found under ``data_dir`` and the loading of data cubes from them."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        areas = [a for a in (_bolzano(data_dir), _kempen(data_dir), _romania(data_dir)) if a is not None]
        areas += _extra_areas(data_dir)
        self.areas: tuple[SampleArea, ...] = tuple(areas)
        self._lock = threading.Lock()
        if not areas:
            logger.warning("no sample data found under %s", data_dir)
        for area in areas:
            logger.info("sample area %s: %d scene(s)", area.id, len(area.scenes))

    @property
    def scenes(self) -> list[Scene]:
        return sorted((s for a in self.areas for s in a.scenes), key=lambda s: (s.datetime, s.area_id))

    def temporal_extent(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        dates = [s.datetime for s in self.scenes]
        return (min(dates), max(dates)) if dates else (None, None)

    def availability(self) -> str:
        if not self.areas:
            return f"No sample data is installed under {self.data_dir}."
        return "Data exists for: " + "; ".join(a.describe() for a in self.areas) + "."

    def search(
        self,
        *,
        aoi: shapely.Geometry | None = None,
        time_range: TimeRange | None = None,
        max_cloud_cover: float | None = None,
    ) -> list[Scene]:
        found = []
        for scene in self.scenes:
            if aoi is not None and not aoi.intersects(shapely.geometry.box(*scene.bbox)):
                continue
            if time_range is not None and not time_range.contains(scene.datetime):
                continue
            if max_cloud_cover is not None and (
                scene.cloud_cover is None or scene.cloud_cover > max_cloud_cover
            ):
                continue
            found.append(scene)
        return found

    def _select(
        self, spatial_extent: Any, temporal_extent: Any, bands: Iterable[str] | None
    ) -> tuple[SampleArea, list[str], list[dt.datetime], shapely.Geometry | None]:
        """The one area, bands and dates a ``load_collection`` with these arguments reads."""
        aoi = parse_spatial_extent(spatial_extent)
        time_range = parse_temporal_extent(temporal_extent)
        wanted_bands = list(bands) if bands is not None else None
        if wanted_bands is not None:
            unknown = [b for b in wanted_bands if b not in _BAND_NAMES]
            if unknown:
                raise _invalid(
                    "bands",
                    f"unknown band(s) {unknown}; {COLLECTION_ID} has {list(_BAND_NAMES)}.",
                    "load_collection",
                )
            if not wanted_bands:
                raise _invalid(
                    "bands", f"the list is empty; name some of {list(_BAND_NAMES)}.", "load_collection"
                )
        scenes = self.search(aoi=aoi, time_range=time_range)
        if not scenes:
            raise NoDataAvailable(
                "There is no data for the requested area and time"
                f" (time {_describe_range(time_range)}). {self.availability()}"
            )
        area_ids = sorted({s.area_id for s in scenes})
        if len(area_ids) > 1:
            raise NoDataAvailable(
                f"The request spans several sample areas ({', '.join(area_ids)}); restrict it to one. "
                + self.availability()
            )
        area = next(a for a in self.areas if a.id == area_ids[0])
        wanted = wanted_bands if wanted_bands is not None else list(area.bands)
        missing = [b for b in wanted if b not in area.bands]
        if missing:
            why = " (no scene classification: the SCL cloud mask cannot be computed there)"
            raise NoDataAvailable(
                f"{area.title} has no band(s) {missing}{why if 'SCL' in missing else ''}; "
                f"it has {list(area.bands)}."
            )
        return area, wanted, [s.datetime for s in scenes], aoi

    def load(
        self,
        *,
        spatial_extent: Any = None,
        temporal_extent: Any = None,
        bands: Iterable[str] | None = None,
    ) -> xr.DataArray:
        """A float32 cube (t, bands, y, x) in the area's CRS; nodata is NaN."""
        area, wanted, dates, aoi = self._select(spatial_extent, temporal_extent, bands)
        with self._lock:
            cube = self._read(area, wanted, dates, aoi, _bbox_in_crs(spatial_extent, area.epsg))
        return cube

    def estimate(
        self,
        *,
        spatial_extent: Any = None,
        temporal_extent: Any = None,
        bands: Iterable[str] | None = None,
    ) -> LoadEstimate:
        """What :meth:`load` with these arguments would read, without reading it: the pixels of the
        area's native grid under the extent's bounding box (clipped to the area), the bands and the
        dates. Raises what :meth:`load` raises for the same arguments (bad extent, no data...)."""
        area, wanted, dates, aoi = self._select(spatial_extent, temporal_extent, bands)
        crs = CRS.from_epsg(area.epsg)
        left, bottom, right, top = area.bounds
        res_x = (right - left) / area.shape[1]
        res_y = (top - bottom) / area.shape[0]
        bounds = _bbox_in_crs(spatial_extent, area.epsg)
        if bounds is None and aoi is not None:
            bounds = _reproject(aoi, CRS.from_epsg(4326), crs).bounds
        if bounds is not None:
            left, bottom = max(left, bounds[0]), max(bottom, bounds[1])
            right, top = min(right, bounds[2]), min(top, bounds[3])
        width = max(0, math.ceil((right - left) / res_x - 1e-6))
        height = max(0, math.ceil((top - bottom) / res_y - 1e-6))
        return LoadEstimate(area_id=area.id, pixels=width * height, bands=len(wanted), dates=len(dates))

    def _read(
        self,
        area: SampleArea,
        bands: list[str],
        dates: list[dt.datetime],
        aoi: shapely.Geometry | None,
        native_bounds: tuple[float, float, float, float] | None = None,
    ) -> xr.DataArray:
        crs = CRS.from_epsg(area.epsg)
        if area.kind == "netcdf":
            with xr.open_dataset(area.files[0], decode_coords="all") as ds:
                wanted_times = np.array([np.datetime64(d.replace(tzinfo=None), "ns") for d in dates])
                sub = ds.sel(time=wanted_times)
                arrays = [sub[_ROMANIA_VARS[b]].astype("float32") for b in bands]
                cube = xr.concat(arrays, dim="bands").transpose("time", "bands", "y", "x").load()
            cube = cube.rename({"time": "t"}).drop_vars("spatial_ref", errors="ignore")
        else:
            bounds = native_bounds
            if bounds is None and aoi is not None:
                minx, miny, maxx, maxy = _reproject(aoi, CRS.from_epsg(4326), crs).bounds
                bounds = (minx, miny, maxx, maxy)
            window = _pixel_window(area.files[0], bounds) if bounds is not None else None
            per_band: list[xr.DataArray] = []
            for band in bands:
                if area.kind == "multiband-tiff":
                    path, index = area.files[0], self._band_index(area.files[0], band)
                else:
                    path, index = area.files[("B02", "B03", "B04", "B08").index(band)], 1
                per_band.append(_read_tiff_band(path, index, window))
            stacked = xr.concat(per_band, dim="bands")
            cube = stacked.expand_dims(t=[np.datetime64(dates[0].replace(tzinfo=None), "ns")])
            cube = cube.transpose("t", "bands", "y", "x")
        cube = cube.assign_coords(bands=bands, common_name=("bands", [_COMMON[b] for b in bands]))
        cube = cube.rio.write_crs(crs.to_wkt())
        if native_bounds is not None:
            cube = _clip_to_grid(cube, native_bounds)
            if cube.sizes["x"] == 0 or cube.sizes["y"] == 0:
                raise NoDataAvailable(
                    f"The area of interest does not overlap {area.title}. {self.availability()}"
                )
        elif aoi is not None:
            native = _reproject(aoi, CRS.from_epsg(4326), crs)
            minx, miny, maxx, maxy = native.bounds
            try:
                cube = cube.rio.clip_box(minx, miny, maxx, maxy)
            except rioxarray.exceptions.NoDataInBounds as exc:
                raise NoDataAvailable(
                    f"The area of interest does not overlap {area.title}. {self.availability()}"
                ) from exc
        values = cube.astype("float32")
        if area.nodata is not None:
            values = values.where(cube != area.nodata)
        if aoi is not None and native_bounds is None and not shapely.equals(shapely.envelope(aoi), aoi):
            native_geom = _reproject(aoi, CRS.from_epsg(4326), crs)
            values = values.rio.clip([shapely.geometry.mapping(native_geom)], all_touched=True, drop=False)
        values = values.rio.write_crs(crs.to_wkt())
        values = cast(xr.DataArray, values.rio.write_nodata(np.nan, encoded=False))
        values.name = None
        values.attrs = {}
        return values

    @staticmethod
    def _band_index(path: Path, band: str) -> int:
        with rasterio.open(path) as ds:
            for i in range(1, ds.count + 1):
                if ds.tags(i).get("DESCRIPTION") == band:
                    return i
        raise ValueError(f"{path.name} has no band {band}")


def _bbox_in_crs(extent: Any, epsg: int) -> tuple[float, float, float, float] | None:
    """The bbox of ``extent`` if it is given in the CRS ``epsg`` (then it is used as is, no round trip)."""
    value = _plain(extent)
    if not isinstance(value, Mapping) or not {"west", "south", "east", "north"} <= set(value):
        return None
    crs = value.get("crs")
    if crs in (None, "") or CRS.from_user_input(crs) != CRS.from_epsg(epsg):
        return None
    return (float(value["west"]), float(value["south"]), float(value["east"]), float(value["north"]))


def _clip_to_grid(cube: xr.DataArray, bounds: tuple[float, float, float, float]) -> xr.DataArray:
    """The pixels of ``cube`` that ``bounds`` (in its CRS) covers; edges on pixel borders are exact."""
    window = rasterio.windows.from_bounds(*bounds, transform=cube.rio.transform(recalc=True))
    (row_start, row_stop), (col_start, col_stop) = window.toranges()
    eps = 1e-6  # float noise must not add a row or column of pixels
    rows = slice(max(0, math.floor(row_start + eps)), max(0, math.ceil(row_stop - eps)))
    cols = slice(max(0, math.floor(col_start + eps)), max(0, math.ceil(col_stop - eps)))
    return cast(xr.DataArray, cube.rio.isel_window(rasterio.windows.Window.from_slices(rows, cols)))


def _reproject(geom: shapely.Geometry, src: CRS, dst: CRS) -> shapely.Geometry:
    transformer = Transformer.from_crs(src, dst, always_xy=True)

    def move(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, move)


def _pixel_window(path: Path, bounds: tuple[float, float, float, float]) -> rasterio.windows.Window | None:
    """The file's pixels under ``bounds`` (its CRS) plus a one-pixel margin; ``None`` if none are."""
    with rasterio.open(path) as ds:
        window = rasterio.windows.from_bounds(*bounds, transform=ds.transform)
        col0 = max(0, math.floor(window.col_off) - 1)
        row0 = max(0, math.floor(window.row_off) - 1)
        col1 = min(ds.width, math.ceil(window.col_off + window.width) + 1)
        row1 = min(ds.height, math.ceil(window.row_off + window.height) + 1)
    if col1 <= col0 or row1 <= row0:
        return None
    return rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)


def _read_tiff_band(path: Path, index: int, window: rasterio.windows.Window | None = None) -> xr.DataArray:
    """One band, or the part of it under ``window`` (so a small AOI does not read a whole scene)."""
    with rasterio.open(path) as ds:
        data = ds.read(index, window=window)
        transform = ds.window_transform(window) if window is not None else ds.transform
    height, width = data.shape
    xs = transform.c + transform.a * (np.arange(width) + 0.5)
    ys = transform.f + transform.e * (np.arange(height) + 0.5)
    return xr.DataArray(data, dims=("y", "x"), coords={"y": ys, "x": xs})


def _describe_range(time_range: TimeRange) -> str:
    start = f"{time_range.start:%Y-%m-%d %H:%M}" if time_range.start else "open"
    end = f"{time_range.end:%Y-%m-%d %H:%M}" if time_range.end else "open"
    return f"[{start}, {end})"
