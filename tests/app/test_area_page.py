"""AppTest of the Area page against the real embedded openEO backend (footprints, scene search)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.steps import StateKey
from tests.apptest import area_of, open_page

APP = str(Path(__file__).resolve().parents[2] / "app.py")
AREA = "pages/flow/1_area.py"


def _area(**state: object) -> AppTest:
    return open_page(AREA, **state)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.success] + [m.value for m in at.caption]
    return "\n".join(str(p) for p in parts + [e.value for e in at.error] + [w.value for w in at.warning])


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _type_bbox(at: AppTest, w: float, s: float, e: float, n: float) -> AppTest:
    for key, value in zip(("area_w", "area_s", "area_e", "area_n"), (w, s, e, n), strict=True):
        at.number_input(key=key).set_value(value)
    _button(at, "Use this bounding box").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def backend_env(openeo_backend: OpenEoBackendService, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    return openeo_backend.url


@pytest.mark.services
def test_footprint_button_sets_the_aoi_and_offers_real_dates(backend_env: str) -> None:
    at = _area()
    assert StateKey.AREA not in at.session_state or area_of(at).aoi is None
    labels = [b.label for b in at.button]
    assert {"Start from Bolzano", "Start from Kempen", "Start from Romania"} <= set(labels)
    _button(at, "Start from Bolzano").click().run()
    assert area_of(at).aoi["type"] == "Polygon"
    assert area_of(at).place == "Bolzano"
    pick = at.selectbox(key="area_day_pick")
    assert pick.options[0].startswith("2022-06-12")
    assert area_of(at).day == "2022-06-12"
    assert "km²" in _texts(at)
    assert "1 of 5 steps done" in at.get("progress")[0].proto.text


@pytest.mark.services
def test_typed_bbox_and_rejections_keep_the_previous_area(backend_env: str) -> None:
    at = _type_bbox(_area(), 22.146, 45.202, 22.158, 45.208)  # inside the Romanian footprint
    good = area_of(at).aoi
    assert area_of(at).place == "Romania"
    options = at.selectbox(key="area_day_pick").options
    assert len(options) > 100
    assert any("% cloud" in o for o in options)
    at.selectbox(key="area_day_pick").set_value(options[3]).run()
    assert area_of(at).day == options[3][:10]

    _type_bbox(at, -15.6, 27.9, -15.5, 28.0)  # no embedded data there
    assert "outside the embedded backend's data" in _texts(at)
    assert area_of(at).aoi == good
    _type_bbox(at, 5.0, 45.0, 12.0, 52.0)
    assert "larger than the 2,500 km²" in _texts(at)
    _type_bbox(at, 12.0, 45.0, 11.0, 46.0)
    assert "West (12.0) must be less than East (11.0)" in _texts(at)
    assert area_of(at).aoi == good
    assert area_of(at).day == options[3][:10]


@pytest.mark.services
def test_area_and_date_survive_moving_between_pages(backend_env: str) -> None:
    at = _area()
    _button(at, "Start from Kempen").click().run()
    aoi = area_of(at).aoi
    at.switch_page("pages/flow/5_publish.py").run()
    at.switch_page(AREA).run()
    assert not at.exception
    assert area_of(at).aoi == aoi
    assert area_of(at).day == "2019-04-11"
    assert at.number_input(key="area_w").value == pytest.approx(aoi["coordinates"][0][0][0])


def test_remote_backend_defaults_to_the_notebooks_gran_canaria_day(monkeypatch: pytest.MonkeyPatch) -> None:
    # A backend without scene search (like CDSE; here a closed loopback port): the notebook's rectangle
    # and day are the defaults, whether or not the public CDSE STAC catalogue answers the date search.
    monkeypatch.setenv("APEX_OPENEO_URL", "http://127.0.0.1:9/openeo/1.2")
    at = _area()
    assert area_of(at).place == "Gran Canaria"
    assert area_of(at).day == "2019-08-19"
    w, s = area_of(at).aoi["coordinates"][0][0]
    assert (round(w, 2), round(s, 2)) == (-15.83, 27.73)
    assert "Gran Canaria" in _texts(at)


def test_no_backend_yet_still_takes_a_typed_area() -> None:
    at = _area()  # embedded, not auto-started in tests: no footprints, no dates yet
    assert StateKey.AREA not in at.session_state or area_of(at).aoi is None
    _type_bbox(at, 11.30, 46.47, 11.38, 46.51)
    assert area_of(at).aoi["coordinates"][0][0] == [11.30, 46.47]
    assert "Polygon with 4 vertices" in _texts(at)


def test_geojson_upload_sets_the_area_and_a_bad_file_loses_nothing() -> None:
    at = _area()
    feature = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[5.25, 51.25], [5.28, 51.25], [5.28, 51.28], [5.25, 51.25]]],
                },
            }
        ],
    }
    at.file_uploader(key="area_upload").upload(
        "aoi.geojson", json.dumps(feature).encode(), "application/json"
    )
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    good = area_of(at).aoi
    assert good["coordinates"][0][0] == [5.25, 51.25]
    assert "Polygon with 3 vertices" in _texts(at)

    at.file_uploader(key="area_upload").set_value(("broken.geojson", b"{nope", "application/json"))
    at.run()
    assert "not valid JSON" in _texts(at)
    assert area_of(at).aoi == good


@pytest.mark.services
def test_a_date_range_lists_its_observations_and_the_job_offers_mask_and_composites(backend_env: str) -> None:
    """Romania, June to August 2019: the range's observations with their cloud cover, kept as the
    area's ``day``/``end``; the Job page then offers the SCL mask and one NDVI per date or a composite."""
    import datetime as dt

    at = _area()
    _button(at, "Start from Romania").click().run()
    at.radio(key="area_span").set_value("A date range").run()
    assert not at.exception, [e.message for e in at.exception]
    at.date_input(key="area_range").set_value((dt.date(2019, 6, 1), dt.date(2019, 8, 31))).run()
    assert not at.exception, [e.message for e in at.exception]
    area = area_of(at)
    assert (area.day, area.end, area.is_range) == ("2019-06-01", "2019-08-31", True)
    assert "observation(s)** of this area from 2019-06-01 to 2019-08-31" in _texts(at)
    (table,) = at.dataframe
    days = list(table.value["day"])
    assert len(days) == 15 and all("2019-06-01" <= d <= "2019-08-31" for d in days)  # the NetCDF's dates
    assert "2019-06-01 to 2019-08-31" in area.label()
    # Back to one day: the range is forgotten.
    at.radio(key="area_span").set_value("One day").run()
    assert area_of(at).end is None
