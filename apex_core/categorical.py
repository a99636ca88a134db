"""Categorical rasters: the classes of an integer band with few distinct values, counted exactly.

A band is *categorical* when its data type is an integer type and it has at most ``max_classes``
distinct valid values (nodata, the dataset mask and any alpha band excluded). :func:`classes_of`
counts every pixel, window by window (windows aligned to the file's blocks, at most
:data:`WINDOW_PIXELS` pixels each), so memory stays bounded whatever the file size; GDAL reads each
block once.

Each class gets a title and a colour hint: from a known legend (:data:`WORLDCOVER_LEGEND`, chosen by
:func:`legend_for` from the job's collection ids) when it knows the value, else ``Class <value>``
and a colour from matplotlib's qualitative palettes tab20, tab20b and tab20c (60 distinct
colours, as rio-tiler ships them), in class order. :meth:`RasterClass.to_stac` is the STAC
classification extension's *Class Object*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
from rasterio.windows import Window
from rio_tiler.colormap import cmap as _rio_cmaps

from apex_core.errors import DataError

__all__ = [
    "MAX_CLASSES",
    "QUALITATIVE_PALETTES",
    "WINDOW_PIXELS",
    "WORLDCOVER_LEGEND",
    "RasterClass",
    "class_colors",
    "classes_of",
    "is_integer_band",
    "legend_for",
]

MAX_CLASSES = 64
WINDOW_PIXELS = 4_000_000
"""At most this many pixels are read at once (a window of whole block rows)."""
QUALITATIVE_PALETTES = ("tab20", "tab20b", "tab20c")

_NAME_RE = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class RasterClass:
    """One class of a categorical band: its value, title, colour and share of the valid pixels."""

    value: int
    title: str  # "Tree cover" for a known legend, else f"Class {value}"
    color_hint: str  # "RRGGBB": 6 upper-case hex digits, no '#'
    pixels: int
    percent: float  # share of the valid pixels, 0..100

    @property
    def name(self) -> str:
        """A slug of the title (``tree-cover``; ``class-7``, ``class-minus-7`` for a title of no legend),
        made of ``[0-9a-z-]``: valid for the classification extension's ``name`` (any string in
        v1.x, ``^[0-9A-Za-z-_]+$`` from v2.0.0)."""
        if self.title == f"Class {self.value}" or not _NAME_RE.sub("", self.title.lower()):
            return f"class-{self.value}" if self.value >= 0 else f"class-minus-{-self.value}"
        return _NAME_RE.sub("-", self.title.lower()).strip("-")

    @property
    def color(self) -> str:
        """``#rrggbb`` for HTML/CSS."""
        return "#" + self.color_hint.lower()

    def to_stac(self) -> dict[str, Any]:
        """The classification extension's Class Object. ``description`` (required by v1.x) repeats
        the title; ``title`` is v2.0.0's field."""
        return {
            "value": self.value,
            "name": self.name,
            "title": self.title,
            "description": self.title,
            "color_hint": self.color_hint,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "title": self.title,
            "color_hint": self.color_hint,
            "pixels": self.pixels,
            "percent": self.percent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RasterClass:
        return cls(
            value=int(data["value"]),
            title=str(data["title"]),
            color_hint=str(data["color_hint"]).upper().lstrip("#"),
            pixels=int(data["pixels"]),
            percent=float(data["percent"]),
        )


WORLDCOVER_LEGEND: Mapping[int, tuple[str, str]] = MappingProxyType(
    {
        # ESA WorldCover 2020 (v100) / 2021 (v200) product user manual, the map's colour table.
        10: ("Tree cover", "006400"),
        20: ("Shrubland", "FFBB22"),
        30: ("Grassland", "FFFF4C"),
        40: ("Cropland", "F096FF"),
        50: ("Built-up", "FA0000"),
        60: ("Bare / sparse vegetation", "B4B4B4"),
        70: ("Snow and ice", "F0F0F0"),
        80: ("Permanent water bodies", "0064C8"),
        90: ("Herbaceous wetland", "0096A0"),
        95: ("Mangroves", "00CF75"),
        100: ("Moss and lichen", "FAE6A0"),
    }
)


def legend_for(collection_ids: Iterable[str]) -> Mapping[int, tuple[str, str]] | None:
    """:data:`WORLDCOVER_LEGEND` when a collection id names ESA WorldCover (e.g.
    ``ESA_WORLDCOVER_10M_2021_V2``, ``esa-worldcover``), else None."""
    for cid in collection_ids:
        if "worldcover" in re.sub(r"[^a-z]", "", str(cid).lower()):
            return WORLDCOVER_LEGEND
    return None


@lru_cache(maxsize=1)
def class_colors() -> tuple[str, ...]:
    """The distinct colours (``RRGGBB``) of rio-tiler's tab20, tab20b and tab20c, in order."""
    colors: list[str] = []
    for name in QUALITATIVE_PALETTES:
        lut = np.array([_rio_cmaps.get(name)[i] for i in range(256)], dtype=np.uint8)
        for r, g, b in lut[:, :3].tolist():
            hexa = f"{r:02X}{g:02X}{b:02X}"
            if hexa not in colors:
                colors.append(hexa)
    return tuple(colors)


def is_integer_band(dtype: str) -> bool:
    return np.issubdtype(np.dtype(dtype), np.integer)


def _windows(height: int, width: int, block_rows: int, limit: int) -> Iterable[Window]:
    step = max(1, limit // max(1, width))
    step = max(block_rows, step // block_rows * block_rows)
    for row in range(0, height, step):
        yield Window(0, row, width, min(step, height - row))


def _count(values: np.ndarray[Any, Any], counts: dict[int, int]) -> None:
    if values.size == 0:
        return
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        bins = np.bincount(values.ravel())
        for v in np.flatnonzero(bins):
            counts[int(v)] = counts.get(int(v), 0) + int(bins[v])
    else:
        uniq, n = np.unique(values, return_counts=True)
        for v, c in zip(uniq.tolist(), n.tolist(), strict=True):
            counts[int(v)] = counts.get(int(v), 0) + int(c)


def classes_of(
    path: Path | str,
    band: int = 1,
    *,
    max_classes: int = MAX_CLASSES,
    legend: Mapping[int, tuple[str, str]] | None = None,
    window_pixels: int = WINDOW_PIXELS,
) -> tuple[RasterClass, ...] | None:
    """The classes of a categorical band: None when the band is not integer or has more than
    ``max_classes`` distinct valid values (or no valid pixel). Exact (every pixel, nodata and mask
    excluded), memory-bounded (window by window), in value order. Titles and colours from
    ``legend`` when it knows a value, else ``Class <value>`` and the next colour of
    :func:`class_colors`. Raises :class:`DataError` for an unreadable file or a missing band."""
    path = Path(path)
    counts: dict[int, int] = {}
    try:
        with rasterio.open(path) as src:
            if not 1 <= band <= src.count:
                raise DataError(f"{path.name} has no band {band} (it has {src.count}).")
            if not is_integer_band(src.dtypes[band - 1]):
                return None
            block_rows = int(src.block_shapes[band - 1][0]) or 1
            for window in _windows(src.height, src.width, block_rows, window_pixels):
                data = src.read(band, window=window, masked=True)
                _count(np.ma.compressed(data), counts)
                if len(counts) > max_classes:
                    return None
    except rasterio.errors.RasterioError as exc:
        if not path.exists():
            raise DataError(f"The file {path} does not exist.") from exc
        raise DataError(f"{path.name} is not a readable raster ({exc}).") from exc
    total = sum(counts.values())
    if total == 0:
        return None
    palette = class_colors()
    known = legend or {}
    classes: list[RasterClass] = []
    others = 0
    for value in sorted(counts):
        if value in known:
            title, color = known[value]
        else:
            title, color = f"Class {value}", palette[others % len(palette)]
            others += 1
        pixels = counts[value]
        classes.append(RasterClass(value, title, color.upper().lstrip("#"), pixels, 100.0 * pixels / total))
    return tuple(classes)
