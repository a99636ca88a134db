"""The preview of a result GeoTIFF: read it at screen resolution, render it, measure it.

Any GeoTIFF band is shown as one of three kinds (:data:`RasterKind`, :func:`detect_kind`):

- ``ndvi``: the band's description (or a one-band file's asset key / name) says NDVI, or it is a float
  band whose valid values all lie in [-1, 1]. Fixed [-1, 1] colour ramp, the NDVI classes below and a
  histogram over [-1, 1], exactly as the NDVI preview always did.
- ``categorical``: an integer band with at most :data:`~apex_core.categorical.MAX_CLASSES` distinct
  values (:func:`apex_core.categorical.classes_of`, exact over the whole file): one colour per class
  (a known legend's, e.g. ESA WorldCover, else a qualitative palette), a legend with one entry per
  class, the class shares instead of a histogram.
- ``continuous``: anything else. The colour ramp and the histogram span the robust range of the valid
  values (their 2nd to 98th percentile, :data:`ROBUST_PERCENTILES`); the legend is titled with the
  band's name.

A file with several bands is previewed one band at a time (``band``, :func:`band_infos` lists them).
The page may show a band as another possible kind (:attr:`Preview.kinds`).

Reading is kept apart from rendering, the way rio-tiler/titiler do it:

1. :func:`read_screen` reads one band of a GeoTIFF *at most* ``max_size`` pixels on its longest side
   (``out_shape`` decimated read, which GDAL serves from the internal overviews when the file has
   them), or the full array when the file is small (at most :data:`EXACT_PIXEL_LIMIT` pixels),
   as a masked array: the nodata value, NaN and any internal mask are masked.
2. :func:`compute_statistics` and :func:`compute_histogram` measure that array: exactly for a
   small file, from the N x M overview for a large one (:attr:`RasterStatistics.exact` says which).
3. :func:`render_overlay` colours the (decimated) array with a :class:`Style` (palette indices) and
   reprojects it to EPSG:3857, the Leaflet map's projection (nearest neighbour), so that an
   ``ImageOverlay`` stretched between its lon/lat corners lines up: for NDVI values clipped to
   [-1, 1], the NDVI ramp :func:`ndvi_colormap` (-1 is its first colour, 1 its last), for other
   continuous data :data:`COLORMAP` (viridis: perceptual, colour-blind safe) over the robust range, for
   categorical data each class its colour; nodata fully transparent.
4. :func:`value_at` reads the value at a lon/lat from the full-resolution file (``sample``);
   :meth:`Preview.format_value` names it (a class title for categorical data).

:func:`compute_preview` does 1-3 in one go and returns a :class:`Preview`;
:func:`preview_map` puts it on an offline folium map with a legend (inline HTML/CSS, no CDN).

The NDVI ramp is one rio-tiler colormap name (:func:`ndvi_colormap`), the same name TiTiler and the
render extension's ``colormap_name`` use, so that the map, its legend, the histogram's bar colours
(:meth:`Style.hex_colors`), the Catalogue's quicklook, the published render hints
(:class:`~apex_core.metadata.RenderHints`) and the Geospatial Explorer's legend agree. By default it is
:data:`NDVI_COLORMAP`, ColorBrewer's RdYlGn (``rdylgn``, the ramp NDVI is conventionally drawn with:
red-brown where there is no vegetation or water, pale yellow at 0, green for vegetation); setting
``APEX_NDVI_COLORMAP`` chooses another, e.g. :data:`NDVI_COLORBLIND_COLORMAP` (``cividis``), which
people with a red-green colour-vision deficiency read correctly (RdYlGn's red and green ends look alike
to them).

NDVI classes (shares of the valid pixels; values outside [-1, 1] are counted apart as *clipped*
and belong to no class; only for the ``ndvi`` kind):

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
says which), the ``kind`` and ``band`` shown and, for categorical data, ``classes``
(:meth:`apex_core.categorical.RasterClass.to_dict` of each, exact). A preview of an uploaded GeoTIFF
(no finished job) is not stored: it is not the flow's result.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

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

from apex_core.categorical import RasterClass, classes_of, is_integer_band
from apex_core.config import NDVI_COLORMAP, checked_colormap, ndvi_colormap, use_ndvi_colormap
from apex_core.errors import DataError
from apex_core.flow import JobOutcome, PreviewOutcome
from apex_core.mapview import MapAssets, base_map
from apex_core.screenread import EXACT_PIXEL_LIMIT, PREVIEW_MAX_SIZE, ScreenRead, fit, open_error, read_screen
from apex_core.statistics import STAT_KEYS, BandStatistics

__all__ = [
    "COLORMAP",
    "EXACT_PIXEL_LIMIT",
    "KIND_LABELS",
    "NDVI_CLASSES",
    "NDVI_COLORBLIND_COLORMAP",
    "NDVI_COLORMAP",
    "NDVI_RANGE",
    "NDVI_STYLE",
    "PREVIEW_MAX_SIZE",
    "RASTER_SUFFIXES",
    "ROBUST_PERCENTILES",
    "BandInfo",
    "ClassShare",
    "Histogram",
    "MapLegend",
    "NdviClass",
    "Overlay",
    "PointValue",
    "Preview",
    "RasterKind",
    "RasterStatistics",
    "ScreenRead",
    "Style",
    "add_overlay",
    "band_infos",
    "color_index",
    "colorize",
    "colormap_lut",
    "compute_histogram",
    "compute_preview",
    "compute_statistics",
    "detect_kind",
    "is_raster_file",
    "legend_colormap",
    "legend_hints",
    "legend_html",
    "ndvi_colormap",
    "ndvi_style",
    "palette",
    "preview_map",
    "read_screen",
    "render_overlay",
    "robust_range",
    "use_ndvi_colormap",
    "value_at",
    "wgs84_bounds",
]

RasterKind = Literal["ndvi", "continuous", "categorical"]
KIND_LABELS: Mapping[RasterKind, str] = {
    "ndvi": "NDVI (fixed -1…1)",
    "continuous": "Continuous (2nd–98th percentile)",
    "categorical": "Classes",
}
ROBUST_PERCENTILES: tuple[float, float] = (2.0, 98.0)
RASTER_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")

NDVI_RANGE: tuple[float, float] = (-1.0, 1.0)
COLORMAP = "viridis"
"""Continuous data other than NDVI: viridis from rio-tiler (perceptual, colour-blind safe)."""
NDVI_COLORBLIND_COLORMAP = "cividis"
"""The colour-blind-safe alternative for NDVI (``APEX_NDVI_COLORMAP=cividis``)."""
_WEB_MERCATOR = CRS.from_epsg(3857)
_WGS84 = CRS.from_epsg(4326)
_MERCATOR_MAX_LAT = 85.051129

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- the NDVI ramp


def ndvi_style(colormap: str | None = None) -> Style:
    """The NDVI's :class:`Style`: [-1, 1] with ``colormap`` (default :func:`ndvi_colormap`)."""
    return Style(colormap=ndvi_colormap() if colormap is None else checked_colormap(colormap))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class BandInfo:
    """One band of a file: its 1-based index, description (None when it has none) and data type."""

    index: int
    description: str | None
    dtype: str

    @property
    def name(self) -> str:
        return self.description or f"Band {self.index}"

    @property
    def label(self) -> str:
        return (
            f"{self.index}: {self.description} ({self.dtype})"
            if self.description
            else (f"Band {self.index} ({self.dtype})")
        )


