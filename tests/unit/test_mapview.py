from __future__ import annotations

import re
from pathlib import Path

import pytest

from apex_core import ConfigError
from apex_core.mapview import REQUIRED_FILES, STATIC_DIR, MapAssets, base_map, check_assets


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
    }
    assert "L.Control.Draw" in html
    assert "tileerror" in html  # the offline notice


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


def test_missing_libraries_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Run the setup command"):
        check_assets(tmp_path)
