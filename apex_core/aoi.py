"""The area of interest (AOI) and the observation day: parsing, validation, footprints, real dates.

An AOI is one GeoJSON polygon in WGS84 longitude/latitude. It comes from a drawing on the map, a
typed bounding box (W, S, E, N) or an uploaded GeoJSON document (a Feature, a FeatureCollection with
exactly one polygon, or a bare Polygon). :func:`validate_aoi` checks it and raises
:class:`~apex_core.errors.AoiError` naming the offending ``field``; callers keep the previous valid
AOI when it does.

The day comes from the observations that really exist for the AOI: the embedded backend's scene
search, or the public Copernicus Data Space STAC catalogue for CDSE.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import folium
import requests
import shapely
import shapely.geometry
import shapely.validation
from pyproj import Geod

from apex_core.errors import AoiError, BackendError, ServiceError
from apex_core.local.contract import LocalBackendError, LocalServiceError, Scene, search_scenes

__all__ = [
    "CDSE_STAC_URL",
    "DEFAULT_MAX_VERTICES",
    "DEFAULT_VIEW",
    "NOTEBOOK_BBOX",
    "NOTEBOOK_DATE",
    "NOTEBOOK_PLACE",
    "Aoi",
    "Footprint",
    "Observation",
    "accept_aoi",
    "aoi_layer",
    "cdse_observations",
    "cloud_mask_available",
    "default_aoi",
    "drawn_geometry",
    "embedded_footprints",
    "embedded_observations",
    "footprints_from_scenes",
    "initial_view",
    "is_cdse_like",
    "observation_index",
    "parse_bbox",
    "parse_geojson",
    "place_name",
    "validate_aoi",
    "view_for_bbox",
]

logger = logging.getLogger(__name__)

# The notebook computes the NDVI of one Sentinel-2 observation over Gran Canaria on 2019-08-19. Its
# text (../shared/mission) does not carry the rectangle's coordinates, so this is a rectangle around
# Gran Canaria, approximately the island's extent. The brief's suggested W -15.86, S 27.72, E -15.33,
# N 28.2 measures 2,774 km², over the default APEX_MAX_AOI_KM2 of 2,500, so it is trimmed to the
# island's coast (about 2,306 km²): the default AOI must pass the default validation.
NOTEBOOK_BBOX: tuple[float, float, float, float] = (-15.83, 27.73, -15.36, 28.18)
NOTEBOOK_DATE = dt.date(2019, 8, 19)
NOTEBOOK_PLACE = "Gran Canaria"

CDSE_STAC_URL = "https://stac.dataspace.copernicus.eu/v1"
DEFAULT_MAX_VERTICES = 1000

_GEOD = Geod(ellps="WGS84")
_CDSE_HOSTS = ("dataspace.copernicus.eu", "openeo.vito.be", "openeo.cloud", "openeo-dev.vito.be")
_PLACES = {"bolzano": "Bolzano", "kempen": "Kempen", "romania": "Romania"}


def is_cdse_like(url: str | None) -> bool:
    """Whether ``url`` is a CDSE / VITO (Geotrellis) openEO backend, which takes ``featureflags``."""
    host = (urlsplit(url).hostname or "") if url else ""
    return any(host == h or host.endswith("." + h) for h in _CDSE_HOSTS)


def _ring(coords: Sequence[Sequence[float]]) -> list[list[float]]:
    ring = [[float(p[0]), float(p[1])] for p in coords]
    if ring and ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    return ring


@dataclass(frozen=True)
class Aoi:
    """One polygon in WGS84 (GeoJSON ``Polygon`` coordinates, rings closed)."""

    coordinates: tuple[tuple[tuple[float, float], ...], ...]

    @classmethod
    def from_dict(cls, geometry: Mapping[str, Any]) -> Aoi:
        """From a GeoJSON Polygon geometry (or a one-polygon MultiPolygon); see :func:`parse_geojson`."""
        gtype = geometry.get("type")
        coords = geometry.get("coordinates")
        if gtype == "MultiPolygon" and isinstance(coords, list) and len(coords) == 1:
            gtype, coords = "Polygon", coords[0]
        if gtype != "Polygon":
            raise AoiError(
                f"The area must be a polygon (a rectangle or polygon), not a {gtype or 'shapeless object'}.",
                field="geometry",
            )
        try:
            if not isinstance(coords, list | tuple):
                raise TypeError("coordinates must be a list")
            rings = tuple(tuple((float(p[0]), float(p[1])) for p in _ring(r)) for r in coords)
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise AoiError(
                "The polygon's coordinates are malformed: expected [[[lon, lat], ...]].", field="geometry"
            ) from exc
        if not rings or len(rings[0]) < 4:
            raise AoiError("A polygon needs at least three distinct corners.", field="geometry")
        return cls(coordinates=rings)

    @classmethod
    def from_bbox(cls, west: float, south: float, east: float, north: float) -> Aoi:
        """A rectangle from a typed bounding box; raises :class:`AoiError` when it is inverted."""
        if not west < east:
            raise AoiError(f"West ({west}) must be less than East ({east}).", field="bbox")
        if not south < north:
            raise AoiError(f"South ({south}) must be less than North ({north}).", field="bbox")
        ring = ((west, south), (east, south), (east, north), (west, north), (west, south))
        return cls(coordinates=(ring,))

    def to_dict(self) -> dict[str, Any]:
        """The GeoJSON Polygon geometry (what the session keeps and the process graph uses)."""
        return {"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in self.coordinates]}

    def to_feature(self) -> dict[str, Any]:
        return {"type": "Feature", "geometry": self.to_dict(), "properties": {}}

    @property
    def shape(self) -> shapely.Polygon:
        return shapely.geometry.shape(self.to_dict())

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        xs = [p[0] for ring in self.coordinates for p in ring]
        ys = [p[1] for ring in self.coordinates for p in ring]
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def vertices(self) -> int:
        """Distinct corners of the outer ring (the closing point is not counted)."""
        return len(self.coordinates[0]) - 1

    @property
    def area_km2(self) -> float:
        """Geodesic area on the WGS84 ellipsoid, in km²."""
        area, _ = _GEOD.geometry_area_perimeter(self.shape)
        return abs(float(area)) / 1e6

    def describe(self) -> str:
        w, s, e, n = self.bbox
        return (
            f"Polygon with {self.vertices} vertices, bounds W {w:.4f}, S {s:.4f}, E {e:.4f}, N {n:.4f}, "
            f"{self.area_km2:,.2f} km²"
        )


def parse_bbox(values: Sequence[float | str | None]) -> Aoi:
    """A rectangle from typed W, S, E, N values (numbers or numeric text); :class:`AoiError` when one is
    missing or not a number, or the box is inverted."""
    names = ("West", "South", "East", "North")
    if len(values) != 4:
        raise AoiError("A bounding box needs four numbers: West, South, East, North.", field="bbox")
    numbers = []
    for name, value in zip(names, values, strict=True):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise AoiError(f"{name} is empty: fill in all four bounds.", field="bbox")
        try:
            numbers.append(float(value))
        except ValueError as exc:
            raise AoiError(f"{name} is not a number: {value!r}.", field="bbox") from exc
    return Aoi.from_bbox(*numbers)


def parse_geojson(data: str | bytes | Mapping[str, Any]) -> Aoi:
    """An AOI from GeoJSON text or a decoded document: Feature, FeatureCollection with one polygon,
    Polygon (or a one-polygon MultiPolygon). Raises :class:`AoiError` (``field="geojson"``)."""
    if isinstance(data, str | bytes):
        try:
            doc: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AoiError(f"The file is not valid JSON: {exc}.", field="geojson") from exc
    else:
        doc = data
    if not isinstance(doc, Mapping):
        raise AoiError(
            "The GeoJSON must be an object (Feature, FeatureCollection or Polygon).", field="geojson"
        )
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise AoiError("The FeatureCollection has no 'features' list.", field="geojson")
        polygons = [
            f
            for f in features
            if isinstance(f, Mapping)
            and isinstance(f.get("geometry"), Mapping)
            and f["geometry"].get("type") in ("Polygon", "MultiPolygon")
        ]
        if len(polygons) != 1:
            raise AoiError(
                f"The FeatureCollection must hold exactly one polygon; it holds {len(polygons)} "
                f"(of {len(features)} features).",
                field="geojson",
            )
        doc = polygons[0]
        kind = "Feature"
    if kind == "Feature":
        geometry = doc.get("geometry")
        if not isinstance(geometry, Mapping):
            raise AoiError("The Feature has no geometry.", field="geojson")
        doc = geometry
    if not isinstance(doc.get("type"), str) or "coordinates" not in doc:
        raise AoiError(
            f"Not a GeoJSON geometry, Feature or FeatureCollection (type {doc.get('type')!r}).",
            field="geojson",
        )
    return Aoi.from_dict(doc)


@dataclass(frozen=True)
class Footprint:
    """Where a data source has observations: one sample area of the embedded backend."""

    area_id: str
    title: str
    bbox: tuple[float, float, float, float]
    dates: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Footprint:
        w, s, e, n = (float(v) for v in data["bbox"])
        return cls(str(data["area_id"]), str(data["title"]), (w, s, e, n), int(data.get("dates", 0)))

    def to_dict(self) -> dict[str, Any]:
        return {"area_id": self.area_id, "title": self.title, "bbox": list(self.bbox), "dates": self.dates}

    @property
    def aoi(self) -> Aoi:
        return Aoi.from_bbox(*self.bbox)


def footprints_from_scenes(scenes: Iterable[Any]) -> tuple[Footprint, ...]:
    """Group scenes (with ``area_id`` and ``bbox``) into one footprint per area, in first-seen order."""
    boxes: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for scene in scenes:
        w, s, e, n = scene.bbox
        box = boxes.setdefault(scene.area_id, [w, s, e, n])
        box[:] = [min(box[0], w), min(box[1], s), max(box[2], e), max(box[3], n)]
        counts[scene.area_id] = counts.get(scene.area_id, 0) + 1
    return tuple(
        Footprint(aid, _PLACES.get(aid, aid.replace("_", " ").title()), (b[0], b[1], b[2], b[3]), counts[aid])
        for aid, b in boxes.items()
    )


def _search_scenes(openeo_url: str, *, bbox: Sequence[float] | None = None, timeout: float) -> list[Scene]:
    """The embedded backend's scene search, its failures as the app's errors."""
    try:
        return search_scenes(openeo_url, bbox=bbox, timeout=timeout)
    except LocalServiceError as exc:
        raise ServiceError.carrying(exc) from exc
    except LocalBackendError as exc:
        raise BackendError.carrying(exc) from exc


def embedded_footprints(openeo_url: str, *, timeout: float = 30.0) -> tuple[Footprint, ...]:
    """The sample areas of the embedded backend, from its scene search (over HTTP)."""
    return footprints_from_scenes(_search_scenes(openeo_url, timeout=timeout))


def place_name(aoi: Aoi, footprints: Iterable[Footprint]) -> str:
    """The footprint's title when the AOI lies inside one, else ``"custom area"``."""
    shape = aoi.shape
    for fp in footprints:
        if shapely.geometry.box(*fp.bbox).buffer(1e-9).contains(shape):
            return fp.title
    return "custom area"


