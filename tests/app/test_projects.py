"""AppTest of projects: the start screen, reopening a project by its URL id, secrets never stored."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from apex_core.flow import AreaChoice, JobOutcome
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.projects import SqliteProjectStore, project_work_folder
from apex_core.steps import StateKey
from tests.apptest import area_of
from tests.conftest import traversable_tmpdir
from tests.services import wait_until

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
AREA, JOB, METADATA = "pages/flow/1_area.py", "pages/flow/2_job.py", "pages/flow/4_metadata.py"


@pytest.fixture
def state_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state directory of its own (the project store and work folders), so the listing is this test's."""
    path = traversable_tmpdir("apex-projects-app-")
    monkeypatch.setenv("APEX_STATE_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def _app(project: str | None = None) -> AppTest:
    """A fresh browser session: the URL's ``?project=`` is all it knows."""
    at = AppTest.from_file(APP, default_timeout=60)
    if project is not None:
        at.query_params["project"] = project
    return _ok(at.run())


def _button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def _titles(at: AppTest) -> list[str]:
    return [str(t.value) for t in at.title]


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.info] + [m.value for m in at.success]
    return "\n".join(str(p) for p in parts + [w.value for w in at.warning] + [e.value for e in at.error])


def _new_project(at: AppTest, name: str) -> str:
    at.text_input(key="projects_new_name").set_value(name)
    _ok(_button(at, "New project").click().run())
    assert _titles(at) == ["Area"]
    project = str(at.session_state[StateKey.PROJECT].id)
    assert at.query_params["project"] == project
    return project


def _start_from_bolzano(at: AppTest) -> None:
    _ok(_button(at, "Start from Bolzano").click().run())
    assert area_of(at).place == "Bolzano"
    assert area_of(at).day == "2022-06-12"


def _connect(at: AppTest, user: str, password: str) -> str:
    """Sign in on the Job page; returns the session's bearer token (to search for it afterwards)."""
    at.text_input(key="job_user").set_value(user)
    at.text_input(key="job_password").set_value(password)
    _ok(_button(at, "Connect").click().run())
    bearer = str(at.session_state["apex_job_con"].auth.bearer)
    token = bearer.rsplit("/", 1)[-1]
    assert len(token) >= 8, "the backend gave no usable token"
    return token


def _submit(at: AppTest) -> str:
    _ok(_button(at, "Submit the NDVI job").click().run())
    job = at.session_state[StateKey.JOB]
    assert job.id, _texts(at)
    return str(job.id)


def _follow_until_finished(at: AppTest, deadline_s: float = 180.0) -> JobOutcome:
    """Rerun the Job page (AppTest runs no run_every fragment) until the follow is over."""

    def over() -> bool:
        follow = at.session_state["apex_job_follow"]
        if follow is None or follow.done:
            return True
        _ok(at.run())
        return False

    wait_until(over, deadline_s, every=0.5, what=lambda: f"job still {at.session_state[StateKey.JOB].status}")
    job: JobOutcome = at.session_state[StateKey.JOB]
    return job


