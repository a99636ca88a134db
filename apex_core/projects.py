"""Projects: the work of one flow (AOI, day, job, preview, metadata edits, publish state), saved by id.

A project is addressed by a URL-safe random id (the app keeps it in the page URL), so a reload, a closed
tab or a restart of the app reopens the work. Its state is an explicit allowlist of session keys
(:data:`PERSISTED_KEYS`), encoded to JSON by a codec per key, and checked by a scrubber that never lets a
credential through: connection objects, tokens, passwords and client secrets are never stored, so a reopened
project asks to authenticate again where needed.

Two stores behind one small interface (:class:`ProjectStore`): SQLite in the state directory (default, one
row per project, WAL, one transaction per change) and PostgreSQL (``APEX_PROJECT_STORE_URL``) for several
app replicas behind a load balancer. Saves are atomic and carry an optimistic version check, so two tabs
never silently overwrite each other (:class:`~apex_core.errors.ProjectConflict`). Each project has its own
work folder (:func:`project_work_folder`), removed with it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import shutil
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from apex_core.config import Settings
from apex_core.errors import (
    ApexError,
    ProjectConflict,
    ProjectError,
    ProjectNotFound,
    ProjectSecretRefused,
    ProjectStoreCorrupt,
    ProjectStoreLocked,
)
from apex_core.flow import DERIVED, PERSISTED, Codec, JobOutcome, StateKey, WidgetPrefix
from apex_core.jobs import Follow, work_folder
from apex_core.steps import flow_status

__all__ = [
    "DERIVED_KEYS",
    "PERSISTED_KEYS",
    "SECRET_KEY_NAMES",
    "WIDGET_PREFIXES",
    "OpenProject",
    "PostgresProjectStore",
    "Project",
    "ProjectState",
    "ProjectStore",
    "SqliteProjectStore",
    "find_secrets",
    "new_project_id",
    "open_store",
    "project_work_folder",
]

logger = logging.getLogger(__name__)

_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_FINAL = ("finished", "error", "canceled")
_SQLITE_NAME = "projects.sqlite3"
MAX_NAME = 100

# --------------------------------------------------------------------------- what is stored

# The session keys a project keeps (:data:`apex_core.flow.PERSISTED`), each with its (encode, decode)
# codec. Nothing else is ever stored: not the openEO connection (it holds a token), not the catalogue
# tokens, not widget values (the pages reseed them from these).
PERSISTED_KEYS: dict[str, Codec] = {key.value: codec for key, codec in PERSISTED.items()}
# Session keys derived from the persisted ones (reset when another project is loaded).
DERIVED_KEYS: tuple[str, ...] = tuple(key.value for key in DERIVED)
# Widget keys of the pages: dropped when another project is loaded, so they reseed from its state.
WIDGET_PREFIXES: tuple[str, ...] = WidgetPrefix.of_steps()

# Projects saved before the Area step had one outcome (:class:`~apex_core.flow.AreaChoice`) hold its
# three parts under their own keys: the old key of each part of the area's JSON.
_OLD_AREA_KEYS = {"apex_aoi": "aoi", "apex_area_place": "place", "apex_area_date": "day"}


def _upgraded(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (a saved project's state) with the old three area keys as the one area value."""
    out = {k: v for k, v in data.items() if k not in _OLD_AREA_KEYS}
    old = {part: data[key] for key, part in _OLD_AREA_KEYS.items() if data.get(key) is not None}
    if old and StateKey.AREA.value not in out:
        out[StateKey.AREA.value] = old
    return out


# Keys whose values are credentials (compared lower-case, '-' as '_').
SECRET_KEY_NAMES = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "bearer",
        "authorization",
        "password",
        "passwd",
        "client_secret",
        "secret",
        "api_key",
        "apikey",
        "x_api_key",
        "cookie",
        "private_key",
    }
)
_SECRET_VALUES = (
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),  # an Authorization header value
)


