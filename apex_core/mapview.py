"""Folium maps that render with no internet: Leaflet, Leaflet.draw and an offline basemap come from
the app itself.

folium points at CDNs by default. Here every map and plugin gets the local copies that setup
installs (``static/node_modules``, served by Streamlit's static file serving under
``<baseUrlPath>/app/static/``). Basemap tiles still need internet. Under them every map draws an
offline basemap from Natural Earth (npm ``world-atlas``, TopoJSON turned into GeoJSON in the browser
by ``topojson-client``): land filled light on a soft blue sea, coastlines, thin grey country borders.
It lies in its own pane below the tiles, so tiles that load cover it and tiles that cannot load
(offline, a blocked tile server, a single failed tile) leave it visible; the map then says so in a
small notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import folium
import folium.plugins
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template

from apex_core.config import PROJECT_ROOT
from apex_core.errors import ConfigError

__all__ = [
    "STATIC_DIR",
    "MapAssets",
    "base_map",
    "check_assets",
]

STATIC_DIR = PROJECT_ROOT / "static"

# Files under static/node_modules (installed by `npm ci` from static/package-lock.json).
_LEAFLET_JS = "leaflet/dist/leaflet.js"
_LEAFLET_CSS = "leaflet/dist/leaflet.css"
_DRAW_JS = "leaflet-draw/dist/leaflet.draw.js"
_DRAW_CSS = "leaflet-draw/dist/leaflet.draw.css"
_TOPOJSON_JS = "topojson-client/dist/topojson-client.min.js"
# Natural Earth 1:50m, public domain: objects "land" (coastlines) and "countries" (borders), ~0.75 MB.
_ATLAS_JSON = "world-atlas/countries-50m.json"
REQUIRED_FILES = (
    _LEAFLET_JS,
    _LEAFLET_CSS,
    _DRAW_JS,
    _DRAW_CSS,
    "leaflet-draw/dist/images/spritesheet.svg",
    _TOPOJSON_JS,
    _ATLAS_JSON,
)


def check_assets(static_dir: Path = STATIC_DIR) -> None:
    """Raise :class:`ConfigError` naming the first map library file that setup has not installed."""
    for rel in REQUIRED_FILES:
        if not (static_dir / "node_modules" / rel).is_file():
            raise ConfigError(
                f"The map library file static/node_modules/{rel} is missing, so maps cannot render. "
                "Run the setup command (it installs them with npm).",
                field="static",
            )


@dataclass(frozen=True)
class MapAssets:
    """URLs of the locally served map libraries, as the browser (the map's iframe) sees them."""

    base_url: str

    @classmethod
    def from_base_url_path(cls, base_url_path: str = "") -> MapAssets:
        """For a Streamlit server whose ``server.baseUrlPath`` is ``base_url_path``."""
        prefix = "/" + base_url_path.strip("/") if base_url_path.strip("/") else ""
        return cls(base_url=f"{prefix}/app/static/node_modules")

    def url(self, rel: str) -> str:
        return f"{self.base_url}/{rel}"

    @property
    def map_js(self) -> list[tuple[str, str]]:
        return [("leaflet", self.url(_LEAFLET_JS))]

    @property
    def map_css(self) -> list[tuple[str, str]]:
        return [("leaflet_css", self.url(_LEAFLET_CSS))]

    @property
    def draw_js(self) -> list[tuple[str, str]]:
        return [("leaflet_draw_js", self.url(_DRAW_JS))]

    @property
    def draw_css(self) -> list[tuple[str, str]]:
        return [("leaflet_draw_css", self.url(_DRAW_CSS))]

    @property
    def basemap_js(self) -> list[tuple[str, str]]:
        return [("topojson_client", self.url(_TOPOJSON_JS))]

    @property
    def atlas_url(self) -> str:
        """The Natural Earth TopoJSON the offline basemap is drawn from."""
        return self.url(_ATLAS_JSON)

    def to_dict(self) -> dict[str, str]:
        return {"base_url": self.base_url}


class _BasemapFallback(JSCSSMixin, MacroElement):
    """The offline basemap under the tiles, and a notice once when tiles fail (offline).

    One fetch of the local atlas per map document (shared by every map in it, then the browser's
    cache); land, coastlines and borders are SVG paths in the ``apexBasemap`` pane (z-index 150,
    below the tile pane's 200), not interactive, so drawing and clicks reach the map as before.
    """

    SEA = "#d6e6f0"
    LAND = "#f4f2ec"
    COAST = "#8fa8ba"
    BORDER = "#9a9a9a"

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var map = {{ this._parent.get_name() }};
            var layer = {{ this.layer_name }};
            var container = map.getContainer();
            var shown = false;
            container.style.background = {{ this.SEA|tojson }};
            var pane = map.createPane("apexBasemap");
            pane.style.zIndex = 150;
            pane.style.pointerEvents = 'none';  // never in the way of drawing or clicks
            var common = {pane: "apexBasemap", renderer: L.svg({pane: "apexBasemap"}), interactive: false};
            var url = {{ this.atlas_url|tojson }};
            var atlases = window.__apexAtlases = window.__apexAtlases || {};
            if (!atlases[url]) {
                atlases[url] = fetch(url, {credentials: "same-origin"}).then(function(r) {
                    if (!r.ok) { throw new Error("HTTP " + r.status + " for " + url); }
                    return r.json();
                });
            }
            atlases[url].then(function(topo) {
                L.geoJSON(topojson.feature(topo, topo.objects.land), L.extend({
                    className: "apex-basemap-land", attribution: "Made with Natural Earth",
                    color: {{ this.COAST|tojson }}, weight: 0.8,
                    fillColor: {{ this.LAND|tojson }}, fillOpacity: 1
                }, common)).addTo(map);
                L.geoJSON(topojson.mesh(topo, topo.objects.countries, function(a, b) { return a !== b; }),
                    L.extend({className: "apex-basemap-borders", color: {{ this.BORDER|tojson }},
                              weight: 0.7, fill: false}, common)).addTo(map);
                container.classList.add("apex-basemap-ready");
            }).catch(function(err) {
                if (window.console) { console.warn("apex: offline basemap not drawn:", err); }
            });
            layer.on("tileerror", function() {
                if (shown) { return; }
                shown = true;
                var note = L.control({position: "bottomleft"});
                note.onAdd = function() {
                    var div = L.DomUtil.create("div", "apex-basemap-offline");
                    div.style.cssText = "background:rgba(255,255,255,.85);padding:2px 6px;"
                        + "border-radius:4px;font:12px sans-serif;color:#444";
                    div.textContent = "Basemap unavailable (offline): borders and coastlines only";
                    return div;
                };
                note.addTo(map);
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(self, layer_name: str, assets: MapAssets) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "BasemapFallback"
        self.layer_name = layer_name
        self.atlas_url = assets.atlas_url
        self.default_js = assets.basemap_js
        self.default_css: list[tuple[str, str]] = []


def base_map(
    assets: MapAssets,
    *,
    center: Sequence[float] = (48.0, 10.0),
    zoom: int = 4,
    tiles: str = "OpenStreetMap",
    attribution: str | None = None,
    draw: bool = False,
) -> folium.Map:
    """A folium map that loads only local libraries, with the offline basemap under ``tiles``, optionally
    with the rectangle/polygon Draw tools."""
    fmap = folium.Map(location=list(center), zoom_start=zoom, tiles=None, control_scale=True)
    fmap.default_js = assets.map_js
    fmap.default_css = assets.map_css
    layer = folium.TileLayer(tiles=tiles, attr=attribution, name="Basemap")
    layer.add_to(fmap)
    fmap.add_child(_BasemapFallback(layer.get_name(), assets))
    if draw:
        tools = folium.plugins.Draw(  # type: ignore[no-untyped-call]
            export=False,
            draw_options={
                "polyline": False,
                "circle": False,
                "marker": False,
                "circlemarker": False,
                "rectangle": {"shapeOptions": {"color": "#0b6bcb"}},
                "polygon": {"allowIntersection": False, "shapeOptions": {"color": "#0b6bcb"}},
            },
            edit_options={"edit": False, "remove": False},
        )
        tools.default_js = assets.draw_js
        tools.default_css = assets.draw_css
        tools.add_to(fmap)
    return fmap
