"""Ten sessions at once, each running Area -> Job submit against the embedded backend: no cross-talk.

Each session is its own AppTest in its own thread, in one process, as Streamlit serves its sessions:
module globals or ``st.cache_*`` holding a user's token, project or job would leak between them here.
"""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from streamlit import config
from streamlit.runtime import Runtime
from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module
from streamlit.testing.v1.util import build_mock_config_get_option

from apex_core.jobs import cancel_job, recent_jobs
from apex_core.local.openeo.auth import AuthOptions
from apex_core.local.openeo.service import OpenEoBackendService, start_openeo_backend
from apex_core.projects import SqliteProjectStore
from apex_core.steps import StateKey
from tests.app.test_projects import APP, JOB, _button, _connect, _ok, _start_from_bolzano, _submit
from tests.conftest import traversable_tmpdir
from tests.local.conftest import openeo_data_dir

__all__ = ["openeo_data_dir"]

SESSIONS = 10


@dataclass
class Session:
    name: str
    project: str
    job_id: str
    token: str
    state: dict[str, Any]
    con: Any


class _SharedRuntime:
    """AppTest installs a mock ``Runtime`` for each run and clears it when the run ends, which would pull
    it from under the other sessions' runs; here one mock serves them all (the app sees no difference)."""

    _instance: Any = None


@pytest.fixture
def shared_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """One runtime, one script cache and one config for all sessions, as a Streamlit server has. AppTest
    swaps these process globals around each run, which concurrent runs would undo under each other (and
    compiling the same script in ten threads at once trips CPython 3.11's ast.parse)."""
    mock = MagicMock(spec=Runtime)
    mock.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    mock.cache_storage_manager = MemoryCacheStorageManager()
    monkeypatch.setattr(app_test_module, "Runtime", _SharedRuntime)
    monkeypatch.setattr(Runtime, "_instance", mock)
    cache = ScriptCache()
    monkeypatch.setattr(app_test_module, "ScriptCache", lambda: cache)
    monkeypatch.setattr(config, "get_option", build_mock_config_get_option({"global.appTest": True}))
    monkeypatch.setattr(app_test_module, "patch_config_options", lambda _overrides: nullcontext())


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


def _flow(user: str, password: str, start: threading.Barrier) -> Session:
    name = f"project of {user}"
    at = AppTest.from_file(APP, default_timeout=120)
    start.wait(timeout=60)  # all sessions run their steps at the same time
    _ok(at.run())
    at.text_input(key="projects_new_name").set_value(name)
    _ok(_button(at, "New project").click().run())
    project = str(at.session_state["apex_project"]["id"])
    _start_from_bolzano(at)
    _ok(at.switch_page(JOB).run())
    token = _connect(at, user, password)
    job_id = _submit(at)
    _ok(at.run())  # one more run: the page follows the job and saves
    state = {str(k): at.session_state[k] for k in at.session_state}
    return Session(name, project, job_id, token, state, at.session_state["apex_job_con"])


@pytest.mark.services
def test_ten_sessions_at_once_do_not_cross_talk(
    state_dir: Path,
    shared_runtime: None,
    backend: OpenEoBackendService,
    accounts: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APEX_OPENEO_URL", backend.url)
    start = threading.Barrier(SESSIONS)
    with ThreadPoolExecutor(SESSIONS) as pool:
        futures = [pool.submit(_flow, u, pw, start) for u, pw in accounts.items()]
        sessions = [f.result(timeout=300) for f in futures]
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
            assert s.state["apex_project"]["name"] == s.name
            assert s.state[StateKey.JOB.value]["id"] == s.job_id
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
