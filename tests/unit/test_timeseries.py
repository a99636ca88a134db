"""A series of results: mean and valid (cloud-free) share per date, in date order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from apex_core.errors import DataError
from apex_core.timeseries import series_points


def _tif(path: Path, values: list[list[float]]) -> Path:
    data = np.array(values, dtype=np.float32)
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": "float32", "crs": "EPSG:32632", "transform": from_origin(680000, 5160000, 10, 10),
               "nodata": float("nan")}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def test_mean_and_valid_share_per_date_in_date_order(tmp_path: Path) -> None:
    nan = float("nan")
    june = _tif(tmp_path / "a.tif", [[0.2, 0.4], [nan, nan]])  # half clouded (masked)
    may = _tif(tmp_path / "b.tif", [[0.1, 0.1], [0.1, 0.5]])
    cloudy = _tif(tmp_path / "c.tif", [[nan, nan], [nan, nan]])
    points = series_points(
        [("a", june, "2019-06-03T00:00:00Z"), ("b", may, "2019-05-29T00:00:00Z"), ("c", cloudy, None)]
    )
    assert [p.key for p in points] == ["b", "a", "c"]  # undated last
    assert points[0].mean == pytest.approx(0.2) and points[0].valid_percent == 100.0
    assert points[1].mean == pytest.approx(0.3) and points[1].valid_percent == 50.0
    assert points[2].mean is None and points[2].valid_percent == 0.0
    assert points[1].to_dict() == {"key": "a", "date": "2019-06-03T00:00:00Z", "mean": points[1].mean,
                                   "valid_percent": 50.0}  # fmt: skip


def test_an_unreadable_result_is_a_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.tif"
    bad.write_text("not a tiff")
    with pytest.raises(DataError):
        series_points([("x", bad, "2019-06-03")])
