"""The Preview page in Chromium, offline: an NDVI GeoTIFF computed from the real Bolzano sample,
uploaded through the page, shows as an overlay with its legend, and a click reads its value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
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

    # A click on the overlay reads the full-resolution value there.
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("(full resolution)").wait_for(timeout=30_000)
    assert page.get_by_text("NDVI at 11.3").count() == 1
    screenshot(page, "preview-bolzano-ndvi-clicked")
