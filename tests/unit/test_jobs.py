"""Pure logic of apex_core.jobs (the HTTP flow is in tests/local/test_jobs_flow.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apex_core.errors import JobError
from apex_core.jobs import (
    ConnectionChoice,
    DownloadProgress,
    JobInfo,
    LogEntry,
    job_info,
    next_poll_delay,
    work_folder,
)


def test_back_off_doubles_from_one_to_ten_seconds() -> None:
    delays = []
    delay = None
    for _ in range(6):
        delay = next_poll_delay(delay)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_connection_choice_keeps_no_secret() -> None:
    choice = ConnectionChoice("basic", "https://example.org/openeo", "alice")
    assert ConnectionChoice.from_dict(choice.to_dict()) == choice
    assert set(choice.to_dict()) == {"kind", "url", "username", "provider_id"}
    assert ConnectionChoice.from_dict({"kind": "bogus"}).kind == "embedded"


def test_job_info_and_logs_round_trip() -> None:
    info = JobInfo.from_dict({"id": "j-1", "status": "running", "title": "t", "progress": 40})
    assert info.progress == 40.0
    assert not info.final
    assert JobInfo.from_dict(info.to_dict()) == info
    assert JobInfo.from_dict({"id": "j-2", "status": "error"}).final
    entry = LogEntry.from_dict({"id": "0", "level": "ERROR", "message": "m", "code": "NoDataAvailable"})
    assert entry.level == "error"
    assert LogEntry.from_dict(entry.to_dict()) == entry


def test_download_progress_fraction() -> None:
    assert DownloadProgress("a", 50, 100, 0, 2).fraction == 0.25
    assert DownloadProgress("b", 100, 100, 1, 2).fraction == 1.0
    assert DownloadProgress("", 0, None, 0, 0).fraction == 1.0


def test_work_folder_is_session_scoped(tmp_path: Path) -> None:
    folder, sid = work_folder(tmp_path)
    _other, sid2 = work_folder(tmp_path)
    assert folder.parent == tmp_path / "work"
    assert sid != sid2
    assert work_folder(tmp_path, sid) == (folder, sid)
    with pytest.raises(ValueError, match="session id"):
        work_folder(tmp_path, "../x")


def test_malformed_job_id_is_rejected_before_any_request() -> None:
    with pytest.raises(JobError, match="not a job id"):
        job_info(None, "../etc")  # type: ignore[arg-type]