def find_secrets(value: Any, path: str = "$") -> list[str]:
    """Where in ``value`` (JSON-like) a credential seems to be: secret-named keys, JWTs, header values."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}"
            if str(key).lower().replace("-", "_") in SECRET_KEY_NAMES and item not in (None, ""):
                found.append(where)
            else:
                found.extend(find_secrets(item, where))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found.extend(find_secrets(item, f"{path}[{i}]"))
    elif isinstance(value, str) and any(p.search(value) for p in _SECRET_VALUES):
        found.append(path)
    return found


@dataclass(frozen=True)
class ProjectState:
    """The persisted values of a project: allowlisted session keys, JSON-encoded, without credentials."""

    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_session(cls, session: Mapping[Any, Any]) -> ProjectState:
        """The allowlisted values of ``session``, encoded. A value that is not JSON or that carries a
        credential is left out (and logged by key name only, never by value)."""
        values: dict[str, Any] = {}
        for key, (encode, _decode) in PERSISTED_KEYS.items():
            if key not in session or session[key] is None:
                continue
            try:
                encoded = encode(session[key])
                json.dumps(encoded)
            except (TypeError, ValueError) as exc:  # not its outcome type, or not JSON
                logger.warning("Not saving %s: %s", key, type(exc).__name__)
                continue
            if find_secrets(encoded, key):
                logger.warning("Not saving %s: it looks like it holds a credential", key)
                continue
            if encoded is not None:
                values[key] = encoded
        return cls(values)

    @classmethod
    def from_json(cls, text: str) -> ProjectState:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a project's state must be a JSON object")
        return cls({k: v for k, v in _upgraded(data).items() if k in PERSISTED_KEYS})

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal states give equal text."""
        return json.dumps(dict(self.values), sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def to_session(self) -> dict[str, Any]:
        """The session values to restore: decoded, plus the live follow of a job that is not over."""
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            if key not in PERSISTED_KEYS:
                continue
            try:
                out[key] = PERSISTED_KEYS[key][1](value)
            except ApexError as exc:  # one unreadable value does not lose the rest of the project
                logger.warning("Not restoring %s: %s", key, exc.message)
        job = out.get(StateKey.JOB)
        if isinstance(job, JobOutcome) and job.status not in (*_FINAL, "created"):
            out[StateKey.JOB_FOLLOW.value] = Follow()  # the Job page follows it again (after connecting)
        return out

    def check(self) -> None:
        """Raise :class:`ProjectSecretRefused` when a value looks like a credential."""
        found = find_secrets(dict(self.values))
        if found:
            raise ProjectSecretRefused(
                "Refusing to store a value that looks like a credential at " + ", ".join(found[:3]) + ".",
                field=found[0],
            )

    def summary(self) -> tuple[str, str]:
        """(step, status) for the project list: the next step to do, and how far the work is."""
        session = self.to_session()
        statuses = flow_status(session)
        done = sum(s.done for s in statuses)
        step = next((s.step.title for s in statuses if not s.done), "Done")
        status = f"{done} of {len(statuses)} steps done"
        job = session.get(StateKey.JOB)
        if isinstance(job, JobOutcome) and job.status:
            status += f" · job {job.status}"
        return step, status


def new_project_id() -> str:
    """A URL-safe random id (72 bits)."""
    return secrets.token_urlsafe(9)


def _check_id(project_id: str) -> str:
    if not isinstance(project_id, str) or not _ID.fullmatch(project_id):
        raise ProjectNotFound(f"There is no project with the id {str(project_id)[:70]!r}.", field="project")
    return project_id


def project_work_folder(state_dir: Path, project_id: str) -> Path:
    """``<state_dir>/work/<project id>``: the project's downloads (the Job page's work folder)."""
    return work_folder(Path(state_dir), _check_id(project_id))[0]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _clean_name(name: str) -> str:
    text = " ".join(str(name).split())
    if not text:
        raise ProjectError("A project needs a name.", field="name")
    if len(text) > MAX_NAME:
        raise ProjectError(f"A project name has at most {MAX_NAME} characters.", field="name")
    return text


@dataclass(frozen=True)
class Project:
    """One project's row: what the list shows, and the version a save must match."""

    id: str
    name: str
    created: str
    updated: str
    version: int = 1
    step: str = "Area"
    status: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Project:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            created=str(data["created"]),
            updated=str(data["updated"]),
            version=int(data["version"]),
            step=str(data.get("step") or ""),
            status=str(data.get("status") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "updated": self.updated,
            "version": self.version,
            "step": self.step,
            "status": self.status,
        }


@dataclass(frozen=True)
class OpenProject:
    """The project open in a session (``StateKey.PROJECT``): which one, and what was last saved or loaded."""

    id: str
    name: str
    version: int
    saved: str  # the state's canonical JSON last saved or loaded: a rerun with the same state saves nothing

    @classmethod
    def of(cls, project: Project, saved: str) -> OpenProject:
        return cls(project.id, project.name, project.version, saved)


class ProjectStore(Protocol):
    """Where projects live. Every method is one transaction; errors are :class:`ProjectError`s."""

    def list_recent(self, limit: int = 50) -> list[Project]: ...

    def create(self, name: str, state: ProjectState | None = None) -> Project: ...

    def get(self, project_id: str) -> tuple[Project, ProjectState]: ...

    def save(self, project_id: str, state: ProjectState, expected_version: int) -> Project: ...

    def duplicate(self, project_id: str, name: str | None = None) -> Project: ...

    def delete(self, project_id: str) -> None: ...

    def rename(self, project_id: str, name: str) -> Project: ...


# --------------------------------------------------------------------------- the SQL stores

# Every statement is scoped to one owner (the last ``?``): a store sees its owner's projects only.
_SQL_LIST = (
    "SELECT id, name, created, updated, version, step, status FROM apex_projects "
    "WHERE owner = ? ORDER BY updated DESC LIMIT ?"
)
_SQL_ROW = (
    "SELECT id, name, created, updated, version, step, status FROM apex_projects WHERE id = ? AND owner = ?"
)
_SQL_GET = (
    "SELECT id, name, created, updated, version, step, status, state FROM apex_projects "
    "WHERE id = ? AND owner = ?"
)
_SQL_INSERT = (
    "INSERT INTO apex_projects (id, name, created, updated, version, step, status, state, owner) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_SAVE = (
    "UPDATE apex_projects SET state = ?, step = ?, status = ?, updated = ?, version = version + 1 "
    "WHERE id = ? AND version = ? AND owner = ?"
)
_SQL_DELETE = "DELETE FROM apex_projects WHERE id = ? AND owner = ?"
_SQL_RENAME = "UPDATE apex_projects SET name = ?, updated = ? WHERE id = ? AND owner = ?"
_COLUMNS = "id, name, created, updated, version, step, status"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS apex_projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    version INTEGER NOT NULL,
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT ''
)
"""
# Stores made before projects had owners: their projects become the shared ones (owner '').
_ADD_OWNER = "ALTER TABLE apex_projects ADD COLUMN owner TEXT NOT NULL DEFAULT ''"


def _rewrite_paths(value: Any, old: str, new: str) -> Any:
    """``value`` with every string that starts with the folder ``old`` moved under ``new``."""
    if isinstance(value, Mapping):
        return {k: _rewrite_paths(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_paths(v, old, new) for v in value]
    if isinstance(value, str) and (value == old or value.startswith(old + "/")):
        return new + value[len(old) :]
    return value


class _SqlStore:
    """The SQL both stores share (``?`` placeholders; the PostgreSQL store translates them).

    ``owner`` scopes every statement: the user name a sign-in proxy passes (``APEX_USER_HEADER``), or
    ``""`` (no identity: the projects everyone on the server shares). Another owner's project is
    "not found", never revealed.
    """

    work_root: Path
    owner: str = ""

    def _transaction(self, write: bool) -> AbstractContextManager[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _where(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _row(self, row: Sequence[Any]) -> Project:
        try:
            return Project.from_dict(dict(zip(_COLUMNS.split(", "), row, strict=True)))
        except (TypeError, ValueError, KeyError) as exc:
            raise ProjectStoreCorrupt(f"The project {row[0]!r} is damaged in {self._where()}.") from exc

    def list_recent(self, limit: int = 50) -> list[Project]:
        """The newest-updated projects first. A damaged row is listed as damaged, not dropped."""
        with self._transaction(write=False) as cur:
            cur.execute(_SQL_LIST, (self.owner, int(limit)))
            rows = cur.fetchall()
        out = []
        for row in rows:
            try:
                out.append(self._row(row))
            except ProjectStoreCorrupt:
                logger.error("A damaged project row in %s", self._where())
                out.append(Project(str(row[0]), str(row[1] or "(damaged)"), "", "", 0, "", "damaged"))
        return out

    def create(self, name: str, state: ProjectState | None = None) -> Project:
        state = state or ProjectState()
        state.check()
        step, status = state.summary()
        now = _now()
        project = Project(new_project_id(), _clean_name(name), now, now, 1, step, status)
        with self._transaction(write=True) as cur:
            cur.execute(_SQL_INSERT, (*project.to_dict().values(), state.to_json(), self.owner))
        logger.info("Created project %s", project.id)
        return project

    def get(self, project_id: str) -> tuple[Project, ProjectState]:
        _check_id(project_id)
        with self._transaction(write=False) as cur:
            cur.execute(_SQL_GET, (project_id, self.owner))
            row = cur.fetchone()
        if row is None:
            raise ProjectNotFound(f"There is no project with the id {project_id!r}.", field="project")
        project = self._row(row[:-1])
        try:
            state = ProjectState.from_json(row[-1])
        except (TypeError, ValueError) as exc:
            raise ProjectStoreCorrupt(
                f"The saved state of the project {project.name!r} ({project_id}) is damaged in "
                f"{self._where()}.",
                field="project",
            ) from exc
        return project, state

    def save(self, project_id: str, state: ProjectState, expected_version: int) -> Project:
        """Replace the project's state, if its stored version is still ``expected_version``."""
        _check_id(project_id)
        state.check()
        step, status = state.summary()
        now = _now()
        with self._transaction(write=True) as cur:
            cur.execute(
                _SQL_SAVE,
                (state.to_json(), step, status, now, project_id, int(expected_version), self.owner),
            )
            changed = cur.rowcount
            cur.execute(_SQL_ROW, (project_id, self.owner))
            row = cur.fetchone()
        if row is None:
            raise ProjectNotFound(f"There is no project with the id {project_id!r}.", field="project")
        project = self._row(row)
        if changed != 1:
            raise ProjectConflict(
                f"The project {project.name!r} was saved meanwhile in another tab or session "
                f"(version {project.version}, this tab had {expected_version}).",
                field="project",
            )
        return project

    def duplicate(self, project_id: str, name: str | None = None) -> Project:
        """A new project with a copy of the state and of the work folder (paths moved into the copy)."""
        source, state = self.get(project_id)
        copy = self.create(name or f"{source.name} (copy)"[:MAX_NAME], ProjectState())
        old = project_work_folder(self.work_root, source.id)
        new = project_work_folder(self.work_root, copy.id)
        if old.is_dir():
            shutil.copytree(old, new, dirs_exist_ok=True)
        moved = ProjectState(_rewrite_paths(state.to_dict(), str(old), str(new)))
        return self.save(copy.id, moved, copy.version)

    def delete(self, project_id: str) -> None:
        """Remove the project and its work folder."""
        _check_id(project_id)
        with self._transaction(write=True) as cur:
            cur.execute(_SQL_DELETE, (project_id, self.owner))
            if cur.rowcount != 1:
                raise ProjectNotFound(f"There is no project with the id {project_id!r}.", field="project")
        shutil.rmtree(project_work_folder(self.work_root, project_id), ignore_errors=True)
        logger.info("Deleted project %s", project_id)

    def rename(self, project_id: str, name: str) -> Project:
        _check_id(project_id)
        clean = _clean_name(name)
        with self._transaction(write=True) as cur:
            cur.execute(_SQL_RENAME, (clean, _now(), project_id, self.owner))
            cur.execute(_SQL_ROW, (project_id, self.owner))
            row = cur.fetchone()
        if row is None:
            raise ProjectNotFound(f"There is no project with the id {project_id!r}.", field="project")
        return self._row(row)


