"""The flow's typed outcomes: one JSON codec each (round trip, the old saved shapes, clear refusals),
and the one StateKey naming every session key."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from apex_core import metadata as md
from apex_core.errors import CatalogueConflict, DataError
from apex_core.flow import (
    DERIVED,
    PERSISTED,
    AreaChoice,
    JobOutcome,
    MetadataOutcome,
    MetadataWork,
    PreviewOutcome,
    Published,
    PublishRun,
    ResultAsset,
    StateKey,
    WidgetPrefix,
)
from apex_core.metadata import ApexReport, Fix, RuleResult
from apex_core.projects import ProjectState
from apex_core.publish import PublishPlan, PublishResult, PublishState
from tests.stacdocs import embedded_job_item, embedded_job_results

ROOT = Path(__file__).resolve().parents[2]

FINISHED = {  # the Job page's finished job, as projects saved it before the typed outcomes
    "status": "finished",
    "id": "j-1234",
    "title": "Bolzano NDVI",
    "assets": [{"key": "openEO.tif", "path": "/w/j-1234/openEO.tif", "datetime": "2022-06-12T00:00:00Z"}],
    "metadata_path": "/w/j-1234/job-results.json",
}


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _result() -> PublishResult:
    plan = PublishPlan.from_dict(
        {"collection": {"id": "ndvi", "type": "Collection"}, "items": [{"id": "i1"}]}
    )
    state = PublishState.start("http://cat", plan).with_done("collection")
    return PublishResult(state, plan, CatalogueConflict("exists", status=409, field="id"), ("a note",))


BOLZANO = {"type": "Polygon", "coordinates": [[[11.3, 46.47], [11.37, 46.47], [11.37, 46.52], [11.3, 46.47]]]}

OUTCOMES = [
    AreaChoice(BOLZANO, "Bolzano", "2022-06-12"),
    AreaChoice(BOLZANO, "Romania", "2019-06-01", "2019-08-31"),
    AreaChoice(),
    JobOutcome.from_dict(FINISHED),
    JobOutcome("j-1", "running", "NDVI", progress=40.0, created="2026-01-01T12:00:00Z"),
    JobOutcome(
        "j-2",
        "finished",
        assets=(
            ResultAsset("a.tif", Path("/w/a.tif")),
            ResultAsset("m.tif", Path("/w/m.tif"), "2019-06-01T00:00:00Z", "2019-08-31T23:59:59Z"),
        ),
        metadata_path=Path("/w/job-results.json"),
        items=({"type": "Feature", "id": "i1", "assets": {}},),
    ),
    PreviewOutcome("a.tif", Path("/w/a.tif"), "j-2", {"mean": 0.4, "exact": True}, {"mean": 0.4}),
    MetadataOutcome(valid=False, issues=({"field": "id", "message": "The id is required."},)),
    MetadataOutcome(
        valid=True,
        collection={"id": "c", "type": "Collection"},
        items=({"id": "i1"},),
        checklist=({"label": "x", "ok": True},),
        schema_checks=({"name": "collection", "ok": True},),
    ),
    MetadataOutcome(
        valid=True,
        collection={"id": "c", "type": "Collection"},
        apex=ApexReport(
            (
                RuleResult("STAC-REC-05", "item i asset a", "fail", "no file:size", "file:size", Fix.COG),
                RuleResult("STAC-REC-99", "collection", "pass", "a rule of a newer version"),
            )
        ),
        rehost=True,
        local_files=(("https://x/a.tif?expires=1", Path("/w/uploads/a.tif")),),
    ),
    PublishRun(),
    PublishRun("ndvi", _result()),
    Published("http://cat/collections/c", ("http://cat/collections/c/items/i1",), "http://browser/c"),
]


@pytest.mark.parametrize("value", OUTCOMES, ids=lambda v: type(v).__name__)
def test_each_outcome_round_trips_through_json(value: Any) -> None:
    back = type(value).from_dict(_json(value.to_dict()))
    assert back.to_dict() == value.to_dict()
    if isinstance(value, JobOutcome):  # the job's STAC items stay in the session (signed links)
        assert back == replace(value, items=())
    elif not (isinstance(value, PublishRun) and value.result is not None):  # exceptions compare by identity
        assert back == value


def test_a_job_is_saved_without_its_items_even_when_their_links_carry_a_token() -> None:
    signed = {
        "type": "Feature",
        "id": "i1",
        "assets": {"a": {"href": "https://b/a.tif?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqIn0.c2ln"}},
    }
    job = JobOutcome.from_dict({**FINISHED, "items": [signed]})
    assert job.items == (signed,)  # read from the session's shape
    saved = ProjectState.from_session({StateKey.JOB: job})
    assert saved.to_dict()[StateKey.JOB.value] == FINISHED  # the job is kept; its signed items are not
    assert "token=" not in saved.to_json()


def test_the_publish_run_keeps_the_error_class_and_fields() -> None:
    back = PublishRun.from_dict(_json(PublishRun("ndvi", _result()).to_dict()))
    assert back.result is not None
    error = back.result.error
    assert isinstance(error, CatalogueConflict) and (error.status, error.field) == (409, "id")
    assert back.result.state.done == ("collection",) and back.result.plan.item_ids == ("i1",)
    assert PublishResult.from_dict(_json(_result().to_dict())).to_dict() == _result().to_dict()


def test_the_old_saved_shapes_are_read() -> None:
    job = JobOutcome.from_dict(FINISHED)
    assert job.finished and job.assets[0].path == Path("/w/j-1234/openEO.tif") and job.items == ()
    assert job.to_dict() == FINISHED  # the same JSON as before: saved projects compare equal
    running = {"status": "running", "id": "j-1", "title": "NDVI", "progress": 40, "created": "2026-01-01"}
    assert JobOutcome.from_dict(running).to_dict() == {**running, "assets": [], "metadata_path": None}
    assert JobOutcome.from_dict({"id": "j-1"}).status == ""  # a bare id (re-attached, then saved)
    preview = {"job_id": "j-1", "asset_key": "a.tif", "path": "/w/a.tif", "statistics": {"mean": 0.1}}
    assert PreviewOutcome.from_dict(preview).band_statistics("j-1") == {"mean": 0.1}
    assert PreviewOutcome.from_dict(preview).band_statistics("j-other") is None
    assert MetadataOutcome.from_dict({"valid": False}) == MetadataOutcome()
    assert Published.from_dict({"collection_url": "http://c", "items": ["http://c/i"]}).items == (
        "http://c/i",
    )
    # The publish run as apex_core.projects wrote it (its own codec, now PublishResult's).
    result = _result()
    old_run = {
        "base": "ndvi",
        "result": {
            "state": result.state.to_dict(),
            "plan": result.plan.to_dict(),
            "notes": ["a note"],
            "error": {
                "type": "CatalogueConflict",
                "message": "exists",
                "code": None,
                "status": 409,
                "request_id": None,
                "field": "id",
            },
        },
    }
    assert PublishRun.from_dict(old_run).to_dict() == {**old_run, "result": result.to_dict()}
    assert PublishRun.from_dict(old_run).to_dict() == PublishRun("ndvi", result).to_dict()
    assert PublishRun.from_dict({"base": None}) == PublishRun()


BAD_STATUS = {"rule": "R", "target": "t", "status": "maybe"}
GONE_FIX = {"rule": "R", "target": "t", "status": "fail", "fix": "gone"}


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (AreaChoice, "Bolzano", "The area must be a JSON object"),
        (AreaChoice, {"aoi": [11.3, 46.47]}, "The area's 'aoi' must be a JSON object"),
        (AreaChoice, {"aoi": {"place": "Bolzano"}}, "The area's 'aoi' must be a GeoJSON geometry"),
        (AreaChoice, {"place": 7}, "The area's 'place' must be text"),
        (AreaChoice, {"day": "12 June 2022"}, "The area's 'day' must be an ISO date"),
        (AreaChoice, {"day": 20220612}, "The area's 'day' must be an ISO date"),
        (AreaChoice, {"day": "2019-06-01", "end": "August"}, "The area's 'end' must be an ISO date"),
        (AreaChoice, {"day": "2019-06-01", "end": "2019-05-01"}, "ends (2019-05-01) before it starts"),
        (JobOutcome, [], "The job must be a JSON object"),
        (JobOutcome, {"status": "finished"}, "The job needs an 'id'"),
        (JobOutcome, {"id": "j", "assets": "a.tif"}, "'assets' must be a list"),
        (JobOutcome, {"id": "j", "assets": [{"key": "a"}]}, "needs a 'key' and a 'path'"),
        (JobOutcome, {"id": "j", "progress": "half"}, "progress must be a number"),
        (JobOutcome, {"id": "j", "items": ["not an item"]}, "'items' must be a list of JSON objects"),
        (PreviewOutcome, {"asset_key": "a.tif"}, "needs an 'asset_key' and a 'path'"),
        (PreviewOutcome, {"asset_key": "a", "path": "/a", "statistics": [1]}, "statistics must be JSON"),
        (MetadataOutcome, {"valid": True, "collection": "c"}, "'collection' must be a JSON object"),
        (MetadataOutcome, {"apex": {"results": [{"target": "x"}]}}, "The APEx report cannot be read"),
        (MetadataOutcome, {"apex": {"results": [BAD_STATUS]}}, "ValueError: unknown status 'maybe'"),
        (MetadataOutcome, {"apex": {"results": [GONE_FIX]}}, "The APEx report cannot be read"),
        (MetadataOutcome, {"local_files": [{"href": "h"}]}, "'local_files' must be {href, path} strings"),
        (Published, {"items": []}, "needs a 'collection_url'"),
        (PublishRun, {"base": "c", "result": "done"}, "The publish result must be a JSON object"),
        (PublishRun, {"base": "c", "result": {"plan": {}}}, "saved publish result is not readable"),
    ],
)
def test_bad_shapes_are_refused_with_a_clear_error(cls: Any, data: Any, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        cls.from_dict(data)


def test_the_project_codec_saves_typed_values_only() -> None:
    encode, decode = PERSISTED[StateKey.JOB]
    job = JobOutcome.from_dict(FINISHED)
    assert decode(encode(job)) == job
    with pytest.raises(TypeError, match="JobOutcome expected"):
        encode(FINISHED)  # a raw dict in the session is a bug, not something to save


def test_a_publish_run_is_forgotten_for_another_job_s_items() -> None:
    """Next month's job into the same collection: the first job's result is not shown as this one's."""
    run = PublishRun("romania", _result(), ("romania_20190611", "romania_20190616"))
    assert run.for_base("romania", ["romania_20190611", "romania_20190616"]) is run
    assert run.for_base("romania", ["romania_20190905"]) == PublishRun()
    assert run.for_base("other", ["romania_20190611", "romania_20190616"]) == PublishRun()
    old = PublishRun("romania", _result())  # saved before the items were recorded: kept
    assert old.for_base("romania", ["romania_20190905"]) is old
    back = PublishRun.from_dict(_json(run.to_dict()))
    assert back.items == run.items and back.base == "romania"


