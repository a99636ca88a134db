"""AppTest: the app and every page run without exception, in flow order, with the stepper."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apex_core.flow import AreaChoice
from apex_core.steps import STEPS, StateKey, Step
from tests.apptest import open_page

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PROJECTS = "pages/flow/0_projects.py"


def _run(page: str | None = None, **state: object) -> AppTest:
    return open_page(page, **state)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.info] + [m.value for m in at.success]
    parts += [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


def test_default_page_is_the_start_screen_with_stepper() -> None:
    at = _run()
    assert [t.value for t in at.title] == ["Projects"]
    assert "0 of 5 steps done" in at.get("progress")[0].proto.text


@pytest.mark.parametrize("step", STEPS, ids=[s.key.value for s in STEPS])
def test_every_page_runs(step: Step) -> None:
    at = _run(step.page)
    assert [t.value for t in at.title] == [step.title]


def test_the_start_screen_runs_as_a_page() -> None:
    at = _run(PROJECTS)
    assert [t.value for t in at.title] == ["Projects"]
    assert any(b.label == "New project" for b in at.button)


def test_stepper_marks_done_steps_from_session_state() -> None:
    aoi = {"type": "Polygon", "coordinates": [[[11.3, 46.47], [11.35, 46.47], [11.35, 46.5], [11.3, 46.47]]]}
    at = _run(STEPS[1].page, **{StateKey.AREA.value: AreaChoice(aoi)})
    assert "1 of 5 steps done" in at.get("progress")[0].proto.text


def test_area_page_reports_a_drawn_area() -> None:
    aoi = {"type": "Polygon", "coordinates": [[[11.3, 46.47], [11.35, 46.47], [11.35, 46.5], [11.3, 46.47]]]}
    at = _run(STEPS[0].page, **{StateKey.AREA.value: AreaChoice(aoi)})
    assert "3 vertices" in _texts(at)
    assert "W 11.3000, S 46.4700, E 11.3500, N 46.5000" in _texts(at)


def test_bad_setting_is_a_clear_message_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", "not a url")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "APEX_OPENEO_URL" in at.error[0].value
