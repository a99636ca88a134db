"""The one way the embedded services write their state files (apex_core.local.files)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from apex_core.local.files import write_private_file
from apex_core.local.openeo.jobs import JobRecord, JobStore
from apex_core.local.openeo.udp import LocalUserDefinedProcesses


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_whole_private_and_replaced(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "state.json"
    write_private_file(target, "first ✓")
    assert target.read_text(encoding="utf-8") == "first ✓"
    assert _mode(target) == 0o600
    write_private_file(target, b"second")
    assert target.read_bytes() == b"second"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]  # no temporary file stays


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a folder where the file should go: the replace fails
    (target / "inside").write_text("kept")
    with pytest.raises(IsADirectoryError):
        write_private_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert (target / "inside").read_text() == "kept"


def test_job_records_and_user_processes_use_it(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    record = store.create(JobRecord(id="j-0123456789abcdef", user_id="demo", process={"process_graph": {}}))
    job_file = store.job_dir(record.id) / "job.json"
    assert _mode(job_file) == 0o600
    assert [p.name for p in job_file.parent.iterdir()] == ["job.json"]
    assert JobStore(tmp_path / "jobs").get(record.id).logs[0].message == "Job created."
    udps = LocalUserDefinedProcesses(tmp_path / "udp")
    graph = {"a": {"process_id": "absolute", "arguments": {"x": 1}, "result": True}}
    udps.save("alice", "p-1", {"process_graph": graph})
    files = [p for p in (tmp_path / "udp").rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["p-1.json"]
    assert _mode(files[0]) == 0o600
