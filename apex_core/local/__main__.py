"""Run the embedded local services: ``python -m apex_core.local serve [--state-dir D] [--data-dir D]``.

Prints ONE JSON line to stdout once every service answers (e.g. ``{"openeo_url": ..., "pid": ...}``),
then runs until SIGTERM or SIGINT and stops the services. To add a service, write a starter
``(args) -> (LocalService, {key: value})`` and append it to ``STARTERS``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from apex_core.config import Settings
from apex_core.errors import ApexError
from apex_core.local.process import LocalService

logger = logging.getLogger("apex_core.local")


class ServiceHandle(Protocol):
    """What ``serve`` needs of a started service (a :class:`LocalService` or any handle with ``stop``)."""

    def stop(self) -> None: ...


Starter = Callable[[argparse.Namespace], tuple[ServiceHandle, dict[str, Any]]]


def _start_openeo(args: argparse.Namespace) -> tuple[ServiceHandle, dict[str, Any]]:
    from apex_core.local.openeo.service import start_openeo_backend

    service = start_openeo_backend(args.state_dir, args.data_dir, args.openeo_port)
    return service, {
        "openeo_url": service.url,
        "openeo_pid": service.process.pid if service.process else None,
    }


STARTERS: list[Starter] = [_start_openeo]


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    services: list[ServiceHandle] = []
    line: dict[str, Any] = {}
    try:
        for starter in STARTERS:
            service, keys = starter(args)
            services.append(service)
            line.update(keys)
        line["pid"] = os.getpid()
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stop.wait(1.0):
            dead = [
                str(getattr(s, "name", s)) for s in services if isinstance(s, LocalService) and not s.running
            ]
            if dead:
                logger.error("service(s) %s exited; stopping", ", ".join(dead))
                return 1
        return 0
    except ApexError as exc:
        sys.stderr.write(f"apex_core.local: {exc}\n")
        return 1
    finally:
        for service in reversed(services):
            service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apex_core.local", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="start the embedded services and keep them running")
    run.add_argument("--state-dir", type=Path, default=None, help="default: the APEX_STATE_DIR setting")
    run.add_argument("--data-dir", type=Path, default=None, help="default: the sample data dir setting")
    run.add_argument("--openeo-port", type=int, default=None, help="default: a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.load()
    except ApexError as exc:
        sys.stderr.write(f"apex_core.local: {exc}\n")
        return 2
    args.state_dir = (args.state_dir or settings.state_dir).resolve()
    args.data_dir = (args.data_dir or settings.sample_data_dir).resolve()
    return serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
