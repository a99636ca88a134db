"""AppTest of the Preview page: a seeded job result in session state, and the plain "no result yet"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_tiler.colormap import cmap
from streamlit.testing.v1 import AppTest

from apex_core.config import ndvi_colormap, use_ndvi_colormap
from apex_core.flow import JobOutcome, PreviewOutcome, ResultAsset
from apex_core.preview import ndvi_style
from apex_core.steps import STEPS, StateKey, StepKey
from tests.apptest import ok, open_page

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = next(s for s in STEPS if s.key == StepKey.PREVIEW).page


def _ndvi_tif(path: Path, value_rows: list[list[float]]) -> Path:
    """An NDVI result as the embedded back-end writes it: float32, NaN nodata, band description NDVI."""
    data = np.array(value_rows, dtype=np.float32)
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype="float32",
        crs="EPSG:32632", transform=from_origin(674990.0, 5154960.0, 10, 10), nodata=np.nan,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
        dst.set_band_description(1, "NDVI")
    return path


# A CDSE land-cover result: uint8 band MAP, ESA WorldCover classes, nodata 0, EPSG:4326.
LANDCOVER = np.array(
    [
        [10, 10, 10, 40, 40, 0],
        [10, 10, 40, 40, 80, 0],
        [30, 30, 40, 80, 80, 80],
        [30, 50, 50, 80, 80, 80],
    ],
    dtype=np.uint8,
)


def _landcover_tif(path: Path) -> bytes:
    with rasterio.open(
        path, "w", driver="GTiff", width=6, height=4, count=1, dtype="uint8", crs="EPSG:4326",
        transform=from_origin(11.30, 46.50, 0.001, 0.001), nodata=0,
    ) as dst:  # fmt: skip
        dst.write(LANDCOVER, 1)
        dst.set_band_description(1, "MAP")
    return path.read_bytes()


def _texts(at: AppTest) -> str:
    return "\n".join(
        str(e.value) for kind in ("caption", "markdown", "info", "success") for e in at.get(kind)
    )


def _run(**state: object) -> AppTest:
    return open_page(PAGE, **state)


def _job(tmp_path: Path) -> JobOutcome:
    first = _ndvi_tif(tmp_path / "openEO_2022-06-12Z.tif", [[-0.5, 0.1, 0.3, 0.8], [0.9, np.nan, 73.0, 0.6]])
    second = _ndvi_tif(tmp_path / "openEO_2022-06-17Z.tif", [[0.2, 0.2], [0.2, 0.2]])
    meta = tmp_path / "job-results.json"
    meta.write_text('{"type": "Collection"}')
    return JobOutcome(
        "j-preview-test",
        "finished",
        assets=(
            ResultAsset(first.name, first, "2022-06-12T00:00:00Z"),
            ResultAsset(second.name, second, "2022-06-17T00:00:00Z"),
        ),
        metadata_path=meta,
    )


def test_seeded_result_shows_statistics_and_marks_preview_done(tmp_path: Path) -> None:
    at = _run(**{StateKey.JOB.value: _job(tmp_path)})
    assert [t.value for t in at.title] == ["Preview"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Minimum"] == "-0.500"
    assert metrics["Maximum"] == "73.000"
    assert metrics["Valid pixels"] == "87.5%"
    assert metrics["Outside -1…1"] == "14.29%"
    assert any("computed exactly from all 4×2 pixels" in c.value for c in at.caption)
    # The Job and Preview steps are done.
    assert "2 of 5 steps done" in at.get("progress")[0].proto.text
    stored = at.session_state[StateKey.PREVIEW.value]
    assert isinstance(stored, PreviewOutcome)
    assert stored.job_id == "j-preview-test"
    assert stored.asset_key == "openEO_2022-06-12Z.tif"
    assert stored.statistics["valid_pixels"] == 7
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download the GeoTIFF", "Download the job's STAC metadata"]
    # Several dates: a series. The mean and valid share per date are charted (the first date: mean of
    # its 7 valid values, 87.5 % valid), and the date slider chooses the result on the map.
    assert len(at.get("vega_lite_chart")) == 3  # mean per date, valid share per date; the histogram
    assert any("**2 results** from 2022-06-12 to 2022-06-17" in str(m.value) for m in at.markdown)
    slider = at.select_slider(key="preview_asset")
    assert slider.options == [
        "openEO_2022-06-12Z.tif (2022-06-12T00:00:00Z)",
        "openEO_2022-06-17Z.tif (2022-06-17T00:00:00Z)",
    ]
    slider.set_value("openEO_2022-06-17Z.tif").run()
    assert not at.exception, [e.message for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Maximum"] == "0.200"
    assert at.session_state[StateKey.PREVIEW.value].asset_key == "openEO_2022-06-17Z.tif"


def test_no_result_says_so_and_offers_an_upload() -> None:
    at = _run()
    assert [t.value for t in at.title] == ["Preview"]
    assert any("No job result yet" in i.value for i in at.info)
    assert not any("NDVI" in i.value for i in at.info)
    assert at.get("file_uploader")[0].proto.label == "GeoTIFF"
    assert not at.metric
    assert StateKey.PREVIEW.value not in at.session_state
    assert "0 of 5 steps done" in at.get("progress")[0].proto.text


def test_unreadable_result_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "openEO_broken.tif"
    broken.write_text("<html>expired link</html>")
    job = JobOutcome("j-broken", "finished", assets=(ResultAsset(broken.name, broken),))
    at = _run(**{StateKey.JOB.value: job})
    assert "not a readable GeoTIFF" in at.error[0].value
    assert StateKey.PREVIEW.value not in at.session_state


def test_uploaded_categorical_geotiff_shows_class_shares_and_no_histogram(tmp_path: Path) -> None:
    at = _run()
    data = _landcover_tif(tmp_path / "ESA_WorldCover_10m_2021_v200_N45E009_Map.tif")
    at.file_uploader(key="preview_upload").upload(
        "ESA_WorldCover_10m_2021_v200_N45E009_Map.tif", data, "image/tiff"
    )
    ok(at.run())
    assert at.radio(key="preview_kind_ESA_WorldCover_10m_2021_v200_N45E009_Map.tif_1").value == "categorical"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Classes": "5", "Valid pixels": "91.7%"}  # 22 of 24 pixels
    (table,) = at.dataframe
    shares = table.value
    values, n = np.unique(LANDCOVER[LANDCOVER != 0], return_counts=True)
    assert list(shares["value"]) == values.tolist() == [10, 30, 40, 50, 80]
    assert list(shares["pixels"]) == n.tolist()
    assert list(shares["class"]) == [
        "Tree cover",
        "Grassland",
        "Cropland",
        "Built-up",
        "Permanent water bodies",
    ]
    assert list(shares["share %"]) == [round(100 * c / 22, 2) for c in n.tolist()]
    (chart,) = at.get("vega_lite_chart")  # the class shares' bar chart, no histogram
    assert '"share %"' in chart.proto.spec and '"pixels"' not in chart.proto.spec
    texts = _texts(at)
    assert "Share of the valid pixels in each class" in texts
    assert "Histogram" not in texts and "NDVI" not in texts
    assert "Click the map to read the full-resolution class at a point." in texts
    # The legend on the map: one entry per class, in its colour.
    (component,) = at.get("component_instance")
    args = component.proto.json_args
    assert "apex-class-legend" in args and "#006400" in args and "Permanent water bodies" in args
    assert StateKey.PREVIEW.value not in at.session_state  # an upload is not the flow's result
    # Shown as continuous values instead: a histogram again, no class table.
    ok(
        at.radio(key="preview_kind_ESA_WorldCover_10m_2021_v200_N45E009_Map.tif_1")
        .set_value("continuous")
        .run()
    )
    assert "Colour range" in {m.label for m in at.metric}
    (chart,) = at.get("vega_lite_chart")
    assert '"pixels"' in chart.proto.spec and not at.dataframe


def test_categorical_job_result_carries_its_classes_to_the_metadata_step(tmp_path: Path) -> None:
    result = tmp_path / "openEO.tif"
    _landcover_tif(result)
    meta = tmp_path / "job-results.json"
    meta.write_text(
        '{"type": "Collection", "id": "j-lc", "description": "ESA_WORLDCOVER_10M_2021_V2 over Bolzano"}'
    )
    job = JobOutcome("j-lc", "finished", assets=(ResultAsset("openEO.tif", result),), metadata_path=meta)
    at = _run(**{StateKey.JOB.value: job})
    stored = at.session_state[StateKey.PREVIEW.value]
    assert isinstance(stored, PreviewOutcome)
    assert stored.kind == "categorical"
    assert [(c["value"], c["title"], c["color_hint"]) for c in stored.classes][:2] == [
        (10, "Tree cover", "006400"),
        (30, "Grassland", "FFFF4C"),
    ]
    assert stored.raster_statistics["minimum"] == 10 and stored.raster_statistics["maximum"] == 80
    assert "2 of 5 steps done" in at.get("progress")[0].proto.text


def test_multi_band_result_offers_a_band_choice(tmp_path: Path) -> None:
    stack = tmp_path / "openEO_stack.tif"
    with rasterio.open(
        stack, "w", driver="GTiff", width=6, height=4, count=2, dtype="float32", crs="EPSG:4326",
        transform=from_origin(11.30, 46.50, 0.001, 0.001), nodata=np.nan,
    ) as dst:  # fmt: skip
        dst.write(np.linspace(-0.2, 0.8, 24, dtype=np.float32).reshape(4, 6), 1)
        dst.write(np.linspace(100, 3000, 24, dtype=np.float32).reshape(4, 6), 2)
        dst.descriptions = ("NDVI", "elevation")
    job = JobOutcome("j-stack", "finished", assets=(ResultAsset(stack.name, stack),))
    at = _run(**{StateKey.JOB.value: job})
    band = at.selectbox(key=f"preview_band_{stack.name}")
    assert band.options == ["1: NDVI (float32)", "2: elevation (float32)"]
    assert "Outside -1…1" in {m.label for m in at.metric}
    ok(band.select_index(1).run())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Maximum"] == "3000.000" and "Colour range" in metrics
    assert "band 2 of 2" in _texts(at) and "Histogram of the valid values of elevation" in _texts(at)
    assert at.session_state[StateKey.PREVIEW.value].band == 2
    assert at.session_state[StateKey.PREVIEW.value].kind == "continuous"


def test_results_without_a_raster_have_no_preview(tmp_path: Path) -> None:
    csv = tmp_path / "timeseries.csv"
    csv.write_text("date,ndvi\n2022-06-12,0.4\n")
    js = tmp_path / "result.json"
    js.write_text("{}")
    job = JobOutcome("j-csv", "finished", assets=(ResultAsset(csv.name, csv), ResultAsset(js.name, js)))
    at = _run(**{StateKey.JOB.value: job})
    assert any(
        "No map preview for these results" in i.value and "`timeseries.csv`" in i.value for i in at.info
    )
    assert not at.error and not at.metric and not at.get("component_instance")
    assert StateKey.PREVIEW.value not in at.session_state
    # A raster among them is previewed; the others are named.
    tif = _ndvi_tif(tmp_path / "openEO.tif", [[0.1, 0.2], [0.3, 0.4]])
    mixed = JobOutcome("j-mixed", "finished", assets=(ResultAsset(csv.name, csv), ResultAsset(tif.name, tif)))
    at = _run(**{StateKey.JOB.value: mixed})
    assert not [w for w in at.selectbox if w.key == "preview_asset"]  # one raster: nothing to choose
    assert "Results that are not rasters have no preview: `timeseries.csv`." in _texts(at)
    assert at.session_state[StateKey.PREVIEW.value].asset_key == "openEO.tif"


def test_a_composite_says_the_range_it_covers(tmp_path: Path) -> None:
    tif = _ndvi_tif(tmp_path / "openEO.tif", [[0.1, 0.2], [0.3, 0.4]])
    composite = ResultAsset(tif.name, tif, "2019-06-01T00:00:00Z", "2019-08-31T23:59:59Z")
    at = _run(**{StateKey.JOB.value: JobOutcome("j-median", "finished", assets=(composite,))})
    assert "A composite: one map for 2019-06-01 to 2019-08-31." in _texts(at)
    assert not [s for s in at.select_slider if s.key == "preview_asset"]  # one map, no date slider


def _histogram_colours(at: AppTest) -> list[str]:
    """The bar colours of the page's histogram (the chart with ``pixels``), in bin order."""
    (chart,) = [c for c in at.get("vega_lite_chart") if '"pixels"' in c.proto.spec]
    spec = json.loads(chart.proto.spec)
    assert spec["encoding"]["color"] == {"field": "colour", "type": "nominal", "scale": None, "legend": None}
    table = pa.ipc.open_stream(chart.proto.data.data).read_all()
    return [str(c) for c in table.column("colour").to_pylist()]


