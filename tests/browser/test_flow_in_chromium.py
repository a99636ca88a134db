"""The whole flow in a real browser, offline: draw inside Bolzano, pick the day, run the job, preview the
NDVI, edit the metadata, publish to the embedded catalogue, then read the entry back from it over HTTP."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import rasterio
import requests
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import (
    commit_text,
    embedded_catalogue_token,
    go_to_step,
    open_publish_page,
    screenshot,
    sign_in_locally,
    wait_for_script,
)

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
TITLE = "NDVI over Bolzano, 12 June 2022"
DESCRIPTION = "NDVI from Sentinel-2 L2A over Bolzano on 12 June 2022, computed with openEO (flow test)."
LICENCE = "CC0-1.0"
LICENCE_LABEL = "CC0-1.0 — Creative Commons Zero v1.0 Universal"


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


def _preview(page: Page) -> None:
    """Step 3: the job's NDVI as an overlay with its legend, and its statistics."""
    go_to_step(page, "Preview")
    page.get_by_text("Results of job").wait_for(timeout=60_000)
    frame = page.frame_locator(MAP_FRAME)
    overlay = frame.locator(".leaflet-image-layer")
    overlay.wait_for(state="visible", timeout=60_000)
    assert (overlay.get_attribute("src") or "").startswith("data:image/png;base64,")
    expect(frame.locator(".apex-ndvi-legend")).to_contain_text("NDVI", timeout=30_000)
    page.get_by_role("heading", name="Statistics").wait_for(timeout=30_000)
    metrics = page.locator("[data-testid='stMetric']")
    expect(metrics).to_have_count(6, timeout=30_000)
    mean = metrics.filter(has_text="Mean").locator("[data-testid='stMetricValue']").inner_text()
    assert -1.0 <= float(mean) <= 1.0, mean
    expect(page.get_by_text("3 of 5 steps done")).to_be_visible(timeout=30_000)
    page.locator(MAP_FRAME).scroll_into_view_if_needed()
    screenshot(page, "flow-3-preview")


def _metadata(page: Page, cid: str) -> None:
    """Step 4: the job's results prefilled; set id, title, description and licence until it validates."""
    go_to_step(page, "Metadata")
    page.get_by_text("Valid STAC 1.1.0 collection").or_(page.get_by_text("Not valid yet")).first.wait_for(
        timeout=60_000
    )
    wait_for_script(page)
    keyup, plain = page.locator("[data-testid^='stBidiComponent'] input"), page.get_by_label("Id", exact=True)
    plain.or_(keyup).first.wait_for(timeout=30_000)
    if keyup.count():  # the id checked as it is typed: a keyup component, its input in a shadow root
        keyup.first.click()
        keyup.first.press("Control+A")
        keyup.first.press_sequentially(cid, delay=30)
    else:  # a plain text input
        commit_text(page, "Id", cid)
    page.get_by_text(f"Valid STAC 1.1.0 collection {cid} with").wait_for(timeout=30_000)
    wait_for_script(page)
    commit_text(page, "Title", TITLE)
    commit_text(page, "Description", DESCRIPTION, key="Control+Enter")
    licence = page.locator("[data-testid='stSelectbox']").filter(has_text="Licence")
    licence.locator("input").click()
    licence.locator("input").fill("CC0")
    page.get_by_role("option", name=LICENCE_LABEL).click()
    wait_for_script(page)
    expect(page.get_by_label("Licence (type to search)")).to_have_value(LICENCE_LABEL, timeout=30_000)
    page.get_by_text(f"Valid STAC 1.1.0 collection {cid} with 1 item(s)").wait_for(timeout=30_000)
    page.get_by_role("link", name="Metadata (done)").first.wait_for(timeout=30_000)
    page.get_by_text("4 of 5 steps done").wait_for(timeout=30_000)
    page.get_by_role("heading", name="Metadata").scroll_into_view_if_needed()
    screenshot(page, "flow-4-metadata-valid")


