"""The statistics of one raster band, as the STAC raster extension's ``statistics`` object holds them.

One type for one concept: the Preview page measures them (:class:`apex_core.preview.RasterStatistics`
is these plus the pixel counts and classes it shows), the Metadata page writes them into
``raster:bands`` (:class:`apex_core.metadata.CollectionDraft.statistics`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["STAT_KEYS", "BandStatistics"]

STAT_KEYS = ("minimum", "maximum", "mean", "stddev", "valid_percent")
"""The raster extension's statistics, in the order STAC lists them."""
_ALIASES = {"min": "minimum", "max": "maximum", "std": "stddev", "valid_pct": "valid_percent"}


@dataclass(frozen=True)
class BandStatistics:
    """``raster:bands`` statistics of the data band; ``source`` says where they came from."""

    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    stddev: float | None = None
    valid_percent: float | None = None
    source: str = "preview"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> BandStatistics:
        """The numbers among ``data``'s statistics (``min``/``max``/``std`` accepted for their STAC names)."""
        values: dict[str, float] = {}
        for key, value in data.items():
            name = _ALIASES.get(str(key), str(key))
            if name in STAT_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
                values[name] = float(value)
        src = source if source is not None else str(data.get("source") or "preview")
        return cls(**values, source=src)

    def to_dict(self) -> dict[str, Any]:
        return {**self.stac_statistics(), "source": self.source}

    def stac_statistics(self) -> dict[str, float]:
        """The STAC raster extension's ``statistics`` object (the values that are known)."""
        return {k: v for k in STAT_KEYS if (v := getattr(self, k)) is not None}
