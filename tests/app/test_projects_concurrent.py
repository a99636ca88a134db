"""Ten sessions at once, each running Area -> Job submit against the embedded backend: no cross-talk.

Each session is its own AppTest, all alive in one process as Streamlit serves its sessions, stepped
round-robin (each step of the flow runs in every session before the next step starts, so ten jobs run on
the backend at once): module globals or ``st.cache_*`` holding a user's token, project or job would leak
between them here. Round-robin rather than threads: AppTest swaps process-wide objects (runtime, config,
script cache) around each run, and CPython 3.11's ``ast.parse`` is not thread-safe, so threaded AppTests
fail at random for reasons the app does not have under a real server.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from apex_core.jobs import cancel_job, recent_jobs
from apex_core.local.openeo.auth import AuthOptions
from apex_core.local.openeo.service import OpenEoBackendService, start_openeo_backend
from apex_core.projects import SqliteProjectStore
from apex_core.steps import StateKey
from tests.app.test_projects import APP, JOB, _button, _connect, _ok, _start_from_bolzano, _submit
from tests.conftest import traversable_tmpdir

SESSIONS = 10


@dataclass
class Session:
    name: str
    project: str
    job_id: str
    token: str
    state: dict[str, Any]
    con: Any


@pytest.fixture(scope="module")
def accounts() -> dict[str, str]:
    """Ten users of the backend, one per session, so each sign-in has its own token and its own jobs."""
    return {f"user{i}": secrets.token_urlsafe(12) for i in range(SESSIONS)}


@pytest.fixture(scope="module")
def backend(
    accounts: dict[str, str], openeo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenEoBackendService]:
    """The real embedded backend, with the ten accounts (the shared one knows only the demo account)."""
    service = start_openeo_backend(
        tmp_path_factory.mktemp("openeo-ten-users"), openeo_data_dir, auth=AuthOptions(basic_users=accounts)
    )
    yield service
    service.stop()


@pytest.fixture
def state_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = traversable_tmpdir("apex-projects-concurrent-")
    monkeypatch.setenv("APEX_STATE_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _steps(at: AppTest, user: str, password: str, found: dict[str, str]) -> Iterator[None]:
    """The flow of one session, one step per ``next()``: all sessions do each step before the next."""
    _ok(at.run())
    yield
    at.text_input(key="projects_new_name").set_value(f"project of {user}")
    _ok(_button(at, "New project").click().run())
    yield
    _start_from_bolzano(at)
    yield
    _ok(at.switch_page(JOB).run())
    yield
    found["token"] = _connect(at, user, password)
    yield
    found["job_id"] = _submit(at)
    yield
    _ok(at.run())  # one more run: the page follows the job and saves


def _session(at: AppTest, user: str, found: dict[str, str]) -> Session:
    state = {str(k): at.session_state[k] for k in at.session_state}
    return Session(
        f"project of {user}",
        str(at.session_state[StateKey.PROJECT].id),
        found["job_id"],
        found["token"],
        state,
        at.session_state["apex_job_con"],
    )


@pytest.mark.services
def test_ten_sessions_at_once_do_not_cross_talk(
    state_dir: Path,
    backend: OpenEoBackendService,
    accounts: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", backend.url)
    apps = {user: AppTest.from_file(APP, default_timeout=120) for user in accounts}
    found: dict[str, dict[str, str]] = {user: {} for user in accounts}
    flows = [_steps(apps[user], user, password, found[user]) for user, password in accounts.items()]
    while flows:  # round-robin: every live session takes its next step
        flows = [f for f in flows if next(f, StopIteration) is not StopIteration]
    sessions = [_session(at, user, found[user]) for user, at in apps.items()]
    try:
        assert len({s.project for s in sessions}) == SESSIONS
        assert len({s.job_id for s in sessions}) == SESSIONS
        assert len({s.token for s in sessions}) == SESSIONS, "each sign-in has its own token"
        for s, user in zip(sessions, accounts, strict=True):
            assert s.name == f"project of {user}"
            assert [j.id for j in recent_jobs(s.con)] == [s.job_id], "a session sees its user's job only"
        assert len({id(s.con) for s in sessions}) == SESSIONS, "each session has its own connection"
        store = SqliteProjectStore.in_state_dir(state_dir)
        for s in sessions:
            assert s.state[StateKey.PROJECT].name == s.name
            assert s.state[StateKey.JOB.value].id == s.job_id
            _, saved = store.get(s.project)
            assert saved.to_dict()[StateKey.JOB.value]["id"] == s.job_id  # its own job, saved in its project
            text = repr(s.state) + saved.to_json()
            others = [o for o in sessions if o is not s]
            assert not [o.name for o in others if o.token in text], "another session's token is visible"
            assert not [o.name for o in others if o.job_id in text], "another session's job is visible"
            assert not [o.name for o in others if o.project in text], "another session's project is visible"
        on_disk = b"".join(p.read_bytes() for p in state_dir.rglob("*") if p.is_file())
        for s in sessions:
            assert s.token.encode() not in on_disk and accounts[s.name.split()[-1]].encode() not in on_disk
    finally:
        for s in sessions:  # leave the shared backend's workers free for the other tests
            cancel_job(s.con, s.job_id)
