"""``python -m apex_core.local serve``: issuer, catalogue and openEO backend as one child process.

The command runs as a real subprocess on free loopback ports; everything is checked over HTTP.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openeo
import pytest
import requests

from apex_core.local.issuer import IssuerState

pytestmark = pytest.mark.services

T = 15  # seconds, every HTTP request
STARTUP_DEADLINE = 150.0  # seconds until the JSON line (a cold start with initdb takes ~20 s)
STOP_DEADLINE = 60.0


@pytest.fixture(scope="module")
def serve_state(local_state_root: Path) -> Path:
    """One state directory for this module (the second start reuses the database: faster)."""
    return local_state_root / f"serve-{uuid.uuid4().hex[:8]}"


class Serve:
    """The serve command as a child process, with its stderr in a file."""

    def __init__(self, state_dir: Path, data_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = state_dir.parent / f"{state_dir.name}-serve-{uuid.uuid4().hex[:6]}.stderr"
        self.began = time.monotonic()
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "apex_core.local",
                    "serve",
                    "--state-dir",
                    str(state_dir),
                    "--data-dir",
                    str(data_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self.startup_seconds: float | None = None

    def read_line(self, timeout: float = STARTUP_DEADLINE) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                raise AssertionError(
                    f"no JSON line from serve (exit {self.proc.poll()}): {buffer!r}\n{self.stderr()[-3000:]}"
                )
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    continue  # EOF: the exit check above reports it
                buffer += chunk
        self.startup_seconds = time.monotonic() - self.began
        first, rest = buffer.split(b"\n", 1)
        assert rest.strip() == b"", f"more than one line on stdout: {rest!r}"
        line: dict[str, Any] = json.loads(first)
        return line

    def wait(self, timeout: float = STOP_DEADLINE) -> int:
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        """Teardown safety net: the whole serve process group, if it still runs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def start_serve(serve_state: Path, openeo_data_dir: Path) -> Iterator[Callable[[], Serve]]:
    started: list[Serve] = []

    def start() -> Serve:
        serve = Serve(serve_state, openeo_data_dir)
        started.append(serve)
        return serve

    yield start
    for serve in started:
        serve.kill()


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive: it only waits to be reaped by its (exited) parent
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _urls(line: dict[str, Any]) -> list[str]:
    return [line["openeo_url"], line["catalogue_url"], line["oidc_issuer"]]


def test_serve_runs_issuer_catalogue_and_openeo(start_serve: Callable[[], Serve], serve_state: Path) -> None:
    serve = start_serve()
    line = serve.read_line()
    assert serve.startup_seconds is not None and serve.startup_seconds < STARTUP_DEADLINE
    assert line["pid"] == serve.proc.pid == line["pids"]["serve"]
    assert set(line["pids"]) >= {"serve", "issuer", "catalogue", "postgres", "openeo"}
    assert line["assets_url"] == f"{line['catalogue_url']}/assets"
    clients = {c["name"]: c for c in line["clients"]}
    assert set(clients) == {"admin", "editor", "noroles"}
    for client in clients.values():
        assert client["client_id"] and client["client_secret"] and isinstance(client["roles"], list)
    assert {"issuer", "catalogue", "openeo"} <= {p.name for p in serve_state.iterdir()}

    # every service answers
    caps = requests.get(line["openeo_url"], timeout=T)
    assert caps.status_code == 200 and caps.json()["api_version"].startswith("1.")
    landing = requests.get(f"{line['catalogue_url']}/", timeout=T)
    assert landing.status_code == 200 and landing.json()["type"] == "Catalog"
    discovery = requests.get(f"{line['oidc_issuer']}/.well-known/openid-configuration", timeout=T).json()
    assert discovery["issuer"] == line["oidc_issuer"]
    assert discovery["token_endpoint"] == line["token_url"]

    # a printed client gets a token that the catalogue accepts
    editor = clients["editor"]
    token = requests.post(
        line["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(editor["client_id"], editor["client_secret"]),
        timeout=T,
    ).json()["access_token"]
    cid = f"serve-{uuid.uuid4().hex[:8]}"
    doc = {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.1.0",
        "description": "published through the local serve command",
        "license": "CC-BY-4.0",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[11.30, 46.47, 11.38, 46.51]]},
            "temporal": {"interval": [["2022-06-12T00:00:00Z", None]]},
        },
        "_auth": {"read": ["apex-editor"], "write": ["apex-editor"]},
    }
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.post(f"{line['catalogue_url']}/collections", json=doc, headers=headers, timeout=T)
    assert created.status_code == 201, created.text
    assert requests.get(f"{line['catalogue_url']}/collections/{cid}", headers=headers, timeout=T).ok

    # the audience serve announces is the one the catalogue checks: a token for another one writes nothing
    health = requests.get(f"{line['catalogue_url']}/_apex/health", timeout=T).json()
    assert health["settings"]["audience"] == line["audience"]
    other_aud = IssuerState.load_or_create(serve_state / "issuer").sign(
        issuer=line["oidc_issuer"],
        subject="editor",
        roles=editor["roles"],
        azp=editor["client_id"],
        lifetime=300,
        audience="some-other-service",
    )
    refused = requests.post(
        f"{line['catalogue_url']}/collections",
        json={**doc, "id": f"{cid}-aud"},
        headers={"Authorization": f"Bearer {other_aud}"},
        timeout=T,
    )
    assert refused.status_code == 401, refused.text
    assert "audience" in refused.json()["detail"].lower()
    assert (
        requests.get(f"{line['catalogue_url']}/collections/{cid}-aud", headers=headers, timeout=T).status_code
        == 404
    )

    # the openEO backend knows the issuer (OIDC) and the demo account (basic)
    con = openeo.connect(line["openeo_url"]).authenticate_oidc_client_credentials(
        client_id=editor["client_id"],
        client_secret=editor["client_secret"],
        provider_id=line["openeo_oidc_provider_id"],
    )
    assert con.describe_account()["user_id"] == "editor"
    basic = openeo.connect(line["openeo_url"]).authenticate_basic(
        line["openeo_username"], line["openeo_password"]
    )
    assert basic.describe_account()["user_id"] == line["openeo_username"]
    # use cases 2/3: the embedded backend offers export_workspace into its folder workspace
    assert "export_workspace" in {p["id"] for p in basic.list_processes()}

    # SIGTERM: everything stops, exit 0
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.wait() == 0, serve.stderr()[-3000:]
    for url in _urls(line):
        assert not _port_open(url), url
    for name, pid in line["pids"].items():
        assert not _pid_alive(pid), name
    assert token not in serve.stderr()


