"""The NDVI preview: read a result GeoTIFF at screen resolution, render it, measure it.

Reading is kept apart from rendering, the way rio-tiler/titiler do it:

1. :func:`read_screen` reads band 1 of a GeoTIFF *at most* ``max_size`` pixels on its longest side
   (``out_shape`` decimated read, which GDAL serves from the internal overviews when the file has
   them), or the full array when the file is small (at most :data:`EXACT_PIXEL_LIMIT` pixels),
   as a masked array: the nodata value, NaN and any internal mask are masked.
2. :func:`compute_statistics` and :func:`compute_histogram` measure that array: exactly for a
   small file, from the N x M overview for a large one (:attr:`RasterStatistics.exact` says which).
3. :func:`render_overlay` reprojects the (decimated) array to EPSG:3857, the Leaflet map's
   projection, so that an ``ImageOverlay`` stretched between its lon/lat corners lines up, and
   colours it: values clipped to [-1, 1], colormap :data:`COLORMAP` (viridis from rio-tiler: perceptual,
   colour-blind safe; -1 is its first colour, 1 its last), nodata fully transparent.
4. :func:`value_at` reads the value at a lon/lat from the full-resolution file (``sample``).

:func:`compute_preview` does 1-3 in one go and returns a :class:`Preview`;
:func:`preview_map` puts it on an offline folium map with a legend (inline HTML/CSS, no CDN).

NDVI classes (shares of the valid pixels; values outside [-1, 1] are counted apart as *clipped*
and belong to no class):

=========== ==========================
class       NDVI
=========== ==========================
water       -1 <= v < 0
bare        0 <= v < 0.2
sparse      0.2 <= v <= 0.5
dense       0.5 < v <= 1
=========== ==========================

The state contract with the Job page
------------------------------------

The Job page downloads a finished job's result GeoTIFFs and its STAC metadata JSON into the
session's work folder and keeps a :class:`~apex_core.flow.JobOutcome` in
``st.session_state[StateKey.JOB]`` (its ``assets`` are :class:`~apex_core.flow.ResultAsset` values:
key, local path, date). When a preview of a finished job's asset has been computed the page keeps
:meth:`Preview.to_state` (a :class:`~apex_core.flow.PreviewOutcome`) in
``st.session_state[StateKey.PREVIEW]``: the job id, asset key and path, ``statistics``
(``RasterStatistics.to_dict()``) and ``raster_statistics`` (``{minimum, maximum, mean, stddev,
valid_percent}``, the STAC raster extension's ``statistics`` object for the Metadata page's
``raster:bands``; exact for small files, from the overview for large ones: ``statistics["exact"]``
says which). A preview of an uploaded GeoTIFF (no finished job) is not stored: it is not the flow's
result.
"""

from __future__ import annotations

import base64
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.errors
from affine import Affine
from branca.colormap import LinearColormap
from branca.element import MacroElement
from jinja2 import Template
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.warp import calculate_default_transform, reproject, transform, transform_bounds
from rio_tiler.colormap import cmap as _rio_cmaps

from apex_core.errors import DataError
from apex_core.flow import PreviewOutcome
from apex_core.mapview import MapAssets, base_map
from apex_core.statistics import STAT_KEYS, BandStatistics

__all__ = [
    "COLORMAP",
    "EXACT_PIXEL_LIMIT",
    "NDVI_CLASSES",
    "NDVI_RANGE",
    "PREVIEW_MAX_SIZE",
    "ClassShare",
    "Histogram",
    "NdviClass",
    "Overlay",
    "PointValue",
    "Preview",
    "RasterStatistics",
    "ScreenRead",
    "color_index",
    "colorize",
    "colormap_lut",
    "compute_histogram",
    "compute_preview",
    "compute_statistics",
    "legend_colormap",
    "palette",
    "preview_map",
    "read_screen",
    "render_overlay",
    "value_at",
    "wgs84_bounds",
]