def _bytes_under(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes()


def test_start_screen_new_rename_duplicate_delete(state_dir: Path) -> None:
    at = _app()
    assert _titles(at) == ["Projects"]
    assert "No project yet" in _texts(at)
    project = _new_project(at, "Kempen test")

    at = _app()  # another session: the start screen lists it with its step
    assert "**Kempen test**" in _texts(at) and "Next: Area · 0 of 5 steps done" in _texts(at)
    at.text_input(key=f"projects_name_{project}").set_value("Kempen, April")
    _ok(_button(at, "Save the name").click().run())
    assert "**Kempen, April**" in _texts(at)
    _ok(_button(at, "Duplicate").click().run())
    listed = SqliteProjectStore.in_state_dir(state_dir).list_recent()
    assert sorted(p.name for p in listed) == ["Kempen, April", "Kempen, April (copy)"]
    copy = next(p for p in listed if p.id != project)
    _ok(next(b for b in at.button if b.key == f"projects_delete_{copy.id}").click().run())
    assert [p.id for p in SqliteProjectStore.in_state_dir(state_dir).list_recent()] == [project]

    _ok(next(b for b in at.button if b.key == f"projects_open_{project}").click().run())
    assert _titles(at) == ["Area"] and at.query_params["project"] == project


def test_an_unknown_project_id_is_a_clear_message(state_dir: Path) -> None:
    at = _app("no-such-project")
    assert "Project not found" in _texts(at)
    assert _titles(at) == ["Projects"] and "project" not in at.query_params


def test_work_without_a_project_gets_one(state_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[StateKey.AREA] = AreaChoice(
        {"type": "Polygon", "coordinates": [[[11.3, 46.47], [11.35, 46.47], [11.35, 46.5], [11.3, 46.47]]]}
    )
    _ok(at.run())
    _ok(at.switch_page(AREA).run())
    project = at.query_params["project"]
    assert area_of(_app(project)).aoi == area_of(at).aoi is not None


@pytest.mark.services
def test_reopen_in_fresh_sessions_finds_the_work_and_no_token(
    state_dir: Path,
    openeo_backend: OpenEoBackendService,
    openeo_credentials: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend.url)
    at = _app()
    project = _new_project(at, "Bolzano NDVI")
    _start_from_bolzano(at)
    aoi = area_of(at).aoi
    _ok(at.switch_page(JOB).run())
    tokens = [_connect(at, *openeo_credentials)]
    job_id = _submit(at)

    # Session 2 (a reload while the job runs): the work is back; it signs in again and follows the job.
    at = _app(project)
    assert area_of(at).aoi == aoi and area_of(at).day == "2022-06-12"
    assert "apex_job_con" not in at.session_state
    _ok(at.switch_page(JOB).run())
    assert _button(at, "Connect")  # asked to authenticate again: no token was stored
    tokens.append(_connect(at, *openeo_credentials))
    job = _follow_until_finished(at)
    assert job.id == job_id and job.status == "finished", job
    folder = project_work_folder(state_dir, project)
    assert all(a.path.is_relative_to(folder) for a in job.assets), job.assets
    _ok(at.switch_page(METADATA).run())
    at.text_input(key="md_title").set_value("Bolzano NDVI, reopened")
    _ok(at.run())
    assert at.session_state[StateKey.METADATA_DRAFT].draft.title == "Bolzano NDVI, reopened"

    # Session 3: everything is back, down to the metadata edit; the stepper counts the done steps.
    at = _app(project)
    assert area_of(at).aoi == aoi and at.session_state[StateKey.JOB].id == job_id
    assert at.session_state[StateKey.JOB].status == "finished"
    _ok(at.switch_page(METADATA).run())
    assert at.text_input(key="md_title").value == "Bolzano NDVI, reopened"
    assert at.query_params["project"] == project

    # The tokens are nowhere on disk (the store, its WAL, the work folders) nor in the logs.
    files = list(_bytes_under(state_dir))
    assert any(p.name == "projects.sqlite3" for p, _ in files) and any(p.suffix == ".tif" for p, _ in files)
    assert any(job_id.encode() in data for _, data in files)  # the search does find what is there
    for token in tokens:
        assert not [p for p, data in files if token.encode() in data]
        assert token not in caplog.text


def test_two_tabs_on_one_project_do_not_overwrite_each_other(state_dir: Path) -> None:
    first = _app()
    project = _new_project(first, "Shared")
    second = _app(project)  # the same project in another tab
    aoi = {"type": "Polygon", "coordinates": [[[11.3, 46.47], [11.35, 46.47], [11.35, 46.5], [11.3, 46.47]]]}
    first.session_state[StateKey.AREA] = AreaChoice(day="2022-06-12")
    _ok(first.run())
    second.session_state[StateKey.AREA] = AreaChoice(aoi)
    _ok(second.run())  # its save is refused: the first tab saved meanwhile
    assert "Changed in another tab" in _texts(second)
    _, saved = SqliteProjectStore.in_state_dir(state_dir).get(project)
    assert saved.to_dict() == {StateKey.AREA.value: {"aoi": None, "place": None, "day": "2022-06-12"}}
    _ok(_button(second, "Keep my version").click().run())
    _, saved = SqliteProjectStore.in_state_dir(state_dir).get(project)
    # this tab's values, as it chose
    assert saved.to_dict() == {StateKey.AREA.value: {"aoi": aoi, "place": None, "day": None}}
    assert "Changed in another tab" not in _texts(second)

    first.session_state[StateKey.AREA] = dataclasses.replace(area_of(first), place="Bolzano")
    _ok(first.run())
    assert "Changed in another tab" in _texts(first)
    _ok(_button(first, "Load the saved version").click().run())
    assert area_of(first).aoi == aoi  # the other tab's values replaced this one's
    assert area_of(first).day != "2022-06-12" and area_of(first).place != "Bolzano"


def test_a_damaged_store_is_a_clear_message_and_the_work_stays(state_dir: Path) -> None:
    at = _app()
    project = _new_project(at, "Will be damaged")
    (state_dir / "projects.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (state_dir / f"projects.sqlite3{suffix}").unlink(missing_ok=True)
    at.session_state[StateKey.AREA] = AreaChoice(day="2022-06-12")
    _ok(at.run())
    assert "Saved work is damaged" in _texts(at)
    assert area_of(at).day == "2022-06-12"  # kept in the session
    fresh = _app(project)
    assert "Saved work is damaged" in _texts(fresh) and fresh.query_params["project"] == project
    assert (state_dir / "projects.sqlite3").read_bytes() == b"this is not a database" * 100


def test_two_replicas_share_projects_through_postgres(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two app replicas (each its own state directory) behind a load balancer, one PostgreSQL store:
    a project made on one reopens on the other."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS apex_projects")
    monkeypatch.setenv("APEX_PROJECT_STORE_URL", pg_url)
    replicas = [traversable_tmpdir("apex-replica-"), traversable_tmpdir("apex-replica-")]
    try:
        monkeypatch.setenv("APEX_STATE_DIR", str(replicas[0]))
        at = _app()
        project = _new_project(at, "Scaled out")
        at.session_state[StateKey.AREA] = AreaChoice(day="2022-06-12")
        _ok(at.run())
        monkeypatch.setenv("APEX_STATE_DIR", str(replicas[1]))
        other = _app(project)
        assert area_of(other).day == "2022-06-12"
        assert "**Scaled out** (open now)" in _texts(other)
        assert not [p for r in replicas for p in r.rglob("*.sqlite3")]  # no SQLite store was used
    finally:
        for path in replicas:
            shutil.rmtree(path, ignore_errors=True)
