"""Behind a sign-in proxy (APEX_USER_HEADER): each user sees and opens only their own projects.

The app runs as users start it, with the header setting; Chromium contexts stand for the proxy by
sending the header on every request (the page and its websocket), as oauth2-proxy would.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.services import traversable_tmpdir

from .conftest import app_server, base_url, offline_context, screenshot, wait_for_script

HEADER = "X-Forwarded-User"


@pytest.fixture(scope="module")
def proxied_app_url() -> Iterator[str]:
    state = traversable_tmpdir("apex-browser-users-")
    service = app_server(state, APEX_USER_HEADER=HEADER, APEX_EMBEDDED_AUTOSTART="false")
    service.start()
    try:
        yield base_url(service)
    finally:
        service.stop(timeout=30)
        shutil.rmtree(state, ignore_errors=True)


def _start_screen(chromium: Browser, url: str, user: str | None) -> Page:
    headers = {HEADER: user} if user else {}
    context, _ = offline_context(chromium, extra_http_headers=headers)
    page = context.new_page()
    page.goto(url)
    wait_for_script(page)
    page.get_by_role("heading", name="Projects", exact=True).wait_for()
    return page


def test_each_user_sees_only_their_own_projects(chromium: Browser, proxied_app_url: str) -> None:
    alice = _start_screen(chromium, proxied_app_url, "alice")
    expect(alice.get_by_text("signed in as alice")).to_be_visible()
    alice.get_by_label("Name of a new project").fill("Alice's Bolzano")
    alice.get_by_role("button", name="New project").click()
    alice.get_by_role("heading", name="Area", exact=True).wait_for(timeout=30_000)
    alice.wait_for_url("**project=*", timeout=30_000)
    project = parse_qs(urlsplit(alice.url).query)["project"][0]

    bob = _start_screen(chromium, proxied_app_url, "bob")
    expect(bob.get_by_text("signed in as bob")).to_be_visible()
    expect(bob.get_by_text("No project yet")).to_be_visible()
    expect(bob.get_by_text("Alice's Bolzano")).to_have_count(0)
    # Alice's link, opened by Bob: "no such project", nothing of hers shown
    bob.goto(f"{proxied_app_url}/area?project={project}")
    wait_for_script(bob)
    expect(bob.get_by_text(f"There is no project with the id '{project}'")).to_be_visible(timeout=30_000)
    expect(bob.get_by_text("Alice's Bolzano")).to_have_count(0)
    screenshot(bob, "projects-other-users-link")

    alice.goto(proxied_app_url + "/")
    wait_for_script(alice)
    expect(alice.get_by_text("Alice's Bolzano")).to_be_visible(timeout=30_000)

    nobody = _start_screen(chromium, proxied_app_url, None)
    expect(nobody.get_by_text("Not signed in through the proxy")).to_be_visible()
    expect(nobody.get_by_text("Alice's Bolzano")).to_have_count(0)
    for page in (alice, bob, nobody):
        page.context.close()