NDVI_RANGE: tuple[float, float] = (-1.0, 1.0)
COLORMAP = "viridis"
PREVIEW_MAX_SIZE = 1024
"""Longest side, in pixels, of the screen-resolution read and of the overlay image."""
EXACT_PIXEL_LIMIT = 4_000_000
"""Files with at most this many pixels (e.g. 2000 x 2000) are read whole: exact statistics."""

_WEB_MERCATOR = CRS.from_epsg(3857)
_WGS84 = CRS.from_epsg(4326)
_MERCATOR_MAX_LAT = 85.051129

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ScreenRead:
    """Band 1 of a GeoTIFF at screen resolution, masked where there is no data."""

    data: np.ma.MaskedArray[Any, np.dtype[np.float64]]
    transform: Affine
    crs: CRS
    source_shape: tuple[int, int]  # (rows, cols) of the full file
    exact: bool  # True when data is the full array (no decimation)

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.data.shape
        return int(rows), int(cols)


def _open_error(path: Path, exc: Exception) -> DataError:
    if not path.exists():
        return DataError(f"The file {path} does not exist.")
    return DataError(f"{path.name} is not a readable GeoTIFF ({exc}).")


def _fit(rows: int, cols: int, max_size: int) -> tuple[int, int]:
    scale = min(1.0, max_size / max(rows, cols))
    return max(1, math.floor(rows * scale)), max(1, math.floor(cols * scale))


