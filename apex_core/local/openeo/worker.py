"""A batch-job worker process of the embedded backend: runs process graphs away from the API server.

The server's :class:`~apex_core.local.openeo.jobs.JobRunner` keeps a few worker processes alive, forked
from a ``multiprocessing`` forkserver that has imported the engine once (:data:`PRELOAD`), gives each
one job at a time, and replaces a worker that dies or is killed (a crash or a cancel costs one job,
never the API). Worker and runner talk over a ``multiprocessing`` pipe, one dict per message. The
worker receives jobs::

    {"job_id": "j-...", "process": {...}, "out_dir": "/.../.work-xxxx"}

and answers::

    {"event": "ready", "pid": 1234}                      once, when the executor is built
    {"event": "started", "job_id": "j-...", "pid": 1234}
    {"event": "progress", "job_id": "j-...", "percent": 60.0}
    {"event": "finished", "job_id": "j-...", "results": [ResultFile.to_dict(), ...]}
    {"event": "failed", "job_id": "j-...", "code": "...", "message": "...", "traceback": "..."}

It returns when the pipe closes (the server stopped) and ignores SIGINT/SIGTERM (the server kills it).
The executor is built once per worker by a factory ``factory(data_dir) -> Executor`` named
``module:factory``; the default is :func:`graph_executor` (openeo-processes-dask over the sample
data), tests name their own.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from apex_core.local.openeo.model import ResultFile, failure_of

__all__ = ["DEFAULT_EXECUTOR", "PRELOAD", "Executor", "Progress", "graph_executor", "run_worker", "serve"]

logger = logging.getLogger(__name__)

# Runs a process graph and writes its results into the given directory; returns the files. The third
# argument reports progress (percent) while it runs.
Progress = Callable[[float], None]
Executor = Callable[[Mapping[str, Any], Path, Progress], list[ResultFile]]
ExecutorFactory = Callable[..., Executor]  # factory(data_dir[, workspaces_file])

DEFAULT_EXECUTOR = "apex_core.local.openeo.worker:graph_executor"
# What the runner's forkserver imports once, so that a new worker is a fork away (not a 10 s import).
PRELOAD = (
    "apex_core.local.openeo.engine",
    "apex_core.local.openeo.data",
    "apex_core.local.openeo.worker",
    "apex_core.local.openeo.workspaces",
)


def graph_executor(data_dir: Path | None, workspaces_file: Path | None = None) -> Executor:
    """The real executor: the engine over :class:`~apex_core.local.openeo.data.DataCatalogue`.

    The engine and the catalogue are loaded here, once per worker, before the worker says it is ready.
    ``workspaces_file`` configures the workspaces ``export_workspace`` copies results to
    (:mod:`~apex_core.local.openeo.workspaces`).
    """
    if data_dir is None:
        raise ValueError("the graph executor needs --data-dir")
    engine = importlib.import_module("apex_core.local.openeo.engine")
    data = importlib.import_module("apex_core.local.openeo.data")
    catalogue = data.DataCatalogue(data_dir)
    engine.build_process_registry(catalogue)  # builds the shared registry now, not in the first job
    workspaces = importlib.import_module("apex_core.local.openeo.workspaces")
    configured = workspaces.load_workspaces(workspaces_file)

    def run(process: Mapping[str, Any], out_dir: Path, progress: Progress) -> list[ResultFile]:
        graph = process.get("process_graph", process)
        progress(20.0)
        request = engine.execute(graph, catalogue)
        progress(60.0)
        files: list[ResultFile] = engine.write_results(request, out_dir)
        if request.exports:
            progress(80.0)
            merge = out_dir.parent.name  # the job id: one folder per job unless merge says otherwise
            files = workspaces.export_results(
                configured, request.exports, out_dir, files, default_merge=merge
            )
        return files

    return run


def resolve_factory(spec: str) -> ExecutorFactory:
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr or "graph_executor")
    if not callable(factory):
        raise TypeError(f"{spec} is not callable")
    return factory  # type: ignore[no-any-return]


def serve(execute: Executor, conn: Connection) -> None:
    """Run the jobs received on ``conn`` one after the other, reporting on it; return when it closes."""
    conn.send({"event": "ready", "pid": os.getpid()})
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the server went away
            return
        job_id = str(job["job_id"])
        conn.send({"event": "started", "job_id": job_id, "pid": os.getpid()})

        def progress(percent: float, job_id: str = job_id) -> None:
            conn.send({"event": "progress", "job_id": job_id, "percent": float(percent)})

        try:
            files = execute(job["process"], Path(job["out_dir"]), progress)
        except Exception as exc:
            logger.info("job %s failed in worker %d: %s", job_id, os.getpid(), exc)
            code, _, message = failure_of(exc)
            conn.send(
                {
                    "event": "failed",
                    "job_id": job_id,
                    "code": code,
                    "message": message,
                    "traceback": "".join(traceback.format_exception(exc)).strip(),
                }
            )
            continue
        conn.send({"event": "finished", "job_id": job_id, "results": [f.to_dict() for f in files]})


def run_worker(
    conn: Connection,
    executor: str,
    data_dir: str | None,
    log_level: str,
    workspaces_file: str | None = None,
) -> None:
    """Entry point of a worker process (started by the runner from its forkserver)."""
    # The server decides when a worker ends (SIGKILL, or closing the connection): a Ctrl-C or SIGTERM
    # sent to the whole process group must not kill a job before the server knows it is stopping.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=log_level.upper(),
        format=f"%(asctime)s %(levelname)s worker[{os.getpid()}] %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    factory = resolve_factory(executor)
    data = Path(data_dir) if data_dir else None
    execute = factory(data, Path(workspaces_file)) if workspaces_file else factory(data)
    try:
        serve(execute, conn)
    except (BrokenPipeError, EOFError):  # the server went away
        return
