"""The Area and Job pages in a real browser, offline: draw inside Bolzano, pick the day, run the job."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import screenshot, wait_for_script

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def _choose(page: Page, label: str, option: str, deadline_s: float = 60.0) -> None:
    """Open a selectbox and pick ``option``; a rerun may close the list: retry until a deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        wait_for_script(page)
        page.get_by_label(label).click()
        try:
            page.get_by_role("option", name=option).click(timeout=5_000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def test_draw_pick_day_submit_and_download(app_url: str, offline_page: tuple[Page, list[str]]) -> None:
    page, _ = offline_page
    page.goto(app_url + "/area")
    wait_for_script(page)
    page.get_by_role("heading", name="Area").wait_for()

    # The embedded backend starts in the background; its footprints then appear as buttons.
    start = page.get_by_role("button", name="Start from Bolzano")
    start.wait_for(timeout=180_000)
    start.click()
    page.get_by_text("(Bolzano)").first.wait_for(timeout=30_000)
    wait_for_script(page)

    # Draw a rectangle in the middle of the map, now zoomed on the Bolzano footprint.
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    frame.get_by_role("link", name="Draw a rectangle").click()
    box = frame.locator(".leaflet-container").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy - 40)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 40, steps=8)
    page.mouse.up()
    drawn = page.get_by_text("Area drawn: Polygon with 4 vertices")
    drawn.wait_for(timeout=30_000)
    # The drawn rectangle (smaller than the footprint) replaced the footprint, inside Bolzano.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stAlertContentSuccess]')]"
        ".some(e => e.innerText.includes('Area drawn') && e.innerText.includes('(Bolzano)')"
        " && !e.innerText.includes('W 11.2790'))",
        timeout=30_000,
    )
    wait_for_script(page)

    # Pick the day among the real observations (Bolzano has one: 2022-06-12).
    _choose(page, "Day with data for this area (cloud cover)", "2022-06-12")
    wait_for_script(page)
    page.get_by_text("The job will use 2022-06-12").wait_for()
    page.get_by_text("1 of 5 steps done").wait_for()
    screenshot(page, "flow-1-area-drawn")

    # The Job page, in the same session: the embedded backend needs no login.
    page.locator("[data-testid='stSidebarNav'] a", has_text="Job").click()
    wait_for_script(page)
    page.get_by_role("heading", name="Job").wait_for()
    page.get_by_text("Connected to").wait_for(timeout=60_000)
    title = page.get_by_label("Job title")
    # The input is drawn as the run streams in: poll its value (with a deadline) rather than read it once.
    expect(title).to_have_value("APEx Demo - Bolzano - NDVI", timeout=30_000)
    page.get_by_role("button", name="Submit the NDVI job").click()
    page.get_by_text("Job finished; 1 result file(s) downloaded").wait_for(timeout=180_000)
    page.get_by_text("2 of 5 steps done").wait_for(timeout=30_000)
    assert page.get_by_text("openEO.tif").count() >= 1
    screenshot(page, "flow-2-job-finished")