def read_screen(
    path: Path | str, *, max_size: int = PREVIEW_MAX_SIZE, exact_limit: int = EXACT_PIXEL_LIMIT
) -> ScreenRead:
    """Band 1 of ``path``: whole when it has at most ``exact_limit`` pixels, else decimated to fit
    ``max_size`` (never the full array of a large file). Raises :class:`DataError`."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            if src.driver != "GTiff":
                raise DataError(f"{path.name} is a {src.driver} file, not a GeoTIFF.")
            if src.crs is None:
                raise DataError(f"{path.name} has no coordinate reference system, so it cannot be mapped.")
            rows, cols = src.height, src.width
            exact = rows * cols <= exact_limit
            out_rows, out_cols = (rows, cols) if exact else _fit(rows, cols, max_size)
            band = src.read(1, out_shape=(out_rows, out_cols), masked=True, resampling=Resampling.nearest)
            scale = src.transform @ Affine.scale(cols / out_cols, rows / out_rows)
            crs = src.crs
    except rasterio.errors.RasterioError as exc:
        raise _open_error(path, exc) from exc
    data = np.ma.masked_invalid(band.astype(np.float64, copy=False))
    data.mask = np.ma.getmaskarray(data) | np.ma.getmaskarray(band)
    return ScreenRead(data=data, transform=scale, crs=crs, source_shape=(rows, cols), exact=exact)


def wgs84_bounds(path: Path | str) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the file in EPSG:4326 (edges densified, so rotation is covered)."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise DataError(f"{path.name} has no coordinate reference system, so it cannot be mapped.")
            west, south, east, north = transform_bounds(src.crs, _WGS84, *src.bounds, densify_pts=21)
    except rasterio.errors.RasterioError as exc:
        raise _open_error(path, exc) from exc
    return float(west), float(south), float(east), float(north)


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class NdviClass:
    key: str
    label: str
    lower: float
    upper: float
    lower_inclusive: bool
    upper_inclusive: bool

    def contains(self, values: FloatArray) -> npt.NDArray[np.bool_]:
        low = values >= self.lower if self.lower_inclusive else values > self.lower
        high = values <= self.upper if self.upper_inclusive else values < self.upper
        return np.asarray(low & high)


NDVI_CLASSES: tuple[NdviClass, ...] = (
    NdviClass("water", "Water, snow, clouds (< 0)", -1.0, 0.0, True, False),
    NdviClass("bare", "Bare soil, built-up (0 to 0.2)", 0.0, 0.2, True, False),
    NdviClass("sparse", "Sparse vegetation (0.2 to 0.5)", 0.2, 0.5, True, True),
    NdviClass("dense", "Dense vegetation (> 0.5)", 0.5, 1.0, False, True),
)


@dataclass(frozen=True)
class ClassShare:
    key: str
    label: str
    pixels: int
    percent: float

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "pixels": self.pixels, "percent": self.percent}


@dataclass(frozen=True, kw_only=True)
class RasterStatistics(BandStatistics):
    """The preview's measurement of the valid pixels: their :class:`BandStatistics` (raw values: the
    minimum, maximum, mean and stddev are not clipped; always all known here), and the pixel counts,
    clipping and classes the Preview page shows besides."""

    valid_pixels: int
    total_pixels: int
    clipped_low: int  # valid pixels < -1
    clipped_high: int  # valid pixels > 1
    classes: tuple[ClassShare, ...]
    exact: bool  # from the full file (True) or from a decimated overview read (False)
    shape: tuple[int, int]  # (rows, cols) of the array they were computed from

    @property
    def clipped(self) -> int:
        return self.clipped_low + self.clipped_high

    @property
    def clipped_percent(self) -> float:
        return 100.0 * self.clipped / self.valid_pixels if self.valid_pixels else 0.0

    @property
    def source_note(self) -> str:
        rows, cols = self.shape
        how = "exactly from all" if self.exact else "from a"
        what = "pixels" if self.exact else "overview"
        return f"computed {how} {cols}×{rows} {what}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> RasterStatistics:
        band = BandStatistics.from_dict(data, source)
        return cls(
            **{k: getattr(band, k) for k in STAT_KEYS},
            source=band.source,
            valid_pixels=int(data["valid_pixels"]),
            total_pixels=int(data["total_pixels"]),
            clipped_low=int(data["clipped_low"]),
            clipped_high=int(data["clipped_high"]),
            classes=tuple(
                ClassShare(str(c["key"]), str(c["label"]), int(c["pixels"]), float(c["percent"]))
                for c in data["classes"]
            ),
            exact=bool(data["exact"]),
            shape=(int(data["shape"][0]), int(data["shape"][1])),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "valid_pixels": self.valid_pixels,
            "total_pixels": self.total_pixels,
            "clipped_low": self.clipped_low,
            "clipped_high": self.clipped_high,
            "classes": [c.to_dict() for c in self.classes],
            "exact": self.exact,
            "shape": list(self.shape),
        }


def compute_statistics(read: ScreenRead) -> RasterStatistics:
    """Statistics of ``read``'s valid pixels; :class:`DataError` when it has none."""
    values = read.data.compressed()
    total = int(read.data.size)
    if values.size == 0:
        raise DataError("The raster has no valid pixels: every pixel is nodata or NaN.")
    low, high = NDVI_RANGE
    clipped_low = int(np.count_nonzero(values < low))
    clipped_high = int(np.count_nonzero(values > high))
    shares = []
    for cls in NDVI_CLASSES:
        n = int(np.count_nonzero(cls.contains(values)))
        shares.append(ClassShare(cls.key, cls.label, n, 100.0 * n / values.size))
    return RasterStatistics(
        minimum=float(values.min()),
        maximum=float(values.max()),
        mean=float(values.mean()),
        stddev=float(values.std()),
        valid_percent=100.0 * values.size / total,
        valid_pixels=int(values.size),
        total_pixels=total,
        clipped_low=clipped_low,
        clipped_high=clipped_high,
        classes=tuple(shares),
        exact=read.exact,
        shape=read.shape,
    )


