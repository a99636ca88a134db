"""Browser tests: the real app under `streamlit run` on a free port, driven by Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, expect, sync_playwright

from apex_core.catalogue import client_credentials_token, discover_oidc
from apex_core.local.issuer.state import IssuerState
from apex_core.local.process import LocalService, free_port
from tests.services import traversable_tmpdir

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def app_state_dir() -> Iterator[Path]:
    """The app's APEX_STATE_DIR (its embedded services keep their state here, e.g. ``issuer/``)."""
    state = traversable_tmpdir("apex-browser-state-")
    yield state
    shutil.rmtree(state, ignore_errors=True)


def app_server(state: Path, **env: str) -> LocalService:
    """The app as users start it (scripts/serve.py) on a free loopback port, with ``env`` on top of
    APEX_STATE_DIR=``state``; not started yet (ready when /_stcore/health answers ok)."""
    port = free_port()
    argv = [
        sys.executable, str(ROOT / "scripts" / "serve.py"),
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    return LocalService(
        "streamlit",
        argv,
        health_url=f"http://127.0.0.1:{port}/_stcore/health",
        log_path=state / "streamlit.log",
        env={"APEX_STATE_DIR": str(state), **env},
        cwd=ROOT,
        expect=b"ok",
    )


def base_url(service: LocalService) -> str:
    return service.health_url.removesuffix("/_stcore/health")


@pytest.fixture(scope="session")
def app_url(app_state_dir: Path) -> Iterator[str]:
    """The app with its embedded services auto-started in the background."""
    state = app_state_dir
    service = app_server(state, APEX_EMBEDDED_AUTOSTART="true")
    service.start()
    try:
        yield base_url(service)
    finally:
        # Generous: the app's embedded services (same process group) stop openEO, the catalogue and
        # PostgreSQL in turn; a SIGKILL at the default 10 s would orphan them.
        service.stop(timeout=90)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def chromium(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: the setup command installs Debian's chromium.")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def offline_page(chromium: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page that can reach loopback only: every other request is aborted and recorded."""
    context, blocked = offline_context(chromium)
    page = context.new_page()
    yield page, blocked
    context.close()


def offline_context(chromium: Browser, **options: Any) -> tuple[BrowserContext, list[str]]:
    """A browser context (``options``: e.g. ``extra_http_headers``) that can reach loopback only: every
    other request is aborted and recorded in the returned list."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, **options)
    blocked: list[str] = []

    def route(r: Route) -> None:
        host = urlsplit(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context, blocked


def wait_for_script(page: Page, timeout: float = 60_000) -> None:
    """The app finished its run: the app is shown and its 'running' status widget is gone."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout
    )


def screenshot(page: Page, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def embedded_catalogue_token(state_dir: Path, catalogue_url: str, account: str = "editor") -> str:
    """An access token of one of the embedded issuer's local accounts, to read back (over HTTP, outside
    the app) what a browser test published. The catalogue names its issuer in its health document; the
    account's secret is in the issuer's state, which ``serve`` keeps in ``<APEX_STATE_DIR>/issuer``."""
    health = requests.get(catalogue_url.rstrip("/") + "/_apex/health", timeout=15)
    health.raise_for_status()
    issuer_url = str(health.json()["settings"]["issuer_url"])
    issuer_dir = state_dir / "issuer"
    assert issuer_dir.is_dir(), f"no issuer state in {state_dir}"
    client = IssuerState.load_or_create(issuer_dir).account(account)
    assert client is not None, f"the local issuer has no account {account!r}"
    endpoint = discover_oidc(issuer_url, timeout=15).token_endpoint
    return client_credentials_token(endpoint, client.client_id, client.client_secret, timeout=15).access_token


def go_to_step(page: Page, step: str) -> None:
    """Open a step of the flow from the sidebar, in the same session."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=step).click()
    wait_for_script(page)
    page.get_by_role("heading", name=step).wait_for()


def commit_text(page: Page, label: str, value: str, key: str = "Enter") -> None:
    """Type into a text field and apply it as a person does (Enter; Ctrl+Enter in a text area)."""
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press(key)
    wait_for_script(page)
    expect(page.get_by_label(label, exact=True)).to_have_value(value, timeout=30_000)


def open_publish_page(page: Page) -> str:
    """Open the Publish step from the sidebar; returns the embedded catalogue's URL the page names."""
    page.locator("[data-testid='stSidebarNav'] a", has_text="Publish").click()
    wait_for_script(page)
    page.get_by_role("heading", name="Publish").wait_for()
    return embedded_catalogue_named(page)


def embedded_catalogue_named(page: Page) -> str:
    """The embedded catalogue's URL as the Publish or Catalogue page names it (waiting for it to start)."""
    main = page.locator("[data-testid='stMain']")
    where = main.get_by_text(re.compile(r"Catalogue: http://127\.0\.0\.1:\d+ \(embedded, local\)"))
    where.wait_for(timeout=120_000)
    found = re.search(r"(http://127\.0\.0\.1:\d+)", where.inner_text())
    assert found is not None
    return found.group(1)


def sign_in_locally(page: Page) -> None:
    """The Publish page's default local sign-in (the embedded issuer's editor account); nothing to do
    when this session is signed in already."""
    account = page.get_by_role("combobox", name="Local account")
    signed_in = page.locator("[data-testid='stMain']").get_by_text("Signed in (")
    account.or_(signed_in).first.wait_for(timeout=30_000)
    if signed_in.count():
        return
    expect(account).to_have_value(re.compile(r"^editor "), timeout=30_000)
    page.get_by_role("button", name="Sign in", exact=True).click()
    wait_for_script(page)
    page.locator("[data-testid='stMain']").get_by_text("Signed in (").wait_for(timeout=30_000)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed browser test, a screenshot of its page as it was (``failed-<test>.png``)."""
    report: pytest.TestReport = yield
    funcargs = getattr(item, "funcargs", {})
    if report.when == "call" and report.failed and "offline_page" in funcargs:
        try:
            screenshot(funcargs["offline_page"][0], f"failed-{item.name}")
        except Exception as exc:  # the page may be gone: the failure itself is what matters
            report.sections.append(("failure screenshot", f"not taken: {exc}"))
    return report