def is_raster_file(path: Path | str) -> bool:
    """Whether the file is one the preview reads (a GeoTIFF by its name): CSV, JSON... are not."""
    return Path(path).suffix.lower() in RASTER_SUFFIXES


def _names_in(doc: Any) -> list[str]:
    """The id, title, description and ``derived_from`` links (href, title) of a STAC document."""
    if not isinstance(doc, Mapping):
        return []
    names = [doc.get(k) for k in ("id", "title", "description")]
    links = doc.get("links")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, Mapping) and link.get("rel") == "derived_from":
            names += [link.get("href"), link.get("title")]
    return [n for n in names if isinstance(n, str) and n]


def legend_hints(job: JobOutcome) -> tuple[str, ...]:
    """Names that may tell which legend a job's classes follow
    (:func:`apex_core.categorical.legend_for`): the job's title, its result keys and file names, and
    the id, title, description and ``derived_from`` links of its STAC results document and items.
    An unreadable results document adds nothing."""
    names: list[str] = [job.title or ""]
    names += [n for a in job.assets for n in (a.key, a.path.name)]
    if job.metadata_path is not None:
        with contextlib.suppress(OSError, ValueError):
            names += _names_in(json.loads(job.metadata_path.read_text(encoding="utf-8")))
    for item in job.items:
        names += _names_in(item)
    return tuple(dict.fromkeys(n for n in names if n))