def test_a_range_end_without_its_first_day_is_dropped() -> None:
    assert AreaChoice.from_dict({"day": None, "end": "2019-06-01"}).end is None
    assert AreaChoice.from_dict({"day": "2019-06-01", "end": "2019-06-01"}).end is None  # one day
    assert AreaChoice.from_dict({"day": "2019-06-01", "end": "2019-06-30"}).is_range


def test_the_area_choice_is_one_typed_value_under_one_key() -> None:
    aoi = {"type": "Polygon", "coordinates": []}
    state = {StateKey.AREA: AreaChoice(aoi, "Bolzano", "2022-06-12")}
    choice = AreaChoice.from_state(state)
    assert choice == AreaChoice(aoi, "Bolzano", "2022-06-12") and choice.ready
    assert choice.label() == "Bolzano 2022-06-12"
    assert not AreaChoice.from_state({StateKey.AREA: AreaChoice(aoi)}).ready and AreaChoice().label() == ""
    assert AreaChoice.from_state({}) == AreaChoice()
    assert AreaChoice.from_state({StateKey.AREA: choice.to_dict()}) == AreaChoice()  # a raw dict is no choice
    assert choice.to_dict() == {"aoi": aoi, "place": "Bolzano", "day": "2022-06-12"}
    assert AreaChoice.from_dict({"place": "", "day": ""}) == AreaChoice()
    encode, decode = PERSISTED[StateKey.AREA]
    assert decode(_json(encode(choice))) == choice


