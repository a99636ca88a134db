from __future__ import annotations

from pathlib import Path

from apex_core.flow import AreaChoice, JobOutcome, MetadataOutcome, PreviewOutcome, Published
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
    state: dict[str, object] = {
        StateKey.AREA: AreaChoice({"type": "Polygon", "coordinates": []}),
        StateKey.JOB: JobOutcome("j-1", "running"),
        StateKey.METADATA: MetadataOutcome(valid=False),
    }
    assert [s.done for s in flow_status(state)] == [True, False, False, False, False]
    state[StateKey.JOB] = JobOutcome("j-1", "finished")
    state[StateKey.PREVIEW] = PreviewOutcome("x.tif", Path("/w/x.tif"), "j-1")
    state[StateKey.METADATA] = MetadataOutcome(valid=True, collection={"id": "c"})
    state[StateKey.PUBLISHED] = Published("http://x/collections/c")
    statuses = flow_status(state, current=StepKey.PUBLISH)
    assert all(s.done for s in statuses)
    assert statuses[-1].to_dict() == {"key": "publish", "number": 5, "done": True, "current": True}


def test_done_checks_read_the_typed_outcomes_only() -> None:
    """A raw dict (another step's JSON) never marks a step done: the session holds typed values."""
    state = {
        StateKey.AREA: {"aoi": {"type": "Polygon", "coordinates": []}, "day": "2022-06-12"},
        StateKey.JOB: {"id": "j-1", "status": "finished"},
        StateKey.PREVIEW: {"asset_key": "x.tif", "path": "/w/x.tif"},
        StateKey.METADATA: {"valid": True},
        StateKey.PUBLISHED: {"collection_url": "http://x/collections/c"},
    }
    assert [s.done for s in flow_status(state)] == [False] * 5


def test_a_result_without_raster_needs_no_preview() -> None:
    """Statistics (CSV, JSON) have nothing to show on a map: the Preview step is done once the job is;
    a GeoTIFF result still waits for its preview."""
    from apex_core.flow import ResultAsset

    stats = (
        ResultAsset("timeseries.csv", Path("/w/timeseries.csv")),
        ResultAsset("t.json", Path("/w/t.json")),
    )
    state: dict[str, object] = {StateKey.JOB: JobOutcome("j-1", "running", assets=stats)}
    assert [s.done for s in flow_status(state)][:3] == [False, False, False]
    state[StateKey.JOB] = JobOutcome("j-1", "finished", assets=stats)
    assert [s.done for s in flow_status(state)][:3] == [False, True, True]
    state[StateKey.JOB] = JobOutcome(
        "j-1", "finished", assets=(*stats, ResultAsset("a.tif", Path("/w/a.tif")))
    )
    assert [s.done for s in flow_status(state)][:3] == [False, True, False]
    state[StateKey.JOB] = JobOutcome("j-1", "finished")  # nothing downloaded: nothing to say yet
    assert [s.done for s in flow_status(state)][:3] == [False, True, False]
