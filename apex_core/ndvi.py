"""The notebook's NDVI process graph, built with the openeo client.

Exactly the notebook's graph: ``load_collection`` of ``SENTINEL2_L2A`` with bands B04/B08, the AOI as a
GeoJSON Feature and one day ``[d, d+1)``; ``featureflags`` ``{"tilesize": 256}`` on CDSE-like backends;
``ndvi``; ``resample_spatial`` to 38.21851414258813 m in EPSG:3857 (skipped when the native resolution
and CRS are asked for); ``save_result`` as GTiff.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openeo.rest.connection import Connection
from openeo.rest.datacube import DataCube
from openeo.rest.result import SaveResult

from apex_core.aoi import Aoi, is_cdse_like
from apex_core.errors import AoiError

__all__ = [
    "BANDS",
    "COLLECTION",
    "NAME",
    "RENDER_COLORMAP",
    "RENDER_KEY",
    "REQUIRED_PROCESSES",
    "RESAMPLE_PROJECTION",
    "RESAMPLE_RESOLUTION",
    "VALUE_RANGE",
    "NdviRequest",
    "build_ndvi_cube",
    "default_title",
    "process_graph",
    "python_snippet",
]

COLLECTION = "SENTINEL2_L2A"
BANDS = ("B04", "B08")
RESAMPLE_RESOLUTION = 38.21851414258813
RESAMPLE_PROJECTION = "EPSG:3857"
REQUIRED_PROCESSES = ("load_collection", "ndvi", "resample_spatial", "save_result")

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
    """What the job computes: the AOI (GeoJSON Polygon), the day, and the options."""

    geometry: Mapping[str, Any]
    day: dt.date
    featureflags: bool = False
    native: bool = False

    @classmethod
    def for_backend(
        cls, geometry: Mapping[str, Any], day: dt.date, openeo_url: str | None, *, native: bool = False
    ) -> NdviRequest:
        """``featureflags`` only where the backend is CDSE-like (``openeo_url`` None: embedded)."""
        return cls(geometry=geometry, day=day, featureflags=is_cdse_like(openeo_url), native=native)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NdviRequest:
        return cls(
            geometry=dict(data["geometry"]),
            day=dt.date.fromisoformat(str(data["day"])),
            featureflags=bool(data.get("featureflags", False)),
            native=bool(data.get("native", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "geometry": dict(self.geometry),
            "day": self.day.isoformat(),
            "featureflags": self.featureflags,
            "native": self.native,
        }

    @property
    def feature(self) -> dict[str, Any]:
        return Aoi.from_dict(self.geometry).to_feature()

    @property
    def temporal_extent(self) -> list[str]:
        return [self.day.isoformat(), (self.day + dt.timedelta(days=1)).isoformat()]


def build_ndvi_cube(request: NdviRequest, connection: Connection | None = None) -> SaveResult:
    """The notebook's cube (ending in ``save_result``), on ``connection`` or offline when None."""
    if not request.geometry:
        raise AoiError("Choose an area first (step 1).", field="geometry")
    kwargs: dict[str, Any] = {
        "spatial_extent": request.feature,
        "temporal_extent": request.temporal_extent,
        "bands": list(BANDS),
    }
    if connection is not None:
        cube = connection.load_collection(COLLECTION, **kwargs)
    else:
        cube = DataCube.load_collection(COLLECTION, connection=None, fetch_metadata=False, **kwargs)
    if request.featureflags:
        cube.result_node().update_arguments(featureflags={"tilesize": 256})  # type: ignore[no-untyped-call]
    cube = cube.ndvi()
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
        f"    temporal_extent={json.dumps(request.temporal_extent)},",
        f"    bands={json.dumps(list(BANDS))},",
        ")",
    ]
    if request.featureflags:
        lines.append('s2_cube.result_node().update_arguments(featureflags={"tilesize": 256})')
    lines.append("ndvi = s2_cube.ndvi()")
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
