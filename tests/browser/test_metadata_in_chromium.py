"""The Metadata page in Chromium: upload the recorded job-results document, edit it, see it validate."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.services import shared_fixture

from .conftest import screenshot, wait_for_script

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
RECORDED = shared_fixture("apex_catalogue_collection_response.json")
TITLE = "NDVI over Gran Canaria, 19 August 2019"
NEW_ID = "gran_canaria_ndvi_2019"


def _commit(page: Page, label: str, value: str) -> None:
    """Type into a text input and press Enter, as a person does; wait until the app has rerun."""
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_for_script(page)
    _wait_value(page, label, value)


def _wait_value(page: Page, label: str, value: str) -> None:
    page.wait_for_function(
        "([label, value]) => [...document.querySelectorAll('input')]"
        ".some(i => i.getAttribute('aria-label') === label && i.value === value)",
        arg=[label, value],
    )


def _type_id_without_enter(page: Page) -> None:
    """The id field (``live``) is checked as the person types: the error shows and goes while the focus
    stays in the field, with no Enter and no leaving it."""
    box = page.get_by_label("Id", exact=True)
    box.click()
    box.press("Control+A")
    box.press_sequentially("Gran", delay=40)
    page.get_by_text("The id must start with a lowercase letter (a-z).").wait_for()
    assert box.evaluate("e => e.getRootNode().activeElement === e"), "the id field lost the focus"
    page.get_by_text("Not valid yet").wait_for()
    screenshot(page, "page-4-metadata-id-checked-as-typed")
    box.press("Control+A")
    box.press_sequentially(NEW_ID, delay=40)
    page.get_by_text(f"Valid STAC 1.1.0 collection {NEW_ID} with").wait_for()
    page.get_by_text("The id must start with a lowercase letter").wait_for(state="detached")
    assert box.evaluate("e => e.getRootNode().activeElement === e"), "the id field lost the focus"
    assert box.input_value() == NEW_ID


def test_upload_edit_and_validate(app_url: str, offline_page: tuple[Page, list[str]]) -> None:
    page, blocked = offline_page
    page.goto(f"{app_url}/metadata")
    wait_for_script(page)
    page.get_by_text("No job results yet").wait_for()

    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(RECORDED))
    page.get_by_text("Valid STAC 1.1.0 collection").wait_for(timeout=60_000)
    wait_for_script(page)
    _wait_value(page, "Title", "APEx Demo - Gran Canaria - NDVI")

    _type_id_without_enter(page)
    _commit(page, "Title", TITLE)
    _commit(page, "Keywords (comma-separated)", "NDVI, Sentinel-2, Gran Canaria")
    licence = page.locator("[data-testid='stSelectbox']").filter(has_text="Licence")
    licence.locator("input").click()
    licence.locator("input").fill("CC0")
    page.get_by_role("option", name="CC0-1.0 — Creative Commons Zero v1.0 Universal").click()
    wait_for_script(page)
    _wait_value(page, "Licence (type to search)", "CC0-1.0 — Creative Commons Zero v1.0 Universal")

    page.get_by_text("Valid STAC 1.1.0 collection").wait_for()
    page.get_by_role("link", name="Metadata (done)").first.wait_for()
    page.get_by_text("Changes against the openEO results").click()
    diff = page.locator("[data-testid='stExpander']").filter(has_text="Changes against").locator("code")
    diff.get_by_text(f'+  "title": "{TITLE}",').wait_for()
    diff.get_by_text('+  "license": "CC0-1.0",').wait_for()
    diff.get_by_text('+    "Gran Canaria"').wait_for()
    diff.get_by_text(f'+  "id": "{NEW_ID}",').wait_for()
    # every extension the document declares validated against its published schema, offline
    page.get_by_text("extension schemas projection, raster, render: 3 check(s) valid").first.wait_for()
    with page.expect_download() as download:  # the zip is made only now, when it is asked for
        page.get_by_role("button", name="Download as a static catalogue (zip)").click()
    assert download.value.suggested_filename == f"{NEW_ID}.zip"
    with zipfile.ZipFile(download.value.path()) as zipped:
        assert f"{NEW_ID}/collection.json" in zipped.namelist()
    page.get_by_role("heading", name="Metadata").scroll_into_view_if_needed()
    shot = screenshot(page, "page-4-metadata-validated")
    assert shot.stat().st_size > 10_000
    assert not [u for u in blocked if "openeo" in u or "catalogue" in u], blocked
