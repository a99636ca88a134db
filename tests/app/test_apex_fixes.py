"""AppTest: a real CDSE land-cover result becomes APEx-ready on the Metadata page through its fixes.

The recorded CDSE job (``../shared/fixtures/cdse-2026-04/firenze-cog``) has no items (their signed links
expired), a temporal extent of ``[null, null]``, STAC 1.0 fields and no ``file:size``; its GeoTIFF is
re-attached as a file made here like the real one (uint8 WorldCover classes, nodata 0, EPSG:4326, 512 px
tiles, overviews): the page proposes the extent from the file name, applies every fix in one click, and
says "APEx-ready"; the Publish step then gets the report, the re-host choice and the attached file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from apex_core import metadata as md
from apex_core.flow import MetadataOutcome, MetadataWork, StateKey
from pages.common.metadata import MetadataSession
from tests.apptest import ok, open_page
from tests.services import shared_fixture
from tests.stacdocs import write_land_cover_geotiff

METADATA = "pages/flow/4_metadata.py"


def _work(name: str, tmp_path: Path, attach: bool) -> tuple[MetadataWork, dict[str, Any]]:
    results = json.loads(shared_fixture(f"cdse-2026-04/{name}/job-results.json").read_text())
    job = json.loads(shared_fixture(f"cdse-2026-04/{name}/job.json").read_text())
    state: dict[str, Any] = {}
    session = MetadataSession(state, StateKey.METADATA_DRAFT, "md_")
    loaded = md.LoadedResults(f"upload {name}", f"fp-{name}", results, process=job["process"])
    session.load(loaded)
    if attach:
        key, asset = next(iter(results["assets"].items()))
        w, s, e, n = asset["proj:bbox"]
        pub = md.publishable(session.work.draft, results)  # type: ignore[arg-type]
        session.attach(
            pub, asset["href"], key, write_land_cover_geotiff(tmp_path / "upload.tif", (w, s, e, n))
        )
    return session.work, results


def _click(at: AppTest, key: str) -> AppTest:
    return ok(at.button(key=key).click().run())


def _outcome(at: AppTest) -> MetadataOutcome:
    outcome = at.session_state[StateKey.METADATA]
    assert isinstance(outcome, MetadataOutcome)
    return outcome


@pytest.mark.parametrize("name", ["firenze-cog", "roma-cog"])
def test_a_cdse_land_cover_result_becomes_apex_ready(name: str, tmp_path: Path) -> None:
    work, results = _work(name, tmp_path, attach=True)
    at = open_page(METADATA, **{StateKey.METADATA_DRAFT: work})
    # The extent is missing: the page proposes the file name's date and the form blocks until then.
    assert any("Proposed from the dates in the result file names" in str(i.value) for i in at.info)
    assert not _outcome(at).valid
    at = _click(at, "md_use_proposal")
    assert at.session_state[StateKey.METADATA_DRAFT].draft.interval == ("2021-01-01T00:00:00Z",) * 2
    before = _outcome(at)
    assert before.apex is not None and not before.apex_ready
    failing = {r.rule for r in before.apex.failures}
    assert {"STAC-REC-04", "METADATA-REC-07"} <= failing
    assert any("Not APEx-ready yet" in str(w.value) for w in at.warning)
    at = _click(at, "md_fix_all")
    after = _outcome(at)
    assert after.apex is not None and after.apex_ready, [r.to_dict() for r in after.apex.failures]
    assert after.valid and any("APEx-ready" in str(s.value) for s in at.success)
    (item,) = after.items
    (asset,) = item["assets"].values()
    assert [b["name"] for b in asset["bands"]] == ["MAP"] and asset["bands"][0]["nodata"] == 0
    assert asset["file:size"] == (tmp_path / "upload.tif").stat().st_size
    assert [c["title"] for c in asset["classification:classes"]][:2] == ["Tree cover", "Shrubland"]
    assert after.rehost  # the COG fix: the Publish page re-hosts, from the attached file
    href = next(iter(results["assets"].values()))["href"]
    assert dict(after.local_files) == {href: tmp_path / "upload.tif"}
    # The outcome survives its codec (a saved project opens with the report).
    assert MetadataOutcome.from_dict(json.loads(json.dumps(after.to_dict()))) == after
    at = ok(at.switch_page("pages/flow/5_publish.py").run())
    assert any("APEx-ready: every APEx rule that applies holds" in str(c.value) for c in at.caption)


def test_without_the_file_the_report_asks_for_it(tmp_path: Path) -> None:
    work, _results = _work("firenze-cog", tmp_path, attach=False)
    at = open_page(METADATA, **{StateKey.METADATA_DRAFT: work})
    at = _click(_click(at, "md_use_proposal"), "md_fix_all")
    report = _outcome(at).apex
    assert report is not None and not report.ready
    asks = {(r.rule, r.ask) for r in report.failures}
    assert asks == {("STAC-REC-08", "file"), ("STAC-REC-10", "file"), ("STAC-REC-12", "file"),
                    ("METADATA-REC-07", "render")}  # fmt: skip
    assert all(r.fix is None for r in report.failures)  # nothing left the app can do alone
    assert any("fill in: file" in str(c.value) for c in at.caption)
    at = ok(at.switch_page("pages/flow/5_publish.py").run())
    (warning,) = [w for w in at.warning if "Not APEx-ready" in str(w.value)]
    assert "METADATA-REC-07, STAC-REC-08, STAC-REC-10, STAC-REC-12" in str(warning.value)


def test_the_statistics_job_needs_only_its_dates(tmp_path: Path) -> None:
    """No raster: no proposal (no date anywhere), the person types the year; then items from the CSV
    and JSON files, with their media types, and no NaN left."""
    work, _results = _work("firenze-stats", tmp_path, attach=False)
    at = open_page(METADATA, **{StateKey.METADATA_DRAFT: work})
    assert not any("Proposed" in str(i.value) for i in at.info)
    at.text_input(key="md_start").set_value("2021-01-01T00:00:00Z")
    at.text_input(key="md_end").set_value("2021-12-31T23:59:59Z")
    at = ok(at.run())
    assert not _outcome(at).apex_ready
    at = _click(at, "md_fix_all")
    after = _outcome(at)
    assert after.apex_ready and after.valid
    types = {a["type"] for item in after.items for a in item["assets"].values()}
    assert types == {"text/csv", "application/json"}
    json.dumps([after.collection, *after.items], allow_nan=False)
