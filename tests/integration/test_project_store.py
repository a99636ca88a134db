"""The project stores (SQLite, and PostgreSQL on a private embedded cluster) through the same tests."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from apex_core.config import Settings
from apex_core.errors import (
    ApexError,
    ConfigError,
    ProjectConflict,
    ProjectError,
    ProjectNotFound,
    ProjectSecretRefused,
    ProjectStoreCorrupt,
    ProjectStoreLocked,
    user_message,
)
from apex_core.flow import AreaChoice, JobOutcome, PublishRun
from apex_core.jobs import Follow
from apex_core.local.process import free_port
from apex_core.projects import (
    PERSISTED_KEYS,
    PostgresProjectStore,
    ProjectState,
    ProjectStore,
    SqliteProjectStore,
    find_secrets,
    open_store,
    project_work_folder,
)
from apex_core.publish import PublishPlan, PublishResult, PublishState

AOI = {"type": "Polygon", "coordinates": [[[11.3, 46.47], [11.35, 46.47], [11.35, 46.5], [11.3, 46.47]]]}
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlZGl0b3IifQ.c2lnbmF0dXJlLXBhcnQ"


def _state(day: str = "2022-06-12", **extra: object) -> ProjectState:
    values: dict[str, object] = {"apex_area": {"aoi": AOI, "place": "Bolzano", "day": day}}
    values.update(extra)
    return ProjectState(values)


def _set_saved_state(store: ProjectStore, project_id: str, text: str) -> None:
    """Write a project's saved state as it is in the database, past the store's own encoding."""
    if isinstance(store, SqliteProjectStore):
        with sqlite3.connect(store.path) as con:
            con.execute("UPDATE apex_projects SET state = ? WHERE id = ?", (text, project_id))
    else:
        assert isinstance(store, PostgresProjectStore)
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute("UPDATE apex_projects SET state = %s WHERE id = %s", (text, project_id))


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., ProjectStore]:
    """A factory of stores on one fresh database: several instances play several app replicas/threads."""
    if request.param == "sqlite":
        return lambda **kw: SqliteProjectStore.in_state_dir(tmp_path, **kw)
    url = request.getfixturevalue("pg_url")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS apex_projects")
    return lambda **kw: PostgresProjectStore(url, tmp_path, **kw)


@pytest.fixture
def store(make_store: Callable[..., ProjectStore]) -> ProjectStore:
    return make_store()


def test_round_trip_and_listing(store: ProjectStore) -> None:
    project = store.create("Bolzano June", _state())
    assert project.version == 1 and project.step == "Job" and "1 of 5 steps done" in project.status
    again, state = store.get(project.id)
    assert again == project
    assert state.to_dict() == _state().to_dict()
    other = store.create("Second")
    assert [p.id for p in store.list_recent()] == [other.id, project.id]
    renamed = store.rename(project.id, "  Bolzano   July ")
    assert renamed.name == "Bolzano July"
    assert store.list_recent()[0].id == project.id


def test_save_bumps_the_version_and_a_stale_save_is_a_conflict(store: ProjectStore) -> None:
    project = store.create("p", _state())
    tab_a = store.save(project.id, _state(apex_job={"id": "j-1", "status": "running"}), project.version)
    assert tab_a.version == 2 and "job running" in tab_a.status
    with pytest.raises(ProjectConflict) as caught:  # tab B still has version 1
        store.save(project.id, _state(day="2022-06-13"), project.version)
    assert user_message(caught.value).title == "Changed in another tab"
    _, state = store.get(project.id)
    assert state.to_dict()["apex_job"]["id"] == "j-1"  # tab A's work, not overwritten
    assert state.to_dict()["apex_area"]["day"] == "2022-06-12"


def test_concurrent_saves_of_one_version_let_exactly_one_win(make_store: Callable[..., ProjectStore]) -> None:
    project = make_store().create("p", _state())
    outcomes: list[str] = []

    def save(day: str) -> None:
        try:
            make_store().save(project.id, _state(day=day), project.version)
            outcomes.append(day)
        except ProjectConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(f"2022-06-{10 + i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1 and outcomes.count("conflict") == 5
    saved, state = make_store().get(project.id)
    assert saved.version == 2 and state.to_dict()["apex_area"]["day"] == winners[0]


def test_a_refused_save_changes_nothing(store: ProjectStore) -> None:
    project = store.create("p", _state())
    with pytest.raises(ProjectSecretRefused):
        store.save(project.id, _state(apex_job={"id": "j", "access_token": "abc"}), project.version)
    saved, state = store.get(project.id)
    assert saved.version == 1 and state.to_dict() == _state().to_dict()


def test_duplicate_copies_state_and_work_folder(store: ProjectStore, tmp_path: Path) -> None:
    project = store.create("Original")
    folder = project_work_folder(tmp_path, project.id)
    (folder / "j-1").mkdir(parents=True)
    (folder / "j-1" / "ndvi.tif").write_bytes(b"II*\x00tiff")
    job = {
        "id": "j-1",
        "status": "finished",
        "assets": [{"key": "ndvi", "path": str(folder / "j-1/ndvi.tif")}],
    }
    project = store.save(project.id, _state(apex_job=job), project.version)
    copy = store.duplicate(project.id)
    assert copy.id != project.id and copy.name == "Original (copy)"
    _, state = store.get(copy.id)
    path = Path(state.to_dict()["apex_job"]["assets"][0]["path"])
    assert path == project_work_folder(tmp_path, copy.id) / "j-1" / "ndvi.tif"
    assert path.read_bytes() == b"II*\x00tiff"
    store.delete(project.id)  # the copy keeps its own files
    assert path.is_file()


def test_delete_removes_the_project_and_its_work_folder(store: ProjectStore, tmp_path: Path) -> None:
    keep, gone = store.create("keep"), store.create("gone")
    folder = project_work_folder(tmp_path, gone.id)
    folder.mkdir(parents=True)
    (folder / "result.tif").write_bytes(b"x")
    store.delete(gone.id)
    assert not folder.exists()
    assert [p.id for p in store.list_recent()] == [keep.id]
    with pytest.raises(ProjectNotFound):
        store.get(gone.id)
    with pytest.raises(ProjectNotFound):
        store.delete(gone.id)
    with pytest.raises(ProjectNotFound):
        store.get("../../etc")  # not an id: never a path


def test_names_are_checked(store: ProjectStore) -> None:
    with pytest.raises(ProjectError, match="needs a name"):
        store.create("   ")
    with pytest.raises(ProjectError, match="at most"):
        store.create("x" * 101)


def test_secrets_are_refused_by_the_store(store: ProjectStore) -> None:
    for bad in (
        {"apex_job_choice": {"kind": "basic", "password": "hunter2"}},
        {"apex_job": {"id": "j", "headers": {"Authorization": "Bearer abcdefghijkl"}}},
        {"apex_metadata_draft": {"draft": {"note": JWT}}},
        {"apex_published": {"refresh-token": "r"}},
    ):
        with pytest.raises(ProjectSecretRefused):
            store.create("p", ProjectState(bad))
    assert store.list_recent() == []


def test_session_values_are_an_allowlist_and_credentials_are_dropped() -> None:
    session = {
        "apex_area": AreaChoice(AOI),
        "apex_job_con": object(),  # the openEO connection: it holds a token
        "apex_catalogue_tokens": {"http://cat": JWT},
        "job_password": "hunter2",
        "apex_job_choice": {"kind": "token", "url": "http://b", "access_token": "tok-123"},
        "apex_job": JobOutcome("j-9", "running", "NDVI"),
    }
    state = ProjectState.from_session(session)
    assert set(state.to_dict()) == {"apex_area", "apex_job"}
    text = state.to_json()
    assert "hunter2" not in text and "tok-123" not in text and JWT not in text
    assert find_secrets({"flows": {"authorizationCode": {"tokenUrl": "https://x"}}}) == []


def test_a_running_job_is_followed_again_after_reopening() -> None:
    running = ProjectState({"apex_job": {"id": "j-1", "status": "queued"}}).to_session()
    assert isinstance(running["apex_job_follow"], Follow) and not running["apex_job_follow"].done
    finished = ProjectState({"apex_job": {"id": "j-1", "status": "finished"}}).to_session()
    assert "apex_job_follow" not in finished


def test_publish_run_round_trips_with_its_error_class() -> None:
    from apex_core.errors import CatalogueConflict

    plan = PublishPlan.from_dict(
        {
            "collection": {"id": "ndvi-bolzano", "type": "Collection"},
            "items": [],
            "collection_id": "ndvi-bolzano",
        }
    )
    result = PublishResult(
        PublishState.start("http://cat", plan), plan, CatalogueConflict("exists", status=409), ("n",)
    )
    session = {"apex_publish_run": PublishRun("ndvi-bolzano", result)}
    state = ProjectState.from_session(session)
    back = ProjectState.from_json(state.to_json()).to_session()["apex_publish_run"]
    assert isinstance(back, PublishRun) and back.base == "ndvi-bolzano" and back.result is not None
    assert isinstance(back.result.error, CatalogueConflict) and back.result.error.status == 409
    assert back.result.plan.collection_id == "ndvi-bolzano" and back.result.notes == ("n",)
    assert ProjectState.from_session({"apex_publish_run": back}).to_json() == state.to_json()
    assert set(PERSISTED_KEYS) >= {"apex_area", "apex_job", "apex_metadata_draft", "apex_publish_run"}


def test_a_damaged_row_fails_alone(store: ProjectStore, make_store: Callable[..., ProjectStore]) -> None:
    good, bad = store.create("good", _state()), store.create("bad", _state())
    _set_saved_state(store, bad.id, "{not json")
    with pytest.raises(ProjectStoreCorrupt) as caught:
        store.get(bad.id)
    assert "bad" in str(caught.value) and user_message(caught.value).title == "Saved work is damaged"
    assert {p.id for p in store.list_recent()} == {good.id, bad.id}
    assert store.get(good.id)[1].to_dict() == _state().to_dict()
    store.delete(bad.id)  # the way out the start screen offers
    assert [p.id for p in make_store().list_recent()] == [good.id]


def test_a_corrupt_sqlite_file_is_a_clear_error_and_is_never_overwritten(tmp_path: Path) -> None:
    store = SqliteProjectStore.in_state_dir(tmp_path)
    store.create("one", _state())
    store.create("two")
    # Keep a consistent copy, then damage the database file: its header no longer says SQLite.
    backup = tmp_path / "backup.sqlite3"
    with sqlite3.connect(store.path) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    data = bytearray(backup.read_bytes())
    data[:16] = b"garbage-garbage!"
    store.path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
    damaged = store.path.read_bytes()
    for action in (
        lambda s: s.list_recent(),
        lambda s: s.create("three"),
        lambda s: s.get("abcdefghijkl"),
    ):
        with pytest.raises(ProjectStoreCorrupt) as caught:
            action(SqliteProjectStore.in_state_dir(tmp_path))
        assert str(store.path) in caught.value.message
    assert store.path.read_bytes() == damaged  # never overwritten: the projects in it can be recovered
    shutil.copy(backup, store.path)
    assert sorted(p.name for p in SqliteProjectStore.in_state_dir(tmp_path).list_recent()) == ["one", "two"]


def test_a_locked_sqlite_file_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    store = SqliteProjectStore.in_state_dir(tmp_path, lock_timeout=0.2)
    project = store.create("one", _state())
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(ProjectStoreLocked) as caught:
            store.save(project.id, _state(day="2022-06-13"), project.version)
        assert user_message(caught.value).title == "Saved work is busy"
        with pytest.raises(ProjectStoreLocked):
            store.create("two")
        assert store.get(project.id)[1].to_dict() == _state().to_dict()  # WAL: reading goes on
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    saved = store.save(project.id, _state(day="2022-06-13"), project.version)
    assert saved.version == 2 and [p.id for p in store.list_recent()] == [project.id]


def test_a_locked_postgres_row_is_a_clear_error(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS apex_projects")
    store = PostgresProjectStore(pg_url, tmp_path, lock_timeout=0.2)
    project = store.create("one", _state())
    with psycopg.connect(pg_url) as holder:
        holder.execute("SELECT 1 FROM apex_projects WHERE id = %s FOR UPDATE", (project.id,))
        with pytest.raises(ProjectStoreLocked):
            store.save(project.id, _state(day="2022-06-13"), project.version)
        holder.rollback()
    assert store.save(project.id, _state(day="2022-06-13"), project.version).version == 2


def test_an_unreachable_postgres_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    store = PostgresProjectStore(f"postgresql://u:s3cret-pw@127.0.0.1:{free_port()}/x", tmp_path)
    with pytest.raises(ProjectError) as caught:
        store.list_recent()
    assert "s3cret-pw" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_each_owner_sees_only_their_projects(make_store: Callable[..., ProjectStore]) -> None:
    """Behind a sign-in proxy (APEX_USER_HEADER) every statement is scoped to the user: another user's
    project is "not found" for every operation, and the shared (no identity) projects are separate too."""
    alice, bob, shared = make_store(owner="alice"), make_store(owner="bob"), make_store()
    mine = alice.create("Alice's Bolzano", _state())
    common = shared.create("Team project")
    assert [p.id for p in alice.list_recent()] == [mine.id]
    assert [p.id for p in bob.list_recent()] == []
    assert [p.id for p in shared.list_recent()] == [common.id]
    for attempt in (
        lambda: bob.get(mine.id),
        lambda: bob.save(mine.id, _state(), mine.version),
        lambda: bob.rename(mine.id, "taken"),
        lambda: bob.duplicate(mine.id),
        lambda: bob.delete(mine.id),
        lambda: shared.get(mine.id),
        lambda: alice.get(common.id),
    ):
        with pytest.raises(ProjectNotFound):
            attempt()
    assert alice.get(mine.id)[0] == mine  # untouched by bob's attempts
    copy = alice.duplicate(mine.id)
    assert {p.id for p in alice.list_recent()} == {mine.id, copy.id} and bob.list_recent() == []


def test_a_store_made_before_owners_keeps_its_projects_as_shared(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "projects.sqlite3"
    with sqlite3.connect(path) as con:  # the table as the first release created it
        con.execute(
            "CREATE TABLE apex_projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, "
            "updated TEXT NOT NULL, version INTEGER NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, "
            "state TEXT NOT NULL)"
        )
        con.execute(
            "INSERT INTO apex_projects VALUES ('oldproject1', 'Old one', '2026-11-01T00:00:00Z', "
            "'2026-11-01T00:00:00Z', 3, 'Area', '', '{}')"
        )
    shared = SqliteProjectStore.in_state_dir(tmp_path)
    assert [(p.id, p.name, p.version) for p in shared.list_recent()] == [("oldproject1", "Old one", 3)]
    assert SqliteProjectStore.in_state_dir(tmp_path, owner="alice").list_recent() == []


def test_open_store_follows_the_setting(tmp_path: Path, pg_url: str) -> None:
    assert isinstance(open_store(Settings(state_dir=tmp_path)), SqliteProjectStore)
    settings = Settings.load(environ={"APEX_STATE_DIR": str(tmp_path), "APEX_PROJECT_STORE_URL": pg_url})
    assert isinstance(open_store(settings), PostgresProjectStore)
    assert "project_store_url" not in repr(settings) and settings.to_dict()["project_store_url"] == "***"
    with pytest.raises(ConfigError, match="APEX_PROJECT_STORE_URL"):
        Settings.load(environ={"APEX_PROJECT_STORE_URL": "https://example.org/db"})


def test_every_project_error_has_a_message() -> None:
    for exc in (
        ProjectConflict("x"),
        ProjectStoreCorrupt("x"),
        ProjectStoreLocked("x"),
        ProjectNotFound("x"),
    ):
        assert isinstance(exc, ApexError) and user_message(exc).title != "Something went wrong"
    assert json.loads(ProjectState().to_json()) == {}


def test_a_project_saved_before_the_typed_outcomes_opens_typed() -> None:
    """The JSON saved projects hold (plain dicts per key) decodes to the flow's typed outcomes."""
    from apex_core.flow import MetadataOutcome, PreviewOutcome, Published

    old = {
        "apex_aoi": AOI,
        "apex_area_place": "Bolzano",
        "apex_area_date": "2022-06-12",
        "apex_job": {
            "status": "finished",
            "id": "j-1",
            "title": "NDVI",
            "assets": [{"key": "a.tif", "path": "/w/j-1/a.tif", "datetime": None}],
            "metadata_path": "/w/j-1/job-results.json",
        },
        "apex_preview": {"job_id": "j-1", "asset_key": "a.tif", "path": "/w/j-1/a.tif", "statistics": {}},
        "apex_metadata": {"valid": True, "issues": [], "collection": {"id": "c"}, "items": []},
        "apex_published": {"collection_url": "http://cat/collections/c", "items": []},
        "apex_publish_run": {"base": "c"},
    }
    session = ProjectState.from_json(json.dumps(old)).to_session()
    assert session["apex_area"] == AreaChoice(AOI, "Bolzano", "2022-06-12")
    assert not {"apex_aoi", "apex_area_place", "apex_area_date"} & set(session)
    assert isinstance(session["apex_job"], JobOutcome) and session["apex_job"].finished
    assert isinstance(session["apex_preview"], PreviewOutcome)
    assert isinstance(session["apex_metadata"], MetadataOutcome) and session["apex_metadata"].valid
    assert isinstance(session["apex_published"], Published)
    assert session["apex_publish_run"] == PublishRun("c")
    assert ProjectState.from_session(session).to_dict()["apex_job"] == old["apex_job"]
    assert ProjectState.from_session(session).summary() == ("Done", "5 of 5 steps done · job finished")


