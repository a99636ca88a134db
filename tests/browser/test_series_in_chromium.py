"""A season, then next month, in Chromium, offline: the Romanian forest from June to August 2019 with the
SCL cloud mask (15 observations: one NDVI each), its series charted, published as one collection; then
September added to that collection, and both read back over HTTP."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

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


def _range(page: Page, first: str, last: str) -> int:
    """Area: Romania, a date range typed as a person does; returns how many observations it lists."""
    go_to_step(page, "Area")
    start = page.get_by_role("button", name="Start from Romania")
    start.wait_for(timeout=180_000)
    start.click()
    wait_for_script(page)
    page.get_by_text("A date range").click()
    wait_for_script(page)
    label = "From – to (both included)"
    for which, day in (("start", first), ("end", last)):  # date segments, typed as a person does
        for part, value in zip(("year", "month", "day"), day.split("-"), strict=True):
            page.get_by_role("spinbutton", name=f"{part}, {label} {which} date").click()
            page.keyboard.type(value)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Area").click()  # leaving the field commits the range
    wait_for_script(page)
    listed = page.get_by_text(re.compile(rf"\d+ observation\(s\) of this area from {first} to {last}"))
    listed.wait_for(timeout=30_000)
    found = re.search(r"(\d+) observation", listed.inner_text())
    assert found is not None
    return int(found.group(1))


def _job(page: Page, results: int) -> None:
    """Job: the cloud mask, one NDVI per observation, submitted and followed to the end."""
    go_to_step(page, "Job")
    page.get_by_text("Connected to").wait_for(timeout=60_000)
    page.get_by_text("Mask clouds, cloud shadows and cirrus").click()
    wait_for_script(page)
    expect(page.get_by_text('"process_id": "mask"').first).to_be_attached(timeout=30_000)
    page.get_by_role("button", name="Submit the NDVI job").click()
    page.get_by_text(f"Job finished; {results} result file(s) downloaded").wait_for(timeout=300_000)


def _metadata(page: Page, cid: str, items: int) -> None:
    go_to_step(page, "Metadata")
    page.get_by_text("Valid STAC 1.1.0 collection").or_(page.get_by_text("Not valid yet")).first.wait_for(
        timeout=120_000
    )
    wait_for_script(page)
    keyup, plain = page.locator("[data-testid^='stBidiComponent'] input"), page.get_by_label("Id", exact=True)
    plain.or_(keyup).first.wait_for(timeout=30_000)
    if keyup.count():
        keyup.first.click()
        keyup.first.press("Control+A")
        keyup.first.press_sequentially(cid, delay=30)
    else:
        commit_text(page, "Id", cid)
    commit_text(page, "Title", "NDVI of a Romanian forest, 2019")
    page.get_by_text(f"Valid STAC 1.1.0 collection {cid} with {items} item(s)").wait_for(timeout=60_000)
    ids = page.get_by_text(re.compile(rf"{items} item\(s\): {re.escape(cid)}_2019\d{{4}}"))
    ids.first.wait_for(timeout=30_000)  # named by the default pattern


def _publish(page: Page, *, add_to: str | None = None) -> str:
    catalogue = open_publish_page(page)
    sign_in_locally(page)
    if add_to is not None:
        page.get_by_text("Add to an existing collection").click()
        wait_for_script(page)
        chooser = page.locator("[data-testid='stSelectbox']").filter(has_text="Collection to add to")
        chooser.locator("input").click()
        chooser.locator("input").fill(add_to)
        page.get_by_role("option", name=re.compile(re.escape(add_to))).first.click()
        wait_for_script(page)
        page.get_by_role("button", name="Preview the changes").click()
        wait_for_script(page)
        page.get_by_text(f"What adding changes in {add_to}").wait_for(timeout=60_000)
    publish = page.get_by_role("button", name="Publish", exact=True)
    expect(publish).to_be_enabled(timeout=30_000)
    main = page.locator("[data-testid='stMain']")
    if add_to is not None:  # the first job's result is not shown for the second job's items
        expect(main.get_by_text("Published:")).to_have_count(0)
    publish.click()
    main.get_by_text("Published:").first.wait_for(timeout=300_000)
    if add_to is not None:
        main.get_by_text(f"Collection {add_to} merged by PATCH").wait_for(timeout=30_000)
    return catalogue


def test_a_season_then_next_month_into_the_same_collection(
    app_url: str, app_state_dir: Path, offline_page: tuple[Page, list[str]]
) -> None:
    page, _blocked = offline_page
    page.goto(app_url + "/area")
    wait_for_script(page)
    cid = f"romania-ndvi-{uuid.uuid4().hex[:8]}"

    assert _range(page, "2019-06-01", "2019-08-31") == 15
    _job(page, 15)
    go_to_step(page, "Preview")
    page.get_by_text("15 results").wait_for(timeout=120_000)
    charts = page.locator("[data-testid='stVegaLiteChart']")
    expect(charts).to_have_count(3, timeout=60_000)  # mean and valid share per date, the histogram
    page.get_by_text("Date shown on the map").wait_for()
    screenshot(page, "series-1-preview")
    _metadata(page, cid, 15)
    catalogue = _publish(page)
    screenshot(page, "series-2-published")

    september = _range(page, "2019-09-01", "2019-09-30")
    assert september >= 1
    _job(page, september)
    _metadata(page, cid, september)  # the same collection: next month's items join it
    _publish(page, add_to=cid)
    screenshot(page, "series-3-added")

    token = embedded_catalogue_token(app_state_dir, catalogue)
    auth = {"Authorization": f"Bearer {token}"}
    got = requests.get(f"{catalogue}/collections/{cid}/items?limit=100", headers=auth, timeout=30).json()
    ids = sorted(f["id"] for f in got["features"])
    assert len(ids) == 15 + september and len(set(ids)) == len(ids)
    assert all(i.startswith(f"{cid}_2019") for i in ids)
    assert sum(i.startswith(f"{cid}_201909") for i in ids) == september
    collection = requests.get(f"{catalogue}/collections/{cid}", headers=auth, timeout=30).json()
    start, end = collection["extent"]["temporal"]["interval"][0]
    days = sorted(f["properties"]["datetime"][:10] for f in got["features"])
    assert (start[:10], end[:10]) == (days[0], days[-1])  # the union of both jobs' extents
    assert days[0] < "2019-09-01" <= days[-1]
