"""Run the embedded local services: ``python -m apex_core.local serve [--state-dir D] [--data-dir D]``.

Starts, at the same time, the OIDC issuer (``<state dir>/issuer``), the STAC catalogue trusting it
(``<state dir>/catalogue``) and the openEO backend (``<state dir>/openeo``; basic auth ``demo``/``demo``
plus the issuer as OIDC provider ``apex-local``): neither of the others needs the issuer before a
request arrives, only its URL, which is fixed before anything starts (its port is chosen first).
``--sequential`` starts them one after the other instead (the baseline of ``bench/bench_start.py``).

Before the openEO backend starts, its Sentinel-2 sample is put in place where it is missing or
incomplete: copied from ``sample_source_dir`` (default ``../shared/data``), else downloaded unless
``sample_download`` is false (:class:`~apex_core.local.settings.ServeSettings`), each file checked by
SHA-256 (:mod:`apex_core.local.provision`, the code setup uses). What could not be had is said on
stderr and in the line's ``sample_data``; the backend starts anyway, serving what there is.

Once every service answers it prints ONE JSON line to stdout, written by
:meth:`~apex_core.local.contract.EmbeddedEndpoints.to_line` (the codec the app reads it with)::

    {"openeo_url": ..., "catalogue_url": ..., "assets_url": ..., "oidc_issuer": ..., "token_url": ...,
     "clients": [{"name", "client_id", "client_secret", "roles"}, ...], "pids": {...}, "pid": ...,
     "sample_data": {"ok", "data_dir", "outcomes", "problems", ...}, "timings": {"issuer": s, ...}}

Its state and data directories default to the ``APEX_STATE_DIR`` / ``APEX_DATA_DIR`` settings
(:mod:`apex_core.local.settings`).

The client secrets in that line are the issuer's local test credentials; this line is the one place they
are printed. It then runs until SIGTERM or SIGINT (or, when its stdin is a pipe from a parent such as the
app, until that pipe closes) and stops the services in reverse order (exit 0). If a
service dies (or one fails to start), it stops the others and exits 1 naming it on stderr. To add a
service, write a starter ``(args, plan) -> Started`` and append it, with its name, to ``STARTERS``.
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
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from apex_core.local.contract import DEFAULT_PASSWORD, DEFAULT_USER, EMBEDDED_WORKSPACE, EmbeddedEndpoints
from apex_core.local.errors import LocalError
from apex_core.local.process import LocalService, free_port
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


@dataclass(frozen=True)
class Plan:
    """What every starter may know before any service runs: the issuer's URL (its port is chosen up
    front) and the audience its tokens carry."""

    issuer_url: str
    audience: str


Starter = Callable[[argparse.Namespace, Plan], Started]


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


def _start_issuer(args: argparse.Namespace, plan: Plan) -> Started:
    from apex_core.local.issuer import PUBLIC_CLIENT_ID, start_issuer

    handle = start_issuer(args.state_dir / "issuer", args.issuer_port, audience=plan.audience)
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


def _start_catalogue(args: argparse.Namespace, plan: Plan) -> Started:
    from apex_core.local.catalogue import start_catalogue

    # the catalogue fetches the issuer's keys at the first write, so it needs only the issuer's URL
    handle = start_catalogue(
        args.state_dir / "catalogue",
        plan.issuer_url,
        args.catalogue_port,
        audience=plan.audience,  # the audience serve announces is the one writes must carry
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


def _start_openeo(args: argparse.Namespace, plan: Plan) -> Started:
    from apex_core.local.issuer import openeo_provider_for
    from apex_core.local.openeo.auth import AuthOptions, OidcProviderOptions
    from apex_core.local.openeo.service import start_openeo_backend
    from apex_core.local.openeo.workspaces import WorkspaceSpec

    # openeo-driver asks the issuer only when a bearer token arrives: its URL is enough to start
    provider = openeo_provider_for(plan.issuer_url, OIDC_PROVIDER_ID)
    providers = (OidcProviderOptions.from_dict(provider),)
    auth = AuthOptions(basic_users={DEFAULT_USER: DEFAULT_PASSWORD}, oidc_providers=providers)
    # the backend keeps its own state under <state dir>/openeo
    # a folder workspace for export_workspace (use cases 2/3), files under <state dir>/workspace
    workspaces = (WorkspaceSpec.disk(EMBEDDED_WORKSPACE, args.state_dir / "workspace"),)
    service = start_openeo_backend(
        args.state_dir,
        args.data_dir,
        args.openeo_port,
        auth=auth,
        workspaces=workspaces,
        provision=True,  # never a silently empty backend: put the sample in place, or say why not
        sample_source=args.sample_source,
        download=args.download,
    )
    sample = service.sample_data
    if sample is not None and not sample.ok:
        sys.stderr.write(
            f"apex_core.local: the sample data under {sample.data_dir} is incomplete: "
            f"{'; '.join(sample.problems)}\n"
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
            "sample_data": sample.to_dict() if sample is not None else None,
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


def _plan(args: argparse.Namespace) -> Plan:
    from apex_core.local.issuer import DEFAULT_AUDIENCE, issuer_url_for

    if args.issuer_port is None:
        args.issuer_port = free_port()
    return Plan(issuer_url=issuer_url_for(args.issuer_port), audience=DEFAULT_AUDIENCE)


def _start_services(
    args: argparse.Namespace, started: dict[str, Started], stop: threading.Event
) -> tuple[dict[str, float], list[str]]:
    """Start every service of ``STARTERS`` (at once, or one after the other with ``--sequential``);
    each one that came up is put in ``started`` (in ``STARTERS`` order, so they stop in reverse)
    whatever the others did. Returns the seconds to each one's readiness and the failures."""
    plan = _plan(args)
    timings: dict[str, float] = {}
    failures: list[str] = []
    results: dict[str, Started] = {}

    def run(name: str, starter: Starter) -> Started:
        service = starter(args, plan)
        timings[name] = round(time.monotonic() - args.began, 3)
        logger.info("%s ready %.1f s after serve started", name, timings[name])
        return service

    def collect(name: str, result: Callable[[], Started]) -> None:
        try:
            results[name] = result()
        except LocalError as exc:
            failures.append(f"starting {name} failed: {exc}")
        except Exception as exc:  # any failure of a starter: the others are stopped cleanly
            failures.append(f"starting {name} failed: {exc!r}")

    if args.sequential:
        for name, starter in STARTERS:
            if stop.is_set() or failures:
                break
            collect(name, lambda: run(name, starter))  # noqa: B023 - called at once
    else:
        with ThreadPoolExecutor(max_workers=len(STARTERS), thread_name_prefix="start") as pool:
            futures: list[tuple[str, Future[Started]]] = [
                (name, pool.submit(run, name, starter)) for name, starter in STARTERS
            ]
            for name, future in futures:  # wait for every one: none is left starting unseen
                collect(name, future.result)
    for name, _ in STARTERS:
        if name in results:
            started[results[name].name] = results[name]
    return timings, failures


