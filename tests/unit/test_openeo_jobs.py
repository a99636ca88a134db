"""Job records of the embedded openEO backend: persistence across restarts and the worker's life cycle."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from apex_core.local.openeo.engine import ResultFile
from apex_core.local.openeo.jobs import JobNotFound, JobRecord, JobRunner, JobStore, Progress, new_job_id

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
)


def _write_result(process: Mapping[str, Any], out_dir: Path, progress: Progress) -> list[ResultFile]:
    progress(50.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULT.filename).write_bytes(b"II*\x00x")
    return [RESULT]


def _fail(process: Mapping[str, Any], out_dir: Path, progress: Progress) -> list[ResultFile]:
    raise RuntimeError("disk on fire")


def _wait(store: JobStore, job_id: str, statuses: set[str], timeout: float = 10.0) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = store.get(job_id)
        if record.status in statuses:
            return record
        assert time.monotonic() < deadline, f"still {record.status}"
        time.sleep(0.01)


def test_record_round_trips_through_json() -> None:
    record = JobRecord(id=new_job_id(), user_id="demo", process={"process_graph": {}}, results=(RESULT,))
    assert JobRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert ResultFile.from_dict(RESULT.to_dict()) == RESULT


def test_job_ids_are_path_safe(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    with pytest.raises(JobNotFound):
        store.job_dir("../../etc")
    assert store.job_dir(new_job_id()).parent == tmp_path


def test_finished_job_runs_and_survives_restart(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    runner = JobRunner(store, _write_result, workers=1)
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process={"process_graph": {}}))
    assert record.status == "created"
    runner.start(record.id)
    done = _wait(store, record.id, {"finished", "error"})
    runner.shutdown()
    assert done.status == "finished"
    assert done.progress == 100.0
    assert (store.results_dir(record.id) / "openEO.tif").is_file()

    again = JobStore(tmp_path)
    reloaded = again.get(record.id, "demo")
    assert reloaded.status == "finished"
    assert reloaded.results == (RESULT,)
    assert [r.id for r in again.list("demo")] == [record.id]
    assert again.list("someone-else") == []
    with pytest.raises(JobNotFound):
        again.get(record.id, "someone-else")


def test_failure_becomes_error_with_log(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    runner = JobRunner(store, _fail, workers=1)
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process={}))
    runner.start(record.id)
    failed = _wait(store, record.id, {"finished", "error"})
    runner.shutdown()
    assert failed.status == "error"
    errors = [entry for entry in failed.logs if entry.level == "error"]
    assert errors[0].code == "RuntimeError"
    assert "disk on fire" in errors[0].message
    assert not store.results_dir(record.id).exists()


def test_interrupted_jobs_become_errors_on_restart(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process={}))
    store.update(record.id, status="running")
    reloaded = JobStore(tmp_path).get(record.id)
    assert reloaded.status == "error"
    assert reloaded.logs[-1].code == "Interrupted"


def test_cancel_and_delete(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    runner = JobRunner(store, _write_result, workers=1)
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process={}))
    assert runner.cancel(record.id).status == "created"  # nothing to cancel yet
    store.update(record.id, status="queued")
    assert runner.cancel(record.id).status == "canceled"
    store.delete(record.id)
    runner.shutdown()
    with pytest.raises(JobNotFound):
        store.get(record.id)
    assert not (tmp_path / record.id).exists()


def test_job_deleted_while_running_leaves_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    started = threading.Event()
    release = threading.Event()

    def slow(process: Mapping[str, Any], out_dir: Path, progress: Progress) -> list[ResultFile]:
        started.set()
        assert release.wait(10)
        return _write_result(process, out_dir, progress)

    runner = JobRunner(store, slow, workers=1)
    record = store.create(JobRecord(id=new_job_id(), user_id="demo", process={}))
    runner.start(record.id)
    assert started.wait(10)
    assert store.get(record.id).status == "running"
    runner.cancel(record.id)
    store.delete(record.id)
    release.set()
    runner.shutdown(wait=True)
    assert not (tmp_path / record.id).exists()
