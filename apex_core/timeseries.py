"""A series of results: the AOI's mean value and valid (cloud-free) share per date, for the Preview
page's chart and its date slider.

Each result GeoTIFF of a job (one per observation) is read at screen resolution
(:func:`apex_core.screenread.read_screen`, exact for small files); a pixel masked by the job (the SCL cloud
mask, or outside the AOI) is nodata, so the valid share of an observation is its cloud-free share of the
area. A composite is one result with the interval it covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apex_core.errors import DataError
from apex_core.screenread import read_screen

__all__ = ["SeriesPoint", "series_points"]


@dataclass(frozen=True)
class SeriesPoint:
    """One result of a series: its asset key, date (or interval), mean of the valid pixels (None when
    none is valid: a fully clouded observation) and the share of valid pixels, in %."""

    key: str
    date: str
    mean: float | None
    valid_percent: float

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "date": self.date, "mean": self.mean, "valid_percent": self.valid_percent}


def series_points(results: Sequence[tuple[str, Path, str | None]], band: int = 1) -> tuple[SeriesPoint, ...]:
    """The series of ``results`` (asset key, file, date), in date order (undated last). Raises
    :class:`DataError` for a file that cannot be read."""
    points = []
    for key, path, date in results:
        data = read_screen(path, band=band).data
        values = data.compressed()
        total = int(data.size)
        mean = float(np.mean(values)) if values.size else None
        share = 100.0 * values.size / total if total else 0.0
        points.append(SeriesPoint(key, date or "", mean, share))
    if not points and results:
        raise DataError("The series has no readable result.")
    return tuple(sorted(points, key=lambda p: (p.date == "", p.date, p.key)))
