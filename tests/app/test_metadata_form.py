"""The Metadata page's own helpers (pages/common/metadata.py): the form described as data, and the
page's state in the session (:class:`MetadataSession`), on plain mappings (no Streamlit run)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from apex_core import metadata as md
from apex_core.flow import MetadataOutcome, StateKey
from apex_core.licences import OTHER
from pages.common.metadata import FORM_SECTIONS, MetadataSession, form_fields, form_rows

OWN = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def embedded() -> dict[str, Any]:
    return json.loads((OWN / "embedded_job_results.json").read_text())


def test_form_fields_describe_the_form(embedded: dict[str, Any]) -> None:
    draft = md.CollectionDraft.from_results(embedded)
    fields = form_fields(draft, md.BandStatistics(minimum=-0.2, maximum=0.8, source="preview"))
    keys = [f.key for f in fields]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(draft.form_values()) - {"providers_count", "license_url", "eodata_base"}
    assert {f.section for f in fields} == {s.name for s in FORM_SECTIONS}
    by_key = {f.key: f for f in fields}
    assert (by_key["id"].label, by_key["id"].kind) == ("Id", "live_text")  # checked as the person types
    assert by_key["id"].help and "3 to 64 characters" in by_key["id"].help
    assert [by_key[k].kind for k in ("keywords", "auth_write", "west")] == ["list", "list", "number"]
    assert by_key["description"].markdown and by_key["derived_from"].options == ("drop", "absolute")
    lic = by_key["license"]
    assert lic.kind == "select" and draft.license in lic.options
    assert dict(zip(lic.options, lic.option_labels, strict=True))["CC0-1.0"].startswith("CC0-1.0 — Creative")
    stats = by_key["stats_on"]
    assert stats.label == "raster:bands statistics from the preview"
    assert stats.caption == "minimum -0.2, maximum 0.8"
    rows = form_rows(fields, "extent")
    assert [[f.key for f in row] for row in rows] == [["west", "south", "east", "north"], ["start", "end"]]
    assert all(f.number_format == "%.6f" for f in rows[0])
    providers = form_rows(fields, "providers")
    assert len(providers) == len(draft.providers)
    assert [(f.label, f.width) for f in providers[0]] == [("Name", 4), ("Roles", 4), ("URL", 5)]
    # Fields that do not apply are left out; they come back with what makes them apply.
    bare = {f.key for f in form_fields(replace(draft, render=None))}
    assert not bare & {"render_min", "render_max", "colormap", "stats_on", "license_url", "eodata_base"}
    other = {f.key for f in form_fields(replace(draft, license=OTHER, derived_from="absolute"))}
    assert {"license_url", "eodata_base"} <= other
    unknown = next(f for f in form_fields(replace(draft, license="my-licence")) if f.key == "license")
    assert unknown.options[-1] == unknown.option_labels[-1] == "my-licence"


def test_form_fields_carry_their_issues(embedded: dict[str, Any]) -> None:
    bad = replace(
        md.CollectionDraft.from_results(embedded),
        id="Bad Id",
        description="NDVI",
        auth_write=("anonymous",),
        providers=(),
    )
    fields = form_fields(bad)
    issues = md.check_draft(bad)
    attached = [i for f in fields for i in f.issues]
    assert {i.field for i in attached} == {"id", "auth_write"}
    assert [i for i in issues if i not in attached] == [i for i in issues if i.field == "providers"]
    (id_issue,) = next(f for f in fields if f.key == "id").issues
    assert "lowercase" in id_issue.message
    given = (md.FieldIssue("title", "From elsewhere."),)
    assert next(f for f in form_fields(bad, issues=given) if f.key == "title").issues == given
    assert not next(f for f in form_fields(bad, issues=given) if f.key == "id").issues


def test_metadata_session_keeps_the_draft_when_widgets_go(embedded: dict[str, Any]) -> None:
    widgets: dict[str, Any] = {"md_upload": ["a file"], "other": 1}
    session = MetadataSession(widgets, StateKey.METADATA_DRAFT, "md_")
    assert not session.loaded
    assert session.remember("fp-1") and not session.remember("fp-1") and not session.remember(None)
    session.load(md.LoadedResults("upload results.json", "fp-1", embedded))
    assert session.loaded and session.work.reach is None
    now = session.current()
    title = now.draft.title
    assert widgets["md_title"] == title and widgets["md_upload"] == ["a file"] and widgets["other"] == 1
    assert now.caption.startswith("From upload results.json: 0 item(s).")
    assert MetadataOutcome.of(now.evaluation).valid is now.evaluation.valid
    assert {f.key for f in now.fields} >= {"id", "title"}
    widgets["md_title"] = "Bolzano NDVI"
    assert session.current().draft.title == session.work.draft.title == "Bolzano NDVI"
    for key in [k for k in widgets if k.startswith("md_")]:  # a page change drops the widget values
        del widgets[key]
    assert session.current().draft.title == "Bolzano NDVI" == widgets["md_title"]
    count = len(session.work.draft.providers)
    session.edit_providers()
    assert len(session.work.draft.providers) == count + 1 and "md_provider_0_name" not in widgets
    assert widgets["md_title"] == "Bolzano NDVI"
    session.current()
    session.edit_providers(remove=count)
    assert len(session.work.draft.providers) == count
    widgets["md_upload"] = ["a file"]
    session.reset()
    assert session.current().draft.title == title and widgets["md_upload"] == ["a file"]


def test_id_is_checked_at_each_keystroke(embedded: dict[str, Any]) -> None:
    """The id is a ``live_text`` field: the page gets its value while the person types, and each value
    gives the field's issue (or none) at once, next to the field, and is kept in the draft."""
    widgets: dict[str, Any] = {}
    session = MetadataSession(widgets, StateKey.METADATA_DRAFT, "md_")
    session.load(md.LoadedResults("upload results.json", "fp-1", embedded))
    suggested = session.current().draft.id
    messages = []
    for typed in ("b", "bo", "bol", "bol zano", "bolzano"):  # what the field sends, pause by pause
        widgets["md_id"] = typed
        now = session.current()
        (field,) = [f for f in now.fields if f.key == "id"]
        assert field.kind == "live_text"
        messages.append([i.message for i in field.issues])
        assert now.draft.id == session.work.draft.id == typed
        assert now.evaluation.valid is (not messages[-1])
    assert "3 to 64 characters long (it has 1)" in messages[0][0]
    assert "3 to 64 characters long (it has 2)" in messages[1][0]
    assert messages[2] == [] and messages[4] == []
    assert "may only contain lowercase letters, digits" in messages[3][0] and "' '" in messages[3][0]
    del widgets["md_id"]  # a page change drops the widget value; the draft keeps the id
    assert session.current().draft.id == "bolzano" == widgets["md_id"]
    session.reset()
    assert "md_id" not in widgets and session.current().draft.id == suggested == widgets["md_id"]