def _start_and_watch(args: argparse.Namespace, started: dict[str, Started], stop: threading.Event) -> int:
    timings, failures = _start_services(args, started, stop)
    for failure in failures:
        sys.stderr.write(f"apex_core.local: {failure}\n")
    if failures:
        return 1
    if stop.is_set():
        logger.info("stop requested during startup")
        return 0
    line: dict[str, Any] = {}
    pids: dict[str, int | None] = {"serve": os.getpid()}
    for service in started.values():
        line.update(service.info)
        pids.update(service.pids)
    line["pid"] = os.getpid()
    line["pids"] = pids
    line["timings"] = {**timings, "all": round(time.monotonic() - args.began, 3)}
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
    run.add_argument(
        "--sample-source",
        type=Path,
        default=None,
        help="a copy of the sample to provision from (default: the sample_source_dir setting)",
    )
    run.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        default=None,
        help="never download a missing sample file (default: the sample_download setting)",
    )
    run.add_argument(
        "--sequential", action="store_true", help="start the services one after the other (a baseline)"
    )
    args = parser.parse_args(argv)
    args.began = time.monotonic()
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
    args.sample_source = (args.sample_source or settings.sample_source).resolve()
    if args.download is None:
        args.download = settings.download
    try:
        args.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        sys.stderr.write(f"apex_core.local: cannot create the state directory {args.state_dir}: {exc}\n")
        return 2
    return serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
