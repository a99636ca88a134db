"""Chromium: the Catalogue page and the shared view of the real app (embedded services), offline.

Two collections are published into the app's embedded catalogue over HTTP with the app's own publish code
(COGs re-hosted in its asset store): a private one (the editor's) and a public one (the admin's). Then,
as a person: anonymous sees only the public one and is told signing in may show more; signed in, the
private one is there, its item is on the map with the quicklook and its legend, its title is edited in
the Metadata form (diff, PATCH; ``_auth`` still enforced afterwards), an item is deleted behind its typed
id; the public collection's share link opens in a fresh browser context with no sign-in."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import requests
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    commit_text,
    embedded_catalogue_named,
    embedded_catalogue_token,
    offline_context,
    screenshot,
    sign_in_locally,
    wait_for_script,
)
from tests.stacdocs import EDITOR_AUTH, publish_two_dates, write_land_cover_geotiff, write_ndvi_geotiff

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
T = 30.0


def _choose(page: Page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    wait_for_script(page)


def _collection_options(page: Page) -> str:
    box = page.get_by_role("combobox", name="Collection")
    box.click()
    listbox = page.get_by_role("listbox")
    listbox.wait_for()
    text = listbox.inner_text()
    page.keyboard.press("Escape")
    return text


def _legend_on_map(page: Page, css: str) -> str:
    frame = page.frame_locator(MAP_FRAME).first
    legend = frame.locator(css)
    legend.wait_for(state="visible", timeout=60_000)
    overlay = frame.locator("img.leaflet-image-layer")
    overlay.first.wait_for(state="attached", timeout=60_000)
    return legend.inner_text()


def test_catalogue_page_and_share_link(
    app_url: str,
    app_state_dir: Path,
    chromium: Browser,
    offline_page: tuple[Page, list[str]],
    tmp_path: Path,
) -> None:
    page, blocked = offline_page  # a failure leaves a screenshot of it
    page.goto(f"{app_url}/catalogue")
    wait_for_script(page)
    page.get_by_role("heading", name="Catalogue").first.wait_for()
    url = embedded_catalogue_named(page)

    private, public = f"priv-{uuid.uuid4().hex[:8]}", f"pub-{uuid.uuid4().hex[:8]}"
    editor = embedded_catalogue_token(app_state_dir, url, "editor")
    admin = embedded_catalogue_token(app_state_dir, url, "admin")
    ndvi = write_ndvi_geotiff(tmp_path / "ndvi.tif")
    land_cover = write_land_cover_geotiff(tmp_path / "lc.tif", (11.0, 46.0, 11.5, 46.5), (700, 500))
    _first, second = publish_two_dates(url, f"{url}/assets", editor, private, ndvi, EDITOR_AUTH)
    publish_two_dates(
        url, f"{url}/assets", admin, public, land_cover, {"read": ["anonymous"], "write": ["apex-editor"]}
    )

    # anonymous: the public collection only, and a word that signing in may show more
    page.get_by_role("button", name="Refresh").click()
    main = page.locator("[data-testid='stMain']")
    deadline = time.monotonic() + 60  # the list is read again: poll until the new collections are in it
    while public not in (options := _collection_options(page)):
        assert time.monotonic() < deadline, options
    wait_for_script(page)
    main.get_by_text("Signing in may show more").wait_for()
    assert public in options and private not in options

    # signed in (the local editor account): the private collection too
    main.locator("[data-testid='stExpander'] summary", has_text="Sign in to the catalogue").click()
    wait_for_script(page)
    sign_in_locally(page)
    options = _collection_options(page)
    assert public in options and private in options
    _choose(page, "Collection", private)
    page.get_by_role("heading", name=f"Title of {private}").wait_for(timeout=60_000)
    assert "NDVI" in _legend_on_map(page, ".apex-ndvi-legend")
    main.get_by_text("Quicklook of `map`").or_(main.get_by_text("Quicklook of map")).first.wait_for()
    screenshot(page, "catalogue-private-collection")

    # edit the title in the Metadata form: the diff, then PATCH
    commit_text(page, "Title", "Bolzano NDVI, June and July 2022")
    main.get_by_text("What the update changes").wait_for()
    page.get_by_role("button", name="Write the changes (PATCH)").click()
    wait_for_script(page)
    main.get_by_text(f"Updated {private}: title").wait_for(timeout=60_000)
    headers = {"Authorization": f"Bearer {editor}"}
    stored = requests.get(f"{url}/collections/{private}", headers=headers, timeout=T).json()
    assert stored["title"] == "Bolzano NDVI, June and July 2022"
    assert stored.get("_auth", EDITOR_AUTH) == EDITOR_AUTH  # the catalogue hides it; enforced below
    assert requests.get(f"{url}/collections/{private}", timeout=T).status_code in (401, 403, 404)
    noroles = embedded_catalogue_token(app_state_dir, url, "noroles")
    refused = requests.patch(
        f"{url}/collections/{private}",
        json={"title": "hijacked"},
        headers={"Authorization": f"Bearer {noroles}"},
        timeout=T,
    )
    assert refused.status_code in (403, 404)  # a private collection is hidden from who may not read it

    # delete one item behind its typed id
    wait_for_script(page)
    page.locator("[data-testid='stButtonGroup'] button").filter(has_text=re.compile(r"^Delete$")).click()
    wait_for_script(page)
    page.get_by_role("combobox", name="Item to delete").wait_for(timeout=30_000)
    wait_for_script(page)
    _choose(page, "Item to delete", second)
    delete = page.get_by_role("button", name=f"Delete item {second}")
    expect(delete).to_be_disabled()
    commit_text(page, f"Type {second} to confirm", second)
    expect(delete).to_be_enabled()
    delete.click()
    main.get_by_text(f"Item {second} deleted from collection {private}").wait_for(timeout=60_000)
    wait_for_script(page)
    gone = requests.get(f"{url}/collections/{private}/items/{second}", headers=headers, timeout=T)
    assert gone.status_code == 404

    # the public collection's share link, opened with no sign-in in a fresh context
    _choose(page, "Collection", public)
    page.get_by_role("heading", name=f"Title of {public}").wait_for(timeout=60_000)
    link = main.locator("[data-testid='stCode']", has_text="/shared?collection=").first.inner_text().strip()
    assert link.startswith(app_url) and link.endswith(f"/shared?collection={public}")

    fresh, blocked_fresh = offline_context(chromium)
    viewer = fresh.new_page()
    viewer.goto(link)
    wait_for_script(viewer)
    viewer.get_by_role("heading", name=f"Title of {public}").wait_for(timeout=120_000)
    legend = _legend_on_map(viewer, ".apex-class-legend")
    assert legend.strip()
    viewer_main = viewer.locator("[data-testid='stMain']")
    assert not viewer_main.get_by_role("combobox", name="Local account").count()
    assert not viewer_main.get_by_text("Manage this collection").count()
    assert not viewer.locator("[data-testid='stSidebarNav']").count()  # no app navigation for a stakeholder
    screenshot(viewer, "catalogue-shared-view")
    fresh.close()
    # offline: only the basemap's tiles (the map falls back to a plain background) and the favicon's
    # icon font were asked of the internet; the map's scripts, styles and the quicklook are all local
    expected = ("https://tile.openstreetmap.org/", "https://fonts.gstatic.com/")
    assert not [u for u in blocked + blocked_fresh if not u.startswith(expected)], blocked + blocked_fresh
