"""A folium map shown with streamlit-folium's component, rendered once per session and set of inputs.

``st_folium`` renders its map to HTML/JS on every call (branca compiles each rendered script, the
NDVI overlay's data URI included, as a Jinja template): for a map whose inputs did not change that is
most of a rerun. It cannot be given an already rendered map either: rendering a folium map a second
time appends its header again and leaves the renamed layers' ``addTo`` lines behind (the component
would get other, broken script and a new key, so it would remount). So :func:`cached_st_folium` keeps
what ``st_folium`` sends to the component (:func:`component_args`: the same arguments, computed the
same way) in this session's state, keyed by the map's inputs, builds and renders a map only when they
change, and sends the kept arguments to streamlit-folium's component on a rerun.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import branca
import folium
import folium.elements
import streamlit as st
import streamlit_folium

__all__ = ["cached_st_folium", "component_args"]


def _links(fmap: folium.Map) -> tuple[list[str], list[str]]:
    """The CSS and JS links of the map and its children, as ``st_folium`` collects them."""

    def walk(element: Any) -> Iterable[Any]:
        if isinstance(element, branca.colormap.ColorMap | folium.elements.JSCSSMixin):
            yield element
        for child in getattr(element, "_children", {}).values():
            yield from walk(child)

    css: list[str] = []
    js: list[str] = []
    for element in walk(fmap):
        if isinstance(element, branca.colormap.ColorMap):
            js.insert(0, "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js")
            js.insert(0, "https://d3js.org/d3.v4.min.js")
        css.extend(href for _, href in getattr(element, "default_css", []))
        js.extend(src for _, src in getattr(element, "default_js", []))
    return list(dict.fromkeys(css)), list(dict.fromkeys(js))


def component_args(
    fmap: folium.Map,
    *,
    key: str,
    height: int,
    width: int | None,
    returned_objects: list[str],
) -> dict[str, Any]:
    """What ``st_folium(fmap, key=key, height=height, width=width, returned_objects=...)`` (no zoom,
    center, feature group or layer control; a :class:`folium.Map`) passes to its component, except
    ``on_change``. It renders ``fmap`` (and alters it, as ``st_folium`` does): call it once per map."""
    fmap.get_root().render()
    fmap.render()
    html = streamlit_folium._get_html(fmap)  # before _get_map_string, which alters the map
    header = streamlit_folium._get_header(fmap)
    script = streamlit_folium._get_map_string(fmap)
    (south, west), (north, east) = fmap.get_bounds()  # after it, as in st_folium
    defaults = {
        "last_clicked": None,
        "last_object_clicked": None,
        "last_object_clicked_count": None,
        "last_object_clicked_tooltip": None,
        "last_object_clicked_popup": None,
        "all_drawings": None,
        "last_active_drawing": None,
        "bounds": {"_southWest": {"lat": south, "lng": west}, "_northEast": {"lat": north, "lng": east}},
        "zoom": fmap.options.get("zoom"),
        "last_circle_radius": None,
        "last_circle_polygon": None,
        "selected_layers": None,
        "selected_tags": None,
        "last_geocoder_result": None,
    }
    css_links, js_links = _links(fmap)
    return {
        "script": script,
        "header": header,
        "html": html,
        "id": streamlit_folium.get_full_id(fmap),
        "key": streamlit_folium.generate_js_hash(script, key, False),
        "height": height,
        "width": width,
        "returned_objects": returned_objects,
        "default": {k: v for k, v in defaults.items() if k in returned_objects},
        "zoom": None,
        "center": None,
        "feature_group": None,
        "return_on_hover": False,
        "layer_control": None,
        "pixelated": False,
        "css_links": css_links,
        "js_links": js_links,
        "wrap_longitude": False,
    }


def cached_st_folium(
    build: Callable[[], folium.Map],
    inputs: object,
    *,
    state_key: str,
    key: str,
    height: int,
    returned_objects: list[str],
) -> Any:
    """``st_folium(build(), key=key, height=height, use_container_width=True, returned_objects=...)``,
    with ``build()`` and its rendering done only when ``inputs`` (everything the map is built from,
    compared with ``==``) differ from the last call's in this session: the last rendering is kept
    (one: a session holds one map's script) in ``st.session_state[state_key]``. Returns the
    component's value."""
    inputs = (inputs, key, height, tuple(returned_objects))
    kept = st.session_state.get(state_key)
    if isinstance(kept, tuple) and len(kept) == 2 and kept[0] == inputs:
        args = kept[1]
    else:
        args = component_args(build(), key=key, height=height, width=None, returned_objects=returned_objects)
        st.session_state[state_key] = (inputs, args)
    hash_key = args["key"]

    def on_change() -> None:  # as st_folium's: the map's last value also under ``key``
        st.session_state[key] = st.session_state.get(hash_key, {})

    return streamlit_folium._component_func(**args, on_change=on_change)
