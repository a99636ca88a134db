"""Job records of the embedded openEO backend: persistence across restarts, worker processes' life cycle.

The runner starts real worker processes (forked by its forkserver) whose executor is
:func:`fake_executor` below, chosen by the process graph: ``{"fake": "ok" | "fail" | "exit" | "segv" |
"block", "fifo": path}``. ``block`` waits until the test writes to its FIFO, so a job stays running
exactly as long as the test needs it to.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apex_core.local.openeo.jobs import (
    JobNotFound,
    JobRecord,
    JobRunner,
    JobStore,
    WorkerSpec,
    describe_exit,
    new_job_id,
)
from apex_core.local.openeo.model import BandStatistics, ResultFile

RESULT = ResultFile(
    filename="openEO.tif",
    media_type="image/tiff; application=geotiff; profile=cloud-optimized",
    datetime=dt.datetime(2022, 6, 12, tzinfo=dt.UTC),
    bands=("NDVI",),
    epsg=3857,
    shape=(10, 20),
    proj_bbox=(0.0, 0.0, 20.0, 10.0),
    bbox=(11.0, 46.0, 11.1, 46.1),
    size=5,
    statistics=(BandStatistics(-0.2, 0.9, 0.5, 0.1, 99.5),),
)
TIMEOUT = 120.0  # a worker may take long to start on a loaded 2-core machine (deadline, not a wait)


# The worker-side executor of these tests, written to a module of its own so that a worker starts fast
# (it runs in the worker process, not in pytest).
FAKE_EXECUTOR = """
import os
import signal
from pathlib import Path

from apex_core.local.openeo.model import ResultFile

RESULT = ResultFile.from_dict(RESULT_DICT)


def fake_executor(data_dir):
    def run(process, out_dir, progress):
        kind = process.get("fake", "ok")
        if kind == "fail":
            raise RuntimeError("disk on fire")
        if kind == "exit":
            os._exit(3)
        if kind == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if kind == "block":
            with open(process["fifo"]) as fh:
                fh.read()
        progress(50.0)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / RESULT.filename).write_bytes(b"II*\\x00x")
        return [RESULT]

    return run
"""
SPEC = WorkerSpec(executor="fake_openeo_executor:fake_executor")


@pytest.fixture
def fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``fake_openeo_executor`` importable here and in the workers (they get our ``sys.path``)."""
    folder = tmp_path / "fake-executor"
    folder.mkdir()
    source = FAKE_EXECUTOR.replace("RESULT_DICT", repr(RESULT.to_dict()))
    (folder / "fake_openeo_executor.py").write_text(source)
    monkeypatch.syspath_prepend(str(folder))


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs")


@pytest.fixture
def runner(store: JobStore, fake_module: None) -> Iterator[JobRunner]:
    runner = JobRunner(store, SPEC, workers=2)
    yield runner
    runner.shutdown(wait=True)


def _submit(store: JobStore, runner: JobRunner, process: dict[str, Any]) -> str:
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process=process))
    runner.start(record.id)
    return record.id


def _wait(store: JobStore, job_id: str, statuses: set[str], timeout: float = TIMEOUT) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = store.get(job_id)
        if record.status in statuses:
            return record
        assert time.monotonic() < deadline, f"still {record.status}"
        time.sleep(0.01)


def _worker_pid(record: JobRecord) -> int:
    for entry in reversed(record.logs):  # the latest run
        match = re.search(r"worker process (\d+)", entry.message)
        if match:
            return int(match.group(1))
    raise AssertionError(f"no worker pid in {[e.message for e in record.logs]}")