def test_one_state_key_names_every_session_key() -> None:
    """The keys the project store keeps and resets come from StateKey, and no page or core module
    spells a session key as a literal."""
    assert {k.value for k in PERSISTED} >= {"apex_area", "apex_job", "apex_publish_run"}
    assert not set(PERSISTED) & set(DERIVED)
    assert len({k.value for k in StateKey}) == len(StateKey)
    assert set(WidgetPrefix.of_steps()) == {"area_", "job_", "preview_", "md_", "pub_"}
    literal = re.compile(r"[\"']apex_[a-z_]+[\"']")
    spelled = [
        f"{path.relative_to(ROOT)}: {m.group()}"
        for path in [*ROOT.glob("apex_core/**/*.py"), *ROOT.glob("pages/**/*.py"), ROOT / "app.py"]
        if path.name != "flow.py" and "local" not in path.relative_to(ROOT).parts
        for m in literal.finditer(path.read_text())
        if m.group().strip("\"'") in {k.value for k in StateKey}
    ]
    assert spelled == []


def test_every_widget_key_starts_with_a_widget_prefix() -> None:
    """Widget keys may be spelled out, but each starts with its page's WidgetPrefix (so a project load
    drops the steps' widgets and nothing else), and none is a StateKey."""
    where = r"(?:\bkey=f?|st\.form\(|session_state\.get\(|session_state\[)"
    literal = re.compile(where + r"""["']([a-z][a-z0-9_]*)""")
    keys = {
        m.group(1)
        for path in [*ROOT.glob("pages/**/*.py"), ROOT / "app.py"]
        for m in literal.finditer(path.read_text())
    }
    assert keys, "no widget key found: the pattern is stale"
    assert [k for k in keys if not k.startswith(tuple(WidgetPrefix))] == []
    assert not keys & {k.value for k in StateKey}


