"""Data that is always there, and a fast first minute (issue #17), with the services as the app starts
them (:class:`~apex_core.local.contract.EmbeddedServices`, ``serve`` in parallel):

- a fresh state dir with no data (a new ``APEX_STATE_DIR``) gets its sample from the local copy, checked,
  and the backend serves every area;
- when the sample cannot be had (no local copy, downloads off) the backend still starts and says why
  (``sample_data``), never a silently empty backend;
- the services started at once are all healthy and stop cleanly, and a failing one stops the others
  (no PostgreSQL left behind).
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from apex_core.local.contract import (
    DEFAULT_SAMPLE_SOURCE,
    SAMPLE_FILES,
    EmbeddedEndpoints,
    EmbeddedServices,
    search_scenes,
)
from apex_core.local.errors import LocalServiceError
from tests.services import process_alive, traversable_tmpdir, wait_until

pytestmark = pytest.mark.services

T = 15


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = traversable_tmpdir("apex-provisioning-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postgres_stopped(state_dir: Path) -> bool:
    pid_file = state_dir / "catalogue" / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return True
    try:
        return not process_alive(int(pid_file.read_text().splitlines()[0]))
    except (OSError, IndexError, ValueError):
        return True


def _stopped_cleanly(services: EmbeddedServices, endpoints: EmbeddedEndpoints, state_dir: Path) -> None:
    services.stop()
    assert services.status == "stopped"
    for name, pid in endpoints.pids.items():
        wait_until(lambda pid=pid: not process_alive(pid), 30, what=f"{name} ({pid}) still runs")
    assert _postgres_stopped(state_dir)


def test_a_fresh_state_dir_gets_its_sample_and_every_service_starts(state_dir: Path) -> None:
    assert (DEFAULT_SAMPLE_SOURCE / SAMPLE_FILES[0].path).is_file(), "../shared/data is needed here"
    data_dir = state_dir / "data"  # what a new APEX_STATE_DIR gives: nothing there
    services = EmbeddedServices(
        state_dir, data_dir, extra_args=["--sample-source", str(DEFAULT_SAMPLE_SOURCE), "--no-download"]
    )
    try:
        endpoints = services.start().wait(timeout=180)
        sample = endpoints.sample_data
        assert sample is not None and sample.ok, sample
        assert dict(sample.outcomes) == {spec.path: "copied" for spec in SAMPLE_FILES}
        assert sample.data_dir == str(data_dir.resolve())
        areas = {scene.area_id for scene in search_scenes(endpoints.openeo_url, timeout=T)}
        assert len(areas) == 3, areas

        # started at once, all answer; each one's readiness is announced, none after the line
        assert set(endpoints.timings) == {"issuer", "catalogue", "openeo", "all"}
        assert max(v for k, v in endpoints.timings.items() if k != "all") <= endpoints.timings["all"]
        assert requests.get(f"{endpoints.oidc_issuer}/health", timeout=T).ok
        assert requests.get(f"{endpoints.catalogue_url}/_mgmt/ping", timeout=T).ok
        assert requests.get(f"{endpoints.openeo_url}/health", timeout=T).ok
        # the catalogue and openEO started before the issuer answered: both use it at request time
        editor = endpoints.client("editor")
        token = requests.post(
            str(endpoints.token_url),
            data={"grant_type": "client_credentials"},
            auth=(editor.client_id, editor.client_secret),
            timeout=T,
        ).json()["access_token"]
        me = requests.get(
            f"{endpoints.openeo_url}/me",
            headers={"Authorization": f"Bearer oidc/{endpoints.openeo_oidc_provider_id}/{token}"},
            timeout=T,
        )
        assert me.status_code == 200 and me.json()["user_id"] == "editor", me.text
    finally:
        services.stop()
    _stopped_cleanly(services, endpoints, state_dir)

    # a second start finds the sample in place (checked, not copied again)
    again = EmbeddedServices(state_dir, data_dir, extra_args=["--no-download", "--sample-source", "/nowhere"])
    try:
        second = again.start().wait(timeout=180)
        assert second.sample_data is not None and second.sample_data.ok
        assert set(second.sample_data.outcomes.values()) == {"present"}
    finally:
        again.stop()
    _stopped_cleanly(again, second, state_dir)


def test_a_sample_that_cannot_be_had_is_reported_not_silent(state_dir: Path) -> None:
    missing = state_dir / "no-such-copy"
    services = EmbeddedServices(
        state_dir, state_dir / "data", extra_args=["--sample-source", str(missing), "--no-download"]
    )
    try:
        endpoints = services.start().wait(timeout=180)  # the backend starts anyway
        sample = endpoints.sample_data
        assert sample is not None and not sample.ok and sample.empty
        assert len(sample.problems) == len(SAMPLE_FILES)
        assert all(str(missing) in p and "downloads are off" in p for p in sample.problems)
        assert "sample_source_dir" in sample.remedy
        assert search_scenes(endpoints.openeo_url, timeout=T) == []
        log = services.log_path.read_text(errors="replace")
        assert "sample data under" in log and "is incomplete" in log
    finally:
        services.stop()
    _stopped_cleanly(services, endpoints, state_dir)


def test_a_service_that_fails_to_start_stops_the_others(state_dir: Path, openeo_data_dir: Path) -> None:
    with socket.socket() as taken:  # the openEO backend's port is taken: it cannot start
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        services = EmbeddedServices(
            state_dir, openeo_data_dir, extra_args=["--openeo-port", str(port), "--no-download"]
        )
        services.start()
        with pytest.raises(LocalServiceError, match="stopped before they were ready"):
            services.wait(timeout=180)
    assert services.status == "failed"
    log = services.log_path.read_text(errors="replace")
    assert "starting openeo failed" in log
    # the catalogue started meanwhile was stopped, its PostgreSQL too
    wait_until(lambda: _postgres_stopped(state_dir), 30, what="PostgreSQL still runs")
    services.stop()
