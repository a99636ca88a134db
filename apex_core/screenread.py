"""Reading one band of a GeoTIFF at screen resolution (the decimated read GDAL serves from the file's
overviews), masked where there is no data: what the Preview draws and measures, and what the Metadata
step's file facts measure (so both agree). Below the preview (it imports nothing of the app's steps)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling

from apex_core.errors import DataError

__all__ = [
    "EXACT_PIXEL_LIMIT",
    "PREVIEW_MAX_SIZE",
    "ScreenRead",
    "fit",
    "is_vsi_path",
    "open_error",
    "read_screen",
    "source_name",
]

PREVIEW_MAX_SIZE = 1024
"""Longest side, in pixels, of the screen-resolution read and of the overlay image."""
EXACT_PIXEL_LIMIT = 4_000_000
"""Files with at most this many pixels (e.g. 2000 x 2000) are read whole: exact statistics."""


@dataclass(frozen=True)
class ScreenRead:
    """One band of a GeoTIFF at screen resolution, masked where there is no data."""

    data: np.ma.MaskedArray[Any, np.dtype[np.float64]]
    transform: Affine
    crs: CRS
    source_shape: tuple[int, int]  # (rows, cols) of the full file
    exact: bool  # True when data is the full array (no decimation)
    band: int = 1
    dtype: str = "float32"  # the band's data type in the file
    description: str | None = None  # the band's GeoTIFF description, when it has one

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.data.shape
        return int(rows), int(cols)


def open_error(path: Path | str, exc: Exception) -> DataError:
    if isinstance(path, str):  # a GDAL virtual file system path (/vsicurl/https://...): no local file
        return DataError(f"{source_name(path)} is not a readable GeoTIFF ({exc}).")
    if not path.exists():
        return DataError(f"The file {path} does not exist.")
    return DataError(f"{path.name} is not a readable GeoTIFF ({exc}).")


def is_vsi_path(path: Path | str) -> bool:
    """Whether ``path`` is a GDAL virtual file system path given as text (``/vsicurl/https://host/a.tif``):
    :func:`read_screen` opens it as given (``Path()`` would fold the URL's ``//``)."""
    return isinstance(path, str) and path.startswith("/vsi")


def source_name(path: Path | str) -> str:
    """The file name messages use: the last part of a path or URL, without a query string."""
    if isinstance(path, Path):
        return path.name
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or path


def fit(rows: int, cols: int, max_size: int) -> tuple[int, int]:
    scale = min(1.0, max_size / max(rows, cols))
    return max(1, math.floor(rows * scale)), max(1, math.floor(cols * scale))


def read_screen(
    path: Path | str,
    *,
    band: int = 1,
    max_size: int = PREVIEW_MAX_SIZE,
    exact_limit: int = EXACT_PIXEL_LIMIT,
) -> ScreenRead:
    """Band ``band`` of ``path``: whole when it has at most ``exact_limit`` pixels, else decimated to
    fit ``max_size`` (never the full array of a large file). ``path`` may be a GDAL virtual file system
    path given as text (:func:`is_vsi_path`, e.g. ``/vsicurl/https://host/a.tif``): opened as given, in the
    caller's GDAL environment. Raises :class:`DataError`."""
    path = path if is_vsi_path(path) else Path(path)
    name = source_name(path)
    try:
        with rasterio.open(path) as src:
            if src.driver != "GTiff":
                raise DataError(f"{name} is a {src.driver} file, not a GeoTIFF.")
            if src.crs is None:
                raise DataError(f"{name} has no coordinate reference system, so it cannot be mapped.")
            if not 1 <= band <= src.count:
                raise DataError(f"{name} has no band {band} (it has {src.count}).")
            rows, cols = src.height, src.width
            exact = rows * cols <= exact_limit
            out_rows, out_cols = (rows, cols) if exact else fit(rows, cols, max_size)
            data_band = src.read(
                band, out_shape=(out_rows, out_cols), masked=True, resampling=Resampling.nearest
            )
            scale = src.transform @ Affine.scale(cols / out_cols, rows / out_rows)
            crs = src.crs
            dtype = str(src.dtypes[band - 1])
            description = (src.descriptions[band - 1] or "").strip() or None
    except rasterio.errors.RasterioError as exc:
        raise open_error(path, exc) from exc
    data = np.ma.masked_invalid(data_band.astype(np.float64, copy=False))
    data.mask = np.ma.getmaskarray(data) | np.ma.getmaskarray(data_band)
    return ScreenRead(
        data=data,
        transform=scale,
        crs=crs,
        source_shape=(rows, cols),
        exact=exact,
        band=band,
        dtype=dtype,
        description=description,
    )
