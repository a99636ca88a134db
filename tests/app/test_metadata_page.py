"""AppTest: the Metadata page's form round trip on the recorded production document."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from apex_core import metadata as md
from apex_core.flow import JobOutcome, PreviewOutcome
from apex_core.steps import StateKey
from tests.apptest import open_page
from tests.services import shared_fixture

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
RECORDED = shared_fixture("apex_catalogue_collection_response.json")
METADATA = "pages/flow/4_metadata.py"
AREA = "pages/flow/1_area.py"


@pytest.fixture
def job(tmp_path: Path) -> JobOutcome:
    """The Job step's outcome: the results document on disk in the work folder."""
    path = tmp_path / "job-results.json"
    path.write_text(RECORDED.read_text())
    return JobOutcome("j-250313110405469ea3095a5b2b06ce85", "finished", metadata_path=path)


def _open(**state: Any) -> AppTest:
    return open_page(METADATA, **state)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert [t.value for t in at.title] == ["Metadata"]


def _type_id(at: AppTest, value: str) -> AppTest:
    """The id field sends its value while the person types (``live``: after a 250 ms pause, no Enter;
    typing itself is driven in tests/browser/test_metadata_in_chromium.py)."""
    box = at.text_input(key="md_id")
    assert box.proto.live_debounce_ms == 250
    return box.set_value(value).run()


def _progress(at: AppTest) -> str:
    return str(at.get("progress")[0].proto.text)


def test_without_results_the_page_says_so() -> None:
    at = _open()
    assert any("No job results yet" in str(i.value) for i in at.info)
    assert StateKey.METADATA.value not in at.session_state


def test_form_round_trip_survives_a_page_change(job: JobOutcome) -> None:
    at = _open(**{StateKey.JOB.value: job})
    assert at.text_input(key="md_title").value == "APEx Demo - Gran Canaria - NDVI"
    assert "2 of 5 steps done" in _progress(at)  # job finished + metadata valid as prefilled

    at.text_input(key="md_title").set_value("NDVI over Gran Canaria, 19 August 2019").run()
    at.selectbox(key="md_license").set_value("CC0-1.0").run()
    at.text_input(key="md_keywords").set_value("NDVI, Sentinel-2, Gran Canaria").run()
    _type_id(at, "gran_canaria_ndvi_2019")
    _ok(at)
    assert any("Valid STAC 1.1.0 collection" in str(s.value) for s in at.success)
    meta = at.session_state[StateKey.METADATA.value]
    assert meta.valid is True
    col = meta.collection
    assert (col["title"], col["license"]) == ("NDVI over Gran Canaria, 19 August 2019", "CC0-1.0")
    assert col["keywords"] == ["NDVI", "Sentinel-2", "Gran Canaria"]
    assert col["id"] == "gran_canaria_ndvi_2019"
    assert col["_auth"]["write"]
    assert meta.items == ()
    assert {c["key"] for c in meta.checklist} >= {"licence", "description", "expiry", "providers"}

    at.switch_page(AREA).run()
    assert [t.value for t in at.title] == ["Area"]
    assert "2 of 5 steps done" in _progress(at)
    at.switch_page(METADATA).run()
    _ok(at)
    assert at.text_input(key="md_title").value == "NDVI over Gran Canaria, 19 August 2019"
    assert at.selectbox(key="md_license").value == "CC0-1.0"
    assert at.text_input(key="md_keywords").value == "NDVI, Sentinel-2, Gran Canaria"
    assert at.text_input(key="md_id").value == "gran_canaria_ndvi_2019"
    assert at.session_state[StateKey.METADATA.value].collection["license"] == "CC0-1.0"
    assert at.session_state[StateKey.METADATA.value].collection["id"] == "gran_canaria_ndvi_2019"


def test_field_errors_show_next_to_the_field_and_block(job: JobOutcome) -> None:
    at = _open(**{StateKey.JOB.value: job})
    assert at.text_input(key="md_id").value == "apex_demo_gran_canaria_ndvi"
    _type_id(at, "gran canaria")
    at.text_input(key="md_auth_write").set_value("anonymous").run()
    _ok(at)
    errors = [str(e.value) for e in at.error]
    assert any("lowercase letters, digits" in e for e in errors)
    assert any("`anonymous` may never be in `_auth.write`" in e for e in errors)
    assert at.session_state[StateKey.METADATA.value].valid is False
    assert "1 of 5 steps done" in _progress(at)
    _type_id(at, "gran_canaria_ndvi")
    at.text_input(key="md_auth_write").set_value("apex-editor").run()
    assert at.session_state[StateKey.METADATA.value].valid is True
    assert at.session_state[StateKey.METADATA.value].collection["id"] == "gran_canaria_ndvi"


