"""NDVI's colour ramp (issue 17): the conventional red-brown -> yellow -> green ramp by default, a
colour-blind-safe one by setting, an unknown name refused; the Preview's map, legend and histogram, the
quicklook, the render hints and the Explorer's legend all draw the same one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_tiler.colormap import cmap

from apex_core import metadata as md
from apex_core import ndvi
from apex_core.config import (
    NDVI_COLORMAP,
    RENDER_COLORMAPS,
    Settings,
    ndvi_colormap,
    use_ndvi_colormap,
)
from apex_core.errors import ConfigError
from apex_core.explorer import legend_of
from apex_core.metadata.values import COLORMAPS, RenderHints
from apex_core.preview import (
    COLORMAP,
    NDVI_COLORBLIND_COLORMAP,
    Style,
    colorize,
    colormap_lut,
    compute_preview,
    legend_colormap,
    legend_html,
    ndvi_style,
)
from apex_core.quicklook import quicklook_style

ENV = "APEX_NDVI_COLORMAP"


@pytest.fixture(autouse=True)
def _default_ramp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV, raising=False)
    use_ndvi_colormap(None)
    yield
    monkeypatch.delenv(ENV, raising=False)
    use_ndvi_colormap(None)


def _rgb(values: list[float], name: str | None = None) -> list[tuple[int, int, int]]:
    rgba = colorize(np.ma.masked_invalid(np.array([values], dtype=np.float64)), name)
    return [tuple(int(c) for c in px[:3]) for px in rgba[0]]


def _hex(rgb: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


def _ndvi_tif(path: Path) -> Path:
    data = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "dtype": "float32",
               "crs": "EPSG:32632", "transform": from_origin(674990, 5154960, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "NDVI")
    return path


# --------------------------------------------------------------------------- the default ramp


def test_the_default_ndvi_ramp_is_red_brown_through_yellow_to_green() -> None:
    assert ndvi_colormap() == NDVI_COLORMAP == "rdylgn" == ndvi.RENDER_COLORMAP
    assert NDVI_COLORMAP in cmap.list()  # rio-tiler's (and so TiTiler's) name
    (r1, g1, b1), (r5, g5, b5), (r0, g0, b0), (rg, gg, bg), (rp, gp, bp) = _rgb([-1.0, -0.5, 0.0, 0.5, 1.0])
    # -1 (water, no vegetation): a dark warm red-brown; -0.5: orange-brown (red > green > blue)
    assert r1 > 2 * g1 and r1 > 2 * b1 and r1 < 200
    assert r5 > g5 > b5
    # 0 (bare): pale yellow, red and green high, blue lower
    assert r0 > 230 and g0 > 230 and b0 < r0 - 40
    # 0.5 and 1 (vegetation): green dominates, and dense vegetation is a dark green
    assert gg > rg and gg > bg
    assert gp > rp and gp > bp and gp < 150
    # continuous data other than NDVI keep viridis
    assert COLORMAP == "viridis" and Style("continuous", "x", 0, 1).colormap == "viridis"
    assert ndvi_style().colormap == Style().colormap == "rdylgn"


def test_the_ndvi_legend_shows_the_chosen_ramp() -> None:
    lut = colormap_lut("rdylgn")
    html = legend_html(ndvi_style())
    assert 'data-colormap="rdylgn"' in html
    stops = re.findall(r"#[0-9a-f]{6}", html)
    assert stops[0] == _hex(lut[0]) and stops[-1] == _hex(lut[255])  # the map's -1 and 1 colours
    assert legend_colormap().rgb_hex_str(1.0) == _hex(lut[255])
    viridis = legend_html(ndvi_style("cividis"))
    assert 'data-colormap="cividis"' in viridis
    assert re.findall(r"#[0-9a-f]{6}", viridis)[0] == _hex(colormap_lut("cividis")[0])


def test_the_histogram_bars_have_the_colours_of_the_map(tmp_path: Path) -> None:
    preview = compute_preview(_ndvi_tif(tmp_path / "ndvi.tif"))
    assert preview.kind == "ndvi" and preview.style.colormap == "rdylgn"
    assert preview.histogram is not None
    colours = preview.style.hex_colors(preview.histogram.centers)
    assert len(colours) == len(preview.histogram.counts)
    expected = [_hex(c) for c in _rgb(list(preview.histogram.centers))]
    assert list(colours) == expected
    assert colours[0] != colours[-1]
    assert preview.style.hex_colors([float("nan")]) == ("#ffffff",)


# --------------------------------------------------------------------------- the setting


def test_the_colour_blind_safe_alternative_by_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert NDVI_COLORBLIND_COLORMAP == "cividis" and "cividis" in RENDER_COLORMAPS
    assert Settings.load(secrets={}, environ={}).ndvi_colormap == "rdylgn"
    settings = Settings.load(secrets={}, environ={ENV: " Cividis "})
    assert settings.ndvi_colormap == "cividis"
    assert Settings.load(secrets={"ndvi_colormap": "viridis"}, environ={}).ndvi_colormap == "viridis"
    # the environment variable applies everywhere at once ...
    monkeypatch.setenv(ENV, "cividis")
    assert ndvi_colormap() == "cividis"
    assert compute_preview(_ndvi_tif(tmp_path / "ndvi.tif")).style.colormap == "cividis"
    assert RenderHints().colormap_name == "cividis"
    # ... and the app's settings (the secrets' value too) win over it
    assert use_ndvi_colormap("viridis") == "viridis" == ndvi_colormap()
    assert RenderHints().colormap_name == "viridis"
    assert _rgb([-1.0, 1.0]) == [tuple(int(c) for c in cmap.get("viridis")[i][:3]) for i in (0, 255)]
    assert use_ndvi_colormap(None) == "cividis"


@pytest.mark.parametrize("name", ["no-such-map", "rainbowish", "rdylgn_x"])
def test_an_unknown_colormap_is_refused_clearly(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(secrets={}, environ={ENV: name})
    message = str(info.value)
    assert ENV in message and repr(name) in message
    assert "rdylgn" in message and "cividis" in message and "colour-blind" in message
    assert info.value.field == "ndvi_colormap"
    with pytest.raises(ConfigError, match="secret 'ndvi_colormap'"):
        Settings.load(secrets={"ndvi_colormap": name}, environ={})
    with pytest.raises(ConfigError, match="not a colormap this app offers"):
        use_ndvi_colormap(name)
    monkeypatch.setenv(ENV, name)
    with pytest.raises(ConfigError, match=ENV):
        ndvi_colormap()


def test_every_offered_colormap_is_rio_tilers_and_the_forms() -> None:
    assert COLORMAPS == RENDER_COLORMAPS
    assert set(RENDER_COLORMAPS) <= set(cmap.list())
    assert {"rdylgn", "cividis", "viridis"} <= set(RENDER_COLORMAPS)


# --------------------------------------------------------------------------- one ramp everywhere


def _published(colormap: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An NDVI result built into a collection as the Metadata step does, with ``colormap`` the setting."""
    use_ndvi_colormap(colormap)
    tif = "https://example.org/results/ndvi.tif"
    asset = {"href": tif, "type": "image/tiff; application=geotiff", "roles": ["data"], "title": "NDVI"}
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": "ndvi_20220612", "collection": "ndvi-test",
        "geometry": {"type": "Polygon",
                     "coordinates": [[[11, 46], [11.1, 46], [11.1, 46.1], [11, 46.1], [11, 46]]]},
        "bbox": [11, 46, 11.1, 46.1], "properties": {"datetime": "2022-06-12T00:00:00Z"},
        "links": [], "assets": {"ndvi": asset},
    }  # fmt: skip
    results = {
        "type": "Collection", "stac_version": "1.1.0", "id": "ndvi-test", "title": "NDVI test",
        "description": "NDVI over Bolzano", "license": "CC-BY-4.0", "links": [],
        "extent": {"spatial": {"bbox": [[11, 46, 11.1, 46.1]]},
                   "temporal": {"interval": [["2022-06-12T00:00:00Z", "2022-06-12T00:00:00Z"]]}},
    }  # fmt: skip
    draft = md.CollectionDraft.from_results(results, [item])
    assert draft.render is not None and draft.render.colormap_name == colormap
    pub = md.publishable(draft, results, [item])
    assert md.render_proposal(pub, {}) == RenderHints(colormap_name=colormap)
    return pub.collection, dict(pub.items[0])


@pytest.mark.parametrize("colormap", ["rdylgn", "cividis"])
def test_render_hints_quicklook_and_explorer_legend_carry_the_same_ramp(colormap: str) -> None:
    collection, item = _published(colormap)
    (render,) = collection["renders"].values()
    assert render["colormap_name"] == colormap and render["rescale"] == [[-1.0, 1.0]]
    legend = legend_of(collection, [item])
    assert legend is not None and legend.kind == "gradient" and legend.colormap == colormap
    lut = cmap.get(colormap)
    assert legend.entries[0].color == _hex(lut[0]) and legend.entries[-1].color == _hex(lut[255])
    assert (legend.minimum, legend.maximum) == (-1.0, 1.0)
    style = quicklook_style(collection, item, "ndvi")
    assert style is not None and (style.kind, style.colormap) == ("ndvi", colormap)
    # the quicklook draws -1 and 1 in the legend's colours, as the Preview does
    assert [_hex(c) for c in style.palette()[[1, 255]]] == [legend.entries[0].color, legend.entries[-1].color]
    assert style.palette()[255].tolist() == ndvi_style(colormap).palette()[255].tolist()
