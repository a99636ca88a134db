from __future__ import annotations

from pathlib import Path

from apex_core.steps import STEPS, StateKey, StepKey, flow_status

ROOT = Path(__file__).resolve().parents[2]


def test_five_steps_in_flow_order_each_with_a_page() -> None:
    assert [s.title for s in STEPS] == ["Area", "Job", "Preview", "Metadata", "Publish"]
    for step in STEPS:
        assert (ROOT / step.page).is_file(), step.page


def test_nothing_done_on_a_fresh_session() -> None:
    statuses = flow_status({}, current="area")
    assert [s.done for s in statuses] == [False] * 5
    assert [s.current for s in statuses] == [True, False, False, False, False]
    assert [s.number for s in statuses] == [1, 2, 3, 4, 5]


def test_done_flags_follow_the_state() -> None:
    state = {
        StateKey.AOI: {"type": "Polygon", "coordinates": []},
        StateKey.JOB: {"id": "j-1", "status": "running"},
        StateKey.METADATA: {"valid": False},
    }
    assert [s.done for s in flow_status(state)] == [True, False, False, False, False]
    state[StateKey.JOB] = {"id": "j-1", "status": "finished"}
    state[StateKey.PREVIEW] = {"asset": "x.tif"}
    state[StateKey.METADATA] = {"valid": True}
    state[StateKey.PUBLISHED] = {"url": "http://x"}
    statuses = flow_status(state, current=StepKey.PUBLISH)
    assert all(s.done for s in statuses)
    assert statuses[-1].to_dict() == {"key": "publish", "number": 5, "done": True, "current": True}