def _publish(page: Page, cid: str) -> tuple[str, str, list[str]]:
    """Step 5: the embedded catalogue, the default local sign-in (editor), publish with re-hosted assets;
    returns the catalogue URL and the collection and item URLs the page shows."""
    catalogue = open_publish_page(page)
    main = page.locator("[data-testid='stMain']")
    main.get_by_text(f"Collection {cid} with 1 item.").wait_for()
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_disabled()  # not signed in yet
    sign_in_locally(page)  # the default local sign-in
    expect(page.get_by_role("checkbox", name=re.compile("Re-host the result files"))).to_be_checked()
    publish = page.get_by_role("button", name="Publish", exact=True)
    expect(publish).to_be_enabled(timeout=30_000)
    publish.click()
    done = main.get_by_text(f"Published: {catalogue}/collections/{cid}")
    done.wait_for(timeout=180_000)
    wait_for_script(page)
    page.get_by_text("5 of 5 steps done").wait_for(timeout=30_000)
    collection_url = done.get_by_role("link").get_attribute("href")
    assert collection_url == f"{catalogue}/collections/{cid}"
    urls = page.locator("[data-testid='stExpander']").filter(has_text="1 item URLs")
    urls.get_by_text("1 item URLs").click()
    listed = urls.get_by_text(f"{collection_url}/items/")
    listed.first.wait_for(timeout=30_000)
    item_urls = re.findall(re.escape(collection_url) + r"/items/[^\s]+", urls.inner_text())
    page.get_by_role("heading", name="Publish").scroll_into_view_if_needed()
    screenshot(page, "flow-5-published")
    return catalogue, collection_url, item_urls


def _in_the_catalogue(page: Page, cid: str) -> None:
    """After Publish: its link opens the Catalogue page on the new collection, whose item is on the map
    with its quicklook (read back from the re-hosted COG over HTTP) and the NDVI legend."""
    page.get_by_role("link", name=re.compile("See it in the Catalogue")).click()
    wait_for_script(page)
    page.get_by_role("heading", name="Catalogue").first.wait_for(timeout=60_000)
    expect(page.get_by_role("combobox", name="Collection")).to_have_value(re.compile(re.escape(cid)))
    frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]').first
    frame.locator("img.leaflet-image-layer").first.wait_for(state="attached", timeout=60_000)
    legend = frame.locator(".apex-ndvi-legend")
    legend.wait_for(state="visible", timeout=60_000)
    assert "NDVI" in legend.inner_text()
    screenshot(page, "flow-6-catalogue")


def _get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=30)


def _read_back(state_dir: Path, catalogue: str, cid: str, item_urls: list[str]) -> None:
    """The published entry, read back from the catalogue over HTTP as the editor (its `_auth.read`
    role); anonymous readers do not see it; its asset downloads, with the size and checksum published."""
    collection_url = f"{catalogue}/collections/{cid}"
    assert _get(collection_url).status_code == 404  # `_auth.read` is apex-editor: hidden from anonymous
    token = embedded_catalogue_token(state_dir, catalogue)
    got = _get(collection_url, token)
    assert got.status_code == 200, got.text
    collection = got.json()
    assert (collection["id"], collection["title"]) == (cid, TITLE)
    assert collection["description"] == DESCRIPTION
    assert collection["license"] == LICENCE
    listed = _get(f"{collection_url}/items", token)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["features"]
    assert len(items) == 1 == len(item_urls)
    assert [f"{collection_url}/items/{i['id']}" for i in items] == item_urls
    assert all(i["collection"] == cid for i in items)
    tiffs = [a for a in items[0]["assets"].values() if str(a.get("type", "")).startswith("image/tiff")]
    assert tiffs, items[0]["assets"]
    asset = tiffs[0]
    assert asset["href"].startswith(f"{catalogue}/assets/"), asset["href"]  # re-hosted, not the openEO link
    assert _get(asset["href"]).status_code == 404  # the files of a private collection are private too
    data = _get(asset["href"], token)
    assert data.status_code == 200, data.text[:200]
    assert data.content[:4] in (b"II*\x00", b"MM\x00*"), data.content[:4]
    assert len(data.content) == asset["file:size"]
    assert asset["file:checksum"] == "1220" + hashlib.sha256(data.content).hexdigest()
    with rasterio.MemoryFile(data.content) as mem, mem.open() as cog:  # the NDVI: one georeferenced band
        assert cog.count == 1 and cog.dtypes[0].startswith("float") and cog.crs is not None


def test_whole_flow_from_area_to_publish(
    app_url: str, app_state_dir: Path, offline_page: tuple[Page, list[str]]
) -> None:
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

    cid = f"bolzano-ndvi-{uuid.uuid4().hex[:8]}"  # unique per run
    _preview(page)
    _metadata(page, cid)
    catalogue, _, item_urls = _publish(page, cid)
    _read_back(app_state_dir, catalogue, cid, item_urls)
    _in_the_catalogue(page, cid)
