"""A real CDSE result made APEx-ready in Chromium, offline: load the recorded results and job documents on
the Metadata page, take the proposed temporal extent, re-attach the GeoTIFF, apply the fixes, see
"APEx-ready", publish to the embedded catalogue with re-hosted COGs, and read the entry back over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from rio_cogeo.cogeo import cog_validate

from apex_core.resultfile import read_facts
from tests.services import shared_fixture
from tests.stacdocs import write_land_cover_geotiff

from .conftest import (
    embedded_catalogue_token,
    open_publish_page,
    screenshot,
    sign_in_locally,
    wait_for_script,
)

pytestmark = pytest.mark.browser

RESULTS = shared_fixture("cdse-2026-04/firenze-cog/job-results.json")
JOB = shared_fixture("cdse-2026-04/firenze-cog/job.json")


def test_cdse_land_cover_made_apex_ready_and_published(
    app_url: str, app_state_dir: Path, offline_page: tuple[Page, list[str]], tmp_path: Path
) -> None:
    page, blocked = offline_page
    results = json.loads(RESULTS.read_text())
    key, asset = next(iter(results["assets"].items()))
    tif = write_land_cover_geotiff(tmp_path / key, tuple(asset["proj:bbox"]))  # type: ignore[arg-type]

    page.goto(f"{app_url}/metadata")
    wait_for_script(page)
    page.get_by_text("No job results yet").wait_for()
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(
        [str(RESULTS), str(JOB)]
    )
    page.get_by_text("Proposed from the dates in the result file names").wait_for(timeout=60_000)
    page.get_by_text("expired on").first.wait_for()  # the signed item links were not requested
    page.get_by_role("button", name="Use the proposed temporal extent").click()
    wait_for_script(page)
    page.get_by_text("Not APEx-ready yet").wait_for(timeout=60_000)
    screenshot(page, "apex-1-not-ready")

    attach = page.locator("[data-testid='stFileUploader']").filter(has_text="Result file")
    attach.locator("input[type='file']").set_input_files(str(tif))
    page.get_by_text("Result files on this machine (1 of 1)").wait_for(timeout=60_000)
    wait_for_script(page)
    page.get_by_role("button", name=re.compile(r"^Apply all \d+ fixes")).click()
    wait_for_script(page)
    page.get_by_text(re.compile(r"APEx-ready: all \d+ applicable rule checks pass")).wait_for(timeout=60_000)
    page.get_by_text("Valid STAC 1.1.0 collection").wait_for()
    screenshot(page, "apex-2-ready")

    catalogue = open_publish_page(page)
    main = page.locator("[data-testid='stMain']")
    named = main.get_by_text(re.compile(r"Collection \S+ with 1 item\."))
    named.wait_for()
    cid = named.inner_text().split()[1]
    main.get_by_text("APEx-ready: every APEx rule that applies holds.").wait_for()
    sign_in_locally(page)
    expect(page.get_by_role("checkbox", name=re.compile("Re-host the result files"))).to_be_checked()
    publish = page.get_by_role("button", name="Publish", exact=True)
    expect(publish).to_be_enabled(timeout=30_000)
    publish.click()
    main.get_by_text(f"Published: {catalogue}/collections/{cid}").wait_for(timeout=180_000)
    screenshot(page, "apex-3-published")
    assert not [u for u in blocked if "127.0.0.1" in u or "localhost" in u]

    # Read back over HTTP, as the Explorer would: the item, its class legend, its re-hosted COG.
    token = embedded_catalogue_token(app_state_dir, catalogue)
    auth = {"Authorization": f"Bearer {token}"}
    items = requests.get(f"{catalogue}/collections/{cid}/items", headers=auth, timeout=30).json()["features"]
    (item,) = items
    assert (
        item["properties"]["start_datetime"] == item["properties"]["end_datetime"] == "2021-01-01T00:00:00Z"
    )
    (published,) = item["assets"].values()
    assert next(c["title"] for c in published["classification:classes"]) == "Tree cover"
    assert published["bands"][0]["nodata"] == 0 and published["proj:code"] == "EPSG:4326"
    cog = requests.get(published["href"], headers=auth, timeout=60)
    assert cog.status_code == 200
    stored = tmp_path / "stored.tif"
    stored.write_bytes(cog.content)
    assert published["file:size"] == len(cog.content)
    valid, errors, _warnings = cog_validate(str(stored), quiet=True)
    assert valid, errors
    layout = read_facts(stored).raster
    assert layout is not None and layout.layout.block == (512, 512) and layout.nodata == 0
    assert all(
        v is None or v == "n/a" for v in layout.layout.problems(layout.width, layout.height, 1).values()
    )