class SqliteProjectStore(_SqlStore):
    """Projects in ``<state_dir>/projects.sqlite3``: one row each, WAL, one transaction per change.

    A connection per operation (sessions run in threads). A damaged file raises
    :class:`ProjectStoreCorrupt` and is never overwritten; a lock held longer than ``lock_timeout``
    raises :class:`ProjectStoreLocked`.
    """

    def __init__(self, path: Path, work_root: Path, *, lock_timeout: float = 5.0, owner: str = "") -> None:
        self.path = Path(path)
        self.work_root = Path(work_root)
        self.owner = owner
        self.lock_timeout = lock_timeout
        self._ready = False

    @classmethod
    def in_state_dir(
        cls, state_dir: Path, *, lock_timeout: float = 5.0, owner: str = ""
    ) -> SqliteProjectStore:
        return cls(Path(state_dir) / _SQLITE_NAME, Path(state_dir), lock_timeout=lock_timeout, owner=owner)

    def _where(self) -> str:
        return str(self.path)

    def _error(self, exc: sqlite3.Error) -> ProjectError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return ProjectStoreLocked(
                f"The project store {self.path} is locked by another process "
                f"(waited {self.lock_timeout:g} s)."
            )
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return ProjectStoreCorrupt(f"The project store {self.path} is damaged: {text}.")
        if "malformed" in text or "not a database" in text:
            return ProjectStoreCorrupt(f"The project store {self.path} is damaged: {text}.")
        return ProjectError(f"The project store {self.path} cannot be used: {text}.")

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Cursor]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=self.lock_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ProjectError(f"The project store {self.path} cannot be opened: {exc}.") from exc
        try:
            if not self._ready:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute(_SCHEMA)
                columns = {row[1] for row in con.execute("PRAGMA table_info(apex_projects)")}
                if "owner" not in columns:
                    con.execute(_ADD_OWNER)
                self._ready = True
            cur = con.cursor()
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cur
            except BaseException:
                con.rollback()
                raise
            con.commit()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            con.close()


