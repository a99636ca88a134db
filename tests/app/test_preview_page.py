"""AppTest of the Preview page: a seeded job result in session state, and the plain "no result yet"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from streamlit.testing.v1 import AppTest

from apex_core.flow import JobOutcome, PreviewOutcome, ResultAsset
from apex_core.steps import STEPS, StateKey, StepKey
from tests.apptest import open_page

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = next(s for s in STEPS if s.key == StepKey.PREVIEW).page


def _ndvi_tif(path: Path, value_rows: list[list[float]]) -> Path:
    data = np.array(value_rows, dtype=np.float32)
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype="float32",
        crs="EPSG:32632", transform=from_origin(674990.0, 5154960.0, 10, 10), nodata=np.nan,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return path


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
    # Several dates: the second is chosen in the select box.
    at.selectbox(key="preview_asset").select_index(1).run()
    assert not at.exception, [e.message for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Maximum"] == "0.200"
    assert at.session_state[StateKey.PREVIEW.value].asset_key == "openEO_2022-06-17Z.tif"


def test_no_result_says_so_and_offers_an_upload() -> None:
    at = _run()
    assert [t.value for t in at.title] == ["Preview"]
    assert any("No job result yet" in i.value for i in at.info)
    assert at.get("file_uploader")[0].proto.label == "NDVI GeoTIFF (one band)"
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