def validate_aoi(
    aoi: Aoi,
    *,
    max_km2: float,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    footprints: Sequence[Footprint] | None = None,
) -> Aoi:
    """Check the AOI and return it; raise :class:`AoiError` with a ``field`` and a clear message.

    ``footprints``: when given (embedded backend), the AOI must intersect at least one of them.
    """
    for ring in aoi.coordinates:
        for lon, lat in ring:
            if not -180.0 <= lon <= 180.0:
                raise AoiError(f"Longitude {lon} is out of range (-180 to 180).", field="coordinates")
            if not -90.0 <= lat <= 90.0:
                raise AoiError(f"Latitude {lat} is out of range (-90 to 90).", field="coordinates")
    if aoi.vertices > max_vertices:
        raise AoiError(
            f"The polygon has {aoi.vertices} vertices; at most {max_vertices} are accepted. Simplify it.",
            field="vertices",
        )
    shape = aoi.shape
    if not shape.is_valid:
        reason = shapely.validation.explain_validity(shape)
        raise AoiError(f"The polygon is not valid (it crosses itself?): {reason}.", field="geometry")
    area = aoi.area_km2
    if shape.area == 0 or area <= 0:
        raise AoiError("The polygon has zero area.", field="geometry")
    if area > max_km2:
        raise AoiError(
            f"The area is {area:,.0f} km², larger than the {max_km2:,.0f} km² allowed "
            "(setting APEX_MAX_AOI_KM2).",
            field="area",
        )
    if footprints is not None:
        if not footprints:
            raise AoiError("The embedded backend has no sample data installed.", field="footprint")
        if not any(shape.intersects(shapely.geometry.box(*fp.bbox)) for fp in footprints):
            names = ", ".join(fp.title for fp in footprints)
            raise AoiError(
                f"The area is outside the embedded backend's data ({names}): draw it inside one of "
                "the footprints shown on the map, or pick one with its button.",
                field="footprint",
            )
    return aoi


