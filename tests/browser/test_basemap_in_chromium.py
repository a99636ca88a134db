"""The offline basemap in Chromium, with every non-loopback request blocked (issue #17): the Area map shows
Natural Earth land, coastlines and country borders from the app's own copy of ``world-atlas`` at once,
and opens on the embedded backend's data footprints (then on the AOI), never at world zoom."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Frame, Page, Response

from apex_core.steps import STEPS

from .conftest import screenshot, wait_for_script

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
ATLAS = "/app/static/node_modules/world-atlas/countries-50m.json"

# The map's view and the data footprints (the dashed polygons of apex_core.aoi.aoi_layer) on it.
VIEW_JS = """() => {
    const m = window.map;
    if (!m || !window.L) { return null; }
    const boxes = [];
    m.eachLayer(l => {
        if (l instanceof L.Polygon && l.options.dashArray === "4") { boxes.push(l.getBounds()); }
    });
    const v = m.getBounds();
    return {
        zoom: m.getZoom(),
        west: v.getWest(), south: v.getSouth(), east: v.getEast(), north: v.getNorth(),
        footprints: boxes.map(b => [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]),
        inside: boxes.filter(b => v.contains(b)).length,
    };
}"""


def _map_frame(page: Page) -> Frame:
    handle = page.locator(MAP_FRAME).element_handle(timeout=60_000)
    frame = handle.content_frame()
    assert frame is not None
    return frame


def _view_when(page: Page, predicate: str, timeout: float = 60_000) -> dict[str, Any]:
    """The map's view once ``predicate`` (JS over ``v``, the view) holds; Playwright polls."""
    frame = _map_frame(page)
    frame.wait_for_function(
        f"() => {{ const v = ({VIEW_JS})(); return !!v && ({predicate}); }}", timeout=timeout
    )
    view: dict[str, Any] = frame.evaluate(VIEW_JS)
    return view


def test_area_map_shows_borders_offline_and_opens_on_the_data(
    app_url: str, offline_page: tuple[Page, list[str]]
) -> None:
    page, blocked = offline_page
    atlas: list[Response] = []
    page.on("response", lambda r: atlas.append(r) if "world-atlas" in r.url else None)
    page.goto(f"{app_url}/{STEPS[0].key.value}")
    wait_for_script(page)
    frame = _map_frame(page)

    # Borders and coastlines are drawn at start, from the app's copy, in the pane under the tiles.
    frame.wait_for_selector(".leaflet-container.apex-basemap-ready", timeout=60_000)
    pane = ".leaflet-apexBasemap-pane"
    for css in (f"{pane} path.apex-basemap-land", f"{pane} path.apex-basemap-borders"):
        path = frame.locator(css)
        path.wait_for(state="attached")
        assert len(path.get_attribute("d") or "") > 1_000, css  # clipped to the view: something is in it
    z = frame.evaluate(
        "() => [document.querySelector('.leaflet-apexBasemap-pane').style.zIndex,"
        " getComputedStyle(document.querySelector('.leaflet-tile-pane')).zIndex]"
    )
    assert int(z[0]) < int(z[1]), z  # tiles, when they load, cover it
    frame.locator(".apex-basemap-offline", has_text="borders and coastlines").wait_for()
    assert "Natural Earth" in frame.locator(".leaflet-control-attribution").inner_text()

    # The atlas came from the app over loopback, once; no request for it (or anything but tiles) left.
    assert [r.url for r in atlas] and all(
        r.ok and re.match(r"http://(127\.0\.0\.1|localhost):\d+/", r.url) and r.url.endswith(ATLAS)
        for r in atlas
    ), [(r.url, r.status) for r in atlas]
    assert len(atlas) == 1, [r.url for r in atlas]
    assert not [u for u in blocked if "atlas" in u or "topojson" in u or u.endswith((".js", ".css", ".json"))]

    # Once the embedded backend answers, the map shows all its data footprints, well above world zoom.
    starts = page.get_by_role("button", name=re.compile(r"^Start from "))
    starts.first.wait_for(timeout=180_000)
    wait_for_script(page)
    count = starts.count()
    view = _view_when(page, f"v.footprints.length === {count} && v.inside === {count}")
    assert view["zoom"] >= 4 and view["east"] - view["west"] < 60, view
    screenshot(page, "basemap-area-footprints")

    # An AOI: the map opens on it (Bolzano's footprint, a few km across).
    page.get_by_role("button", name="Start from Bolzano").click()
    wait_for_script(page)
    page.get_by_text("(Bolzano)").first.wait_for(timeout=30_000)
    view = _view_when(page, "v.zoom >= 9")
    assert view["east"] - view["west"] < 5, view
    assert _map_frame(page).locator(f"{pane} path.apex-basemap-borders").count() == 1
    screenshot(page, "basemap-area-aoi")
