"""The notebook's NDVI process graph, built with the openeo client; one day or a date range, options.

The default is exactly the notebook's graph: ``load_collection`` of ``SENTINEL2_L2A`` with bands
B04/B08, the AOI as a GeoJSON Feature and one day ``[d, d+1)``; ``featureflags`` ``{"tilesize": 256}``
on CDSE-like backends; ``ndvi``; ``resample_spatial`` to 38.21851414258813 m in EPSG:3857 (skipped when
the native resolution and CRS are asked for); ``save_result`` as GTiff.

A request may instead cover a date range ``[start, end]`` (both days included: the temporal extent is
``[start, end + 1 day)``) and ask for:

* ``mask_clouds``: SCL is loaded too and, before the NDVI, the pixels whose scene class is in
  :data:`MASK_CLASSES` become no data (the standard openEO ``mask``; the mask is computed with the usual
  ``band("SCL")`` band math, so the graph runs unchanged on CDSE). ``mask_scl_dilation`` is not used: it
  is a Geotrellis-only process.
* ``composite``: ``"max"`` or ``"median"`` reduces the time dimension (``reduce_dimension`` over ``t``)
  to one NDVI image for the whole range; ``None`` keeps one NDVI per observation.

The graph and :func:`python_snippet` are built by the same client calls, with no collection metadata
(``fetch_metadata=False``: with it the client names the SCL band by its position, not its name), so the
graph shown, the snippet's graph and the submitted graph are equal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from openeo.rest.connection import Connection
from openeo.rest.datacube import DataCube
from openeo.rest.result import SaveResult

from apex_core.aoi import Aoi, is_cdse_like
from apex_core.errors import AoiError

__all__ = [
    "BANDS",
    "COLLECTION",
    "COMPOSITES",
    "MASK_BAND",
    "MASK_CLASSES",
    "NAME",
    "RENDER_COLORMAP",
    "RENDER_KEY",
    "REQUIRED_PROCESSES",
    "RESAMPLE_PROJECTION",
    "RESAMPLE_RESOLUTION",
    "VALUE_RANGE",
    "Composite",
    "NdviRequest",
    "build_ndvi_cube",
    "default_title",
    "process_graph",
    "python_snippet",
    "required_processes",
]

COLLECTION = "SENTINEL2_L2A"
BANDS = ("B04", "B08")
RESAMPLE_RESOLUTION = 38.21851414258813
RESAMPLE_PROJECTION = "EPSG:3857"
REQUIRED_PROCESSES = ("load_collection", "ndvi", "resample_spatial", "save_result")
"""The processes of the default request (one day, no options); :func:`required_processes` per request."""

MASK_BAND = "SCL"
"""The Sen2Cor scene classification band the cloud mask reads."""
MASK_CLASSES: Mapping[int, str] = {
    0: "no data",
    1: "saturated or defective",
    3: "cloud shadows",
    8: "cloud, medium probability",
    9: "cloud, high probability",
    10: "thin cirrus",
}
"""The SCL classes masked (their pixels become no data before the NDVI). Clouds, cloud shadows and
cirrus (3, 8, 9, 10: the classes the embedded backend counts as cloudy), plus no data and saturated or
defective pixels (0, 1), whose reflectances give no meaningful NDVI. Kept: 2 dark area pixels,
4 vegetation, 5 not vegetated, 6 water, 7 unclassified, 11 snow or ice (real surfaces)."""

Composite = Literal["max", "median"]
COMPOSITES: tuple[Composite, ...] = get_args(Composite)
"""The composites over the range (``reduce_dimension`` over ``t`` with this reducer)."""
_COMPOSITE_WORDS: Mapping[str, str] = {"max": "maximum", "median": "median"}

# What the published collection says about the product (the metadata code itself is not NDVI's):
NAME = "NDVI"
"""The product's name: the render hints' title, the readiness check's wording."""
VALUE_RANGE: tuple[float, float] = (-1.0, 1.0)
"""The index's range: what the render hints rescale to, what the band statistics should stay within."""
RENDER_KEY = "ndvi"
"""The key of the collection's entry in ``renders`` (render extension)."""
RENDER_COLORMAP = "rdylgn"
"""The render hints' default colormap (red: bare, green: vegetation)."""


def default_title(place: str) -> str:
    """The job title the notebook uses, for this place: ``APEx Demo - <place> - NDVI``."""
    return f"APEx Demo - {place} - NDVI"