def accept_aoi(
    aoi: Aoi, *, max_km2: float, footprints: Sequence[Footprint] = (), place: str | None = None
) -> tuple[Aoi, str]:
    """Validate ``aoi`` (against ``footprints`` when there are any: the embedded backend) and name its
    place (``place``, else the footprint it lies in, else ``"custom area"``). Raises :class:`AoiError`."""
    validate_aoi(aoi, max_km2=max_km2, footprints=footprints if footprints else None)
    return aoi, place or place_name(aoi, footprints)


def drawn_geometry(event: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """The geometry of the map's ``last_active_drawing`` event and a stable key for it (so a drawing
    is taken once, not on every rerun), or None when the event carries no drawing."""
    drawing = (event or {}).get("last_active_drawing")
    if not isinstance(drawing, Mapping) or not isinstance(drawing.get("geometry"), Mapping):
        return None
    geometry = dict(drawing["geometry"])
    return json.dumps(geometry, sort_keys=True), geometry


def default_aoi(
    openeo_url: str | None, footprints: Sequence[Footprint] = ()
) -> tuple[Aoi, str, dt.date | None]:
    """The starting AOI, place and day: the notebook's Gran Canaria rectangle on 2019-08-19 for a
    remote backend; the first footprint (day unknown until searched) for the embedded one."""
    if openeo_url is not None or not footprints:
        return Aoi.from_bbox(*NOTEBOOK_BBOX), NOTEBOOK_PLACE, NOTEBOOK_DATE
    first = footprints[0]
    return first.aoi, first.title, None


@dataclass(frozen=True)
class Observation:
    """One observation day for the AOI, with its cloud cover (percent) where known."""

    date: dt.date
    cloud_cover: float | None = None
    scenes: int = 1
    has_scl: bool | None = None  # every scene of the day has the SCL band (None: not known)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        cover, scl = data.get("cloud_cover"), data.get("has_scl")
        return cls(
            dt.date.fromisoformat(str(data["date"])),
            None if cover is None else float(cover),
            int(data.get("scenes", 1)),
            None if scl is None else bool(scl),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "cloud_cover": self.cloud_cover,
            "scenes": self.scenes,
            "has_scl": self.has_scl,
        }

    def label(self) -> str:
        cover = "cloud cover unknown" if self.cloud_cover is None else f"{self.cloud_cover:.0f} % cloud"
        extra = f", {self.scenes} scenes" if self.scenes > 1 else ""
        return f"{self.date.isoformat()} ({cover}{extra})"


def _by_day(items: Iterable[tuple[dt.date, float | None, bool | None]]) -> list[Observation]:
    days: dict[dt.date, list[tuple[float | None, bool | None]]] = {}
    for day, cover, scl in items:
        days.setdefault(day, []).append((cover, scl))
    out = []
    for day, scenes in days.items():
        known = [c for c, _s in scenes if c is not None]
        scl_known = [s for _c, s in scenes if s is not None]
        has_scl = all(scl_known) if scl_known else None
        out.append(Observation(day, sum(known) / len(known) if known else None, len(scenes), has_scl))
    return sorted(out, key=lambda o: o.date, reverse=True)


def cloud_mask_available(observations: Sequence[Observation], start: dt.date, end: dt.date) -> bool | None:
    """Whether the SCL cloud mask can be computed for every observation from ``start`` to ``end``
    (None: the backend does not say; a production Sentinel-2 L2A collection has SCL everywhere)."""
    inside = [o.has_scl for o in observations if start <= o.date <= end]
    known = [s for s in inside if s is not None]
    return all(known) if known else None


def observation_index(observations: Sequence[Observation], day: str | None) -> int:
    """Where the stored ``day`` (ISO) is in ``observations``; the first (newest) when absent."""
    return next((i for i, o in enumerate(observations) if o.date.isoformat() == day), 0)


def embedded_observations(openeo_url: str, aoi: Aoi, *, timeout: float = 30.0) -> list[Observation]:
    """The days the embedded backend has data for the AOI, newest first."""
    scenes = _search_scenes(openeo_url, bbox=aoi.bbox, timeout=timeout)
    return _by_day((s.date, s.cloud_cover, s.has_scl if s.bands else None) for s in scenes)


def cdse_observations(
    aoi: Aoi,
    start: dt.date,
    end: dt.date,
    *,
    stac_url: str = CDSE_STAC_URL,
    collection: str = "sentinel-2-l2a",
    timeout: float = 10.0,
    limit: int = 200,
) -> list[Observation]:
    """Sentinel-2 L2A days over the AOI in ``[start, end]`` from the public CDSE STAC API.

    Raises :class:`ServiceError` when it cannot be reached (callers then offer a free date field).
    """
    body = {
        "collections": [collection],
        "intersects": aoi.to_dict(),
        "datetime": f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59Z",
        "limit": limit,
    }
    try:
        resp = requests.post(stac_url.rstrip("/") + "/search", json=body, timeout=timeout)
        resp.raise_for_status()
        features = resp.json().get("features", [])
        items: list[tuple[dt.date, float | None, bool | None]] = []
        for f in features:
            props = f.get("properties") or {}
            when = dt.datetime.fromisoformat(str(props["datetime"]).replace("Z", "+00:00"))
            cover = props.get("eo:cloud_cover")
            items.append((when.date(), None if cover is None else float(cover), True))  # L2A: SCL
    except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ServiceError(
            f"The Copernicus STAC catalogue ({stac_url}) did not answer usefully: {exc}"
        ) from exc
    return _by_day(items)


def view_for_bbox(bbox: Sequence[float], *, max_zoom: int = 16) -> tuple[tuple[float, float], int]:
    """A map centre (lat, lon) and Web-Mercator zoom level that show ``bbox`` (W, S, E, N) whole."""
    w, s, e, n = bbox
    span = max(e - w, (n - s) * 1.4, 1e-6)
    zoom = math.floor(math.log2(360.0 / span)) + 1
    return ((s + n) / 2, (w + e) / 2), max(1, min(max_zoom, zoom))


# Where a map of areas opens while there is nothing to fit (the embedded backend still starting).
DEFAULT_VIEW: tuple[tuple[float, float], int] = ((48.5, 11.0), 5)


def initial_view(aoi: Aoi | None, footprints: Iterable[Footprint] = ()) -> tuple[tuple[float, float], int]:
    """Where the Area map opens: on the AOI, else on all the data footprints together (embedded
    backend), else :data:`DEFAULT_VIEW`; never at world zoom with nothing on it."""
    if aoi is not None:
        return view_for_bbox(aoi.bbox)
    boxes = [fp.bbox for fp in footprints]
    if not boxes:
        return DEFAULT_VIEW
    return view_for_bbox(
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    )


def aoi_layer(aoi: Aoi | None, footprints: Iterable[Footprint] = ()) -> folium.FeatureGroup:
    """The map overlay: the data footprints (dashed, with their number of dates) and the current AOI."""
    group = folium.FeatureGroup(name="Area")
    footprint_style = {"color": "#666", "dashArray": "4", "fillOpacity": 0.05}
    aoi_style = {"color": "#d9480f", "weight": 3}
    for fp in footprints:
        folium.GeoJson(
            fp.aoi.to_dict(),
            style_function=lambda _: footprint_style,
            tooltip=f"{fp.title}: {fp.dates} date(s)",
        ).add_to(group)
    if aoi is not None:
        folium.GeoJson(aoi.to_dict(), style_function=lambda _: aoi_style, tooltip="Area of interest").add_to(
            group
        )
    return group
