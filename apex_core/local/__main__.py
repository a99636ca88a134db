"""Run the embedded local services: ``python -m apex_core.local serve [--state-dir D] [--data-dir D]``.

Starts, in order, the OIDC issuer (``<state dir>/issuer``), the STAC catalogue trusting it
(``<state dir>/catalogue``) and the openEO backend (``<state dir>/openeo``; basic auth ``demo``/``demo``
plus the issuer as OIDC provider ``apex-local``). Once every service answers it prints ONE JSON line to
stdout, written by :meth:`~apex_core.local.contract.EmbeddedEndpoints.to_line` (the codec the app reads
it with)::

    {"openeo_url": ..., "catalogue_url": ..., "assets_url": ..., "oidc_issuer": ..., "token_url": ...,
     "clients": [{"name", "client_id", "client_secret", "roles"}, ...], "pids": {...}, "pid": ...}

Its state and data directories default to the ``APEX_STATE_DIR`` / ``APEX_DATA_DIR`` settings
(:mod:`apex_core.local.settings`).

The client secrets in that line are the issuer's local test credentials; this line is the one place they
are printed. It then runs until SIGTERM or SIGINT (or, when its stdin is a pipe from a parent such as the
app, until that pipe closes) and stops the services in reverse order (exit 0). If a
service dies, it stops the others and exits 1 naming it on stderr. To add a service, write a starter
``(args, started) -> Started`` and append it, with its name, to ``STARTERS``.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import stat
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from apex_core.local.contract import DEFAULT_PASSWORD, DEFAULT_USER, EMBEDDED_WORKSPACE, EmbeddedEndpoints
from apex_core.local.errors import LocalError
from apex_core.local.process import LocalService
from apex_core.local.settings import ServeSettings

logger = logging.getLogger("apex_core.local")

OIDC_PROVIDER_ID = "apex-local"
"""The id under which the openEO backend lists the local issuer at ``/credentials/oidc``."""


@dataclass(frozen=True)
class Started:
    """A running service as ``serve`` sees it: how to stop it, whether it is alive, what to print."""

    name: str
    handle: Any = field(repr=False)
    stop: Callable[[], None] = field(repr=False)
    alive: Callable[[], bool] = field(repr=False)
    info: Mapping[str, Any] = field(default_factory=dict)
    pids: Mapping[str, int | None] = field(default_factory=dict)


Starter = Callable[[argparse.Namespace, Mapping[str, Started]], Started]


def _pid(service: LocalService) -> int | None:
    return service.process.pid if service.process is not None else None


def _postmaster_alive(data_dir: Path) -> Callable[[], bool]:
    """Whether the PostgreSQL server of ``data_dir`` still runs (its ``postmaster.pid``, no subprocess)."""

    def alive() -> bool:
        pid = _postmaster_pid(data_dir)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    return alive


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def _start_issuer(args: argparse.Namespace, started: Mapping[str, Started]) -> Started:
    from apex_core.local.issuer import PUBLIC_CLIENT_ID, start_issuer

    handle = start_issuer(args.state_dir / "issuer", args.issuer_port)
    return Started(
        name="issuer",
        handle=handle,
        stop=handle.stop,
        alive=lambda: handle.service.running,
        info={
            "oidc_issuer": handle.issuer_url,
            "token_url": handle.token_url,
            "device_authorization_url": handle.device_authorization_url,
            # the one sanctioned place where the local clients' secrets are printed
            "clients": [c.to_dict(include_secret=True) for c in handle.clients],
            "public_client_id": PUBLIC_CLIENT_ID,
            "audience": handle.audience,
        },
        pids={"issuer": _pid(handle.service)},
    )


def _start_catalogue(args: argparse.Namespace, started: Mapping[str, Started]) -> Started:
    from apex_core.local.catalogue import start_catalogue

    issuer = started["issuer"].info
    handle = start_catalogue(
        args.state_dir / "catalogue",
        str(issuer["oidc_issuer"]),
        args.catalogue_port,
        audience=str(issuer["audience"]),  # the audience serve announces is the one writes must carry
    )
    postgres_alive = _postmaster_alive(handle.postgres.data_dir)
    return Started(
        name="catalogue",
        handle=handle,
        stop=handle.stop,
        alive=lambda: handle.running and postgres_alive(),
        info={"catalogue_url": handle.url, "assets_url": handle.assets_url},
        pids={
            "catalogue": _pid(handle.service),
            "postgres": _postmaster_pid(handle.postgres.data_dir),
        },
    )


def _start_openeo(args: argparse.Namespace, started: Mapping[str, Started]) -> Started:
    from apex_core.local.openeo.auth import AuthOptions, OidcProviderOptions
    from apex_core.local.openeo.service import start_openeo_backend
    from apex_core.local.openeo.workspaces import WorkspaceSpec

    providers: tuple[OidcProviderOptions, ...] = ()
    if "issuer" in started:
        provider = started["issuer"].handle.openeo_provider(OIDC_PROVIDER_ID)
        providers = (OidcProviderOptions.from_dict(provider),)
    auth = AuthOptions(basic_users={DEFAULT_USER: DEFAULT_PASSWORD}, oidc_providers=providers)
    # the backend keeps its own state under <state dir>/openeo
    # a folder workspace for export_workspace (use cases 2/3), files under <state dir>/workspace
    workspaces = (WorkspaceSpec.disk(EMBEDDED_WORKSPACE, args.state_dir / "workspace"),)
    service = start_openeo_backend(
        args.state_dir, args.data_dir, args.openeo_port, auth=auth, workspaces=workspaces
    )
    return Started(
        name="openeo",
        handle=service,
        stop=service.stop,
        alive=lambda: service.running,
        info={
            "openeo_url": service.url,
            "openeo_oidc_provider_id": OIDC_PROVIDER_ID if providers else None,
            # the local demo account: the one sanctioned place where local credentials are printed
            "openeo_username": DEFAULT_USER,
            "openeo_password": DEFAULT_PASSWORD,
        },
        pids={"openeo": _pid(service)},
    )


STARTERS: list[tuple[str, Starter]] = [
    ("issuer", _start_issuer),
    ("catalogue", _start_catalogue),
    ("openeo", _start_openeo),
]


def _stop_all(started: Mapping[str, Started]) -> bool:
    """Stop the services in reverse start order; False if one could not be stopped cleanly."""
    ok = True
    for service in reversed(list(started.values())):
        try:
            service.stop()
        except (LocalError, OSError) as exc:  # keep stopping the others
            sys.stderr.write(f"apex_core.local: stopping {service.name} failed: {exc}\n")
            ok = False
    return ok


def _start_and_watch(args: argparse.Namespace, started: dict[str, Started], stop: threading.Event) -> int:
    line: dict[str, Any] = {}
    pids: dict[str, int | None] = {"serve": os.getpid()}
    for name, starter in STARTERS:
        if stop.is_set():
            logger.info("stop requested during startup")
            return 0
        try:
            service = starter(args, started)
        except LocalError as exc:
            sys.stderr.write(f"apex_core.local: starting {name} failed: {exc}\n")
            return 1
        started[service.name] = service
        line.update(service.info)
        pids.update(service.pids)
    line["pid"] = os.getpid()
    line["pids"] = pids
    sys.stdout.write(EmbeddedEndpoints.from_dict(line).to_line() + "\n")  # the app reads it back
    sys.stdout.flush()
    while not stop.wait(1.0):
        dead = [s.name for s in started.values() if not s.alive()]
        if dead:
            sys.stderr.write(f"apex_core.local: service(s) {', '.join(dead)} exited; stopping the others\n")
            return 1
    return 0


def _watch_stdin(stop: threading.Event) -> None:
    """When stdin is an open pipe from a parent (the app), stop when the parent closes it or dies.

    Not for a terminal, ``/dev/null`` or a pipe that is already at end of file at startup.
    """
    try:
        fd = sys.stdin.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        ready, _, _ = select.select([fd], [], [], 0)
        if ready and not os.read(fd, 4096):
            return  # closed before we started: nobody to watch
    except (OSError, ValueError, AttributeError):
        return

    def watch() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        logger.info("stdin closed by the parent; stopping")
        stop.set()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def serve(args: argparse.Namespace) -> int:
    """Start every service, print the JSON line, wait for SIGTERM/SIGINT or a death; stop all; exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _watch_stdin(stop)
    started: dict[str, Started] = {}
    code = 1
    try:
        code = _start_and_watch(args, started, stop)
    finally:
        stopped_cleanly = _stop_all(started)
    return code if stopped_cleanly else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apex_core.local", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="start the embedded services and keep them running")
    run.add_argument("--state-dir", type=Path, default=None, help="default: the APEX_STATE_DIR setting")
    run.add_argument("--data-dir", type=Path, default=None, help="default: the sample data dir setting")
    run.add_argument("--issuer-port", type=int, default=None, help="default: a free port")
    run.add_argument("--catalogue-port", type=int, default=None, help="default: a free port")
    run.add_argument("--openeo-port", type=int, default=None, help="default: a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = ServeSettings.load()
    except LocalError as exc:
        sys.stderr.write(f"apex_core.local: {exc}\n")
        return 2
    args.state_dir = (args.state_dir or settings.state_dir).resolve()
    args.data_dir = (args.data_dir or settings.data_dir).resolve()
    try:
        args.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        sys.stderr.write(f"apex_core.local: cannot create the state directory {args.state_dir}: {exc}\n")
        return 2
    return serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
