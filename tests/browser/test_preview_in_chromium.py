"""The Preview page in Chromium, offline: an NDVI GeoTIFF computed from the real Bolzano sample,
uploaded through the page, shows as an overlay with its legend, and a click reads its value; a land-cover
GeoTIFF (ESA WorldCover classes) shows with a legend of its classes and a click names the class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.enums
import rasterio.transform
from playwright.sync_api import Page

from .conftest import ROOT, screenshot, wait_for_script

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
SAMPLE = ROOT / ".apex" / "data" / "s2_l2a_bolzano" / "S2_L2A_sample.tif"


@pytest.fixture
def bolzano_ndvi(tmp_path: Path) -> Path:
    """NDVI = (B08 - B04) / (B08 + B04) of the sample, on floats, NaN where either band is nodata (0)."""
    if not SAMPLE.is_file():
        pytest.fail(f"The Sentinel-2 sample is missing at {SAMPLE}: run the setup command.")
    with rasterio.open(SAMPLE) as src:
        red = src.read(1).astype(np.float32)
        nir = src.read(4).astype(np.float32)
        profile = src.profile
    nodata = (red == 0) | (nir == 0)
    ndvi = np.where(nodata, np.nan, (nir - red) / np.where(nodata, 1, nir + red)).astype(np.float32)
    profile.update(count=1, dtype="float32", nodata=np.nan, predictor=3)
    out = tmp_path / "bolzano_ndvi.tif"
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(ndvi, 1)
    return out


def test_uploaded_ndvi_shows_on_the_map_offline(
    app_url: str, offline_page: tuple[Page, list[str]], bolzano_ndvi: Path
) -> None:
    page, blocked = offline_page
    page.goto(app_url + "/preview")
    wait_for_script(page)
    page.get_by_text("No job result yet").wait_for()
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(bolzano_ndvi))

    frame = page.frame_locator(MAP_FRAME)
    overlay = frame.locator(".leaflet-image-layer")
    overlay.wait_for(state="visible", timeout=60_000)
    assert (overlay.get_attribute("src") or "").startswith("data:image/png;base64,")
    legend = frame.locator(".apex-ndvi-legend")
    legend.wait_for(state="visible")
    assert "NDVI" in legend.inner_text()
    page.get_by_text("computed exactly from all 935×705 pixels").wait_for()
    # The overlay sits inside the map, large (fitted to the sample's footprint), not a stray pixel.
    map_box = frame.locator(".leaflet-container").bounding_box()
    box = overlay.bounding_box()
    assert map_box is not None and box is not None
    assert box["width"] > 0.3 * map_box["width"] and box["height"] > 0.3 * map_box["height"]
    assert not any(u.endswith((".js", ".css")) for u in blocked), blocked
    wait_for_script(page)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")
    page.locator(MAP_FRAME).scroll_into_view_if_needed()
    screenshot(page, "preview-bolzano-ndvi")

    # A click on the overlay reads the full-resolution value there (where it is now, after the scroll).
    box = overlay.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("(full resolution)").wait_for(timeout=30_000)
    assert page.get_by_text("NDVI at 11.3").count() == 1
    screenshot(page, "preview-bolzano-ndvi-clicked")


@pytest.fixture
def worldcover_map(tmp_path: Path) -> Path:
    """A CDSE-like land-cover result: uint8 band MAP, WorldCover classes in blocks, nodata 0, EPSG:4326,
    tiled 512 with overviews; the left half tree cover, the right half water, one built-up corner."""
    data = np.full((600, 800), 10, dtype=np.uint8)
    data[:, 400:] = 80
    data[:100, :100] = 50
    data[500:, 700:] = 0
    out = tmp_path / "ESA_WorldCover_10m_2021_v200_N46E011_Map.tif"
    with rasterio.open(
        out, "w", driver="GTiff", width=800, height=600, count=1, dtype="uint8", crs="EPSG:4326",
        transform=rasterio.transform.from_origin(11.30, 46.52, 0.0001, 0.0001), nodata=0,
        tiled=True, blockxsize=512, blockysize=512, compress="deflate",
    ) as dst:  # fmt: skip
        dst.write(data, 1)
        dst.set_band_description(1, "MAP")
        dst.build_overviews([2, 4], rasterio.enums.Resampling.nearest)
    return out


def test_uploaded_land_cover_shows_its_class_legend(
    app_url: str, offline_page: tuple[Page, list[str]], worldcover_map: Path
) -> None:
    page, blocked = offline_page
    page.goto(app_url + "/preview")
    wait_for_script(page)
    page.get_by_text("No job result yet").wait_for()
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(worldcover_map))

    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-image-layer").wait_for(state="visible", timeout=60_000)
    legend = frame.locator(".apex-class-legend")
    legend.wait_for(state="visible")
    entries = legend.locator(".apex-legend-class")
    assert entries.count() == 3
    assert entries.all_inner_texts() == ["Tree cover", "Built-up", "Permanent water bodies"]
    swatch = entries.first.locator("span").first
    assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 100, 0)"  # 006400
    assert not frame.locator(".apex-ndvi-legend").count()
    page.get_by_text("Class shares").wait_for()
    page.get_by_text("Share of the valid pixels in each class").wait_for()
    assert not any(u.endswith((".js", ".css")) for u in blocked), blocked
    wait_for_script(page)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")
    page.locator(MAP_FRAME).scroll_into_view_if_needed()
    screenshot(page, "preview-worldcover-classes")

    # A click on the left half names its class, at full resolution.
    box = frame.locator(".leaflet-image-layer").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.6)
    page.get_by_text("(full resolution)").wait_for(timeout=60_000)
    assert page.get_by_text("Class at 11.3").count() == 1
    assert page.get_by_text("Tree cover (10)").count() == 1
