"""AppTest of the Job page: connect, submit, follow to the end, download, re-attach; real backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apex_core.flow import AreaChoice, JobOutcome
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.steps import StateKey
from tests.apptest import open_page
from tests.services import wait_until

APP = str(Path(__file__).resolve().parents[2] / "app.py")
JOB = "pages/flow/2_job.py"
BOLZANO = {
    "type": "Polygon",
    "coordinates": [[[11.3, 46.47], [11.38, 46.47], [11.38, 46.51], [11.3, 46.51], [11.3, 46.47]]],
}
SEEDED = {StateKey.AREA.value: AreaChoice(BOLZANO, "Bolzano", "2022-06-12")}


def _job_page(**state: object) -> AppTest:
    return open_page(JOB, **state)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.success] + [m.value for m in at.error]
    return "\n".join(str(p) for p in parts + [w.value for w in at.warning] + [c.value for c in at.code])


def _connect(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input(key="job_user").set_value(user)
    at.text_input(key="job_password").set_value(password)
    next(b for b in at.button if b.label == "Connect").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _run_until_settled(at: AppTest, deadline_s: float = 120.0) -> JobOutcome:
    """Rerun the page (AppTest does not run run_every fragments) until the job is over and handled."""

    def settled() -> bool:
        follow = at.session_state["apex_job_follow"]
        if follow is None or follow.done:
            return True
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        return False

    wait_until(settled, deadline_s, every=0.3, what=lambda: f"job {at.session_state[StateKey.JOB]}")
    job: JobOutcome = at.session_state[StateKey.JOB]
    return job


@pytest.fixture
def page(openeo_backend: OpenEoBackendService, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    return _job_page(**SEEDED)


def test_job_page_asks_for_the_area_first() -> None:
    at = _job_page()
    assert "Choose the area and the day on the Area page first" in _texts(at)


@pytest.mark.services
def test_wrong_password_is_a_clear_message(page: AppTest) -> None:
    _connect(page, "demo", "not-the-password")
    assert page.session_state["apex_job_con"] is None if "apex_job_con" in page.session_state else True
    assert page.error, _texts(page)


@pytest.mark.services
def test_connect_submit_follow_download(page: AppTest, openeo_credentials: tuple[str, str]) -> None:
    at = _connect(page, *openeo_credentials)
    text = _texts(at)
    assert "APEx embedded openEO backend" in text
    assert "version" in text
    assert '"process_id": "resample_spatial"' in text
    assert "s2_cube.ndvi()" in text
    assert at.text_input(key="job_title").value == "APEx Demo - Bolzano - NDVI"
    at.button(key="job_submit").click().run()
    assert not at.exception, [e.message for e in at.exception]
    running = at.session_state[StateKey.JOB]
    assert isinstance(running, JobOutcome) and running.id and running.status and running.title
    job = _run_until_settled(at)
    assert job.status == "finished", _texts(at)
    assert job.title == "APEx Demo - Bolzano - NDVI"
    assert [a.path.is_file() for a in job.assets] == [True]
    assert str(job.assets[0].datetime).startswith("2022-06-12")
    assert job.metadata_path is not None and job.metadata_path.is_file()
    assert "2 of 5 steps done" in at.get("progress")[0].proto.text
    assert "Job finished; 1 result file(s) downloaded" in _texts(at)

    # The connection choice (not the password) and the job survive moving between pages.
    at.switch_page("pages/flow/1_area.py").run()
    at.switch_page(JOB).run()
    assert at.session_state[StateKey.JOB] == job
    assert at.session_state["apex_job_choice"]["kind"] == "basic"
    assert "password" not in at.session_state["apex_job_choice"]

    # The job is among the account's recent jobs.
    at.button(key="job_list").click().run()
    assert any(job.id in o for o in at.selectbox(key="job_recent_pick").options)

    # Re-attach by id.
    at.text_input(key="job_attach_id").set_value(job.id)
    at.button(key="job_attach").click().run()
    again = _run_until_settled(at)
    assert again.status == "finished"
    assert again.id == job.id


@pytest.mark.services
def test_bad_job_id_is_a_clear_message(page: AppTest, openeo_credentials: tuple[str, str]) -> None:
    at = _connect(page, *openeo_credentials)
    at.text_input(key="job_attach_id").set_value("j-nosuchjob")
    at.button(key="job_attach").click().run()
    assert "no job 'j-nosuchjob'" in _texts(at)
    assert StateKey.JOB not in at.session_state or at.session_state[StateKey.JOB] is None


@pytest.mark.services
def test_failing_job_shows_the_backend_code(
    openeo_backend: OpenEoBackendService, monkeypatch: pytest.MonkeyPatch, openeo_credentials: tuple[str, str]
) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    outside = {
        "type": "Polygon",
        "coordinates": [[[-15.6, 27.9], [-15.5, 27.9], [-15.5, 28.0], [-15.6, 27.9]]],
    }
    at = _connect(
        _job_page(**{StateKey.AREA.value: AreaChoice(outside, "Bolzano", "2022-06-12")}), *openeo_credentials
    )
    at.button(key="job_submit").click().run()
    job = _run_until_settled(at)
    assert job.status == "error"
    assert "NoDataAvailable" in _texts(at)
    assert "1 of 5 steps done" in at.get("progress")[0].proto.text


ROMANIA = {
    "type": "Polygon",
    "coordinates": [
        [[22.146, 45.202], [22.158, 45.202], [22.158, 45.208], [22.146, 45.208], [22.146, 45.202]]
    ],
}


@pytest.mark.services
def test_a_range_offers_the_cloud_mask_and_composites_in_the_graph_shown(
    openeo_backend: OpenEoBackendService, monkeypatch: pytest.MonkeyPatch, openeo_credentials: tuple[str, str]
) -> None:
    """What is shown is what is submitted: the range, the SCL mask and the composite in the graph and in
    the Python snippet."""
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    at = _connect(
        _job_page(**{StateKey.AREA.value: AreaChoice(ROMANIA, "Romania", "2019-06-01", "2019-08-31")}),
        *openeo_credentials,
    )
    text = _texts(at)
    assert '"2019-06-01"' in text and '"2019-09-01"' in text  # [start, end + 1 day)
    assert '"process_id": "mask"' not in text and '"process_id": "reduce_dimension"' not in text
    at.checkbox(key="job_mask").check().run()
    at.radio(key="job_composite").set_value("Maximum NDVI composite").run()
    assert not at.exception, [e.message for e in at.exception]
    text = _texts(at)
    assert '"process_id": "mask"' in text and '"process_id": "reduce_dimension"' in text
    assert '"SCL"' in text and '"process_id": "max"' in text
    assert "reduce_dimension" in next(c.value for c in at.code if "import openeo" in c.value)
    one_day = _job_page(**{StateKey.AREA.value: AreaChoice(ROMANIA, "Romania", "2019-06-01")})
    assert not [r for r in one_day.radio if r.key == "job_composite"]  # a composite needs a range


@pytest.mark.services
def test_an_area_without_scl_says_the_cloud_mask_is_unavailable(
    openeo_backend: OpenEoBackendService, monkeypatch: pytest.MonkeyPatch, openeo_credentials: tuple[str, str]
) -> None:
    """Kempen's data (four bands, no scene classification) cannot be masked: the box is off and the page
    says why; Romania's can."""
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    at = open_page("pages/flow/1_area.py")
    next(b for b in at.button if b.label == "Start from Kempen").click().run()
    kempen = at.session_state[StateKey.AREA]
    at = _connect(_job_page(**{StateKey.AREA.value: kempen}), *openeo_credentials)
    box = at.checkbox(key="job_mask")
    assert box.disabled and box.value is False
    assert any("cloud mask is unavailable for Kempen" in str(c.value) for c in at.caption)
    at = _connect(
        _job_page(**{StateKey.AREA.value: AreaChoice(ROMANIA, "Romania", "2019-06-01", "2019-08-31")}),
        *openeo_credentials,
    )
    assert not at.checkbox(key="job_mask").disabled
    assert not any("cloud mask is unavailable" in str(c.value) for c in at.caption)