def test_serve_exits_non_zero_when_a_service_dies(start_serve: Callable[[], Serve]) -> None:
    serve = start_serve()
    line = serve.read_line()
    os.killpg(line["pids"]["openeo"], signal.SIGKILL)  # the backend is its own process group
    code = serve.wait()
    assert code != 0
    assert "service(s) openeo exited" in serve.stderr()
    # the others were stopped before serve exited
    for url in _urls(line):
        assert not _port_open(url), url
    for name, pid in line["pids"].items():
        assert not _pid_alive(pid), name


def test_serve_stops_when_its_parent_closes_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app starts serve with a stdin pipe; when the app goes away the pipe closes and serve stops."""
    from apex_core.local.__main__ import _watch_stdin

    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        stop = threading.Event()
        _watch_stdin(stop)
        os.write(write_end, b"ignored\n")
        assert not stop.wait(0.3)
        os.close(write_end)
        assert stop.wait(5)

    # a pipe already at end of file at startup (nobody holds it) is not watched
    read_end, write_end = os.pipe()
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        stop = threading.Event()
        _watch_stdin(stop)
        assert not stop.wait(0.3)


@pytest.mark.parametrize(
    "after",
    ["PostgreSQL listening on", "STAC catalogue ready"],  # SIGTERM while the catalogue, then openEO, starts
)
def test_sigterm_during_startup_leaves_no_process_behind(
    start_serve: Callable[[], Serve], serve_state: Path, after: str
) -> None:
    import psutil

    serve = start_serve()
    seen: dict[int, psutil.Process] = {}

    def collect() -> None:
        try:
            for child in psutil.Process(serve.proc.pid).children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    deadline = time.monotonic() + STARTUP_DEADLINE
    while after not in serve.stderr():
        assert serve.proc.poll() is None, serve.stderr()[-3000:]
        assert time.monotonic() < deadline, f"never saw {after!r}: {serve.stderr()[-3000:]}"
        collect()
        time.sleep(0.05)
    collect()
    serve.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE
    while serve.proc.poll() is None:
        assert time.monotonic() < deadline, "serve did not stop after SIGTERM"
        collect()
        time.sleep(0.05)
    assert serve.proc.returncode == 0, serve.stderr()[-3000:]
    assert seen, "no child process was seen during startup"
    left = [f"{pid} {proc.name()}" for pid, proc in seen.items() if proc.is_running() and _pid_alive(pid)]
    assert left == [], left
    postmaster = serve_state / "catalogue" / "pgdata" / "postmaster.pid"
    if postmaster.exists():
        pid = int(postmaster.read_text().splitlines()[0])
        assert not _pid_alive(pid), "PostgreSQL still runs"