@dataclass(frozen=True)
class NdviRequest:
    """What the job computes: the AOI (GeoJSON Polygon), the days ``start`` to ``end`` (both included;
    ``end`` None or equal to ``start``: that one day), and the options.

    ``mask_clouds``: mask :data:`MASK_CLASSES` of the SCL band before the NDVI; ``composite``: None for
    one NDVI per observation, ``"max"``/``"median"`` for one NDVI over the range.
    """

    geometry: Mapping[str, Any]
    start: dt.date
    end: dt.date | None = None
    featureflags: bool = False
    native: bool = False
    mask_clouds: bool = False
    composite: Composite | None = None

    def __post_init__(self) -> None:
        if self.end is None:
            object.__setattr__(self, "end", self.start)
        if self.last_day < self.start:
            raise ValueError(f"The range ends ({self.last_day}) before it starts ({self.start}).")
        if self.composite is not None and self.composite not in COMPOSITES:
            raise ValueError(f"Unknown composite {self.composite!r}: use one of {list(COMPOSITES)} or None.")

    @classmethod
    def for_backend(
        cls,
        geometry: Mapping[str, Any],
        start: dt.date,
        openeo_url: str | None,
        *,
        end: dt.date | None = None,
        native: bool = False,
        mask_clouds: bool = False,
        composite: Composite | None = None,
    ) -> NdviRequest:
        """``featureflags`` only where the backend is CDSE-like (``openeo_url`` None: embedded)."""
        return cls(
            geometry=geometry,
            start=start,
            end=end,
            featureflags=is_cdse_like(openeo_url),
            native=native,
            mask_clouds=mask_clouds,
            composite=composite,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NdviRequest:
        """Read :meth:`to_dict`'s output, or a request saved before ranges existed (``day`` only)."""
        start = dt.date.fromisoformat(str(data.get("start") or data["day"]))
        end = data.get("end")
        composite = data.get("composite") or None
        return cls(
            geometry=dict(data["geometry"]),
            start=start,
            end=dt.date.fromisoformat(str(end)) if end else None,
            featureflags=bool(data.get("featureflags", False)),
            native=bool(data.get("native", False)),
            mask_clouds=bool(data.get("mask_clouds", False)),
            composite=cast("Composite | None", composite),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "geometry": dict(self.geometry),
            "start": self.start.isoformat(),
            "end": self.last_day.isoformat(),
            "day": self.start.isoformat(),  # for readers of requests saved before ranges existed
            "featureflags": self.featureflags,
            "native": self.native,
            "mask_clouds": self.mask_clouds,
            "composite": self.composite,
        }

    @property
    def day(self) -> dt.date:
        """The first day (the only one of a one-day request)."""
        return self.start

    @property
    def last_day(self) -> dt.date:
        """The last day of the range, included (``end``, which ``__post_init__`` always sets)."""
        return self.end if self.end is not None else self.start

    @property
    def is_range(self) -> bool:
        """Whether the request covers more than one day."""
        return self.last_day > self.start

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands ``load_collection`` reads: B04, B08, and SCL when masking."""
        return (*BANDS, MASK_BAND) if self.mask_clouds else BANDS

    @property
    def summary(self) -> str:
        """The days and options in words, e.g. ``2019-06-01 to 2019-09-01, clouds masked (SCL),
        maximum NDVI`` (``2022-06-12`` for the notebook's request)."""
        parts = [f"{self.start} to {self.last_day}" if self.is_range else str(self.start)]
        if self.mask_clouds:
            parts.append(f"clouds masked ({MASK_BAND})")
        if self.composite is not None:
            parts.append(f"{_COMPOSITE_WORDS[self.composite]} NDVI")
        return ", ".join(parts)

    @property
    def feature(self) -> dict[str, Any]:
        return Aoi.from_dict(self.geometry).to_feature()

    @property
    def temporal_extent(self) -> list[str]:
        """``[start, end + 1 day)``: openEO's half-open interval covering every day of the request."""
        return [self.start.isoformat(), (self.last_day + dt.timedelta(days=1)).isoformat()]


def required_processes(request: NdviRequest) -> tuple[str, ...]:
    """The openEO processes ``request``'s graph uses (what a backend must offer to run it)."""
    names = ["load_collection"]
    if request.mask_clouds:
        names += ["reduce_dimension", "array_element", "eq", "or", "filter_bands", "mask"]
    names.append("ndvi")
    if request.composite is not None:
        names += ["reduce_dimension", request.composite]
    if not request.native:
        names.append("resample_spatial")
    names.append("save_result")
    return tuple(dict.fromkeys(names))


def _cloudy(scl: Any) -> Any:
    """``(scl == c0) | (scl == c1) | ...`` for :data:`MASK_CLASSES`: true where a pixel is masked."""
    classes = list(MASK_CLASSES)
    cloudy = scl == classes[0]
    for value in classes[1:]:
        cloudy = cloudy | (scl == value)
    return cloudy


def build_ndvi_cube(request: NdviRequest, connection: Connection | None = None) -> SaveResult:
    """The request's cube (ending in ``save_result``), on ``connection`` or offline when None.

    The same graph either way: the collection's metadata is never fetched (with it, the client would
    name the SCL band by its position instead of its name)."""
    if not request.geometry:
        raise AoiError("Choose an area first (step 1).", field="geometry")
    kwargs: dict[str, Any] = {
        "spatial_extent": request.feature,
        "temporal_extent": request.temporal_extent,
        "bands": list(request.bands),
        "fetch_metadata": False,
    }
    if connection is not None:
        cube = connection.load_collection(COLLECTION, **kwargs)
    else:
        cube = DataCube.load_collection(COLLECTION, connection=None, **kwargs)
    if request.featureflags:
        cube.result_node().update_arguments(featureflags={"tilesize": 256})  # type: ignore[no-untyped-call]
    if request.mask_clouds:
        cube = cube.filter_bands(list(BANDS)).mask(_cloudy(cube.band(MASK_BAND)))
    cube = cube.ndvi()
    if request.composite is not None:
        cube = cube.reduce_dimension(dimension="t", reducer=request.composite)
    if not request.native:
        cube = cube.resample_spatial(resolution=RESAMPLE_RESOLUTION, projection=RESAMPLE_PROJECTION)
    result: SaveResult = cube.save_result(format="GTiff")
    return result


def process_graph(request: NdviRequest) -> dict[str, Any]:
    """The flat process graph (``{"process_graph": {...}}``) as the client would send it."""
    graph: dict[str, Any] = json.loads(build_ndvi_cube(request).to_json())
    return graph


def python_snippet(request: NdviRequest, openeo_url: str | None, *, title: str) -> str:
    """A copyable Python script that builds and runs the same graph with the openeo client."""
    url = openeo_url or "<the embedded backend's URL>"
    auth = (
        "authenticate_oidc()"
        if openeo_url
        else 'authenticate_basic("demo", "demo")  # the embedded backend\'s demo account'
    )
    lines = [
        "import openeo",
        "",
        f'con = openeo.connect("{url}").{auth}',
        "s2_cube = con.load_collection(",
        f'    "{COLLECTION}",',
        f"    spatial_extent={json.dumps(request.feature)},",
        f"    temporal_extent={json.dumps(request.temporal_extent)},  # [first day, day after the last)",
        f"    bands={json.dumps(list(request.bands))},",
    ]
    if request.mask_clouds:  # without metadata, band("SCL") names the band (not its position) as shown
        lines.append("    fetch_metadata=False,")
    lines.append(")")
    if request.featureflags:
        lines.append('s2_cube.result_node().update_arguments(featureflags={"tilesize": 256})')
    if request.mask_clouds:
        legend = ", ".join(f"{value} {name}" for value, name in MASK_CLASSES.items())
        condition = " | ".join(f"(scl == {value})" for value in MASK_CLASSES)
        lines += [
            f"# Masked SCL classes: {legend}.",
            f'scl = s2_cube.band("{MASK_BAND}")',
            f"cloudy = {condition}",
            f"s2_cube = s2_cube.filter_bands({json.dumps(list(BANDS))}).mask(cloudy)",
        ]
    lines.append("ndvi = s2_cube.ndvi()")
    if request.composite is not None:
        lines.append(f'ndvi = ndvi.reduce_dimension(dimension="t", reducer="{request.composite}")')
    if request.native:
        lines.append("result = ndvi")
    else:
        lines.append(
            f"result = ndvi.resample_spatial(resolution={RESAMPLE_RESOLUTION}, "
            f'projection="{RESAMPLE_PROJECTION}")'
        )
    lines.append('result = result.save_result(format="GTiff")')
    lines.append(f"job = result.create_job(title={json.dumps(title)})")
    lines.append("job.start_and_wait()")
    lines.append('job.get_results().download_files("results")')
    return "\n".join(lines) + "\n"
