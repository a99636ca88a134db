"""openEO connection and batch jobs: connect, submit, follow, cancel, re-attach, download results.

Everything goes through the stock openeo client (``openeo.rest.connection.Connection``); its
``OpenEoApiError`` becomes :class:`~apex_core.errors.BackendError` (or :class:`JobError` for a job) with
the backend's ``code``, ``request_id`` and HTTP ``status``. The connection holds the credentials: the
caller keeps it per session and never persists it. Nothing here logs a token or password.

Downloads stream asset by asset through the connection (``con.get``) and report progress through a
callback; the client sends the backend's credentials only to the backend's API (signed or third-party
hrefs get none).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pendulum
import requests
from openeo.rest import OpenEoApiError, OpenEoApiPlainError, OpenEoClientException
from openeo.rest.auth.config import RefreshTokenStore
from openeo.rest.connection import Connection
from openeo.rest.models.logs import normalize_log_level
from openeo.rest.result import SaveResult

from apex_core.device import DeviceSignIn, Display
from apex_core.errors import (
    ApexError,
    AuthError,
    BackendError,
    InputError,
    JobError,
    ProcessGraphRefused,
    ServiceError,
    TokenExpired,
    UnauthorizedError,
)
from apex_core.flow import JobOutcome, ResultAsset
from apex_core.local.contract import DEFAULT_PASSWORD, DEFAULT_USER, EmbeddedEndpoints
from apex_core.metadata import fetch_items
from apex_core.ndvi import REQUIRED_PROCESSES
from apex_core.workspace import download_href

__all__ = [
    "FINAL_STATUSES",
    "LOG_LEVELS",
    "AuthKind",
    "BackendInfo",
    "ConnectionChoice",
    "DownloadProgress",
    "Follow",
    "JobEstimate",
    "JobInfo",
    "JobLogEntry",
    "NoRefreshTokenStore",
    "OpenEoTarget",
    "backend_info",
    "cancel_job",
    "check_graph",
    "connect",
    "create_job",
    "device_sign_in",
    "download_results",
    "elapsed_seconds",
    "filter_logs",
    "follow_job",
    "job_estimate",
    "job_failure",
    "job_headline",
    "job_info",
    "job_logs",
    "job_progress",
    "next_poll_delay",
    "open_connection",
    "openeo_target",
    "recent_jobs",
    "rename_job",
    "start_job",
    "submit_job",
    "validation_problems",
    "work_folder",
]

logger = logging.getLogger(__name__)

AuthKind = Literal["embedded", "basic", "oidc_device", "token", "client_credentials"]
FINAL_STATUSES = frozenset({"finished", "error", "canceled"})
LOG_LEVELS = ("debug", "info", "warning", "error")
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")


def _api_error(exc: OpenEoApiError, what: str, cls: type[ApexError] = BackendError) -> ApexError:
    status = exc.http_status_code
    if exc.code == "TokenInvalid":  # openEO's code for an expired or unknown bearer token (HTTP 403)
        return TokenExpired(
            f"{what}: the access token has expired or is not valid ({exc.message}).",
            code=exc.code,
            status=status,
            request_id=exc.id,
        )
    if status == 401:
        return UnauthorizedError(
            f"{what}: the backend did not accept the credentials ({exc.message}).",
            code=exc.code,
            status=status,
            request_id=exc.id,
        )
    return cls(f"{what}: {exc.message}", code=exc.code, status=status, request_id=exc.id)


def _unreachable(url: str, exc: Exception) -> ServiceError:
    return ServiceError(f"The openEO backend at {url} cannot be reached: {exc}")


@dataclass(frozen=True)
class ConnectionChoice:
    """How the session connects (kept across pages; never holds a secret)."""

    kind: AuthKind = "embedded"
    url: str | None = None
    username: str | None = None
    provider_id: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConnectionChoice:
        kind = str(data.get("kind", "embedded"))
        if kind not in ("embedded", "basic", "oidc_device", "token", "client_credentials"):
            kind = "embedded"
        return cls(
            kind=kind,  # type: ignore[arg-type]
            url=data.get("url") or None,
            username=data.get("username") or None,
            provider_id=data.get("provider_id") or None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "username": self.username,
            "provider_id": self.provider_id,
        }


def connect(
    url: str,
    kind: AuthKind,
    *,
    username: str | None = None,
    password: str | None = None,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    provider_id: str | None = None,
    display: Display | None = None,
    timeout: float = 30.0,
    max_poll_time: float = 300.0,
) -> Connection:
    """An authenticated openeo ``Connection`` (keep it in per-session state only).

    ``embedded``/``basic``: HTTP basic auth; ``token``: a pasted OIDC access token; ``oidc_device``: the
    device flow, whose link, code and poll status go to ``display`` (the client's ``print``-like
    callback; see :func:`device_sign_in` to run it without blocking); ``client_credentials``:
    ``client_id``/``client_secret``. No refresh token is asked for or written to disk
    (:class:`NoRefreshTokenStore`).
    """
    try:
        con = open_connection(url, timeout=timeout)
        if kind in ("embedded", "basic"):
            if not username or not password:
                raise AuthError("Enter a user name and a password.", field="username")
            con.authenticate_basic(username, password)
        elif kind == "token":
            if not access_token or not access_token.strip():
                raise AuthError("Paste an access token.", field="token")
            con.authenticate_oidc_access_token(access_token.strip(), provider_id=provider_id)
        elif kind == "oidc_device":
            con.authenticate_oidc_device(
                client_id=client_id,
                client_secret=client_secret,
                provider_id=provider_id,
                store_refresh_token=False,
                max_poll_time=max_poll_time,
                display=display or print,
            )
        elif kind == "client_credentials":
            if not client_id or not client_secret:
                raise AuthError(
                    "Client credentials need APEX_OIDC_CLIENT_ID and APEX_OIDC_CLIENT_SECRET.",
                    field="oidc_client_id",
                )
            con.authenticate_oidc_client_credentials(
                client_id=client_id, client_secret=client_secret, provider_id=provider_id
            )
        else:
            raise AuthError(f"Unknown way to connect: {kind}.", field="kind")
        # Check the credentials now: basic auth and pasted tokens are otherwise only tried later.
        con.describe_account()
    except OpenEoApiError as exc:
        raise _api_error(exc, f"Connecting to {url} failed", AuthError) from exc
    except OpenEoClientException as exc:
        raise AuthError(f"Signing in to {url} failed: {exc}") from exc
    except requests.RequestException as exc:
        raise _unreachable(url, exc) from exc
    logger.info("connected to %s (%s)", url, kind)
    return con


class NoRefreshTokenStore(RefreshTokenStore):
    """The openeo client's refresh-token store writes ``refresh-tokens.json`` in the user's data folder
    (``~/.local/share/openeo-python-client``) whenever a flow runs with ``store_refresh_token=True``.
    This one reads and writes nothing, so no code path of the client can put a token on disk."""

    def __init__(self) -> None:
        super().__init__(path=Path(os.devnull))

    def load(self, empty_on_file_not_found: bool = True) -> dict[str, Any]:
        return {}

    def _write(self, data: dict[str, Any]) -> None:
        logger.debug("not writing a refresh token to disk")

    def get_refresh_token(self, issuer: str, client_id: str) -> str | None:
        return None

    def set_refresh_token(self, issuer: str, client_id: str, refresh_token: str) -> None:
        logger.debug("not storing a refresh token for client %s", client_id)


def open_connection(url: str, *, timeout: float = 30.0) -> Connection:
    """An unauthenticated ``Connection`` that never stores a refresh token (and, unlike
    ``openeo.connect``, never auto-authenticates from the user's openeo config files)."""
    return Connection(url, default_timeout=int(max(1, timeout)), refresh_token_store=NoRefreshTokenStore())


def device_sign_in(
    url: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    provider_id: str | None = None,
    timeout: float = 30.0,
    max_poll_time: float = 300.0,
) -> DeviceSignIn[tuple[Connection, BackendInfo]]:
    """The OIDC device sign-in to the backend at ``url`` (the stock client's flow, with the issuer the
    backend names), running in the background: its result is the connection and the backend's info."""

    def sign_in(display: Display) -> tuple[Connection, BackendInfo]:
        con = connect(
            url,
            "oidc_device",
            client_id=client_id,
            client_secret=client_secret,
            provider_id=provider_id,
            display=display,
            timeout=timeout,
            max_poll_time=max_poll_time,
        )
        return con, backend_info(con)

    return DeviceSignIn.start(url, sign_in)


@dataclass(frozen=True)
class BackendInfo:
    """What the page shows about the backend."""

    url: str
    title: str
    version: str
    api_version: str
    missing_processes: tuple[str, ...] = ()  # of the one-day NDVI graph (REQUIRED_PROCESSES)
    processes: tuple[str, ...] | None = None  # every process the backend offers (None: not known)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendInfo:
        processes = data.get("processes")
        return cls(
            url=str(data["url"]),
            title=str(data.get("title", "")),
            version=str(data.get("version", "")),
            api_version=str(data.get("api_version", "")),
            missing_processes=tuple(data.get("missing_processes", ())),
            processes=None if processes is None else tuple(str(p) for p in processes),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "version": self.version,
            "api_version": self.api_version,
            "missing_processes": list(self.missing_processes),
            "processes": None if self.processes is None else list(self.processes),
        }

    def missing(self, required: Iterable[str]) -> tuple[str, ...]:
        """The processes of ``required`` (a request's :func:`~apex_core.ndvi.required_processes`) the
        backend lacks; without its process list, those of the one-day graph it was found to lack."""
        if self.processes is None:
            return tuple(p for p in required if p in self.missing_processes)
        offered = set(self.processes)
        return tuple(p for p in required if p not in offered)


def backend_info(con: Connection) -> BackendInfo:
    """Title and version of the backend, and which of the graph's processes it lacks."""
    try:
        caps = con.capabilities()
        processes = {p.get("id") for p in con.list_processes()}
    except OpenEoApiError as exc:
        raise _api_error(exc, "Reading the backend's capabilities failed") from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc
    return BackendInfo(
        url=con.root_url,
        title=str(caps.get("title") or caps.get("id") or "openEO backend"),
        version=str(caps.get("backend_version") or "unknown"),
        api_version=str(caps.api_version()),
        missing_processes=tuple(p for p in REQUIRED_PROCESSES if p not in processes),
        processes=tuple(sorted(str(p) for p in processes if p)),
    )


@dataclass(frozen=True)
class JobInfo:
    """A batch job as the backend describes it."""

    id: str
    status: str
    title: str | None = None
    progress: float | None = None
    created: str | None = None
    updated: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobInfo:
        progress = data.get("progress")
        return cls(
            id=str(data["id"]),
            status=str(data.get("status", "unknown")),
            title=data.get("title"),
            progress=float(progress) if isinstance(progress, int | float) else None,
            created=data.get("created"),
            updated=data.get("updated"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "title": self.title,
            "progress": self.progress,
            "created": self.created,
            "updated": self.updated,
        }

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def label(self) -> str:
        return f"{self.title or '(untitled)'} · {self.status} · {self.created or ''} · {self.id}"


def _check_id(job_id: str) -> str:
    job_id = job_id.strip()
    if not _JOB_ID.match(job_id):
        raise JobError(f"{job_id!r} is not a job id (like j-2611...).", code="JobNotFound", field="job_id")
    return job_id


_NOT_VALIDATED = "could not validate the process graph at %s (submitting it anyway): %s"


def validation_problems(con: Connection, cube: SaveResult) -> tuple[tuple[str, str], ...] | None:
    """What the backend's ``POST /validation`` finds wrong with ``cube``'s process graph, as
    ``(code, message)`` pairs (empty: valid); ``None`` when it could not validate: the backend does
    not list that endpoint, or the validation failed on the server's or the network's side (a 5xx,
    a timeout, no connection, an answer that is not a list of errors: logged). The check is optional:
    the backend checks the graph again when the job starts. Refused credentials still raise."""
    try:
        if not con.capabilities().supports_endpoint("/validation", "POST"):
            return None
        errors: Any = con.validate_process_graph(cube)  # the JSON as the server sent it
    except OpenEoApiError as exc:
        if exc.http_status_code is None or exc.http_status_code < 500:
            raise _api_error(exc, "Validating the process graph failed") from exc
        logger.warning(_NOT_VALIDATED, con.root_url, exc)
        return None
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        # No answer, a timeout, or an answer that is not the API's ``{"errors": [...]}``.
        logger.warning(_NOT_VALIDATED, con.root_url, repr(exc))
        return None
    if not isinstance(errors, list):
        logger.warning(_NOT_VALIDATED, con.root_url, f"it answered {errors!r}")
        return None
    return tuple(
        (str(e.get("code") or "ProcessGraphInvalid"), str(e.get("message") or ""))
        for e in errors
        if isinstance(e, Mapping)
    )


def check_graph(con: Connection, cube: SaveResult) -> None:
    """Raise :class:`~apex_core.errors.ProcessGraphRefused` listing every problem the backend's
    validation finds in ``cube`` (nothing when it is valid or the backend could not validate it, see
    :func:`validation_problems`)."""
    problems = validation_problems(con, cube)
    if problems:
        raise ProcessGraphRefused(
            f"The backend's validation found {len(problems)} problem(s) in the process graph.",
            problems,
            code=problems[0][0],
        )


def submit_job(con: Connection, cube: SaveResult, title: str) -> JobInfo:
    """Create the batch job for ``cube`` with ``title`` and start it; a graph the backend's validation
    refuses (:func:`check_graph`) is not submitted. (The client's own pre-flight validation is off:
    :func:`check_graph` just asked the same endpoint.)"""
    check_graph(con, cube)
    try:
        job = con.create_job(cube, title=title, validate=False)
        job.start()
        return JobInfo.from_dict(job.describe())
    except OpenEoApiError as exc:
        raise _api_error(exc, "Submitting the job failed") from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc


def create_job(con: Connection, cube: SaveResult, title: str) -> JobInfo:
    """Create the batch job for ``cube`` with ``title`` without starting it (see :func:`job_estimate`,
    then :func:`start_job`); a graph the backend's validation refuses (:func:`check_graph`) is not
    created."""
    check_graph(con, cube)
    try:
        return JobInfo.from_dict(con.create_job(cube, title=title, validate=False).describe())
    except OpenEoApiError as exc:
        raise _api_error(exc, "Creating the job failed") from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc


def start_job(con: Connection, job_id: str) -> JobInfo:
    """Start a created (or cancelled, failed) job; a refusal is a :class:`~apex_core.errors.BackendError`
    with the backend's code and request id (the job did not fail: it was not started)."""
    try:
        job = con.job(_check_id(job_id))
        job.start()
        return JobInfo.from_dict(job.describe())
    except OpenEoApiError as exc:
        raise _api_error(exc, f"Starting job {job_id} failed") from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc


_MAX_TITLE = 200


def rename_job(con: Connection, job_id: str, title: str) -> JobInfo:
    """Give the job a new title (openEO ``PATCH /jobs/{job_id}``). An empty or too long title is an
    :class:`~apex_core.errors.InputError` on the field ``title``; the backend's refusal (``JobLocked``
    while the job is queued or running) a :class:`~apex_core.errors.BackendError` with its code."""
    title = title.strip()
    if not title:
        raise InputError("A job title cannot be empty.", field="title")
    if len(title) > _MAX_TITLE:
        raise InputError(f"A job title has at most {_MAX_TITLE} characters.", field="title")
    job_id = _check_id(job_id)
    try:
        con.patch(f"/jobs/{job_id}", json={"title": title}, expected_status=204)
    except OpenEoApiError as exc:
        raise _api_error(exc, f"Renaming job {job_id} failed") from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc
    return job_info(con, job_id)


def _duration_seconds(value: Any) -> float | None:
    """Seconds of an ISO 8601 duration such as ``PT1M30S`` or ``P1W`` (read by pendulum: years count
    365 days, months 30, as an estimate allows), else None: not a duration, or one with a time
    designator ``T`` and no time after it (``P1DT``, ``PT``), which ISO 8601 does not allow."""
    if not isinstance(value, str) or value.endswith("T"):
        return None
    try:
        parsed = pendulum.parse(value, exact=True)
    except (ValueError, TypeError):  # pendulum's ParserError is a ValueError
        return None
    return parsed.total_seconds() if isinstance(parsed, pendulum.Duration) else None


def _size_text(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class JobEstimate:
    """A backend's estimate of a job (openEO ``GET /jobs/{job_id}/estimate``): each part may be absent."""

    costs: float | None = None
    currency: str | None = None
    duration: str | None = None  # ISO 8601, e.g. PT2S
    seconds: float | None = None  # the duration in seconds, when it could be read
    size: int | None = None  # bytes

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], currency: str | None = None) -> JobEstimate:
        costs, size, duration = data.get("costs"), data.get("size"), data.get("duration")
        return cls(
            costs=float(costs) if isinstance(costs, int | float) and not isinstance(costs, bool) else None,
            currency=currency,
            duration=str(duration) if duration is not None else None,
            seconds=_duration_seconds(duration),
            size=int(size) if isinstance(size, int | float) and not isinstance(size, bool) else None,
        )

    def summary(self) -> str:
        """One line for a person, e.g. ``about 2 s · 80.0 kB of results · free``."""
        parts = []
        if self.seconds is not None:
            parts.append(
                f"about {self.seconds:.0f} s" if self.seconds < 120 else f"about {self.seconds / 60:.0f} min"
            )
        elif self.duration:
            parts.append(f"duration {self.duration}")
        if self.size is not None:
            parts.append(f"{_size_text(self.size)} of results")
        if self.costs is not None:
            parts.append("free" if self.costs == 0 else f"{self.costs:g} {self.currency or ''}".strip())
        return " · ".join(parts) or "the backend gave no figures"


def job_estimate(con: Connection, job_id: str) -> JobEstimate:
    """The backend's estimate of the job's duration, result size and costs (through the openeo client's
    ``BatchJob.estimate``). A backend without estimates is a :class:`BackendError` (code
    ``FeatureUnsupported`` on openEO backends)."""
    job_id = _check_id(job_id)
    try:
        data = con.job(job_id).estimate()
        currency = con.capabilities().currency()
    except OpenEoApiError as exc:
        raise _api_error(exc, f"Estimating job {job_id} failed") from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc
    if not isinstance(data, Mapping):
        raise BackendError(f"Estimating job {job_id} failed: the backend answered {type(data).__name__}.")
    return JobEstimate.from_dict(data, currency=str(currency) if currency else None)


def job_info(con: Connection, job_id: str) -> JobInfo:
    """The job's current description; an unknown id is a :class:`JobError` with code ``JobNotFound``."""
    job_id = _check_id(job_id)
    try:
        return JobInfo.from_dict(con.job(job_id).describe())
    except OpenEoApiError as exc:
        if exc.http_status_code == 404 or exc.code == "JobNotFound":
            raise JobError(
                f"The backend has no job {job_id!r} for this account.",
                code=exc.code,
                status=exc.http_status_code,
                request_id=exc.id,
                field="job_id",
            ) from exc
        raise _api_error(exc, f"Reading job {job_id} failed", JobError) from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc


def cancel_job(con: Connection, job_id: str) -> None:
    try:
        con.job(_check_id(job_id)).stop()
    except OpenEoApiError as exc:
        raise _api_error(exc, f"Cancelling job {job_id} failed", JobError) from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc


def recent_jobs(con: Connection, limit: int = 20) -> list[JobInfo]:
    """The account's jobs, newest first."""
    try:
        listing = con.list_jobs(limit=limit)
    except OpenEoApiError as exc:
        raise _api_error(exc, "Listing the jobs failed") from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc
    jobs = [JobInfo.from_dict(j) for j in listing if isinstance(j, Mapping) and j.get("id")]
    return sorted(jobs, key=lambda j: j.created or "", reverse=True)


@dataclass(frozen=True)
class JobLogEntry:
    id: str
    level: str
    message: str
    code: str | None = None
    time: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobLogEntry:
        return cls(
            id=str(data.get("id", "")),
            level=str(data.get("level", "info")).lower(),
            message=str(data.get("message", "")),
            code=data.get("code"),
            time=data.get("time"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "message": self.message,
            "code": self.code,
            "time": self.time,
        }


def job_logs(con: Connection, job_id: str, level: str = "debug") -> list[JobLogEntry]:
    """The job's log entries at ``level`` or above (debug, info, warning, error)."""
    try:
        entries = con.job(_check_id(job_id)).logs(level=level)
    except OpenEoApiError as exc:
        raise _api_error(exc, f"Reading the logs of job {job_id} failed", JobError) from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc
    # The client filters by level itself when the backend does not (openeo's LogsResponse).
    return [JobLogEntry.from_dict(e) for e in entries]


def job_failure(con: Connection, job_id: str, logs: Iterable[JobLogEntry] | None = None) -> JobError:
    """A :class:`JobError` for a failed or cancelled job: the backend's error code and message from
    its error logs (the caller raises or shows it)."""
    info = job_info(con, job_id)
    entries = list(logs) if logs is not None else job_logs(con, job_id, "error")
    errors = [e for e in entries if e.level == "error"]
    if info.status == "canceled":
        return JobError(f"Job {job_id} was cancelled.", code="JobCanceled")
    last = errors[-1] if errors else None
    message = last.message if last else "the backend gave no error message"
    return JobError(f"Job {job_id} failed: {message}", code=(last.code if last else None) or "JobFailed")


def next_poll_delay(previous: float | None, *, first: float = 1.0, maximum: float = 10.0) -> float:
    """Back-off between polls: 1 s, then doubling up to 10 s."""
    return first if previous is None else min(maximum, previous * 2)


def work_folder(state_dir: Path, session_id: str | None = None) -> tuple[Path, str]:
    """``<state_dir>/work/<session id>``; a new random id when none is given. Returns (folder, id)."""
    sid = session_id or secrets.token_hex(8)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", sid):
        raise ValueError("session id must be a short token")
    return state_dir / "work" / sid, sid


@dataclass(frozen=True)
class DownloadProgress:
    """Progress of a results download, for the page's progress bar."""

    asset: str
    done_bytes: int
    total_bytes: int | None
    asset_index: int
    asset_count: int

    @property
    def fraction(self) -> float:
        if self.asset_count == 0:
            return 1.0
        within = self.done_bytes / self.total_bytes if self.total_bytes else 0.0
        return min(1.0, (self.asset_index + min(within, 1.0)) / self.asset_count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "done_bytes": self.done_bytes,
            "total_bytes": self.total_bytes,
            "asset_index": self.asset_index,
            "asset_count": self.asset_count,
        }


@dataclass(frozen=True)
class _Asset:
    key: str
    href: str
    size: int | None
    datetime: str | None = field(default=None)


def _asset_datetime(meta: Mapping[str, Any], asset: Mapping[str, Any]) -> str | None:
    if asset.get("datetime"):
        return str(asset["datetime"])
    try:
        interval = meta["extent"]["temporal"]["interval"][0]
    except (KeyError, IndexError, TypeError):
        return None
    start = interval[0] if interval else None
    return str(start) if start else None


def _safe_name(key: str) -> str:
    name = Path(key).name
    if not name or name in (".", "..") or not re.fullmatch(r"[A-Za-z0-9._ -]{1,200}", name):
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:200] or "asset"
    return name


def _with_interval(asset: ResultAsset, items: Sequence[Mapping[str, Any]]) -> ResultAsset:
    """The result's start and end from the item holding it (a composite covers a range; openEO results
    documents drop the dates of their assets, the items keep them)."""
    for item in items:
        if asset.key in (item.get("assets") or {}):
            props = item.get("properties") or {}
            start, end = props.get("start_datetime"), props.get("end_datetime")
            if start and end and str(start)[:10] != str(end)[:10]:
                return replace(asset, datetime=str(start), end=str(end))
    return asset


def download_results(
    con: Connection,
    job_id: str,
    folder: Path,
    *,
    title: str | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    timeout: float = 30.0,
    chunk_size: int = 1 << 16,
) -> JobOutcome:
    """Download a finished job's assets and its results metadata (``job-results.json``) into
    ``folder/<job_id>/``, fetch the STAC items its results link to, and return the finished job's
    :class:`~apex_core.flow.JobOutcome` (its ``items`` empty unless every item link answered: the
    Metadata step then fetches them itself and says which failed)."""
    job_id = _check_id(job_id)
    info = job_info(con, job_id)
    if info.status != "finished":
        raise JobError(
            f"Job {job_id} is {info.status}, not finished: nothing to download yet.", field="job_id"
        )
    try:
        meta = con.job(job_id).get_results().get_metadata()
    except OpenEoApiError as exc:
        raise _api_error(exc, f"Reading the results of job {job_id} failed", JobError) from exc
    except requests.RequestException as exc:
        raise _unreachable(con.root_url, exc) from exc
    target = folder / job_id
    target.mkdir(parents=True, exist_ok=True)
    metadata_path = target / "job-results.json"
    metadata_path.write_text(json.dumps(meta, indent=2))
    raw_assets = meta.get("assets") or {}
    assets = [
        _Asset(str(k), href, a.get("file:size"), _asset_datetime(meta, a))
        for k, a in raw_assets.items()
        if isinstance(a, Mapping) and (href := download_href(a))  # exported: s3:// href, http alternate
    ]
    out = []
    for index, asset in enumerate(assets):
        path = target / _safe_name(asset.key)
        _stream(con, asset, path, index, len(assets), on_progress, timeout, chunk_size)
        out.append(ResultAsset(asset.key, path.resolve(), asset.datetime))
    items, problems = fetch_items(meta, timeout, session=con.session)
    out = [_with_interval(a, items) for a in out]
    if on_progress is not None:
        on_progress(DownloadProgress("", 0, None, len(assets), len(assets)))
    logger.info("downloaded %d asset(s) of job %s into %s", len(out), job_id, target)
    return JobOutcome(
        id=job_id,
        status="finished",
        title=title if title is not None else info.title,
        assets=tuple(out),
        metadata_path=metadata_path.resolve(),
        items=() if problems else tuple(items),
    )


def _stream(
    con: Connection,
    asset: _Asset,
    path: Path,
    index: int,
    count: int,
    on_progress: Callable[[DownloadProgress], None] | None,
    timeout: float,
    chunk_size: int,
) -> None:
    """Download one asset into ``path`` (through ``path.part``), reporting progress.

    The request is the client's own (``con.get``: its session and retries, an expired token
    refreshed). The backend's credentials go to the backend's own host (a result link may sit outside
    its API root, e.g. ``/download/...``), never to another host (a signed or third-party href). The
    writing is ours: openeo's ``ResultAsset.download`` (``Connection.download_url``) has no
    progress hook, writes straight into the target and only knows the asset's ``href`` (``s3://``
    for an exported asset, downloaded here through its http alternate)."""
    part = path.with_suffix(path.suffix + ".part")
    try:
        own_host = urlsplit(asset.href).netloc == urlsplit(con.root_url).netloc
        with con.get(asset.href, stream=True, timeout=timeout, auth=con.auth if own_host else None) as resp:
            total = asset.size or int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            last = 0.0
            with part.open("wb") as fh:
                for chunk in resp.iter_content(chunk_size):
                    fh.write(chunk)
                    done += len(chunk)
                    now = time.monotonic()
                    if on_progress is not None and now - last > 0.1:
                        last = now
                        on_progress(DownloadProgress(asset.key, done, total, index, count))
        part.replace(path)
    except (OpenEoApiPlainError, requests.RequestException) as exc:
        part.unlink(missing_ok=True)
        raise _download_failed(asset.key, exc) from exc


def _download_failed(key: str, exc: Exception) -> BackendError:
    if isinstance(exc, OpenEoApiPlainError):  # the client raises on an HTTP error status
        status = exc.http_status_code
        return BackendError(f"Downloading {key} failed: HTTP {status}.", status=status)
    if isinstance(exc, requests.exceptions.RetryError) and exc.args:  # its retries (429, 502-504) ran out
        return BackendError(f"Downloading {key} failed: {getattr(exc.args[0], 'reason', exc)}.")
    return BackendError(f"Downloading {key} failed: {exc}")


def elapsed_seconds(created: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds since the job's ``created`` timestamp (ISO 8601), if the backend gave one."""
    if not created:
        return None
    try:
        since = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return max(0.0, ((now or dt.datetime.now(dt.UTC)) - since).total_seconds())


def job_headline(job: JobOutcome, now: dt.datetime | None = None) -> str:
    """One markdown line for the session's job: title, id, status, time since it was created."""
    elapsed = elapsed_seconds(job.created, now)
    return f"**{job.title or job.id}** · `{job.id}` · status **{job.status or 'unknown'}**" + (
        f" · {elapsed:.0f} s since created" if elapsed is not None else ""
    )


def job_progress(job: JobOutcome) -> float | None:
    """The backend's progress (0 to 1) of an unfinished job, when it reports one."""
    if job.finished or job.progress is None:
        return None
    return min(1.0, max(0.0, job.progress / 100))


def filter_logs(entries: Iterable[JobLogEntry], level: str) -> list[JobLogEntry]:
    """The entries at ``level`` or above, ranked as the openeo client ranks them (unknown levels count
    as debug): for entries already read, e.g. the page's log-level choice."""
    minimum = normalize_log_level(level)
    return [e for e in entries if normalize_log_level(e.level) >= minimum]


@dataclass(frozen=True)
class OpenEoTarget:
    """The backend the session uses by default: the configured URL, else the embedded one."""

    url: str | None
    embedded: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """No password."""
        return {"url": self.url, "embedded": self.embedded, "username": self.username}


def openeo_target(openeo_url: str | None, endpoints: EmbeddedEndpoints | None) -> OpenEoTarget:
    """``openeo_url`` when configured; else the embedded backend (``url`` None until it is ready),
    with the demo account the embedded services announce (the built-in demo account before they do)."""
    if openeo_url:
        return OpenEoTarget(openeo_url, embedded=False)
    if endpoints is None:
        return OpenEoTarget(None, embedded=True, username=DEFAULT_USER, password=DEFAULT_PASSWORD)
    return OpenEoTarget(
        endpoints.openeo_url,
        embedded=True,
        username=endpoints.openeo_username or DEFAULT_USER,
        password=endpoints.openeo_password or DEFAULT_PASSWORD,
    )


@dataclass(frozen=True)
class Follow:
    """Where the live follow of a job stands: the back-off and the latest logs."""

    delay: float | None = None
    next_at: float = 0.0
    logs: tuple[JobLogEntry, ...] = ()
    done: bool = False
    error: ApexError | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delay": self.delay,
            "next_at": self.next_at,
            "logs": [e.to_dict() for e in self.logs],
            "done": self.done,
            "error": str(self.error) if self.error else None,
        }


def follow_job(
    con: Connection,
    job: JobOutcome,
    follow: Follow,
    *,
    folder: Path,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    timeout: float = 30.0,
    now: float | None = None,
) -> tuple[JobOutcome, Follow]:
    """One step of following ``job`` (the session's job): poll when the back-off allows, refresh status,
    progress and logs; when it is over, download a finished job's results into ``folder`` (the job
    becomes the finished outcome) or explain a failure (``Follow.error``). API errors end the follow
    with the error; the job is kept."""
    clock = time.monotonic() if now is None else now
    if follow.done or clock < follow.next_at:
        return job, follow
    try:
        info = job_info(con, job.id)
        logs = tuple(job_logs(con, info.id))
        delay = next_poll_delay(follow.delay)
        state = replace(job, status=info.status, progress=info.progress, created=info.created)
        if info.status == "created":  # nothing runs until it is started
            return state, Follow(delay, clock, logs, done=True)
        if not info.final:
            return state, Follow(delay, clock + delay, logs)
        if info.status == "finished":
            state = download_results(
                con, info.id, folder, title=job.title, on_progress=on_progress, timeout=timeout
            )
            return state, Follow(delay, clock, logs, done=True)
        return state, Follow(delay, clock, logs, done=True, error=job_failure(con, info.id, logs))
    except ApexError as exc:
        return job, Follow(follow.delay, clock, follow.logs, done=True, error=exc)
