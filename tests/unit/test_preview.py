"""apex_core.preview on synthetic GeoTIFFs with known values (written with rasterio to tmp_path)."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin

from apex_core.categorical import WORLDCOVER_LEGEND, RasterClass, classes_of
from apex_core.errors import DataError
from apex_core.flow import JobOutcome, PreviewOutcome, ResultAsset
from apex_core.mapview import MapAssets
from apex_core.preview import (
    COLORMAP,
    NDVI_CLASSES,
    band_infos,
    colorize,
    colormap_lut,
    compute_histogram,
    compute_preview,
    compute_statistics,
    is_raster_file,
    legend_colormap,
    legend_html,
    preview_map,
    read_screen,
    render_overlay,
    value_at,
    wgs84_bounds,
)
from apex_core.statistics import BandStatistics
from apex_core.steps import StateKey, StepKey, flow_status

# A 10 m UTM 32N grid whose top-left corner is the Bolzano sample's (674990 E, 5154960 N).
UTM = "EPSG:32632"
ORIGIN = (674990.0, 5154960.0)


def write_tif(path: Path, data: np.ndarray[Any, Any], *, crs: str = UTM, nodata: float | None = None,
              transform: Any = None, **profile: Any) -> Path:  # fmt: skip
    rows, cols = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype=data.dtype, crs=crs,
        transform=transform or from_origin(*ORIGIN, 10, 10), nodata=nodata, **profile,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return path


# 4 x 5 = 20 pixels: 2 nodata (-9999), 1 NaN, 17 valid with known values.
KNOWN = np.array(
    [
        [-0.5, -0.1, 0.0, 0.1, 0.19],
        [0.2, 0.3, 0.5, 0.51, 0.9],
        [1.0, -1.0, -9999.0, np.nan, 0.6],
        [0.7, 0.8, -9999.0, 0.05, 0.25],
    ],
    dtype=np.float32,
)


@pytest.fixture
def known_tif(tmp_path: Path) -> Path:
    return write_tif(tmp_path / "known.tif", KNOWN, nodata=-9999.0)


def _valid() -> np.ndarray[Any, Any]:
    v = KNOWN.astype(np.float64).ravel()
    return v[np.isfinite(v) & (v != -9999.0)]


def test_statistics_are_exact_for_a_small_file(known_tif: Path) -> None:
    stats = compute_statistics(read_screen(known_tif))
    valid = _valid()
    assert valid.size == 17
    assert stats.exact
    assert stats.shape == (4, 5)
    assert stats.valid_pixels == 17
    assert stats.total_pixels == 20
    assert stats.valid_percent == pytest.approx(85.0)
    assert stats.minimum == pytest.approx(-1.0)
    assert stats.maximum == pytest.approx(1.0)
    assert stats.mean == pytest.approx(valid.mean(), abs=1e-6)
    assert stats.stddev == pytest.approx(valid.std(), abs=1e-6)
    assert stats.clipped == 0
    # water: -0.5 -0.1 -1.0; bare: 0.0 0.1 0.19 0.05; sparse: 0.2 0.3 0.5 0.25;
    # dense: 0.51 0.9 1.0 0.6 0.7 0.8
    shares = {c.key: (c.pixels, c.percent) for c in stats.classes}
    assert shares == {
        "water": (3, pytest.approx(100 * 3 / 17)),
        "bare": (4, pytest.approx(100 * 4 / 17)),
        "sparse": (4, pytest.approx(100 * 4 / 17)),
        "dense": (6, pytest.approx(100 * 6 / 17)),
    }
    assert [c.key for c in NDVI_CLASSES] == ["water", "bare", "sparse", "dense"]


def test_statistics_round_trip_and_raster_band_object(known_tif: Path) -> None:
    from apex_core.preview import RasterStatistics

    stats = compute_statistics(read_screen(known_tif))
    assert RasterStatistics.from_dict(stats.to_dict()) == stats
    band = stats.stac_statistics()
    assert band["valid_percent"] == pytest.approx(85.0)
    assert set(band) == {"minimum", "maximum", "mean", "stddev", "valid_percent"}
    # One band-statistics type: what the preview measured is what the Metadata page writes.
    assert isinstance(stats, BandStatistics) and BandStatistics.from_dict(band) == BandStatistics(**band)


def test_out_of_range_values_are_clipped_and_counted(tmp_path: Path) -> None:
    data = np.array([[-161.0, 73.0, 0.3, -1.0]], dtype=np.float32)
    path = write_tif(tmp_path / "cdse.tif", data)
    read = read_screen(path)
    stats = compute_statistics(read)
    assert (stats.minimum, stats.maximum) == (-161.0, 73.0)  # raw values, as raster:bands wants them
    assert (stats.clipped_low, stats.clipped_high) == (1, 1)
    assert stats.clipped_percent == pytest.approx(50.0)
    assert sum(c.pixels for c in stats.classes) == 2  # clipped pixels belong to no class
    lut = colormap_lut()
    rgba = colorize(read.data)
    assert (rgba[0, 0] == lut[0]).all()  # -161 drawn as -1
    assert (rgba[0, 1] == lut[255]).all()  # 73 drawn as 1
    hist = compute_histogram(read, bins=4)
    assert hist.edges == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert hist.counts == (2, 0, 1, 1)  # -161 and -1 in the first bin, 73 in the last


def test_colormap_end_points_and_nodata_transparency() -> None:
    lut = colormap_lut()
    assert lut.shape == (256, 4)
    values = np.ma.masked_array(
        np.array([[-1.0, 1.0, 0.0], [np.nan, 0.5, -0.2]]), mask=[[False, False, False], [False, True, False]]
    )
    rgba = colorize(values)
    assert (rgba[0, 0] == lut[0]).all()
    assert (rgba[0, 1] == lut[255]).all()
    assert (rgba[0, 2] == lut[128]).all()  # 0 -> the middle of the colormap (127.5 rounds to 128)
    alpha = rgba[..., 3]
    assert (alpha == np.array([[255, 255, 255], [0, 0, 255]])).all()
    # The legend uses the same colours, first and last.
    legend = legend_colormap()
    assert legend.rgb_hex_str(-1.0) == "#{:02x}{:02x}{:02x}".format(*lut[0][:3])
    assert legend.rgb_hex_str(1.0) == "#{:02x}{:02x}{:02x}".format(*lut[255][:3])


def test_overlay_png_is_transparent_exactly_where_nodata(tmp_path: Path) -> None:
    # An EPSG:3857 input already on the map's grid: the reprojection is the identity.
    data = np.full((6, 8), 0.4, dtype=np.float32)
    data[1, 2] = np.nan
    data[4, 7] = -9999.0
    path = write_tif(tmp_path / "merc.tif", data, crs="EPSG:3857", nodata=-9999.0,
                     transform=from_origin(1_000_000, 6_000_000, 100, 100))  # fmt: skip
    overlay = render_overlay(read_screen(path))
    assert overlay.shape == (6, 8)
    with warnings.catch_warnings(), rasterio.MemoryFile(overlay.png) as mem, mem.open() as png:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        assert png.driver == "PNG"
        assert png.count == 1 and png.colorinterp[0] == ColorInterp.palette
        colors = png.colormap(1)
        rgba = np.array([colors[i] for i in range(256)], dtype=np.uint8)[png.read(1)]
    assert (rgba == colorize(read_screen(path).data)).all()  # the PNG shows exactly colorize's colours
    alpha = rgba[..., 3]
    expected = np.full((6, 8), 255, dtype=np.uint8)
    expected[1, 2] = expected[4, 7] = 0
    assert (alpha == expected).all()
    assert overlay.data_uri.startswith("data:image/png;base64,")


def test_bounds_of_a_utm_file(tmp_path: Path) -> None:
    # The Bolzano sample's grid: 935 x 705 pixels at 10 m; its WGS84 bbox is documented in the data README.
    path = write_tif(tmp_path / "utm.tif", np.zeros((705, 935), dtype=np.float32))
    west, south, east, north = wgs84_bounds(path)
    assert (west, south, east, north) == pytest.approx((11.2790, 46.4596, 11.4034, 46.5254), abs=1e-4)


def test_bounds_of_a_web_mercator_file(tmp_path: Path) -> None:
    # x = 0 is lon 0; 111319.49 m is 1 degree of longitude at the equator; y = 0 is lat 0.
    transform = from_origin(0.0, 111319.49079327357, 111319.49079327357 / 10, 111319.49079327357 / 10)
    path = write_tif(tmp_path / "merc.tif", np.zeros((10, 10), dtype=np.float32), crs="EPSG:3857",
                     transform=transform)  # fmt: skip
    west, south, east, north = wgs84_bounds(path)
    assert (west, south, east) == pytest.approx((0.0, 0.0, 1.0), abs=1e-9)
    # Inverse Mercator: lat = gd(y / R) = atan(sinh(y / R)), with y / R = 1 degree in radians.
    assert north == pytest.approx(math.degrees(math.atan(math.sinh(math.radians(1)))), abs=1e-9)
    overlay = render_overlay(read_screen(path))
    assert overlay.bounds == pytest.approx((west, south, east, north), abs=1e-6)


def test_geographic_input_is_reprojected_for_the_map(tmp_path: Path) -> None:
    # 0.01 degree pixels over 11..12 E, 46..46.5 N: the overlay spans the same lon/lat box.
    transform = from_origin(11.0, 46.5, 0.01, 0.01)
    path = write_tif(tmp_path / "wgs84.tif", np.full((50, 100), 0.3, dtype=np.float32), crs="EPSG:4326",
                     transform=transform)  # fmt: skip
    assert wgs84_bounds(path) == pytest.approx((11.0, 46.0, 12.0, 46.5))
    overlay = render_overlay(read_screen(path))
    assert overlay.bounds == pytest.approx((11.0, 46.0, 12.0, 46.5), abs=0.01)


def test_overlay_covers_the_utm_footprint(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "utm.tif", np.full((705, 935), 0.5, dtype=np.float32))
    preview = compute_preview(path)
    w, s, e, n = preview.bounds
    ow, os_, oe, on = preview.overlay.bounds
    assert ow == pytest.approx(w, abs=1e-4) and oe == pytest.approx(e, abs=1e-4)
    assert os_ == pytest.approx(s, abs=1e-4) and on == pytest.approx(n, abs=1e-4)


def test_large_file_is_read_decimated(tmp_path: Path) -> None:
    data = np.broadcast_to(np.linspace(-1, 1, 3000, dtype=np.float32), (2000, 3000)).copy()
    path = write_tif(tmp_path / "big.tif", data, tiled=True, blockxsize=256, blockysize=256)
    read = read_screen(path, max_size=512, exact_limit=1_000_000)
    assert read.source_shape == (2000, 3000)
    assert not read.exact
    assert max(read.shape) <= 512
    assert read.shape == (341, 512)
    stats = compute_statistics(read)
    assert not stats.exact
    assert stats.source_note == "computed from a 512×341 overview"
    assert stats.minimum == pytest.approx(-1.0, abs=0.01) and stats.maximum == pytest.approx(1.0, abs=0.01)
    # The decimated read keeps the georeferencing: same footprint as the file.
    with rasterio.open(path) as src:
        assert read.transform @ (read.shape[1], read.shape[0]) == pytest.approx(
            (src.bounds.right, src.bounds.bottom)
        )
    overlay = render_overlay(read, max_size=512)
    assert max(overlay.shape) <= 512


def test_point_value_at_a_known_pixel_and_outside(known_tif: Path) -> None:
    from rasterio.warp import transform

    # The centre of pixel (row 1, col 3) holds 0.51.
    x, y = ORIGIN[0] + 3 * 10 + 5, ORIGIN[1] - 1 * 10 - 5
    lons, lats = transform(UTM, "EPSG:4326", [x], [y])
    point = value_at(known_tif, lons[0], lats[0])
    assert (point.row, point.col) == (1, 3)
    assert point.value == pytest.approx(0.51)
    # Pixel (2, 2) is nodata.
    lons, lats = transform(UTM, "EPSG:4326", [ORIGIN[0] + 25], [ORIGIN[1] - 25])
    assert value_at(known_tif, lons[0], lats[0]).value is None
    with pytest.raises(DataError, match="outside the raster") as err:
        value_at(known_tif, 12.0, 46.0)
    assert err.value.field == "point"


def test_errors_are_data_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(DataError, match="not a readable GeoTIFF"):
        read_screen(text)
    with pytest.raises(DataError, match="does not exist"):
        read_screen(tmp_path / "missing.tif")
    png = tmp_path / "image.png"
    with rasterio.open(png, "w", driver="PNG", width=2, height=2, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((2, 2), dtype=np.uint8), 1)
    with pytest.raises(DataError, match="not a GeoTIFF"):
        read_screen(png)
    empty = write_tif(tmp_path / "empty.tif", np.full((3, 3), np.nan, dtype=np.float32))
    with pytest.raises(DataError, match="no valid pixels"):
        compute_preview(empty)
    noise = np.random.default_rng(1).uniform(-1, 1, (512, 512)).astype(np.float32)
    whole = write_tif(tmp_path / "whole.tif", noise, tiled=True, blockxsize=256, blockysize=256)
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # an interrupted download
    with pytest.raises(DataError, match=r"truncated\.tif is not a readable GeoTIFF"):
        compute_preview(truncated)
    no_crs = tmp_path / "nocrs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32") as dst:
        dst.write(np.zeros((2, 2), dtype=np.float32), 1)
    with pytest.raises(DataError, match="no coordinate reference system"):
        read_screen(no_crs)


def _job_state(tmp_path: Path) -> dict[str, Any]:
    a = write_tif(tmp_path / "openEO_2022-06-12Z.tif", np.full((4, 4), 0.2, dtype=np.float32))
    b = write_tif(tmp_path / "openEO_2022-06-17Z.tif", np.full((4, 4), 0.7, dtype=np.float32))
    meta = tmp_path / "job-results.json"
    meta.write_text("{}")
    return {
        "status": "finished",
        "id": "j-1234",
        "title": "Bolzano NDVI",
        "assets": [
            {"key": "openEO_2022-06-12Z.tif", "path": str(a), "datetime": "2022-06-12T00:00:00Z"},
            {"key": "openEO_2022-06-17Z.tif", "path": str(b), "datetime": "2022-06-17T00:00:00Z"},
        ],
        "metadata_path": str(meta),
    }


def test_state_contract_round_trip(tmp_path: Path) -> None:
    raw = _job_state(tmp_path)
    job = JobOutcome.from_dict(raw)
    assert job.finished
    assert job.to_dict() == raw
    assert JobOutcome.from_dict(job.to_dict()) == job
    first = ResultAsset("openEO_2022-06-12Z.tif", Path(raw["assets"][0]["path"]), "2022-06-12T00:00:00Z")
    assert job.assets[0] == first
    assert job.assets[1].label == "openEO_2022-06-17Z.tif (2022-06-17T00:00:00Z)"
    # The stepper agrees: this outcome marks the Job step done.
    assert flow_status({StateKey.JOB: job})[1].done
    # A job that is not finished: the step is not done.
    assert not flow_status({StateKey.JOB: JobOutcome.from_dict({**raw, "status": "running"})})[1].done
    with pytest.raises(DataError, match="needs a 'key' and a 'path'"):
        JobOutcome.from_dict({**raw, "assets": [{"key": "x"}]})


def test_several_assets_are_selected_by_key(tmp_path: Path) -> None:
    job = JobOutcome.from_dict(_job_state(tmp_path))
    late = job.asset("openEO_2022-06-17Z.tif")
    preview = compute_preview(late.path, late.key)
    assert preview.asset_key == "openEO_2022-06-17Z.tif"
    assert preview.statistics.mean == pytest.approx(0.7)
    early = compute_preview(job.assets[0].path, job.assets[0].key)
    assert early.statistics.mean == pytest.approx(0.2)
    with pytest.raises(DataError, match="no result asset"):
        job.asset("missing.tif")
    state = preview.to_state(job.id)
    assert state.asset_key == late.key and state.job_id == "j-1234"
    assert state.statistics["mean"] == pytest.approx(0.7)
    assert PreviewOutcome.from_dict(state.to_dict()) == state
    done = flow_status({StateKey.PREVIEW: state})
    assert next(s for s in done if s.step.key == StepKey.PREVIEW).done


def test_preview_map_is_offline_with_overlay_and_legend(known_tif: Path) -> None:
    html = preview_map(MapAssets.from_base_url_path(""), compute_preview(known_tif)).get_root().render()
    assert "/app/static/node_modules/leaflet/dist/leaflet.js" in html
    assert "L.imageOverlay" in html and "data:image/png;base64," in html
    assert "apex-ndvi-legend" in html and "linear-gradient" in html
    # Every script and stylesheet comes from the app's static files: no d3/CDN from a branca ColorMap.
    urls = re.findall(r'<script src="([^"]*)"|<link[^>]*href="([^"]*)"', html)
    assert urls
    assert all(u.startswith("/app/static/node_modules/") for pair in urls for u in pair if u), urls


# --------------------------------------------------------------------------- kinds of rasters (#14)

MERC = from_origin(
    1_000_000, 6_000_000, 100, 100
)  # EPSG:3857 on the map's grid: reprojection is the identity


def _png_rgba(png: bytes) -> np.ndarray[Any, Any]:
    with warnings.catch_warnings(), rasterio.MemoryFile(png) as mem, mem.open() as img:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        colors = img.colormap(1)
        return np.array([colors[i] for i in range(256)], dtype=np.uint8)[img.read(1)]


def _multiband(path: Path, bands: list[tuple[np.ndarray[Any, Any], str | None]], **profile: Any) -> Path:
    rows, cols = bands[0][0].shape
    with rasterio.open(
        path, "w", driver="GTiff", width=cols, height=rows, count=len(bands), dtype=bands[0][0].dtype,
        crs="EPSG:3857", transform=MERC, **profile,
    ) as dst:  # fmt: skip
        for i, (data, description) in enumerate(bands, start=1):
            dst.write(data, i)
            if description:
                dst.set_band_description(i, description)
    return path


def test_ndvi_is_told_by_name_or_by_range_and_keeps_its_fixed_ramp(tmp_path: Path, known_tif: Path) -> None:
    preview = compute_preview(known_tif)
    assert (preview.kind, preview.detected) == ("ndvi", "ndvi")  # float values all in [-1, 1]
    assert preview.style.value_range == (-1.0, 1.0)
    assert [c.key for c in preview.statistics.classes] == ["water", "bare", "sparse", "dense"]
    assert preview.histogram is not None and preview.histogram.edges[0] == -1.0
    assert preview.histogram.edges[-1] == 1.0 and set(preview.histogram.rows()[0]) == {"ndvi", "pixels"}
    assert preview.value_name == "NDVI" and preview.format_value(0.51) == "0.5100"
    assert compute_preview(known_tif) == preview  # deterministic: the page's caches hold
    # Values outside [-1, 1]: NDVI only when the name says so (the embedded back-end's band description).
    data = np.array([[-161.0, 73.0], [0.3, -1.0]], dtype=np.float32)
    plain = write_tif(tmp_path / "plain.tif", data)
    assert compute_preview(plain).kind == "continuous"
    assert compute_preview(plain, "openEO_NDVI_2022.tif").kind == "ndvi"  # a one-band file's asset key
    described = _multiband(tmp_path / "described.tif", [(data, "NDVI")])
    ndvi = compute_preview(described)
    assert ndvi.kind == "ndvi"
    assert (ndvi.statistics.clipped_low, ndvi.statistics.clipped_high) == (1, 1)


def test_continuous_data_gets_a_robust_range(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = rng.gamma(2.0, 300.0, (40, 50)).astype(np.float32)
    data[0, 0], data[0, 1] = 1e6, -5e5  # outliers the robust range ignores
    data[5, 5] = -9999.0
    path = _multiband(tmp_path / "dem.tif", [(data, "elevation")], nodata=-9999.0)
    preview = compute_preview(path)
    valid = data[data != -9999.0].astype(np.float64)
    low, high = np.percentile(valid, [2, 98])
    assert preview.kind == "continuous"
    assert preview.style.value_range == pytest.approx((low, high))
    assert preview.style.title == "elevation" and preview.value_name == "elevation"
    assert preview.statistics.minimum == pytest.approx(-5e5) and preview.statistics.maximum == pytest.approx(
        1e6
    )
    assert preview.statistics.classes == ()  # no NDVI classes
    assert preview.statistics.clipped_low == int(np.count_nonzero(valid < low))
    assert preview.statistics.clipped_high == int(np.count_nonzero(valid > high))
    hist = preview.histogram
    assert hist is not None
    assert (hist.edges[0], hist.edges[-1]) == pytest.approx((low, high))
    assert sum(hist.counts) == valid.size  # outside values are drawn at the ends
    assert set(hist.rows()[0]) == {"value", "pixels"}
    # The overlay: the robust range's ends are the colormap's ends (viridis, COLORMAP: continuous data
    # keep it, only NDVI has its own ramp); nodata is transparent.
    rgba = _png_rgba(preview.overlay.png)
    assert preview.style.colormap == COLORMAP == "viridis"
    lut = colormap_lut(COLORMAP)
    assert (rgba[0, 0] == lut[255]).all() and (rgba[0, 1] == lut[0]).all()
    assert rgba[5, 5, 3] == 0 and (rgba[..., 3] == 255).sum() == valid.size
    html = legend_html(preview.style)
    assert (
        "elevation" in html and "linear-gradient" in html and f"{low:.4g}" in html and f"{high:.4g}" in html
    )
    constant = write_tif(tmp_path / "flat.tif", np.full((3, 3), 7.0, dtype=np.float32))
    flat = compute_preview(constant)
    assert flat.kind == "continuous" and flat.style.value_range == (6.5, 7.5)


WC = np.array(
    [
        [10, 10, 20, 0, 80],
        [10, 40, 40, 0, 80],
        [50, 40, 40, 95, 80],
    ],
    dtype=np.uint8,
)


def test_categorical_data_gets_a_class_palette_legend_and_shares(tmp_path: Path) -> None:
    path = _multiband(tmp_path / "MAP.tif", [(WC, None)], nodata=0)
    preview = compute_preview(path, "MAP", legend=WORLDCOVER_LEGEND)
    assert (preview.kind, preview.detected) == ("categorical", "categorical")
    assert preview.histogram is None
    classes = preview.style.classes
    assert classes == classes_of(path, legend=WORLDCOVER_LEGEND)
    assert [(c.value, c.pixels) for c in classes] == [(10, 3), (20, 1), (40, 4), (50, 1), (80, 3), (95, 1)]
    assert [c.title for c in classes][:2] == ["Tree cover", "Shrubland"]
    assert sum(c.percent for c in classes) == pytest.approx(100.0)
    assert preview.kinds == ("ndvi", "continuous", "categorical")
    # Each pixel is drawn in its class's colour, nodata transparent.
    rgba = _png_rgba(preview.overlay.png)
    colors = {c.value: (*bytes.fromhex(c.color_hint), 255) for c in classes}
    for (r, c), v in np.ndenumerate(WC):
        assert tuple(rgba[r, c]) == (colors[int(v)] if v else (0, 0, 0, 0)), (r, c, v)
    html = legend_html(preview.style)
    for cls in classes:
        assert cls.title in html and cls.color in html
    assert "linear-gradient" not in html
    assert preview.statistics.classes == () and preview.statistics.clipped == 0
    assert preview.format_value(40.0) == "Cropland (40)" and preview.format_value(None) == "nodata"
    # The Preview step's outcome carries the kind and the classes, and round-trips through JSON.
    state = preview.to_state("j-1")
    assert (state.kind, state.band) == ("categorical", 1)
    assert [RasterClass.from_dict(c) for c in state.classes] == list(classes)
    assert state.statistics["valid_pixels"] == 13
    assert PreviewOutcome.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    # Without a legend: "Class <value>" and the qualitative palette.
    plain = compute_preview(path)
    assert [c.title for c in plain.style.classes][:2] == ["Class 10", "Class 20"]
    map_html = preview_map(MapAssets.from_base_url_path(""), preview).get_root().render()
    assert "apex-class-legend" in map_html and "Tree cover" in map_html


def test_point_value_of_a_class(tmp_path: Path) -> None:
    from rasterio.warp import transform

    path = _multiband(tmp_path / "MAP.tif", [(WC, None)], nodata=0)
    preview = compute_preview(path, legend=WORLDCOVER_LEGEND)
    xs, ys = [1_000_000 + 1 * 100 + 50], [6_000_000 - 2 * 100 - 50]  # pixel (2, 1): 40
    lons, lats = transform("EPSG:3857", "EPSG:4326", xs, ys)
    point = value_at(path, lons[0], lats[0])
    assert (point.row, point.col, point.value) == (2, 1, 40.0)
    assert preview.format_value(point.value) == "Cropland (40)"


def test_multi_band_files_are_previewed_band_by_band(tmp_path: Path) -> None:
    from rasterio.warp import transform

    ndvi = np.linspace(-0.5, 0.9, 15, dtype=np.float32).reshape(3, 5)
    classes = WC.astype(np.float32)
    other = np.arange(15, dtype=np.float32).reshape(3, 5) * 100
    path = _multiband(tmp_path / "stack.tif", [(ndvi, "NDVI"), (classes, "landcover"), (other, None)])
    infos = band_infos(path)
    assert [(b.index, b.description, b.name) for b in infos] == [
        (1, "NDVI", "NDVI"), (2, "landcover", "landcover"), (3, None, "Band 3"),
    ]  # fmt: skip
    first = compute_preview(path)
    assert (first.kind, first.band.index, first.bands) == ("ndvi", 1, infos)
    third = compute_preview(path, band=3)
    assert third.kind == "continuous" and third.style.title == "Band 3"
    assert third.statistics.maximum == pytest.approx(1400.0)
    assert third.to_state().band == 3
    # A float band is never categorical, whatever its values.
    assert compute_preview(path, band=2).kind == "continuous"
    ints = _multiband(tmp_path / "ints.tif", [(WC, "landcover"), ((WC // 10).astype(np.uint8) * 7, None)])
    second = compute_preview(ints, band=2)
    assert second.kind == "categorical"
    assert [c.value for c in second.style.classes] == [0, 7, 14, 28, 35, 56, 63]
    lons, lats = transform("EPSG:3857", "EPSG:4326", [1_000_000 + 50], [6_000_000 - 50])
    assert value_at(ints, lons[0], lats[0], band=2).value == 7.0
    assert value_at(ints, lons[0], lats[0], band=1).value == 10.0
    with pytest.raises(DataError, match="no band 4"):
        compute_preview(ints, band=4)
    with pytest.raises(DataError, match="no band 3"):
        value_at(ints, lons[0], lats[0], band=3)


def test_a_band_can_be_shown_as_another_possible_kind(tmp_path: Path, known_tif: Path) -> None:
    path = _multiband(tmp_path / "MAP.tif", [(WC, None)], nodata=0)
    as_values = compute_preview(path, kind="continuous")
    assert (as_values.kind, as_values.detected) == ("continuous", "categorical")
    assert as_values.histogram is not None and as_values.style.classes == ()
    assert as_values.to_state().classes == ()
    assert compute_preview(known_tif).kinds == ("ndvi", "continuous")
    with pytest.raises(DataError, match="not categorical"):
        compute_preview(known_tif, kind="categorical")


def test_preview_outcome_saved_before_kinds_still_loads(tmp_path: Path) -> None:
    old = {
        "job_id": "j-old",
        "asset_key": "openEO.tif",
        "path": str(tmp_path / "openEO.tif"),
        "statistics": {"minimum": -0.2, "maximum": 0.9, "valid_pixels": 4},
        "raster_statistics": {"minimum": -0.2, "maximum": 0.9},
    }
    outcome = PreviewOutcome.from_dict(old)
    assert (outcome.kind, outcome.band, outcome.classes) == ("ndvi", 1, ())
    assert outcome.band_statistics("j-old") == {"minimum": -0.2, "maximum": 0.9}
    with pytest.raises(DataError, match="classes"):
        PreviewOutcome.from_dict({**old, "classes": "Tree cover"})


def test_only_geotiffs_are_raster_files() -> None:
    assert is_raster_file("a/openEO.tif") and is_raster_file(Path("B.TIFF"))
    assert not is_raster_file("timeseries.csv") and not is_raster_file("result.json")