def band_infos(path: Path | str) -> tuple[BandInfo, ...]:
    """The bands of a GeoTIFF (metadata only, no pixel is read). Raises :class:`DataError`."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            if src.driver != "GTiff":
                raise DataError(f"{path.name} is a {src.driver} file, not a GeoTIFF.")
            return tuple(
                BandInfo(i, (src.descriptions[i - 1] or "").strip() or None, str(src.dtypes[i - 1]))
                for i in range(1, src.count + 1)
            )
    except rasterio.errors.RasterioError as exc:
        raise open_error(path, exc) from exc


def wgs84_bounds(path: Path | str) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the file in EPSG:4326 (edges densified, so rotation is covered)."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise DataError(f"{path.name} has no coordinate reference system, so it cannot be mapped.")
            west, south, east, north = transform_bounds(src.crs, _WGS84, *src.bounds, densify_pts=21)
    except rasterio.errors.RasterioError as exc:
        raise open_error(path, exc) from exc
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


def compute_statistics(
    read: ScreenRead, *, value_range: tuple[float, float] = NDVI_RANGE, ndvi_classes: bool = True
) -> RasterStatistics:
    """Statistics of ``read``'s valid pixels; :class:`DataError` when it has none. ``clipped_low`` and
    ``clipped_high`` count the values outside ``value_range`` (the colour ramp's range); the NDVI
    classes are counted when ``ndvi_classes``."""
    values = read.data.compressed()
    total = int(read.data.size)
    if values.size == 0:
        raise DataError("The raster has no valid pixels: every pixel is nodata or NaN.")
    low, high = value_range
    clipped_low = int(np.count_nonzero(values < low))
    clipped_high = int(np.count_nonzero(values > high))
    shares = []
    for cls in NDVI_CLASSES if ndvi_classes else ():
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
    """Counts of the valid values, clipped to the colour range ([-1, 1] for NDVI), in equal bins;
    ``edges`` has one more item. ``x`` names the values in :meth:`rows`."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    x: str = "ndvi"

    @property
    def centers(self) -> tuple[float, ...]:
        return tuple((a + b) / 2 for a, b in zip(self.edges[:-1], self.edges[1:], strict=True))

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {"edges": list(self.edges), "counts": list(self.counts)}

    def rows(self) -> list[dict[str, float | int]]:
        """One row per bin (:attr:`x` = bin centre, ``pixels``), for a chart."""
        width = (self.edges[-1] - self.edges[0]) / max(1, len(self.counts))
        digits = max(4, 3 - math.floor(math.log10(width))) if width > 0 else 4
        return [
            {self.x: round(c, digits), "pixels": n} for c, n in zip(self.centers, self.counts, strict=True)
        ]


def compute_histogram(
    read: ScreenRead, bins: int = 40, *, value_range: tuple[float, float] = NDVI_RANGE, x: str = "ndvi"
) -> Histogram:
    """The histogram of ``read``'s valid values over ``value_range`` (values outside are clipped into
    the end bins)."""
    values = np.clip(read.data.compressed(), *value_range)
    counts, edges = np.histogram(values, bins=bins, range=value_range)
    return Histogram(edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts), x=x)


def robust_range(read: ScreenRead) -> tuple[float, float]:
    """The 2nd and 98th percentile of ``read``'s valid values (:data:`ROBUST_PERCENTILES`), widened to
    a range of 1 around a constant; :class:`DataError` when there is no valid value."""
    values = read.data.compressed()
    if values.size == 0:
        raise DataError("The raster has no valid pixels: every pixel is nodata or NaN.")
    low, high = (float(v) for v in np.percentile(values, ROBUST_PERCENTILES))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    return low, high


# --------------------------------------------------------------------------- rendering


def colormap_lut(name: str | None = None) -> npt.NDArray[np.uint8]:
    """The 256 RGBA colours of rio-tiler's colormap ``name`` (default the NDVI ramp,
    :func:`ndvi_colormap`), as a (256, 4) uint8 array."""
    cm = _rio_cmaps.get(ndvi_colormap() if name is None else name)
    return np.array([cm[i] for i in range(256)], dtype=np.uint8)


