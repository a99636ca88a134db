"""AppTest of the Job page's create -> estimate -> rename -> start path, against the real embedded backend."""

from __future__ import annotations

import openeo
import pytest
from streamlit.testing.v1 import AppTest

from apex_core.flow import AreaChoice
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.steps import StateKey
from tests.apptest import ok, open_page
from tests.services import wait_until

pytestmark = pytest.mark.services

JOB = "pages/flow/2_job.py"
BOLZANO = {
    "type": "Polygon",
    "coordinates": [[[11.3, 46.47], [11.38, 46.47], [11.38, 46.51], [11.3, 46.51], [11.3, 46.47]]],
}
SEEDED = {StateKey.AREA.value: AreaChoice(BOLZANO, "Bolzano", "2022-06-12")}


def _connected(
    openeo_backend: OpenEoBackendService, credentials: tuple[str, str], **state: object
) -> AppTest:
    at = open_page(JOB, **{**SEEDED, **state})
    at.text_input(key="job_user").set_value(credentials[0])
    at.text_input(key="job_password").set_value(credentials[1])
    return ok(next(b for b in at.button if b.label == "Connect").click().run())


def _backend_job(openeo_backend: OpenEoBackendService, credentials: tuple[str, str], job_id: str) -> dict:
    con = openeo.connect(openeo_backend.url).authenticate_basic(*credentials)
    return dict(con.job(job_id).describe())


def test_create_see_the_estimate_rename_then_start(
    openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    at = _connected(openeo_backend, openeo_credentials)
    at.text_input(key="job_title").set_value("Bolzano, estimated first")
    ok(at.button(key="job_create").click().run())
    job = at.session_state[StateKey.JOB]
    assert job.status == "created"
    assert _backend_job(openeo_backend, openeo_credentials, job.id)["status"] == "created"
    estimates = [i.value for i in at.info if str(i.value).startswith("Estimate:")]
    assert len(estimates) == 1, [i.value for i in at.info]
    assert "about " in estimates[0]
    assert " of results" in estimates[0]
    assert "free" in estimates[0]
    assert not at.error

    # An empty title is refused at the field (the rename panel), and nothing is sent.
    at.text_input(key="job_rename_title").set_value("   ")
    ok(at.button(key="job_rename").click().run())
    assert not at.error  # nothing above the job: the page's error slot stays empty
    rename = next(e for e in at.expander if e.label == "Rename the job")
    at_field = "\n".join(str(e.value) for e in rename.error) + "\n".join(str(w.value) for w in rename.warning)
    assert "This value cannot be used" in at_field
    assert "A job title cannot be empty" in at_field
    assert "The processing job failed" not in at_field
    assert _backend_job(openeo_backend, openeo_credentials, job.id)["title"] == "Bolzano, estimated first"

    at.text_input(key="job_rename_title").set_value("Bolzano, renamed before the start")
    ok(at.button(key="job_rename").click().run())
    assert at.session_state[StateKey.JOB].title == "Bolzano, renamed before the start"
    assert (
        _backend_job(openeo_backend, openeo_credentials, job.id)["title"]
        == "Bolzano, renamed before the start"
    )
    assert not [w for e in at.expander if e.label == "Rename the job" for w in e.warning]

    ok(at.button(key="job_start").click().run())

    def followed() -> bool:
        if at.session_state["apex_job_follow"].done:
            return True
        ok(at.run())  # one rerun per poll: AppTest does not run run_every fragments
        return False

    wait_until(followed, timeout=120, every=0.3, what=lambda: at.session_state[StateKey.JOB])
    finished = at.session_state[StateKey.JOB]
    assert (finished.id, finished.status) == (job.id, "finished")
    assert finished.title == "Bolzano, renamed before the start"


def test_a_job_without_data_says_why_it_has_no_estimate(
    openeo_backend: OpenEoBackendService, openeo_credentials: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    at = _connected(
        openeo_backend, openeo_credentials, apex_area=AreaChoice(BOLZANO, "Bolzano", "2021-01-05")
    )
    ok(at.button(key="job_create").click().run())
    assert at.session_state[StateKey.JOB].status == "created"
    assert not [i for i in at.info if str(i.value).startswith("Estimate:")]
    errors = "\n".join(str(e.value) for e in at.error)
    assert "NoDataAvailable" in errors
    assert "Bolzano" in errors
    assert at.button(key="job_start")  # it can still be started (and will fail the same way)
    # The failure is not kept forever: once the job is changed (to a day with data), asking again
    # gives its estimate.
    job_id = at.session_state[StateKey.JOB].id
    con = openeo.connect(openeo_backend.url).authenticate_basic(*openeo_credentials)
    process = con.job(job_id).describe()["process"]
    load = next(n for n in process["process_graph"].values() if n["process_id"] == "load_collection")
    load["arguments"]["temporal_extent"] = ["2022-06-12", "2022-06-13"]
    con.patch(f"/jobs/{job_id}", json={"process": process}, expected_status=204)
    ok(at.run())
    assert not [i for i in at.info if str(i.value).startswith("Estimate:")]  # asked once, not each run
    ok(at.button(key="job_estimate_retry").click().run())
    estimates = [i.value for i in at.info if str(i.value).startswith("Estimate:")]
    assert len(estimates) == 1 and "about " in estimates[0], [i.value for i in at.info]
    assert not at.error
    assert not [b for b in at.button if b.key == "job_estimate_retry"]