def test_reset_shows_the_loaded_id_again(job: JobOutcome) -> None:
    at = _open(**{StateKey.JOB.value: job})
    _type_id(at, "x")
    assert any("3 to 64 characters" in str(e.value) for e in at.error)
    next(b for b in at.button if b.label == "Reset the form to the loaded results").click().run()
    _ok(at)
    assert at.text_input(key="md_id").value == "apex_demo_gran_canaria_ndvi"
    assert at.session_state[StateKey.METADATA.value].valid is True
    assert not any("3 to 64 characters" in str(e.value) for e in at.error)


def test_preview_statistics_are_used(job: JobOutcome) -> None:
    stats = {"minimum": -0.3, "maximum": 0.9, "mean": 0.35, "stddev": 0.2, "valid_percent": 99.0}
    preview = PreviewOutcome("openEO.tif", Path("/w/openEO.tif"), statistics=stats)
    at = _open(**{StateKey.JOB.value: job, StateKey.PREVIEW.value: preview})
    col = at.session_state[StateKey.METADATA.value].collection
    (asset,) = col["assets"].values()
    assert asset["raster:bands"][0]["statistics"] == {k: v for k, v in preview.statistics.items()}
    assert json.dumps(col).count("-161") == 0


def test_add_and_remove_a_provider(job: JobOutcome) -> None:
    at = _open(**{StateKey.JOB.value: job})
    next(b for b in at.button if b.label == "Add provider").click().run()
    _ok(at)
    assert any("A provider needs a name" in str(e.value) for e in at.error)
    assert at.session_state[StateKey.METADATA.value].valid is False
    at.text_input(key="md_provider_1_name").set_value("ESA").run()
    at.multiselect(key="md_provider_1_roles").set_value(["host", "licensor"]).run()
    at.text_input(key="md_provider_1_url").set_value("https://www.esa.int").run()
    meta = at.session_state[StateKey.METADATA.value]
    assert meta.valid is True
    assert meta.collection["providers"][1] == {
        "name": "ESA",
        "roles": ["host", "licensor"],
        "url": "https://www.esa.int",
    }
    at.button(key="md_remove_0").click().run()
    _ok(at)
    assert [p["name"] for p in at.session_state[StateKey.METADATA.value].collection["providers"]] == ["ESA"]
    assert at.text_input(key="md_provider_0_name").value == "ESA"


def _count_calls(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> Counter[str]:
    """Count calls of the metadata functions ``names`` wherever the app's modules bound them, and of
    pystac's ``Collection.from_dict`` as ``"build"`` (each build of the collection makes one)."""
    import pystac

    calls: Counter[str] = Counter()

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    originals = {name: getattr(md, name) for name in names}
    wrappers = {name: counted(name, fn) for name, fn in originals.items()}
    for module in [m for n, m in sys.modules.items() if n.startswith(("apex_core", "pages"))]:
        for name, fn in originals.items():
            if getattr(module, name, None) is fn:
                monkeypatch.setattr(module, name, wrappers[name])
    build = counted("build", pystac.Collection.from_dict.__func__)  # type: ignore[attr-defined]
    monkeypatch.setattr(pystac.Collection, "from_dict", classmethod(build))
    return calls


def test_each_rerun_checks_and_builds_once(job: JobOutcome, monkeypatch: pytest.MonkeyPatch) -> None:
    """One keystroke reruns the page: the draft is checked once and the collection built once; the diff
    is made only while its expander is open, the zip only when the download is clicked."""
    at = _open(**{StateKey.JOB.value: job})
    calls = _count_calls(
        monkeypatch, ("check_draft", "validate_stac", "diff_against_results", "catalogue_zip")
    )
    at.text_input(key="md_title").set_value("NDVI over Gran Canaria").run()
    _ok(at)
    assert at.session_state[StateKey.METADATA.value].collection["title"] == "NDVI over Gran Canaria"
    assert dict(calls) == {"check_draft": 1, "build": 1, "validate_stac": 1}
    calls.clear()
    at.session_state["md_diff"] = True  # the person opens "Changes against the openEO results"
    at.run()
    _ok(at)
    assert dict(calls) == {"check_draft": 1, "build": 1, "validate_stac": 1, "diff_against_results": 1}
    assert any('+  "title": "NDVI over Gran Canaria",' in str(c.value) for c in at.code)
    calls.clear()
    at.session_state["md_diff"] = False

    def answered(hrefs: Iterable[str], timeout: float) -> tuple[md.Reachability, ...]:
        return tuple(md.Reachability(href, True, 200, "reachable") for href in hrefs)

    monkeypatch.setattr(md, "check_reachable", answered)
    next(b for b in at.button if b.label == "Check assets").click().run()  # one rerun shows the answers
    _ok(at)
    assert dict(calls) == {"check_draft": 1, "build": 1, "validate_stac": 1}
    assert any("**Assets reachable**: All assets answered." in str(m.value) for m in at.markdown)