def palette(name: str | None = None) -> npt.NDArray[np.uint8]:
    """The overlay's 256-entry RGBA palette: entry 0 is transparent (nodata), entries 1..255 are
    ``name``'s colours from first (NDVI -1) to last (NDVI 1). An 8-bit palette PNG is about a
    quarter of the size of an RGBA one, which matters for a data URI sent to the browser."""
    lut = colormap_lut(name)
    pal = np.zeros((256, 4), dtype=np.uint8)
    pal[1:] = lut[np.rint(np.arange(255) * 255 / 254).astype(int)]
    return pal


def color_index(
    values: np.ma.MaskedArray[Any, Any], value_range: tuple[float, float] = NDVI_RANGE
) -> npt.NDArray[np.uint8]:
    """Palette index of each value: 0 where masked (nodata) or not finite, else 1..255 for the value
    clipped to ``value_range`` (for [-1, 1]: -1 -> 1, 0 -> 128, 1 -> 255)."""
    low, high = value_range
    raw = np.ma.getdata(values).astype(np.float64, copy=False)
    invalid = np.ma.getmaskarray(values) | ~np.isfinite(raw)
    clipped = np.clip(np.where(invalid, low, raw), low, high)
    index = 1 + np.rint((clipped - low) / (high - low) * 254)
    return np.where(invalid, 0, index).astype(np.uint8)


def colorize(values: np.ma.MaskedArray[Any, Any], name: str | None = None) -> npt.NDArray[np.uint8]:
    """RGBA (rows, cols, 4) of ``values``, as the overlay draws them: clipped to [-1, 1] (-1 -> the
    colormap's first colour, 1 -> its last; default the NDVI ramp), alpha 0 exactly where masked
    (nodata) or not finite."""
    return palette(name)[color_index(values)]