class PostgresProjectStore(_SqlStore):
    """Projects in a PostgreSQL table (``APEX_PROJECT_STORE_URL``), shared by several app replicas.

    Work folders stay on the replica's disk under ``work_root``. The URL may carry a password: it is
    never logged nor shown (errors name the host only).
    """

    def __init__(
        self,
        url: str,
        work_root: Path,
        *,
        lock_timeout: float = 5.0,
        connect_timeout: int = 10,
        owner: str = "",
    ) -> None:
        self.url = url
        self.work_root = Path(work_root)
        self.owner = owner
        self.lock_timeout = lock_timeout
        self.connect_timeout = connect_timeout
        self._ready = False

    def _where(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"the PostgreSQL project store at {parts.hostname}:{parts.port or 5432}{parts.path}"

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        import psycopg
        from psycopg import errors as pg_errors

        try:
            con = psycopg.connect(self.url, connect_timeout=self.connect_timeout)
        except psycopg.Error as exc:
            raise ProjectError(f"Cannot connect to {self._where()}: {type(exc).__name__}.") from exc
        try:
            with con:
                if not self._ready:
                    con.execute(_SCHEMA)
                    con.execute(_ADD_OWNER.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS"))
                    con.commit()
                    self._ready = True
                con.execute(f"SET lock_timeout = {int(self.lock_timeout * 1000)}")
                with con.cursor() as cur:
                    yield _PgCursor(cur)
        except (pg_errors.LockNotAvailable, pg_errors.QueryCanceled) as exc:
            raise ProjectStoreLocked(
                f"{self._where()} is locked by another session (waited {self.lock_timeout:g} s)."
            ) from exc
        except (pg_errors.DataCorrupted, pg_errors.IndexCorrupted) as exc:
            raise ProjectStoreCorrupt(f"{self._where()} reports damaged data.") from exc
        except psycopg.Error as exc:
            raise ProjectError(f"{self._where()} failed: {type(exc).__name__}: {exc}".strip()) from exc


class _PgCursor:
    """A psycopg cursor taking ``?`` placeholders."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(sql.replace("?", "%s"), tuple(params))

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)


def open_store(settings: Settings, owner: str = "") -> ProjectStore:
    """The store the settings name (PostgreSQL at ``project_store_url``, else SQLite in ``state_dir``),
    seeing ``owner``'s projects only (``""``: the shared ones)."""
    if settings.project_store_url:
        return PostgresProjectStore(settings.project_store_url, settings.state_dir, owner=owner)
    return SqliteProjectStore.in_state_dir(settings.state_dir, owner=owner)
