from __future__ import annotations

import sys
from pathlib import Path

import pytest

from apex_core.local.errors import LocalServiceError
from apex_core.local.process import LocalService, free_port


def test_starts_serves_and_stops(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "health").write_text("ok")
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(tmp_path)]
    service = LocalService(
        "http",
        argv,
        health_url=f"http://127.0.0.1:{port}/health",
        log_path=tmp_path / "log.txt",
        expect=b"ok",
    )
    with service:
        assert service.running
        assert service.startup_seconds is not None
    assert not service.running
    assert service.process is not None and service.process.returncode is not None


def test_a_crashing_service_fails_fast_with_its_log(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('boom: bad config', flush=True); sys.exit(3)"]
    service = LocalService(
        "bad", argv, health_url=f"http://127.0.0.1:{free_port()}/", log_path=tmp_path / "l"
    )
    with pytest.raises(LocalServiceError) as info:
        service.start(timeout=30)
    assert "exited with code 3" in str(info.value)
    assert "boom: bad config" in str(info.value)


def test_a_silent_service_times_out_and_is_stopped(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import threading; threading.Event().wait()"]
    service = LocalService(
        "mute", argv, health_url=f"http://127.0.0.1:{free_port()}/", log_path=tmp_path / "l"
    )
    with pytest.raises(LocalServiceError, match="did not answer within 1 s"):
        service.start(timeout=1)
    assert not service.running