def _release(fifo: Path, timeout: float = TIMEOUT) -> None:
    """Let a ``block`` job go on (waits until its worker has the FIFO open for reading)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            assert time.monotonic() < deadline, f"nobody reads {fifo}"
            time.sleep(0.01)
            continue
        os.write(fd, b"go")
        os.close(fd)
        return


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _gone(pid: int, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            break  # reaped between two looks: gone
        if "State:\tZ" in status:
            break
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.01)


# --- records ------------------------------------------------------------------------------------------------


def test_record_round_trips_through_json() -> None:
    record = JobRecord(id=new_job_id(), user_id="demo", process={"process_graph": {}}, results=(RESULT,))
    assert JobRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert ResultFile.from_dict(RESULT.to_dict()) == RESULT


def test_old_records_without_statistics_still_load() -> None:
    old = RESULT.to_dict()
    del old["statistics"], old["data_type"]
    loaded = ResultFile.from_dict(old)
    assert loaded.statistics == ()
    assert loaded.data_type == "float32"


def test_statistics_without_valid_pixels_omit_the_numbers() -> None:
    empty = BandStatistics(None, None, None, None, 0.0)
    assert empty.to_dict() == {"valid_percent": 0.0}
    assert BandStatistics.from_dict(empty.to_dict()) == empty


def test_job_ids_are_path_safe(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    with pytest.raises(JobNotFound):
        store.job_dir("../../etc")
    assert store.job_dir(new_job_id()).parent == tmp_path


def test_describe_exit() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-9) == "signal 9 (SIGKILL)"


def test_interrupted_jobs_become_errors_on_restart(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process={}))
    store.update(record.id, status="running")
    reloaded = JobStore(tmp_path).get(record.id)
    assert reloaded.status == "error"
    assert reloaded.logs[-1].code == "Interrupted"


# --- running in worker processes ----------------------------------------------------------------------------


def test_finished_job_runs_in_a_worker_and_survives_restart(store: JobStore, runner: JobRunner) -> None:
    job_id = _submit(store, runner, {"fake": "ok"})
    done = _wait(store, job_id, {"finished", "error"})
    assert done.status == "finished", [e.message for e in done.logs]
    assert done.progress == 100.0
    assert _worker_pid(done) != os.getpid()
    assert _worker_pid(done) in runner.worker_pids()  # the worker stays for the next job
    assert (store.results_dir(job_id) / "openEO.tif").is_file()
    runner.shutdown(wait=True)

    again = JobStore(store.jobs_dir)
    reloaded = again.get(job_id, "demo")
    assert reloaded.status == "finished"
    assert reloaded.results == (RESULT,)
    assert [r.id for r in again.list("demo")] == [job_id]
    assert again.list("someone-else") == []
    with pytest.raises(JobNotFound):
        again.get(job_id, "someone-else")


def test_failure_becomes_error_with_log(store: JobStore, runner: JobRunner) -> None:
    job_id = _submit(store, runner, {"fake": "fail"})
    failed = _wait(store, job_id, {"finished", "error"})
    assert failed.status == "error"
    errors = [entry for entry in failed.logs if entry.level == "error"]
    assert errors[0].code == "Internal"  # the back-end's own failure (not the graph's): openEO's code for it
    assert "RuntimeError: disk on fire" in errors[0].message
    assert any("Traceback" in entry.message for entry in failed.logs if entry.level == "debug")
    assert not store.results_dir(job_id).exists()


@pytest.mark.parametrize(("kind", "how"), [("exit", "exit code 3"), ("segv", "signal 11 (SIGSEGV)")])
def test_dead_worker_becomes_error_and_is_replaced(
    store: JobStore, runner: JobRunner, kind: str, how: str
) -> None:
    job_id = _submit(store, runner, {"fake": kind})
    failed = _wait(store, job_id, {"finished", "error"})
    assert failed.status == "error"
    (error,) = [entry for entry in failed.logs if entry.level == "error"]
    assert error.code == "WorkerDied"
    assert f"worker process {_worker_pid(failed)} died ({how})" in error.message
    # The runner goes on with a new worker.
    after = _wait(store, _submit(store, runner, {"fake": "ok"}), {"finished", "error"})
    assert after.status == "finished"
    assert _worker_pid(after) != _worker_pid(failed)


def test_cancel_kills_the_running_worker(store: JobStore, runner: JobRunner, tmp_path: Path) -> None:
    fifo = _fifo(tmp_path, "block")
    job_id = _submit(store, runner, {"fake": "block", "fifo": str(fifo)})
    running = _wait(store, job_id, {"running"})
    pid = _worker_pid(running)
    assert runner.cancel(job_id).status == "canceled"
    _gone(pid)
    record = store.get(job_id)
    assert record.status == "canceled"
    assert not [entry for entry in record.logs if entry.level == "error"]
    assert not store.results_dir(job_id).exists()
    # Restarting the canceled job works, on a new worker.
    runner.start(job_id)
    again = _wait(store, job_id, {"running"})
    _release(fifo)
    done = _wait(store, job_id, {"finished", "error"})
    assert done.status == "finished"
    assert _worker_pid(again) != pid


def test_cancel_before_start(store: JobStore, runner: JobRunner) -> None:
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process={}))
    assert runner.cancel(record.id).status == "created"  # nothing to cancel yet
    store.update(record.id, status="queued")
    assert runner.cancel(record.id).status == "canceled"
    store.delete(record.id)
    with pytest.raises(JobNotFound):
        store.get(record.id)
    assert not (store.jobs_dir / record.id).exists()


def test_jobs_run_concurrently_up_to_the_worker_count(
    store: JobStore, runner: JobRunner, tmp_path: Path
) -> None:
    fifos = [_fifo(tmp_path, f"block-{i}") for i in range(3)]
    ids = [_submit(store, runner, {"fake": "block", "fifo": str(f)}) for f in fifos]
    deadline = time.monotonic() + TIMEOUT
    while sorted(store.get(i).status for i in ids) != ["queued", "running", "running"]:
        assert time.monotonic() < deadline, [store.get(i).status for i in ids]
        time.sleep(0.01)
    running = [i for i in ids if store.get(i).status == "running"]
    assert len({_worker_pid(store.get(i)) for i in running}) == 2  # two processes at once
    for fifo in fifos:
        _release(fifo)
    for job_id in ids:
        assert _wait(store, job_id, {"finished", "error"}).status == "finished"


def test_job_deleted_while_running_leaves_nothing(store: JobStore, runner: JobRunner, tmp_path: Path) -> None:
    fifo = _fifo(tmp_path, "block")
    job_id = _submit(store, runner, {"fake": "block", "fifo": str(fifo)})
    pid = _worker_pid(_wait(store, job_id, {"running"}))
    runner.cancel(job_id)
    store.delete(job_id)
    _gone(pid)
    runner.shutdown(wait=True)
    assert not (store.jobs_dir / job_id).exists()


def test_a_worker_that_cannot_start_fails_the_job(store: JobStore) -> None:
    runner = JobRunner(store, WorkerSpec(executor="apex_core.no_such_module:factory"), workers=1)
    try:
        job_id = _submit(store, runner, {"fake": "ok"})
        failed = _wait(store, job_id, {"finished", "error"})
    finally:
        runner.shutdown(wait=True)
    assert failed.status == "error"
    assert failed.logs[-1].code == "WorkerUnavailable"


def test_worker_spec_round_trips(tmp_path: Path) -> None:
    spec = WorkerSpec(data_dir=tmp_path, log_level="DEBUG", preload=("apex_core.local.openeo.engine",))
    assert WorkerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert WorkerSpec.from_dict({}) == WorkerSpec()