@dataclass(frozen=True)
class Histogram:
    """Counts of the valid values, clipped to [-1, 1], in equal bins; ``edges`` has one more item."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def centers(self) -> tuple[float, ...]:
        return tuple((a + b) / 2 for a, b in zip(self.edges[:-1], self.edges[1:], strict=True))

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {"edges": list(self.edges), "counts": list(self.counts)}

    def rows(self) -> list[dict[str, float | int]]:
        """One row per bin (``ndvi`` = bin centre, ``pixels``), for a chart."""
        return [{"ndvi": round(c, 4), "pixels": n} for c, n in zip(self.centers, self.counts, strict=True)]


def compute_histogram(read: ScreenRead, bins: int = 40) -> Histogram:
    values = np.clip(read.data.compressed(), *NDVI_RANGE)
    counts, edges = np.histogram(values, bins=bins, range=NDVI_RANGE)
    return Histogram(edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts))


# --------------------------------------------------------------------------- rendering


def colormap_lut(name: str = COLORMAP) -> npt.NDArray[np.uint8]:
    """The 256 RGBA colours of rio-tiler's colormap ``name``, as a (256, 4) uint8 array."""
    cm = _rio_cmaps.get(name)
    return np.array([cm[i] for i in range(256)], dtype=np.uint8)


def palette(name: str = COLORMAP) -> npt.NDArray[np.uint8]:
    """The overlay's 256-entry RGBA palette: entry 0 is transparent (nodata), entries 1..255 are
    ``name``'s colours from first (NDVI -1) to last (NDVI 1). An 8-bit palette PNG is about a
    quarter of the size of an RGBA one, which matters for a data URI sent to the browser."""
    lut = colormap_lut(name)
    pal = np.zeros((256, 4), dtype=np.uint8)
    pal[1:] = lut[np.rint(np.arange(255) * 255 / 254).astype(int)]
    return pal


def color_index(values: np.ma.MaskedArray[Any, Any]) -> npt.NDArray[np.uint8]:
    """Palette index of each value: 0 where masked (nodata) or not finite, else 1..255 for the value
    clipped to [-1, 1] (-1 -> 1, 0 -> 128, 1 -> 255)."""
    low, high = NDVI_RANGE
    raw = np.ma.getdata(values).astype(np.float64, copy=False)
    invalid = np.ma.getmaskarray(values) | ~np.isfinite(raw)
    clipped = np.clip(np.where(invalid, low, raw), low, high)
    index = 1 + np.rint((clipped - low) / (high - low) * 254)
    return np.where(invalid, 0, index).astype(np.uint8)


def colorize(values: np.ma.MaskedArray[Any, Any], name: str = COLORMAP) -> npt.NDArray[np.uint8]:
    """RGBA (rows, cols, 4) of ``values``, as the overlay draws them: clipped to [-1, 1] (-1 -> the
    colormap's first colour, 1 -> its last), alpha 0 exactly where masked (nodata) or not finite."""
    return palette(name)[color_index(values)]


def _png(index: npt.NDArray[np.uint8], name: str = COLORMAP) -> bytes:
    """An 8-bit palette PNG (transparency in its tRNS chunk) of palette indices."""
    rows, cols = index.shape
    colors = {i: (int(r), int(g), int(b), int(a)) for i, (r, g, b, a) in enumerate(palette(name))}
    with (
        warnings.catch_warnings(),
        MemoryFile() as mem,
    ):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver="PNG", width=cols, height=rows, count=1, dtype="uint8") as dst:
            dst.write(index, 1)
            dst.write_colormap(1, colors)
        return bytes(mem.read())


