"""Batch jobs of the embedded backend: records persisted in the state directory, run in worker processes.

Layout: ``<jobs_dir>/<job_id>/job.json`` (the record, logs included) and ``<jobs_dir>/<job_id>/results/``
(the result files). Records are written atomically, so a restart finds every job; a job that was
queued or running when the backend stopped becomes ``error`` with a log entry saying so.

Status goes ``created`` -> ``queued`` -> ``running`` -> ``finished`` | ``error`` (or ``canceled``). Starting
a ``canceled``, ``error`` or ``finished`` job again discards its previous run (result files and logs) first.

Each job's computation runs in a separate worker process (:mod:`~apex_core.local.openeo.worker`),
never in the API server: :class:`JobRunner` keeps ``workers`` long-lived worker processes, forked from
a ``multiprocessing`` forkserver that imported the engine once (so a new worker is ready in a fraction
of a second), one supervising thread per worker, and a queue; queued jobs wait for a free worker. A
worker that dies while running a job (killed, crashed, out of memory) turns that job into ``error``
with a log entry giving its pid and exit code or signal, and is replaced. Cancelling a running job
kills its worker (which is then replaced), so the computation really stops. ``GET /health`` lists
the ready workers' pids.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import multiprocessing
import os
import queue
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from apex_core.local.files import write_private_file
from apex_core.local.openeo.model import ResultFile
from apex_core.local.openeo.worker import DEFAULT_EXECUTOR, Executor, Progress, run_worker

__all__ = [
    "Executor",
    "JobLog",
    "JobNotFound",
    "JobRecord",
    "JobRunner",
    "JobStatus",
    "JobStore",
    "Progress",
    "WorkerDied",
    "WorkerSpec",
    "new_job_id",
]

logger = logging.getLogger(__name__)

JobStatus = Literal["created", "queued", "running", "canceled", "finished", "error"]
_JOB_ID = re.compile(r"^j-[0-9a-f]{8,40}$")


# Statuses a start (``POST /jobs/{id}/results``) runs the job from; queued and running jobs are left alone.
# Starting a job that ran before discards that run: its results and its logs (openEO API 1.2, start-job).
RESTARTABLE: tuple[JobStatus, ...] = ("created", "canceled", "error", "finished")
RESTARTED = "Job restarted (it was {status}): the previous results and logs were discarded."


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
        write_private_file(self.job_dir(record.id) / "job.json", json.dumps(record.to_dict(), indent=1))

    @staticmethod
    def _next_log_id(record: JobRecord) -> str:
        """Log ids count up over the job's whole life, across restarts (which discard older entries),
        so a client reading the logs from an ``offset`` never mistakes a new entry for one it has."""
        last = record.logs[-1].id if record.logs else None
        return str(int(last) + 1) if last is not None and last.isdigit() else str(len(record.logs))

    @classmethod
    def _with_log(cls, record: JobRecord, level: str, message: str, code: str | None = None) -> JobRecord:
        entry = JobLog(id=cls._next_log_id(record), level=level, message=message, time=_now(), code=code)
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

    def discard_run(self, job_id: str, message: str, **changes: Any) -> JobRecord:
        """Forget the job's previous run: its result files and records and its log entries (what
        restarting a job, or giving it a new process, discards); ``message`` is then its first log
        entry. ``changes`` are applied in the same write."""
        with self.lock:
            record = self.get(job_id)
            shutil.rmtree(self.results_dir(job_id), ignore_errors=True)
            entry = JobLog(id=self._next_log_id(record), level="info", message=message, time=_now())
            record = replace(record, **changes, results=(), logs=(entry,), updated=_now())
            self._write(record)
            self._jobs[job_id] = record
            return record

    def delete(self, job_id: str) -> None:
        with self.lock:
            self.get(job_id)
            self._jobs.pop(job_id, None)
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process runs: the executor factory (``module:factory``) and its data dir.

    ``preload`` names modules the forkserver imports once before forking workers (the engine).
    """

    executor: str = DEFAULT_EXECUTOR
    data_dir: Path | None = None
    log_level: str = "INFO"
    preload: tuple[str, ...] = ()
    workspaces_file: Path | None = None  # export_workspace targets (see .workspaces); None: no workspace

    def to_dict(self) -> dict[str, Any]:
        return {
            "executor": self.executor,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "log_level": self.log_level,
            "preload": list(self.preload),
            "workspaces_file": str(self.workspaces_file) if self.workspaces_file else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WorkerSpec:
        return cls(
            executor=str(d.get("executor") or DEFAULT_EXECUTOR),
            data_dir=Path(d["data_dir"]) if d.get("data_dir") else None,
            log_level=str(d.get("log_level") or "INFO"),
            preload=tuple(str(m) for m in d.get("preload") or ()),
            workspaces_file=Path(d["workspaces_file"]) if d.get("workspaces_file") else None,
        )


_CONTEXT = multiprocessing.get_context("forkserver")
_PRELOAD_LOCK = threading.Lock()
_PRELOADED: tuple[str, ...] | None = None


def _set_preload(modules: tuple[str, ...]) -> None:
    """Tell the (one per process) forkserver what to import; only the first runner's list counts."""
    global _PRELOADED
    with _PRELOAD_LOCK:
        if _PRELOADED is None:
            _CONTEXT.set_forkserver_preload(list(modules))
            _PRELOADED = modules
        elif not set(modules) <= set(_PRELOADED):
            logger.info("forkserver already started with %s; %s imported per worker", _PRELOADED, modules)


class WorkerDied(RuntimeError):
    """The worker process ended (or could not start) while the runner needed it."""


def describe_exit(returncode: int | None) -> str:
    """``exit code N`` or ``signal N (NAME)`` for a process's exit status (negative: killed by a signal)."""
    if returncode is None:
        return "no exit status"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown"
        return f"signal {-returncode} ({name})"
    return f"exit code {returncode}"


class _Worker:
    """One worker process (forked by the forkserver) and its pipe."""

    def __init__(self, spec: WorkerSpec, ready_timeout: float) -> None:
        self.killed = False
        self.conn, child = _CONTEXT.Pipe(duplex=True)
        self.process = _CONTEXT.Process(
            target=run_worker,
            args=(
                child,
                spec.executor,
                str(spec.data_dir) if spec.data_dir else None,
                spec.log_level,
                str(spec.workspaces_file) if spec.workspaces_file else None,
            ),
            name="openeo-job-worker",
            daemon=True,
        )
        try:
            self.process.start()
        finally:
            child.close()  # ours: EOF on our end once the worker is gone
        self.pid = int(self.process.pid or 0)
        event = self.read() if self.conn.poll(ready_timeout) else None
        if event is None or event.get("event") != "ready":
            self.close()
            how = describe_exit(self.process.exitcode)
            raise WorkerDied(f"the worker process {self.pid} did not start ({how})")

    @property
    def alive(self) -> bool:
        return not self.killed and self.process.exitcode is None and self.process.is_alive()

    def read(self) -> dict[str, Any] | None:
        """The next event, or ``None`` once the worker is gone."""
        try:
            event = self.conn.recv()
        except (EOFError, OSError):
            return None
        if not isinstance(event, dict):
            logger.warning("worker %d: unexpected message %r", self.pid, type(event))
            return self.read()
        return event

    def send(self, message: Mapping[str, Any]) -> bool:
        try:
            self.conn.send(dict(message))
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def kill(self) -> None:
        self.killed = True
        if self.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError, AttributeError):
                self.process.kill()

    def wait(self) -> int | None:
        self.process.join()
        return self.process.exitcode

    def close(self) -> None:
        self.kill()
        self.process.join()
        with contextlib.suppress(OSError):
            self.conn.close()