def _png(index: npt.NDArray[np.uint8], pal: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit palette PNG (transparency in its tRNS chunk) of palette indices."""
    rows, cols = index.shape
    colors = {i: (int(r), int(g), int(b), int(a)) for i, (r, g, b, a) in enumerate(pal)}
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
class Style:
    """How a band is coloured: ``ndvi`` and ``continuous`` with ``colormap`` over [``low``, ``high``]
    (values outside drawn as the ends), ``categorical`` with one colour per class (palette index 1 +
    the class's position; a value of no class is transparent, like nodata). ``title`` heads the
    legend. Without a ``colormap``, NDVI gets :data:`NDVI_COLORMAP`, other continuous data
    :data:`COLORMAP` (:func:`ndvi_style` gives the NDVI's as configured)."""

    kind: RasterKind = "ndvi"
    title: str = "NDVI (clipped to -1…1)"
    low: float = NDVI_RANGE[0]
    high: float = NDVI_RANGE[1]
    classes: tuple[RasterClass, ...] = ()
    colormap: str = ""

    def __post_init__(self) -> None:
        if not self.colormap:
            object.__setattr__(self, "colormap", NDVI_COLORMAP if self.kind == "ndvi" else COLORMAP)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.low, self.high

    def palette(self) -> npt.NDArray[np.uint8]:
        """The 256-entry RGBA palette of :meth:`index` (entry 0 transparent)."""
        if self.kind != "categorical":
            return palette(self.colormap)
        pal = np.zeros((256, 4), dtype=np.uint8)
        for i, cls in enumerate(self.classes[:255], start=1):
            pal[i] = (*bytes.fromhex(cls.color_hint), 255)
        return pal

    def index(self, values: np.ma.MaskedArray[Any, Any]) -> npt.NDArray[np.uint8]:
        """Palette index of each value (0 where nodata)."""
        if self.kind != "categorical":
            return color_index(values, self.value_range)
        raw = np.ma.getdata(values).astype(np.float64, copy=False)
        invalid = np.ma.getmaskarray(values) | ~np.isfinite(raw)
        known = np.array([c.value for c in self.classes[:255]], dtype=np.float64)
        if known.size == 0:
            return np.zeros(raw.shape, dtype=np.uint8)
        pos = np.clip(np.searchsorted(known, np.where(invalid, known[0], raw)), 0, known.size - 1)
        hit = ~invalid & (known[pos] == raw)
        return np.where(hit, pos + 1, 0).astype(np.uint8)

    def colorize(self, values: np.ma.MaskedArray[Any, Any]) -> npt.NDArray[np.uint8]:
        """RGBA (rows, cols, 4) of ``values`` as the overlay draws them (alpha 0 where nodata)."""
        return self.palette()[self.index(values)]

    def hex_colors(self, values: Any) -> tuple[str, ...]:
        """``#rrggbb`` of each value as the map draws it (the histogram's bar colours; a nodata or
        unclassed value is white)."""
        index = self.index(np.ma.masked_invalid(np.asarray(values, dtype=np.float64)))
        rgba = self.palette()[np.atleast_1d(index)]
        return tuple(
            "#{:02x}{:02x}{:02x}".format(*(int(c) for c in px[:3])) if px[3] else "#ffffff" for px in rgba
        )


NDVI_STYLE = Style()


@dataclass(frozen=True)
class Overlay:
    """A PNG in EPSG:3857 and the lon/lat bounds (west, south, east, north) it spans on the map."""

    png: bytes
    bounds: tuple[float, float, float, float]
    shape: tuple[int, int]

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def render_overlay(
    read: ScreenRead, *, max_size: int = PREVIEW_MAX_SIZE, style: Style = NDVI_STYLE
) -> Overlay:
    """``read`` coloured with ``style`` (palette indices, :meth:`Style.index`; NDVI's :func:`colorize`
    by default) and reprojected to Web Mercator (nearest neighbour, at most ``max_size`` pixels a
    side)."""
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
    out_rows, out_cols = fit(int(dst_rows), int(dst_cols), max_size)
    dst_transform = dst_transform @ Affine.scale(dst_cols / out_cols, dst_rows / out_rows)
    source = style.index(read.data)  # coloured first: nearest neighbour carries a pixel's colour along
    dest = np.zeros((out_rows, out_cols), dtype=np.uint8)
    reproject(
        source=source,
        destination=dest,
        src_transform=read.transform,
        src_crs=read.crs,
        src_nodata=0,
        dst_transform=dst_transform,
        dst_crs=_WEB_MERCATOR,
        dst_nodata=0,
        resampling=Resampling.nearest,
    )
    x0, y0 = dst_transform @ (0, 0)
    x1, y1 = dst_transform @ (out_cols, out_rows)
    lons, lats = transform(_WEB_MERCATOR, _WGS84, [x0, x1], [y1, y0])
    bounds = (float(lons[0]), float(lats[0]), float(lons[1]), float(lats[1]))
    return Overlay(png=_png(dest, style.palette()), bounds=bounds, shape=(out_rows, out_cols))


@dataclass(frozen=True)
class Preview:
    """Everything the page shows for one band of a GeoTIFF."""

    path: Path
    asset_key: str
    overlay: Overlay
    bounds: tuple[float, float, float, float]  # the file's footprint in lon/lat (W, S, E, N)
    statistics: RasterStatistics
    histogram: Histogram | None  # None for categorical data (its class shares instead)
    source_shape: tuple[int, int]
    crs: str
    kind: RasterKind = "ndvi"  # as shown
    style: Style = NDVI_STYLE
    band: BandInfo = BandInfo(1, None, "float32")
    bands: tuple[BandInfo, ...] = ()  # every band of the file
    classes: tuple[RasterClass, ...] | None = None  # the band's classes when it is categorical at all
    detected: RasterKind = "ndvi"  # what :func:`detect_kind` made of it

    @property
    def kinds(self) -> tuple[RasterKind, ...]:
        """The kinds this band can be shown as (categorical only when it has classes)."""
        return ("ndvi", "continuous", *(("categorical",) if self.classes else ()))

    @property
    def value_name(self) -> str:
        """What a value of this preview is called: ``NDVI``, ``Class``, else the band's name."""
        return {"ndvi": "NDVI", "categorical": "Class"}.get(self.kind, self.band.name)

    def class_of(self, value: float | None) -> RasterClass | None:
        return next((c for c in self.style.classes if value is not None and c.value == value), None)

    def format_value(self, value: float | None) -> str:
        """A point value as the page shows it: ``nodata``, ``Tree cover (10)``, ``0.5100``, ``1234.5``."""
        if value is None:
            return "nodata"
        if self.kind == "categorical":
            cls = self.class_of(value)
            return f"{cls.title} ({cls.value})" if cls else f"Class {value:g}"
        return f"{value:.4f}" if self.kind == "ndvi" else f"{value:.6g}"

    def to_state(self, job_id: str | None = None) -> PreviewOutcome:
        """The Preview step's outcome, kept in ``StateKey.PREVIEW``."""
        return PreviewOutcome(
            asset_key=self.asset_key,
            path=self.path,
            job_id=job_id,
            statistics=self.statistics.to_dict(),
            raster_statistics=self.statistics.stac_statistics(),
            kind=self.kind,
            band=self.band.index,
            classes=tuple(c.to_dict() for c in self.style.classes),
        )


def detect_kind(
    read: ScreenRead, name: str = "", classes: tuple[RasterClass, ...] | None = None
) -> RasterKind:
    """``ndvi`` when ``name`` (the band's description, or a one-band file's asset key or file name)
    says NDVI, ``categorical`` when the band has ``classes`` (:func:`~apex_core.categorical.classes_of`),
    ``ndvi`` for a float band whose valid values all lie in [-1, 1], else ``continuous``."""
    if "ndvi" in name.lower():
        return "ndvi"
    if classes:
        return "categorical"
    values = read.data.compressed()
    low, high = NDVI_RANGE
    floating = np.issubdtype(np.dtype(read.dtype), np.floating)
    if floating and values.size and low <= float(values.min()) and float(values.max()) <= high:
        return "ndvi"
    return "continuous"


def compute_preview(
    path: Path | str,
    asset_key: str | None = None,
    *,
    band: int = 1,
    kind: RasterKind | None = None,
    legend: Mapping[int, tuple[str, str]] | None = None,
    max_size: int = PREVIEW_MAX_SIZE,
    exact_limit: int = EXACT_PIXEL_LIMIT,
    colormap: str | None = None,
) -> Preview:
    """Read band ``band`` of ``path`` at screen resolution, tell its kind (:func:`detect_kind`, unless
    ``kind`` says how to show it), then its overlay, statistics and histogram. ``legend`` names and
    colours known class values (:func:`apex_core.categorical.legend_for`); ``colormap`` is NDVI's ramp
    (default :func:`ndvi_colormap`)."""
    path = Path(path)
    key = asset_key or path.name
    read = read_screen(path, band=band, max_size=max_size, exact_limit=exact_limit)
    bands = band_infos(path)
    info = bands[band - 1]
    classes = classes_of(path, band, legend=legend) if is_integer_band(read.dtype) else None
    name = info.description or (key if len(bands) == 1 else "")
    detected = detect_kind(read, name, classes)
    shown: RasterKind = kind or detected
    if shown not in get_args(RasterKind):
        raise DataError(f"A raster is shown as one of {', '.join(get_args(RasterKind))}, not {shown!r}.")
    histogram: Histogram | None
    if shown == "ndvi":
        style = ndvi_style(colormap)
        statistics = compute_statistics(read)
        histogram = compute_histogram(read)
    elif shown == "continuous":
        low, high = robust_range(read)  # DataError when nothing is valid
        style = Style("continuous", info.name, low, high)
        statistics = compute_statistics(read, value_range=(low, high), ndvi_classes=False)
        histogram = compute_histogram(read, value_range=(low, high), x="value")
    else:
        if not classes:
            raise DataError(
                f"Band {band} of {path.name} is not categorical: it is not an integer band with at most "
                "a few distinct values."
            )
        style = Style("categorical", info.description or "Classes", classes=classes)
        statistics = compute_statistics(
            read, value_range=(classes[0].value, classes[-1].value), ndvi_classes=False
        )
        histogram = None
    return Preview(
        path=path,
        asset_key=key,
        overlay=render_overlay(read, max_size=max_size, style=style),
        bounds=wgs84_bounds(path),
        statistics=statistics,
        histogram=histogram,
        source_shape=read.source_shape,
        crs=read.crs.to_string(),
        kind=shown,
        style=style,
        band=info,
        bands=bands,
        classes=classes,
        detected=detected,
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


def value_at(path: Path | str, lon: float, lat: float, band: int = 1) -> PointValue:
    """The full-resolution value of band ``band`` at (lon, lat); :class:`DataError` outside the raster."""
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
            if not 1 <= band <= src.count:
                raise DataError(f"{path.name} has no band {band} (it has {src.count}).")
            sample = next(src.sample([(x, y)], indexes=band, masked=True))
    except rasterio.errors.RasterioError as exc:
        raise open_error(path, exc) from exc
    masked = bool(np.ma.getmaskarray(sample)[0])
    raw = float(np.ma.getdata(sample)[0])
    value = None if masked or not math.isfinite(raw) else raw
    return PointValue(lon=lon, lat=lat, row=int(row), col=int(col), value=value)


# --------------------------------------------------------------------------- map


def legend_colormap(
    name: str | None = None,
    stops: int = 11,
    *,
    value_range: tuple[float, float] = NDVI_RANGE,
    caption: str = "NDVI",
) -> LinearColormap:
    """A branca colormap over ``value_range`` with ``stops`` colours sampled from rio-tiler's ``name``
    (default the NDVI ramp, :func:`ndvi_colormap`)."""
    lut = colormap_lut(name)
    picks = np.rint(np.linspace(0, 255, stops)).astype(int)
    colors = ["#{:02x}{:02x}{:02x}".format(*(int(c) for c in lut[i][:3])) for i in picks]
    low, high = value_range
    return LinearColormap(colors=colors, vmin=low, vmax=high, caption=caption)


def legend_html(style: Style) -> str:
    """The legend's inner HTML: a gradient bar with its ends and middle for continuous data, one
    swatch and title per class for categorical data. Titles are escaped (band descriptions come
    from the file)."""
    title = f'<div style="font-weight:600;margin-bottom:2px">{html.escape(style.title)}</div>'
    if style.kind == "categorical":
        rows = "".join(
            f'<div class="apex-legend-class" data-value="{c.value}" '
            'style="display:flex;align-items:center;gap:6px">'
            f'<span style="display:inline-block;width:14px;height:12px;background:{c.color};'
            f'border:1px solid #888"></span><span>{html.escape(c.title)}</span></div>'
            for c in style.classes
        )
        return f'{title}<div style="max-height:260px;overflow-y:auto">{rows}</div>'
    colormap = legend_colormap(style.colormap, value_range=style.value_range, caption=style.title)
    n = len(colormap.colors)
    stops = ", ".join(f"{colormap.rgb_hex_str(colormap.index[i])} {100 * i / (n - 1):.0f}%" for i in range(n))
    low, high = style.value_range
    return (
        f'{title}<div class="apex-ndvi-gradient" data-colormap="{html.escape(style.colormap)}" '
        'style="height:12px;'
        f'background:linear-gradient(to right, {stops})"></div>'
        '<div style="display:flex;justify-content:space-between">'
        f"<span>{low:.4g}</span><span>{(low + high) / 2:.4g}</span><span>{high:.4g}</span></div>"
    )


_LEGEND_CLASSES: Mapping[RasterKind, str] = {
    "ndvi": "apex-legend apex-ndvi-legend",
    "continuous": "apex-legend apex-continuous-legend",
    "categorical": "apex-legend apex-class-legend",
}


class MapLegend(MacroElement):
    """A legend in the map's corner, plain HTML/CSS (branca's ColorMap would pull d3 from a CDN)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function() {
                var div = L.DomUtil.create("div", {{ this.css_class | tojson }});
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

    def __init__(self, style: Style) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Legend"
        self.css_class = _LEGEND_CLASSES[style.kind]
        self.html = legend_html(style)


_Legend = MapLegend  # its former name


def preview_map(
    assets: MapAssets,
    preview: Preview,
    *,
    opacity: float = 0.8,
    tiles: str = "OpenStreetMap",
    attribution: str | None = None,
) -> folium.Map:
    """An offline folium map (:func:`apex_core.mapview.base_map`) with the preview's overlay, the file's
    footprint and a legend, zoomed to the raster."""
    west, south, east, north = preview.overlay.bounds
    fmap = base_map(
        assets, center=((south + north) / 2, (west + east) / 2), zoom=10, tiles=tiles, attribution=attribution
    )
    add_overlay(fmap, preview.overlay, preview.style, opacity)
    fw, fs, fe, fn = preview.bounds
    fmap.fit_bounds([[fs, fw], [fn, fe]])
    return fmap


def add_overlay(fmap: folium.Map, overlay: Overlay, style: Style, opacity: float) -> None:
    """``overlay`` on ``fmap`` (stretched between its lon/lat bounds, above the footprints) with the
    legend of ``style`` in the corner."""
    west, south, east, north = overlay.bounds
    folium.raster_layers.ImageOverlay(
        image=overlay.data_uri,
        bounds=[[south, west], [north, east]],
        opacity=opacity,
        name=style.title,
        interactive=False,
        zindex=10,
    ).add_to(fmap)
    fmap.add_child(MapLegend(style))