def test_an_unreadable_saved_value_is_left_out_not_the_project() -> None:
    session = ProjectState({"apex_area": {"aoi": AOI}, "apex_job": {"status": "finished"}}).to_session()
    assert session == {"apex_area": AreaChoice(AOI)}
    session = ProjectState(
        {"apex_area": {"aoi": AOI, "day": "June"}, "apex_job": {"id": "j", "status": "finished"}}
    ).to_session()
    assert set(session) == {"apex_job"}


def test_a_project_saved_with_the_three_old_area_keys_opens_with_its_area(store: ProjectStore) -> None:
    """Before the Area step had one outcome, a project kept the AOI, place and day under three keys."""
    project = store.create("Bolzano June")
    old = {"apex_aoi": AOI, "apex_area_place": "Bolzano", "apex_area_date": "2022-06-12"}
    _set_saved_state(store, project.id, json.dumps({**old, "apex_job": {"id": "j-1", "status": "finished"}}))
    _, state = store.get(project.id)
    assert state.to_dict()["apex_area"] == {"aoi": AOI, "place": "Bolzano", "day": "2022-06-12"}
    session = state.to_session()
    assert session["apex_area"] == AreaChoice(AOI, "Bolzano", "2022-06-12") and session["apex_area"].ready
    assert not set(old) & set(session) and session["apex_job"].finished
    assert state.summary()[1].startswith("2 of 5 steps done")
    saved = store.save(project.id, ProjectState.from_session(session), project.version)  # saved anew
    assert saved.version == 2
    assert store.get(project.id)[1].to_dict()["apex_area"] == state.to_dict()["apex_area"]
    # Only some of the old keys (a day chosen, no area yet); the new key wins over old ones beside it.
    _set_saved_state(store, project.id, json.dumps({"apex_area_date": "2022-06-13"}))
    assert store.get(project.id)[1].to_session() == {"apex_area": AreaChoice(day="2022-06-13")}
    new = {"aoi": None, "place": None, "day": "2022-06-14"}
    _set_saved_state(store, project.id, json.dumps({"apex_area": new, "apex_area_date": "2022-06-13"}))
    assert store.get(project.id)[1].to_dict() == {"apex_area": new}
