"""Start, watch and stop one local service process, ready when its health URL answers.

Every child gets :data:`~apex_core.local.contract.IMPORT_ROOT` first on its ``PYTHONPATH``, so
``python -m apex_core.local...`` works whatever the working directory.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from apex_core.local.contract import child_pythonpath
from apex_core.local.errors import LocalServiceError

__all__ = ["LocalService", "free_port", "wait_for_http"]

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str, expect: bytes | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            body: bytes = resp.read()
            return 200 <= resp.status < 300 and (expect is None or expect in body)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_for_http(
    url: str,
    *,
    timeout: float = 60.0,
    expect: bytes | None = None,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> float:
    """Poll ``url`` until it answers 2xx (containing ``expect`` if given); return the seconds waited.

    Fails fast, with the tail of its log, if ``process`` exits while we wait.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if _answers(url, expect):
            return time.monotonic() - start
        if process is not None and process.poll() is not None:
            raise LocalServiceError(
                f"The service behind {url} exited with code {process.returncode} before it was ready."
                + _log_tail(log_path)
            )
        if time.monotonic() > deadline:
            raise LocalServiceError(f"{url} did not answer within {timeout:.0f} s." + _log_tail(log_path))
        time.sleep(_POLL_INTERVAL)


def _log_tail(log_path: Path | None, lines: int = 20) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return "\nLast log lines:\n" + "\n".join(tail)


class LocalService:
    """One child process serving HTTP on loopback; a context manager that stops it on exit."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        health_url: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        expect: bytes | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.health_url = health_url
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.expect = expect
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> LocalService:
        if self.running:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": child_pythonpath(), **(self.env or {})}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        try:
            self.startup_seconds = wait_for_http(
                self.health_url,
                timeout=timeout,
                expect=self.expect,
                process=self.process,
                log_path=self.log_path,
            )
        except LocalServiceError:
            self.stop()
            raise
        logger.info("%s ready at %s in %.1f s", self.name, self.health_url, self.startup_seconds)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
