"""Every page in a real browser, offline: the map renders from the app's own copies of Leaflet."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from apex_core.steps import STEPS

from .conftest import screenshot, wait_for_script

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def _url(app_url: str, step_index: int) -> str:
    """Each step at its own path (the root serves the start screen, the Projects page)."""
    return f"{app_url}/{STEPS[step_index].key.value}"


def test_start_screen_is_the_root(app_url: str, offline_page: tuple[Page, list[str]]) -> None:
    page, _ = offline_page
    page.goto(app_url + "/")
    wait_for_script(page)
    page.get_by_role("heading", name="Projects", exact=True).wait_for()
    page.get_by_role("button", name="New project").wait_for()
    page.get_by_test_id("stProgress").get_by_text("steps done").wait_for()
    shot = screenshot(page, "page-0-projects")
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("index", range(len(STEPS)), ids=[s.key.value for s in STEPS])
def test_page_renders(app_url: str, offline_page: tuple[Page, list[str]], index: int) -> None:
    page, _ = offline_page
    step = STEPS[index]
    page.goto(_url(app_url, index))
    wait_for_script(page)
    page.get_by_role("heading", name=step.title).wait_for()
    page.get_by_text("steps done").wait_for()
    # A deep link on a fresh server is routed by st.navigation, not as a pages/ folder app.
    assert page.get_by_text("Page not found").count() == 0
    shot = screenshot(page, f"page-{index + 1}-{step.key.value}")
    assert shot.stat().st_size > 10_000


def test_embedded_services_start_in_the_background(
    app_url: str, offline_page: tuple[Page, list[str]]
) -> None:
    """The first page renders at once; the sidebar then reports the embedded services ready."""
    page, _ = offline_page
    page.goto(_url(app_url, 1))
    wait_for_script(page)
    page.get_by_role("heading", name="Job").wait_for()
    page.get_by_text("openEO backend: embedded (local, offline)").wait_for(timeout=180_000)
    page.get_by_text("Catalogue: embedded (local, offline)").wait_for()


def test_area_map_renders_offline_and_draws(app_url: str, offline_page: tuple[Page, list[str]]) -> None:
    page, blocked = offline_page
    page.goto(_url(app_url, 0))
    wait_for_script(page)
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    # Leaflet.draw's toolbar came from the app's static files, not a CDN.
    rectangle = frame.get_by_role("link", name="Draw a rectangle")
    rectangle.wait_for()
    # Offline, basemap tiles fail: the map says so and keeps a plain background.
    frame.locator(".apex-basemap-offline").wait_for()
    assert any("tile.openstreetmap.org" in u for u in blocked)
    assert not any(u.endswith((".js", ".css")) for u in blocked), blocked
    screenshot(page, "area-map-offline")

    # Draw a rectangle: the app receives it. At this zoom it is far larger than APEX_MAX_AOI_KM2, so the
    # app says so and keeps no area (drawing a valid area is in test_flow_in_chromium.py).
    rectangle.click()
    box = frame.locator(".leaflet-container").bounding_box()
    assert box is not None
    x0, y0 = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 120, y0 + 80, steps=8)
    page.mouse.up()
    page.get_by_text("This area cannot be used").wait_for(timeout=30_000)
    page.get_by_text("larger than the 2,500 km² allowed").wait_for()
    page.get_by_text("0 of 5 steps done").wait_for()
    screenshot(page, "area-drawn-too-large")