@pytest.mark.parametrize("setting", [None, "cividis"])
def test_the_ndvi_legend_and_histogram_show_the_chosen_ramp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    if setting is None:
        monkeypatch.delenv("APEX_NDVI_COLORMAP", raising=False)
    else:
        monkeypatch.setenv("APEX_NDVI_COLORMAP", setting)
    name = setting or "rdylgn"
    lut = cmap.get(name)
    first, last = ("#{:02x}{:02x}{:02x}".format(*(int(c) for c in lut[i][:3])) for i in (0, 255))
    try:
        at = _run(**{StateKey.JOB.value: _job(tmp_path)})
        (component,) = at.get("component_instance")
        args = component.proto.json_args
        assert "apex-ndvi-legend" in args and f'data-colormap=\\\\\\"{name}\\\\\\"' in args
        assert first in args and last in args  # the gradient runs from the ramp's -1 to its 1
        colours = _histogram_colours(at)
        centres = [-1 + 0.05 * (i + 0.5) for i in range(40)]  # each bin in its centre's colour on the map
        assert colours == list(ndvi_style(name).hex_colors(centres)) and len(set(colours)) > 20
        assert ndvi_colormap() == name  # what the Metadata step's render hints will carry
    finally:
        monkeypatch.delenv("APEX_NDVI_COLORMAP", raising=False)
        use_ndvi_colormap(None)