@dataclass(frozen=True)
class Overlay:
    """A PNG in EPSG:3857 and the lon/lat bounds (west, south, east, north) it spans on the map."""

    png: bytes
    bounds: tuple[float, float, float, float]
    shape: tuple[int, int]

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def render_overlay(read: ScreenRead, *, max_size: int = PREVIEW_MAX_SIZE) -> Overlay:
    """``read`` reprojected to Web Mercator (nearest neighbour, at most ``max_size`` pixels a side)
    and coloured with :func:`colorize`."""
    rows, cols = read.shape
    left, top = read.transform @ (0, 0)
    right, bottom = read.transform @ (cols, rows)
    src_bounds = (min(left, right), min(bottom, top), max(left, right), max(bottom, top))
    if read.crs.is_geographic:  # Web Mercator cannot show the poles
        src_bounds = (
            src_bounds[0],
            max(src_bounds[1], -_MERCATOR_MAX_LAT),
            src_bounds[2],
            min(src_bounds[3], _MERCATOR_MAX_LAT),
        )
    dst_transform, dst_cols, dst_rows = calculate_default_transform(
        read.crs, _WEB_MERCATOR, cols, rows, *src_bounds
    )
    out_rows, out_cols = _fit(int(dst_rows), int(dst_cols), max_size)
    dst_transform = dst_transform @ Affine.scale(dst_cols / out_cols, dst_rows / out_rows)
    source = np.ma.filled(read.data.astype(np.float32), np.nan)
    dest = np.full((out_rows, out_cols), np.nan, dtype=np.float32)
    reproject(
        source=source,
        destination=dest,
        src_transform=read.transform,
        src_crs=read.crs,
        src_nodata=np.nan,
        dst_transform=dst_transform,
        dst_crs=_WEB_MERCATOR,
        dst_nodata=np.nan,
        resampling=Resampling.nearest,
    )
    x0, y0 = dst_transform @ (0, 0)
    x1, y1 = dst_transform @ (out_cols, out_rows)
    lons, lats = transform(_WEB_MERCATOR, _WGS84, [x0, x1], [y1, y0])
    bounds = (float(lons[0]), float(lats[0]), float(lons[1]), float(lats[1]))
    index = color_index(np.ma.masked_invalid(dest))
    return Overlay(png=_png(index), bounds=bounds, shape=(out_rows, out_cols))


@dataclass(frozen=True)
class Preview:
    """Everything the page shows for one GeoTIFF."""

    path: Path
    asset_key: str
    overlay: Overlay
    bounds: tuple[float, float, float, float]  # the file's footprint in lon/lat (W, S, E, N)
    statistics: RasterStatistics
    histogram: Histogram
    source_shape: tuple[int, int]
    crs: str

    def to_state(self, job_id: str | None = None) -> PreviewOutcome:
        """The Preview step's outcome, kept in ``StateKey.PREVIEW``."""
        return PreviewOutcome(
            asset_key=self.asset_key,
            path=self.path,
            job_id=job_id,
            statistics=self.statistics.to_dict(),
            raster_statistics=self.statistics.stac_statistics(),
        )


def compute_preview(
    path: Path | str,
    asset_key: str | None = None,
    *,
    max_size: int = PREVIEW_MAX_SIZE,
    exact_limit: int = EXACT_PIXEL_LIMIT,
) -> Preview:
    """Read ``path`` at screen resolution, then its overlay, statistics and histogram."""
    path = Path(path)
    read = read_screen(path, max_size=max_size, exact_limit=exact_limit)
    statistics = compute_statistics(read)
    return Preview(
        path=path,
        asset_key=asset_key or path.name,
        overlay=render_overlay(read, max_size=max_size),
        bounds=wgs84_bounds(path),
        statistics=statistics,
        histogram=compute_histogram(read),
        source_shape=read.source_shape,
        crs=read.crs.to_string(),
    )


# --------------------------------------------------------------------------- point value


@dataclass(frozen=True)
class PointValue:
    lon: float
    lat: float
    row: int
    col: int
    value: float | None  # None where the pixel is nodata

    def to_dict(self) -> dict[str, Any]:
        return {"lon": self.lon, "lat": self.lat, "row": self.row, "col": self.col, "value": self.value}


