"""A pytest plugin for the openEO compliance suite's own run (``-p suite_offline_guard``): loopback only.

tests/local/test_openeo_compliance.py runs the suite in its own virtualenv with this folder on PYTHONPATH.
Imported when pytest loads its plugins (before the suite's plugin connects to the back-end), it refuses
every name resolution and connection beyond loopback with an ``OSError`` (what the suite would meet in CI,
which has no network) and writes each refusal, one per line, to the file named by ``APEX_SUITE_REFUSED_LOG``,
so that the harness can show the run reached nothing but the local back-end and issuer.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

_LOG = os.environ.get("APEX_SUITE_REFUSED_LOG")
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(host: Any) -> bool:
    name = host.decode() if isinstance(host, bytes) else str(host or "")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> OSError:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(what + "\n")
    return OSError(f"network access refused (the compliance run is loopback only): {what}")


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_loopback(host):
        raise _refuse(f"resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise _refuse(f"connect {address[0]!r}")


def _connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


socket.getaddrinfo = _getaddrinfo
socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]


def pytest_report_header() -> str:
    """The harness checks for this line: the guard was loaded into the suite's run."""
    return "network: loopback only (suite_offline_guard)"
