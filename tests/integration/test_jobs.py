"""Pure logic of apex_core.jobs (the HTTP flow is in tests/local/test_jobs_flow.py)."""

from __future__ import annotations

import datetime as dt
import http.server
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from openeo.rest import OpenEoApiError

from apex_core.device import DeviceInstructions
from apex_core.errors import AuthError, JobError, TokenExpired, UnauthorizedError, user_message
from apex_core.flow import JobOutcome
from apex_core.jobs import (
    ConnectionChoice,
    DownloadProgress,
    JobEstimate,
    JobInfo,
    JobLogEntry,
    NoRefreshTokenStore,
    _api_error,
    device_sign_in,
    job_headline,
    job_info,
    job_progress,
    next_poll_delay,
    work_folder,
)
from tests.services import loopback_http


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
    entry = JobLogEntry.from_dict({"id": "0", "level": "ERROR", "message": "m", "code": "NoDataAvailable"})
    assert entry.level == "error"
    assert JobLogEntry.from_dict(entry.to_dict()) == entry


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


def test_device_instructions_from_the_clients_text() -> None:
    complete = DeviceInstructions.from_text(
        "Visit http://127.0.0.1:5000/realm/device?user_code=ABCD-EFGH to authenticate."
    )
    assert complete.link == "http://127.0.0.1:5000/realm/device?user_code=ABCD-EFGH"
    assert complete.verification_uri == "http://127.0.0.1:5000/realm/device"
    assert complete.user_code == "ABCD-EFGH"
    plain = DeviceInstructions.from_text(
        "Visit https://auth.example.org/device and enter user code 'WXYZ-1234' to authenticate."
    )
    assert (plain.link, plain.verification_uri, plain.user_code) == (
        "https://auth.example.org/device",
        "https://auth.example.org/device",
        "WXYZ-1234",
    )
    assert DeviceInstructions.from_dict(plain.to_dict()) == plain
    assert DeviceInstructions.from_text("no link here").link is None


def test_the_refresh_token_store_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    store = NoRefreshTokenStore()
    store.set_refresh_token("https://issuer.example.org", "client", "a-refresh-token")
    assert store.get_refresh_token("https://issuer.example.org", "client") is None
    assert store.load() == {}
    assert not list(tmp_path.rglob("*"))


class _NotOpenEo(http.server.BaseHTTPRequestHandler):
    """A loopback HTTP server that is not an openEO backend: 404 for everything."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"code": "NotFound", "message": "nothing here"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_openeo() -> Iterator[str]:
    with loopback_http(_NotOpenEo) as url:
        yield f"{url}/openeo"


def test_a_failing_device_sign_in_reports_without_blocking(not_openeo: str) -> None:
    flow = device_sign_in(not_openeo, timeout=5)
    assert flow.state().status in ("starting", "failed")  # start() returned; the thread does the work
    assert flow.join(timeout=30)
    state = flow.state()
    assert state.status == "failed"
    assert isinstance(state.error, AuthError)
    assert "nothing here" in str(state.error)
    assert flow.result() is None
    assert state.to_dict()["status"] == "failed"
    flow.cancel()  # after the end: the outcome stays
    assert flow.state().status == "failed"


def test_invalid_token_is_a_session_expired_message() -> None:
    exc = OpenEoApiError(
        http_status_code=403, code="TokenInvalid", message="Authorization token has expired or is invalid."
    )
    error = _api_error(exc, "Connecting failed")
    assert isinstance(error, TokenExpired)
    assert user_message(error).title == "Your session has expired"
    unauthorized = _api_error(
        OpenEoApiError(http_status_code=401, code="CredentialsInvalid", message="no"), "Connecting failed"
    )
    assert isinstance(unauthorized, UnauthorizedError) and not isinstance(unauthorized, TokenExpired)


def test_job_headline_and_progress() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 30, tzinfo=dt.UTC)
    job = JobOutcome("j-1", "running", "NDVI", progress=40, created="2026-01-01T12:00:00Z")
    assert job_headline(job, now) == "**NDVI** · `j-1` · status **running** · 30 s since created"
    assert job_headline(JobOutcome("j-2", "queued")) == "**j-2** · `j-2` · status **queued**"
    assert job_progress(job) == 0.4
    assert job_progress(replace(job, status="finished")) is None
    assert job_progress(replace(job, progress=None)) is None


DURATIONS = {
    "PT2S": 2.0,
    "PT1M30S": 90.0,
    "PT0.5S": 0.5,
    "PT1.5H": 5400.0,
    "P1DT2H": 93600.0,
    "P1W": 7 * 86400.0,
    "P2W": 14 * 86400.0,
    "P1Y": 365 * 86400.0,  # years count 365 days, months 30: an estimate's reading
    "P1M": 30 * 86400.0,
    "P1Y2M3DT4H5M6S": (365 + 60 + 3) * 86400.0 + 4 * 3600 + 5 * 60 + 6,
    "P0D": 0.0,
}
NOT_DURATIONS = ["P1DT", "PT", "P", "", "T1H", "1H", "P1H", "PT1D", "2022-06-12", "junk", "PT-1S"]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS.items(), ids=DURATIONS.keys())
def test_estimate_durations_are_read_as_iso_8601(text: str, seconds: float) -> None:
    estimate = JobEstimate.from_dict({"duration": text})
    assert estimate.duration == text
    assert estimate.seconds == pytest.approx(seconds)


@pytest.mark.parametrize("text", NOT_DURATIONS)
def test_what_is_not_an_iso_8601_duration_has_no_seconds(text: str) -> None:
    estimate = JobEstimate.from_dict({"duration": text})
    assert estimate.seconds is None
    assert estimate.summary() == (f"duration {text}" if text else "the backend gave no figures")


def test_a_duration_that_is_not_text_has_no_seconds() -> None:
    assert JobEstimate.from_dict({"duration": 12}).seconds is None
