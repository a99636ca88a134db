from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apex_core import ConfigError
from apex_core.aoi import DEFAULT_VIEW, Aoi, Footprint, initial_view
from apex_core.mapview import REQUIRED_FILES, STATIC_DIR, MapAssets, base_map, check_assets

ATLAS = "/app/static/node_modules/world-atlas/countries-50m.json"
TOPOJSON = "/app/static/node_modules/topojson-client/dist/topojson-client.min.js"


def _links(html: str) -> set[str]:
    return set(re.findall(r'(?:src|href)="([^"]+)"', html))


def test_map_with_draw_loads_only_local_libraries() -> None:
    html = base_map(MapAssets.from_base_url_path(""), draw=True).get_root().render()
    links = _links(html)
    assert links == {
        "/app/static/node_modules/leaflet/dist/leaflet.js",
        "/app/static/node_modules/leaflet/dist/leaflet.css",
        "/app/static/node_modules/leaflet-draw/dist/leaflet.draw.js",
        "/app/static/node_modules/leaflet-draw/dist/leaflet.draw.css",
        TOPOJSON,
    }
    assert "L.Control.Draw" in html
    assert "tileerror" in html  # the offline notice
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_every_map_draws_the_offline_basemap_from_the_local_atlas() -> None:
    html = base_map(MapAssets.from_base_url_path("")).get_root().render()
    assert TOPOJSON in _links(html)
    assert 'fetch(url, {credentials: "same-origin"})' in html and f'var url = "{ATLAS}";' in html
    # Land and coastlines, then the borders between countries, in a pane below the tiles (z-index 200).
    assert "topojson.feature(topo, topo.objects.land)" in html
    assert "topojson.mesh(topo, topo.objects.countries" in html
    assert 'createPane("apexBasemap")' in html and "pane.style.zIndex = 150;" in html
    assert "apex-basemap-land" in html and "apex-basemap-borders" in html
    assert "borders and coastlines" in html  # the notice when tiles fail
    assert not [u for u in re.findall(r"https?://[^\s\"']+", html) if "openstreetmap" not in u]


def test_the_basemap_follows_base_url_path() -> None:
    html = base_map(MapAssets.from_base_url_path("apex")).get_root().render()
    assert '"/apex/app/static/node_modules/world-atlas/countries-50m.json"' in html
    assert "/apex/app/static/node_modules/topojson-client/dist/topojson-client.min.js" in _links(html)


def test_map_without_draw_has_no_draw_library() -> None:
    html = base_map(MapAssets.from_base_url_path("")).get_root().render()
    assert not any("draw" in link for link in _links(html))


@pytest.mark.parametrize(("base", "expected"), [("", "/app"), ("apex", "/apex/app"), ("/a/b/", "/a/b/app")])
def test_asset_urls_follow_base_url_path(base: str, expected: str) -> None:
    assert MapAssets.from_base_url_path(base).base_url == f"{expected}/static/node_modules"


def test_setup_installed_the_libraries() -> None:
    check_assets()
    for rel in REQUIRED_FILES:
        assert (STATIC_DIR / "node_modules" / rel).stat().st_size > 0


def test_the_atlas_is_natural_earth_topojson_with_land_and_countries() -> None:
    check_assets()
    assert "world-atlas/countries-50m.json" in REQUIRED_FILES
    atlas = json.loads((STATIC_DIR / "node_modules" / "world-atlas" / "countries-50m.json").read_text())
    assert atlas["type"] == "Topology"
    assert {"land", "countries"} <= set(atlas["objects"])
    assert len(atlas["objects"]["countries"]["geometries"]) > 200
    lock = json.loads((STATIC_DIR / "package-lock.json").read_text())
    for name in ("world-atlas", "topojson-client"):
        assert lock["packages"][f"node_modules/{name}"]["integrity"].startswith("sha512-")


def test_missing_libraries_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Run the setup command"):
        check_assets(tmp_path)


BOLZANO = Footprint("bolzano", "Bolzano", (11.2, 46.4, 11.5, 46.6))
KEMPEN = Footprint("kempen", "Kempen", (4.9, 51.1, 5.2, 51.3))


def test_the_area_map_opens_on_the_aoi_else_the_footprints() -> None:
    aoi = Aoi.from_bbox(11.3, 46.45, 11.35, 46.5)
    (lat, lon), zoom = initial_view(aoi, [BOLZANO, KEMPEN])
    assert 46.45 < lat < 46.5 and 11.3 < lon < 11.35 and zoom >= 10
    (lat, lon), zoom = initial_view(None, [BOLZANO])
    assert 46.4 < lat < 46.6 and 11.2 < lon < 11.5 and zoom >= 9
    # All footprints together: between them, well above world zoom.
    (lat, lon), zoom = initial_view(None, [BOLZANO, KEMPEN])
    assert 46.4 < lat < 51.3 and 4.9 < lon < 11.5 and 5 <= zoom <= 8
    assert initial_view(None, []) == DEFAULT_VIEW and DEFAULT_VIEW[1] >= 4
