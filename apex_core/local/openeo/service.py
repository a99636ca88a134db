"""Start the embedded openEO backend as a child process on loopback."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from apex_core.local.contract import DEFAULT_PASSWORD, DEFAULT_USER
from apex_core.local.files import write_private_file
from apex_core.local.openeo.auth import AuthOptions
from apex_core.local.openeo.workspaces import WorkspaceSpec, write_workspaces_file
from apex_core.local.process import LocalService, free_port
from apex_core.local.provision import DEFAULT_SAMPLE_SOURCE, DataStatus, provision_sample_data

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USER", "OpenEoBackendService", "start_openeo_backend"]

logger = logging.getLogger(__name__)


class OpenEoBackendService(LocalService):
    """The backend process; ``url`` is its openEO API root (``http://127.0.0.1:<port>/openeo/1.2``)."""

    def __init__(
        self,
        *,
        port: int,
        state_dir: Path,
        data_dir: Path,
        auth_file: Path,
        workers: int = 2,
        workspaces_file: Path | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/openeo/1.2"
        self.state_dir = state_dir  # jobs, user-defined processes, logs: <state_dir>/openeo, /logs
        self.sample_data: DataStatus | None = None  # what provisioning found, when it ran
        argv = [
            sys.executable,
            "-m",
            "apex_core.local.openeo.server",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            "--data-dir",
            str(data_dir),
            "--auth-file",
            str(auth_file),
            "--workers",
            str(workers),
        ]
        if workspaces_file is not None:
            argv += ["--workspaces-file", str(workspaces_file)]
        super().__init__(
            "openeo",
            argv,
            health_url=f"{self.url}/health",
            log_path=state_dir / "logs" / "openeo.log",
            expect=b'"OK"',
        )


def _write_auth_file(path: Path, auth: AuthOptions) -> None:
    write_private_file(path, json.dumps(auth.to_dict(include_secrets=True)))


def start_openeo_backend(
    state_dir: Path,
    data_dir: Path,
    port: int | None = None,
    *,
    auth: AuthOptions | None = None,
    workers: int = 2,
    timeout: float = 90.0,
    workspaces: Sequence[WorkspaceSpec] = (),
    provision: bool = False,
    sample_source: Path | None = DEFAULT_SAMPLE_SOURCE,
    download: bool = True,
) -> OpenEoBackendService:
    """Start the backend (jobs under ``<state_dir>/openeo/jobs``) and wait until it answers.

    ``auth`` defaults to the demo account ``demo``/``demo``; credentials reach the child through a
    0600 file in the state directory, never its command line. ``workspaces`` (S3 buckets or folders)
    make it offer ``export_workspace``; their credentials travel the same way. Stop it with
    ``.stop()`` (or use it as a context manager). Raises
    :class:`~apex_core.local.errors.LocalServiceError` if it does not come up.

    With ``provision``, the Sentinel-2 sample is first put in place under ``data_dir`` where it is
    missing, damaged or incomplete (copied from ``sample_source``, else downloaded when ``download``;
    each file verified); the backend starts whatever that found, and ``service.sample_data`` says
    what it holds and, when something could not be had, why.
    """
    state_dir = state_dir.resolve()
    sample_data = None
    if provision:
        sample_data = provision_sample_data(data_dir.resolve(), sample_source, download=download)
    auth_file = state_dir / "openeo" / "auth.json"
    _write_auth_file(auth_file, auth or AuthOptions(basic_users={DEFAULT_USER: DEFAULT_PASSWORD}))
    workspaces_file = None
    if workspaces:
        workspaces_file = write_workspaces_file(state_dir / "openeo" / "workspaces.json", workspaces)
    service = OpenEoBackendService(
        port=port if port is not None else free_port(),
        state_dir=state_dir,
        data_dir=data_dir.resolve(),
        auth_file=auth_file,
        workers=workers,
        workspaces_file=workspaces_file,
    )
    service.sample_data = sample_data
    service.start(timeout=timeout)
    logger.info("embedded openEO backend at %s", service.url)
    return service