@dataclass
class _Slot:
    """What one supervising thread is doing (guarded by the store's lock)."""

    index: int
    worker: _Worker | None = None
    job_id: str | None = None


class JobRunner:
    """Runs started jobs in ``workers`` worker processes and records their progress in the store.

    ``spec`` says what the workers run. Workers are started at once in the background, so the first
    job finds the engine loaded; they are forked from a forkserver that imported ``spec.preload``.
    """

    def __init__(
        self,
        store: JobStore,
        spec: WorkerSpec,
        workers: int = 2,
        *,
        ready_timeout: float = 120.0,
    ) -> None:
        self.store = store
        self._spec = spec
        _set_preload(spec.preload)
        self._ready_timeout = ready_timeout
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._slots = [_Slot(i) for i in range(max(1, workers))]
        self._threads = [
            threading.Thread(
                target=self._supervise, args=(slot,), name=f"openeo-job-{slot.index}", daemon=True
            )
            for slot in self._slots
        ]
        for thread in self._threads:
            thread.start()

    # --- API used by the backend --------------------------------------------------------------------

    def start(self, job_id: str) -> JobRecord:
        with self.store.lock:
            record = self.store.get(job_id)
            if record.status not in RESTARTABLE:
                return record
            if record.status != "created":
                self.store.discard_run(job_id, RESTARTED.format(status=record.status))
            record = self.store.log(
                job_id, "info", "Job queued.", status="queued", progress=0.0, started=None, finished=None
            )
        self._queue.put(job_id)
        return record

    def cancel(self, job_id: str) -> JobRecord:
        with self.store.lock:
            record = self.store.get(job_id)
            if record.status not in ("queued", "running"):
                return record
            record = self.store.log(job_id, "warning", "Job canceled by the user.", status="canceled")
            for slot in self._slots:
                if slot.job_id == job_id and slot.worker is not None:
                    logger.info("job %s canceled: killing worker %d", job_id, slot.worker.pid)
                    slot.worker.kill()
            return record

    def worker_pids(self) -> list[int]:
        with self.store.lock:
            return [s.worker.pid for s in self._slots if s.worker is not None and s.worker.alive]

    def shutdown(self, wait: bool = False) -> None:
        self._stopping.set()
        for _ in self._slots:
            self._queue.put(None)
        with self.store.lock:
            workers = [s.worker for s in self._slots if s.worker is not None]
        for worker in workers:
            worker.kill()  # the supervising threads reap them
        if wait:
            for thread in self._threads:
                thread.join(timeout=30)

    # --- supervision --------------------------------------------------------------------------------

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

    def _spawn(self, slot: _Slot) -> _Worker | None:
        """Start the slot's worker; ``None`` (logged) if it cannot start or the runner is stopping."""
        if self._stopping.is_set():
            return None
        begin = time.monotonic()
        try:
            worker = _Worker(self._spec, self._ready_timeout)
        except Exception as exc:  # forkserver or executor start-up failure: jobs then fail, not hang
            logger.warning("batch job worker %d could not start: %s", slot.index, exc)
            return None
        with self.store.lock:
            if self._stopping.is_set():
                worker.close()
                return None
            slot.worker = worker
        logger.info(
            "batch job worker %d: process %d ready in %.1f s",
            slot.index,
            worker.pid,
            time.monotonic() - begin,
        )
        return worker

    def _supervise(self, slot: _Slot) -> None:
        worker = self._spawn(slot)
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                break
            if worker is None or not worker.alive:
                if worker is not None:
                    worker.close()
                worker = self._spawn(slot)
            if worker is None:
                self._fail_unstarted(job_id)
                continue
            try:
                self._run(slot, worker, job_id)
            except Exception:  # the supervisor must survive anything a job does
                logger.exception("supervising job %s failed", job_id)
                worker.kill()
            if not worker.alive:
                worker.close()
                worker = None if self._stopping.is_set() else self._spawn(slot)
        if worker is not None:
            worker.close()

    def _fail_unstarted(self, job_id: str) -> None:
        with self.store.lock:
            if self._still(job_id, "queued"):
                self.store.log(
                    job_id,
                    "error",
                    "Job failed: no worker process could be started; see the backend log.",
                    code="WorkerUnavailable",
                    status="error",
                    finished=_now(),
                )

    def _run(self, slot: _Slot, worker: _Worker, job_id: str) -> None:
        with self.store.lock:
            if not self._still(job_id, "queued"):
                return
            record = self.store.log(
                job_id,
                "info",
                f"Job running in worker process {worker.pid}.",
                status="running",
                started=_now(),
                progress=10.0,
            )
            slot.job_id = job_id
        work = self.store.job_dir(job_id) / f".work-{secrets.token_hex(4)}"
        begin = time.monotonic()
        try:
            sent = worker.send({"job_id": job_id, "process": record.process, "out_dir": str(work)})
            event = self._await_outcome(worker, job_id) if sent else None
        finally:
            with self.store.lock:
                slot.job_id = None
        if event is None:
            self._worker_died(worker, job_id, work)
        elif event.get("event") == "failed":
            self._failed(job_id, event, work)
        else:
            files = [ResultFile.from_dict(f) for f in event.get("results", [])]
            self._finished(job_id, files, work, time.monotonic() - begin)

    def _await_outcome(self, worker: _Worker, job_id: str) -> dict[str, Any] | None:
        while True:
            event = worker.read()
            if event is None:
                return None
            kind = event.get("event")
            if event.get("job_id") not in (None, job_id):
                logger.warning("worker %d: message for another job ignored: %s", worker.pid, kind)
                continue
            if kind == "progress":
                self._progress(job_id, float(event.get("percent", 0.0)))
            elif kind in ("finished", "failed"):
                return event

    def _worker_died(self, worker: _Worker, job_id: str, work: Path) -> None:
        code = worker.wait()
        shutil.rmtree(work, ignore_errors=True)
        self._forget_if_deleted(job_id)
        how = describe_exit(code)
        if self._stopping.is_set():
            logger.info("job %s: worker %d stopped with the backend (%s)", job_id, worker.pid, how)
            return
        with self.store.lock:
            if self._still(job_id, "running"):
                logger.warning("job %s: worker process %d died (%s)", job_id, worker.pid, how)
                self.store.log(
                    job_id,
                    "error",
                    f"Job failed: the worker process {worker.pid} died ({how}) before writing results.",
                    code="WorkerDied",
                    status="error",
                    finished=_now(),
                )
            else:
                logger.info("job %s: worker %d stopped (%s)", job_id, worker.pid, how)

    def _failed(self, job_id: str, event: Mapping[str, Any], work: Path) -> None:
        shutil.rmtree(work, ignore_errors=True)
        self._forget_if_deleted(job_id)
        message = str(event.get("message", ""))
        logger.warning("job %s failed: %s", job_id, message)
        with self.store.lock:
            if self._still(job_id, "running"):
                self.store.log(
                    job_id,
                    "error",
                    f"Job failed: {message}",
                    code=str(event.get("code") or "Internal"),
                    status="error",
                    finished=_now(),
                )
                if event.get("traceback"):
                    self.store.log(job_id, "debug", str(event["traceback"]))

    def _finished(self, job_id: str, files: list[ResultFile], work: Path, seconds: float) -> None:
        with self.store.lock:
            if not self._still(job_id, "running"):  # canceled or deleted meanwhile: discard
                shutil.rmtree(work, ignore_errors=True)
                self._forget_if_deleted(job_id)
                return
            final = self.store.results_dir(job_id)
            shutil.rmtree(final, ignore_errors=True)
            if work.exists():
                os.replace(work, final)
            else:
                final.mkdir(parents=True, exist_ok=True)
            self.store.log(
                job_id,
                "info",
                f"Job finished in {seconds:.2f} s: {', '.join(f.filename for f in files)}.",
                status="finished",
                finished=_now(),
                progress=100.0,
                results=tuple(files),
            )