def value_at(path: Path | str, lon: float, lat: float) -> PointValue:
    """The full-resolution value of band 1 at (lon, lat); :class:`DataError` outside the raster."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise DataError(f"{path.name} has no coordinate reference system, so it cannot be mapped.")
            xs, ys = transform(_WGS84, src.crs, [lon], [lat])
            x, y = float(xs[0]), float(ys[0])
            row, col = src.index(x, y)
            if not (0 <= row < src.height and 0 <= col < src.width) or not all(map(math.isfinite, (x, y))):
                raise DataError(
                    f"The point {lon:.5f}, {lat:.5f} (lon, lat) is outside the raster {path.name}: "
                    "click inside the coloured area.",
                    field="point",
                )
            sample = next(src.sample([(x, y)], indexes=1, masked=True))
    except rasterio.errors.RasterioError as exc:
        raise _open_error(path, exc) from exc
    masked = bool(np.ma.getmaskarray(sample)[0])
    raw = float(np.ma.getdata(sample)[0])
    value = None if masked or not math.isfinite(raw) else raw
    return PointValue(lon=lon, lat=lat, row=int(row), col=int(col), value=value)


# --------------------------------------------------------------------------- map


def legend_colormap(name: str = COLORMAP, stops: int = 11) -> LinearColormap:
    """A branca colormap over [-1, 1] with ``stops`` colours sampled from rio-tiler's ``name``."""
    lut = colormap_lut(name)
    picks = np.rint(np.linspace(0, 255, stops)).astype(int)
    colors = ["#{:02x}{:02x}{:02x}".format(*(int(c) for c in lut[i][:3])) for i in picks]
    low, high = NDVI_RANGE
    return LinearColormap(colors=colors, vmin=low, vmax=high, caption="NDVI")


class _Legend(MacroElement):
    """A gradient bar in the map's corner, plain HTML/CSS (branca's ColorMap would pull d3 from a CDN)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function() {
                var div = L.DomUtil.create("div", "apex-ndvi-legend");
                div.style.cssText = "background:rgba(255,255,255,.9);padding:4px 8px;border-radius:4px;"
                    + "font:12px sans-serif;color:#222;min-width:180px";
                div.innerHTML = {{ this.html | tojson }};
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, colormap: LinearColormap, title: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "NdviLegend"
        n = len(colormap.colors)
        stops = ", ".join(
            f"{colormap.rgb_hex_str(colormap.index[i])} {100 * i / (n - 1):.0f}%" for i in range(n)
        )
        low, high = colormap.vmin, colormap.vmax
        self.html = (
            f'<div style="font-weight:600;margin-bottom:2px">{title}</div>'
            '<div class="apex-ndvi-gradient" style="height:12px;'
            f'background:linear-gradient(to right, {stops})"></div>'
            '<div style="display:flex;justify-content:space-between">'
            f"<span>{low:g}</span><span>0</span><span>{high:g}</span></div>"
        )


def preview_map(
    assets: MapAssets,
    preview: Preview,
    *,
    opacity: float = 0.8,
    tiles: str = "OpenStreetMap",
    attribution: str | None = None,
) -> folium.Map:
    """An offline folium map (:func:`apex_core.mapview.base_map`) with the NDVI overlay, the file's
    footprint and a legend, zoomed to the raster."""
    west, south, east, north = preview.overlay.bounds
    fmap = base_map(
        assets, center=((south + north) / 2, (west + east) / 2), zoom=10, tiles=tiles, attribution=attribution
    )
    folium.raster_layers.ImageOverlay(
        image=preview.overlay.data_uri,
        bounds=[[south, west], [north, east]],
        opacity=opacity,
        name="NDVI",
        interactive=False,
        zindex=10,
    ).add_to(fmap)
    fw, fs, fe, fn = preview.bounds
    fmap.fit_bounds([[fs, fw], [fn, fe]])
    fmap.add_child(_Legend(legend_colormap(), "NDVI (clipped to -1…1)"))
    return fmap