def test_published_is_where_the_result_put_the_collection() -> None:
    urls = ("http://cat/collections/ndvi", ("http://cat/collections/ndvi/items/i1",))
    assert Published.of(_result(), "http://browser/") == Published(*urls, "http://browser/collections/ndvi")
    assert Published.of(_result()) == Published(*urls) and "browser_url" not in Published(*urls).to_dict()


def test_the_metadata_work_is_one_typed_value_with_its_codec() -> None:
    results = embedded_job_results()
    source = md.LoadedResults("upload results.json", "fp-1", results, (embedded_job_item(),))
    draft = md.CollectionDraft.from_results(results, list(source.items))
    reach = (md.Reachability("http://x/a.tif", True, 200, ""),)
    work = MetadataWork(source, draft, md.BandStatistics(-0.2, 0.8, source="preview"), reach, ("fp-1",))
    assert MetadataWork.from_dict(_json(work.to_dict())) == work
    assert MetadataWork.from_dict(_json(MetadataWork().to_dict())) == MetadataWork()
    encode, decode = PERSISTED[StateKey.METADATA_DRAFT]
    assert decode(_json(encode(work))) == work
    # what projects saved before: the page's plain dict, with its write-only "seen"
    old = {
        "source": source.to_dict(),
        "draft": draft.to_dict(),
        "reach": None,
        "seen": "fp-1",
        "loaded": ["fp-1"],
    }
    assert MetadataWork.from_dict(_json(old)) == MetadataWork(source, draft, None, None, ("fp-1",))
    for bad, message in [
        ("draft", "The metadata draft must be a JSON object"),
        ({"source": "results.json"}, "Its source must be a JSON object"),
        ({"source": {"origin": "x"}}, "The metadata draft cannot be read"),
        ({"loaded": "fp-1"}, "'loaded' must be a list"),
        ({"reach": [1]}, "'reach' must be a list of JSON objects"),
    ]:
        with pytest.raises(DataError, match=re.escape(message)):
            MetadataWork.from_dict(bad)
