"""A reload mid-flow, and a link opened in another browser, reopen the project where it was."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from .conftest import screenshot, wait_for_script

pytestmark = pytest.mark.browser


def _project_in(url: str) -> str:
    ids = parse_qs(urlsplit(url).query).get("project", [])
    assert len(ids) == 1 and len(ids[0]) >= 8, url
    return ids[0]


def _wait_for_project_in_url(page: Page) -> str:
    page.wait_for_function("() => new URL(location.href).searchParams.get('project')", timeout=30_000)
    return _project_in(page.url)


def test_reload_mid_flow_keeps_area_and_day(
    app_url: str, offline_page: tuple[Page, list[str]], chromium: Browser
) -> None:
    page, _ = offline_page
    page.goto(app_url + "/area")
    wait_for_script(page)
    page.get_by_role("heading", name="Area").wait_for()
    start = page.get_by_role("button", name="Start from Bolzano")
    start.wait_for(timeout=180_000)  # the embedded backend starts in the background
    start.click()
    page.get_by_text("(Bolzano)").first.wait_for(timeout=30_000)
    page.get_by_text("The job will use 2022-06-12").wait_for(timeout=30_000)
    wait_for_script(page)
    project = _wait_for_project_in_url(page)  # the work got a project, named in the URL

    page.reload()
    wait_for_script(page)
    page.get_by_role("heading", name="Area").wait_for()
    page.get_by_text("(Bolzano)").first.wait_for(timeout=30_000)
    page.get_by_text("The job will use 2022-06-12").wait_for()
    page.get_by_text("1 of 5 steps done").wait_for()
    assert _project_in(page.url) == project
    screenshot(page, "reload-area-kept")

    # Moving on through the sidebar keeps the project in the URL; a reload there keeps the work too.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Job").click()
    page.get_by_role("heading", name="Job").wait_for()
    wait_for_script(page)
    assert _wait_for_project_in_url(page) == project
    page.reload()
    wait_for_script(page)
    page.get_by_role("heading", name="Job").wait_for()
    page.get_by_role("button", name="Submit the NDVI job").wait_for(timeout=60_000)
    assert page.get_by_text("Choose the area and the day on the Area page first").count() == 0

    # The link in another browser (no shared session or cookie) opens the same work; the start
    # screen lists the project with its next step.
    other = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        tab = other.new_page()
        tab.goto(f"{app_url}/area?project={project}")
        wait_for_script(tab)
        tab.get_by_text("(Bolzano)").first.wait_for(timeout=30_000)
        tab.get_by_text("The job will use 2022-06-12").wait_for()
        tab.goto(f"{app_url}/")
        wait_for_script(tab)
        tab.get_by_role("heading", name="Projects", exact=True).wait_for()
        tab.get_by_text("Bolzano 2022-06-12").first.wait_for()
        tab.get_by_text("Next: Job").first.wait_for()
        screenshot(tab, "projects-start-screen")
    finally:
        other.close()
