"""A Preview rerun where nothing changed does not build the map again, and shows the same map and charts.

The map's component arguments are computed by :func:`pages.common.foliummap.component_args` once per
set of inputs (st_folium would render the map again on every run); they must be what ``st_folium``
itself sends for that map, else the cached map would differ from the one the page showed before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import streamlit_folium
from rasterio.transform import from_origin
from streamlit.testing.v1 import AppTest

import apex_core.preview
from apex_core.flow import JobOutcome, ResultAsset
from apex_core.mapview import MapAssets
from apex_core.preview import compute_preview, preview_map
from apex_core.steps import STEPS, StateKey, StepKey
from pages.common.foliummap import component_args
from tests.apptest import ok, open_page

PAGE = next(s for s in STEPS if s.key == StepKey.PREVIEW).page


def _tif(path: Path) -> Path:
    data = np.linspace(-1, 1, 12 * 16, dtype=np.float32).reshape(12, 16)
    with rasterio.open(
        path, "w", driver="GTiff", width=16, height=12, count=1, dtype="float32",
        crs="EPSG:32632", transform=from_origin(674990.0, 5154960.0, 10, 10), nodata=np.nan,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return path


def test_component_args_are_what_st_folium_sends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preview = compute_preview(_tif(tmp_path / "ndvi.tif"))
    assets = MapAssets.from_base_url_path("")
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(streamlit_folium, "_component_func", lambda **kw: sent.append(kw))
    streamlit_folium.st_folium(
        preview_map(assets, preview, opacity=0.6),
        key="k",
        height=520,
        use_container_width=True,
        returned_objects=["last_clicked"],
    )
    ours = component_args(
        preview_map(assets, preview, opacity=0.6),
        key="k",
        height=520,
        width=None,
        returned_objects=["last_clicked"],
    )
    (theirs,) = sent
    assert callable(theirs.pop("on_change"))
    assert ours == theirs
    assert "data:image/png;base64," in ours["script"] and '"opacity": 0.6' in ours["script"]


def _shown(at: AppTest) -> tuple[str, bytes, bytes]:
    """The map component's arguments, the histogram chart's and the classes table's messages."""
    (component,) = at.get("component_instance")
    (chart,) = at.get("vega_lite_chart")
    (table,) = at.get("dataframe")
    assert '"ndvi"' in chart.proto.spec and "Water, snow, clouds" in table.value.to_string()
    return component.proto.json_args, chart.proto.SerializeToString(), table.proto.SerializeToString()


def test_a_rerun_keeps_the_map_and_charts_and_builds_the_map_only_when_its_inputs_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tif = _tif(tmp_path / "openEO_2022-06-12Z.tif")
    job = JobOutcome("j-rerun", "finished", assets=(ResultAsset(tif.name, tif, "2022-06-12T00:00:00Z"),))
    builds: list[float] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        builds.append(kwargs["opacity"])
        return preview_map(*args, **kwargs)

    monkeypatch.setattr(apex_core.preview, "preview_map", counted)
    at = open_page(PAGE, **{StateKey.JOB.value: job})
    first = _shown(at)
    assert builds == [0.8]
    assert json.loads(first[0])["id"] == "map_div" and "last_clicked" in json.loads(first[0])["default"]

    ok(at.run())
    assert _shown(at) == first  # the same map (its component args), chart and table
    assert builds == [0.8]  # not built again

    ok(at.slider(key="preview_opacity").set_value(0.5).run())
    args, chart, table = _shown(at)
    assert builds == [0.8, 0.5]
    assert args != first[0] and '\\"opacity\\": 0.5' in args
    assert (chart, table) == first[1:]


def test_a_categorical_result_is_read_and_counted_once_over_reruns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = np.array([[10, 10, 40, 0], [40, 80, 80, 80], [10, 40, 80, 0]], dtype=np.uint8)
    tif = tmp_path / "openEO_landcover.tif"
    with rasterio.open(
        tif, "w", driver="GTiff", width=4, height=3, count=1, dtype="uint8", crs="EPSG:4326",
        transform=from_origin(11.30, 46.50, 0.001, 0.001), nodata=0,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    job = JobOutcome("j-rerun-lc", "finished", assets=(ResultAsset(tif.name, tif),))
    counted: list[Path] = []

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        counted.append(Path(path))
        return real(path, *args, **kwargs)

    real = apex_core.preview.classes_of
    monkeypatch.setattr(apex_core.preview, "classes_of", counting)
    at = open_page(PAGE, **{StateKey.JOB.value: job})
    (chart,) = at.get("vega_lite_chart")
    (table,) = at.get("dataframe")
    assert '"share %"' in chart.proto.spec and list(table.value["value"]) == [10, 40, 80]
    assert counted == [tif]
    shown = (at.get("component_instance")[0].proto.json_args, chart.proto.SerializeToString())
    ok(at.run())
    assert counted == [tif]  # not counted again
    again = (
        at.get("component_instance")[0].proto.json_args,
        at.get("vega_lite_chart")[0].proto.SerializeToString(),
    )
    assert again == shown
