"""Batch jobs of the embedded backend: records persisted in the state directory, run by a thread pool.

Layout: ``<jobs_dir>/<job_id>/job.json`` (the record, logs included) and ``<jobs_dir>/<job_id>/results/``
(the result files). Records are written atomically, so a restart finds every job; a job that was
queued or running when the backend stopped becomes ``error`` with a log entry saying so.

Status goes ``created`` -> ``queued`` -> ``running`` -> ``finished`` | ``error`` (or ``canceled``).
A running job cannot be interrupted mid-computation (threads cannot be killed); cancelling it marks
it ``canceled`` at once and its results are discarded when the computation returns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from apex_core.local.openeo.model import ResultFile

__all__ = [
    "Executor",
    "JobLog",
    "JobNotFound",
    "JobRecord",
    "JobRunner",
    "JobStatus",
    "JobStore",
    "Progress",
    "new_job_id",
]

logger = logging.getLogger(__name__)

JobStatus = Literal["created", "queued", "running", "canceled", "finished", "error"]
_JOB_ID = re.compile(r"^j-[0-9a-f]{8,40}$")

# Runs a process graph and writes its results into the given directory; returns the files. The third
# argument reports progress (percent) while it runs.
Progress = Callable[[float], None]
Executor = Callable[[Mapping[str, Any], Path, Progress], list[ResultFile]]


class JobNotFound(KeyError):
    """No job with this id for this user."""


def new_job_id() -> str:
    return f"j-{dt.datetime.now(dt.UTC):%y%m%d%H%M%S}{secrets.token_hex(8)}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_ts(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(value)) if value else None


@dataclass(frozen=True)
class JobLog:
    id: str
    level: str  # error | warning | info | debug
    message: str
    time: dt.datetime
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "level": self.level,
            "message": self.message,
            "time": _ts(self.time),
        }
        if self.code:
            out["code"] = self.code
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JobLog:
        return cls(
            id=str(d["id"]),
            level=str(d["level"]),
            message=str(d["message"]),
            time=_parse_ts(d["time"]) or _now(),
            code=str(d["code"]) if d.get("code") else None,
        )


@dataclass(frozen=True)
class JobRecord:
    id: str
    user_id: str
    process: dict[str, Any]
    status: JobStatus = "created"
    title: str | None = None
    description: str | None = None
    created: dt.datetime = field(default_factory=_now)
    updated: dt.datetime = field(default_factory=_now)
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    progress: float = 0.0
    job_options: dict[str, Any] | None = None
    results: tuple[ResultFile, ...] = ()
    logs: tuple[JobLog, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "process": self.process,
            "status": self.status,
            "title": self.title,
            "description": self.description,
            "created": _ts(self.created),
            "updated": _ts(self.updated),
            "started": _ts(self.started),
            "finished": _ts(self.finished),
            "progress": self.progress,
            "job_options": self.job_options,
            "results": [r.to_dict() for r in self.results],
            "logs": [entry.to_dict() for entry in self.logs],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JobRecord:
        status = str(d.get("status", "created"))
        if status not in ("created", "queued", "running", "canceled", "finished", "error"):
            raise ValueError(f"invalid job status {status!r}")
        return cls(
            id=str(d["id"]),
            user_id=str(d["user_id"]),
            process=dict(d.get("process") or {}),
            status=status,  # type: ignore[arg-type]
            title=d.get("title"),
            description=d.get("description"),
            created=_parse_ts(d.get("created")) or _now(),
            updated=_parse_ts(d.get("updated")) or _now(),
            started=_parse_ts(d.get("started")),
            finished=_parse_ts(d.get("finished")),
            progress=float(d.get("progress") or 0.0),
            job_options=d.get("job_options"),
            results=tuple(ResultFile.from_dict(r) for r in d.get("results", [])),
            logs=tuple(JobLog.from_dict(entry) for entry in d.get("logs", [])),
        )


class JobStore:
    """Job records on disk, with an in-memory index; every method is thread-safe."""

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._jobs: dict[str, JobRecord] = {}
        self._load()

    def _load(self) -> None:
        for path in sorted(self.jobs_dir.glob("*/job.json")):
            try:
                record = JobRecord.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("skipping unreadable job record %s: %s", path, exc)
                continue
            if record.status in ("queued", "running"):
                record = self._with_log(
                    replace(record, status="error", progress=record.progress, finished=_now()),
                    "error",
                    "The job was interrupted because the backend stopped; start it again.",
                    code="Interrupted",
                )
                self._write(record)
            self._jobs[record.id] = record
        logger.info("job store %s: %d job(s) loaded", self.jobs_dir, len(self._jobs))

    def job_dir(self, job_id: str) -> Path:
        if not _JOB_ID.match(job_id):
            raise JobNotFound(job_id)
        return self.jobs_dir / job_id

    def results_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "results"

    def _write(self, record: JobRecord) -> None:
        folder = self.job_dir(record.id)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".job-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(record.to_dict(), fh, indent=1)
        os.replace(tmp, folder / "job.json")

    @staticmethod
    def _with_log(record: JobRecord, level: str, message: str, code: str | None = None) -> JobRecord:
        entry = JobLog(id=str(len(record.logs)), level=level, message=message, time=_now(), code=code)
        return replace(record, logs=(*record.logs, entry), updated=_now())

    def create(self, record: JobRecord) -> JobRecord:
        with self.lock:
            record = self._with_log(record, "info", "Job created.")
            self._write(record)
            self._jobs[record.id] = record
            return record

    def get(self, job_id: str, user_id: str | None = None) -> JobRecord:
        with self.lock:
            record = self._jobs.get(job_id)
        if record is None or (user_id is not None and record.user_id != user_id):
            raise JobNotFound(job_id)
        return record

    def list(self, user_id: str) -> list[JobRecord]:
        with self.lock:
            return sorted(
                (r for r in self._jobs.values() if r.user_id == user_id),
                key=lambda r: r.created,
                reverse=True,
            )

    def update(self, job_id: str, **changes: Any) -> JobRecord:
        with self.lock:
            record = replace(self.get(job_id), **changes, updated=_now())
            self._write(record)
            self._jobs[job_id] = record
            return record

    def log(
        self, job_id: str, level: str, message: str, code: str | None = None, **changes: Any
    ) -> JobRecord:
        with self.lock:
            record = self._with_log(replace(self.get(job_id), **changes), level, message, code)
            self._write(record)
            self._jobs[job_id] = record
            return record

    def delete(self, job_id: str) -> None:
        with self.lock:
            self.get(job_id)
            self._jobs.pop(job_id, None)
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


class JobRunner:
    """Runs started jobs on a small thread pool and records their progress in the store."""

    def __init__(self, store: JobStore, execute: Executor, workers: int = 2) -> None:
        self.store = store
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openeo-job")

    def start(self, job_id: str) -> JobRecord:
        with self.store.lock:
            record = self.store.get(job_id)
            if record.status not in ("created", "canceled", "error"):
                return record
            record = self.store.log(
                job_id, "info", "Job queued.", status="queued", progress=0.0, started=None, finished=None
            )
        self._pool.submit(self._run, job_id)
        return record

    def cancel(self, job_id: str) -> JobRecord:
        with self.store.lock:
            record = self.store.get(job_id)
            if record.status in ("queued", "running"):
                record = self.store.log(job_id, "warning", "Job canceled by the user.", status="canceled")
            return record

    def _still(self, job_id: str, status: JobStatus) -> bool:
        try:
            return self.store.get(job_id).status == status
        except JobNotFound:
            return False

    def _forget_if_deleted(self, job_id: str) -> None:
        with self.store.lock:
            try:
                self.store.get(job_id)
            except JobNotFound:
                shutil.rmtree(self.store.job_dir(job_id), ignore_errors=True)

    def _progress(self, job_id: str, percent: float) -> None:
        with self.store.lock:
            if self._still(job_id, "running"):
                self.store.update(job_id, progress=max(0.0, min(99.0, percent)))

    def _run(self, job_id: str) -> None:
        with self.store.lock:
            if not self._still(job_id, "queued"):
                return
            record = self.store.log(
                job_id, "info", "Job running.", status="running", started=_now(), progress=10.0
            )
        work = self.store.job_dir(job_id) / f".work-{secrets.token_hex(4)}"
        begin = time.monotonic()
        try:
            files = self._execute(record.process, work, lambda percent: self._progress(job_id, percent))
        except Exception as exc:
            shutil.rmtree(work, ignore_errors=True)
            self._forget_if_deleted(job_id)
            logger.warning("job %s failed: %s", job_id, exc)
            with self.store.lock:
                if self._still(job_id, "running"):
                    code = getattr(exc, "code", None) or type(exc).__name__
                    self.store.log(
                        job_id,
                        "error",
                        f"Job failed: {exc}",
                        code=str(code),
                        status="error",
                        finished=_now(),
                    )
                    self.store.log(job_id, "debug", "".join(traceback.format_exception(exc)).strip())
            return
        with self.store.lock:
            if not self._still(job_id, "running"):  # canceled or deleted meanwhile: discard
                shutil.rmtree(work, ignore_errors=True)
                self._forget_if_deleted(job_id)
                return
            final = self.store.results_dir(job_id)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(work, final)
            seconds = time.monotonic() - begin
            self.store.log(
                job_id,
                "info",
                f"Job finished in {seconds:.2f} s: {', '.join(f.filename for f in files)}.",
                status="finished",
                finished=_now(),
                progress=100.0,
                results=tuple(files),
            )

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
