"""The embedded openEO backend as an HTTP server on loopback.

Run ``python -m apex_core.local.openeo.server --port N --state-dir D --data-dir D [--auth-file F]``.
The API is at ``http://127.0.0.1:N/openeo/1.2``; ``GET /openeo/1.2/health`` answers when it is ready.

Besides the openEO API, ``GET /openeo/1.2/scenes/search?bbox=W,S,E,N&datetime=a/b`` (also under
``/scenes/search`` and as ``/collections/SENTINEL2_L2A/items``) returns the observations as a GeoJSON
FeatureCollection of STAC items with ``eo:cloud_cover``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import flask
from openeo_driver.config.load import get_backend_config
from openeo_driver.errors import ProcessUnsupportedException
from openeo_driver.views import build_app
from werkzeug.serving import make_server

from apex_core.local.openeo.auth import AuthOptions, auth_options_from_dict
from apex_core.local.openeo.backend import (
    LocalBackend,
    build_driver_config,
    install_bearer_cache_bound,
    install_signed_basic_tokens,
    scene_search,
    set_active_config,
)
from apex_core.local.openeo.data import DataCatalogue
from apex_core.local.openeo.routes import install_api_extensions

__all__ = ["API_PREFIX", "ServerOptions", "create_app", "main"]

logger = logging.getLogger(__name__)

API_PREFIX = "/openeo/1.2"
_DRIVER_CONFIG_FILE = Path(__file__).with_name("driver_config.py")


@dataclass(frozen=True)
class ServerOptions:
    state_dir: Path
    data_dir: Path
    auth: AuthOptions
    workers: int = 2
    workspaces_file: Path | None = None  # export_workspace targets (apex_core.local.openeo.workspaces)

    @property
    def openeo_dir(self) -> Path:
        return self.state_dir / "openeo"

    @property
    def jobs_dir(self) -> Path:
        return self.openeo_dir / "jobs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir),
            "data_dir": str(self.data_dir),
            "workers": self.workers,
            "workspaces": self.workspaces_file is not None,
        }


def _secret(path: Path) -> bytes:
    """A per-state-dir secret (kept across restarts so signed URLs and tokens stay valid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def remote_namespace(body: Any) -> tuple[str, str] | None:
    """The first ``(process_id, namespace)`` of a node, anywhere in ``body``, whose namespace is a URL."""
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            namespace = value.get("namespace")
            if isinstance(namespace, str) and namespace.strip().lower().startswith(("http://", "https://")):
                return str(value.get("process_id")), namespace
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def install_no_remote_namespaces(app: flask.Flask) -> None:
    """Refuse process graphs naming a process by URL before openeo-driver sees them.

    openeo-driver fetches such a URL (for its default job options) on ``/result`` and ``/jobs``, from
    the server, with no timeout, before any check: a request could make this back-end call any host or
    port it can reach. This back-end loads no processes from URLs: such a node is ``ProcessUnsupported``.
    """

    @app.before_request
    def refuse_remote_namespaces() -> None:
        if flask.request.method not in ("POST", "PUT", "PATCH") or not flask.request.is_json:
            return
        try:
            body = json.loads(flask.request.get_data(cache=True) or b"null")
        except (ValueError, RecursionError):
            return  # not JSON: the route answers that
        found = remote_namespace(body)
        if found is not None:
            raise ProcessUnsupportedException(process=found[0], namespace=found[1])


def create_app(options: ServerOptions) -> tuple[flask.Flask, LocalBackend]:
    """Build the Flask app (openeo-driver views + the scene search) and its backend."""
    secret = _secret(options.openeo_dir / "secret.key")
    config = build_driver_config(options.auth, signing_secret=secret.decode())
    set_active_config(config)
    os.environ["OPENEO_BACKEND_CONFIG"] = str(_DRIVER_CONFIG_FILE)
    get_backend_config(force_reload=True, show_stack=False)

    catalogue = DataCatalogue(options.data_dir)
    backend = LocalBackend(
        catalogue, options.jobs_dir, config, workers=options.workers, workspaces_file=options.workspaces_file
    )
    app = build_app(backend_implementation=backend)
    install_signed_basic_tokens(app, secret)
    install_bearer_cache_bound(app)
    install_api_extensions(app, backend)
    install_no_remote_namespaces(app)

    def search() -> flask.Response:
        return flask.jsonify(scene_search(catalogue, flask.request.args))

    app.add_url_rule("/scenes/search", "scenes_search", search, methods=["GET"])
    app.add_url_rule("/openeo/<version>/scenes/search", "scenes_search_versioned", search, methods=["GET"])
    return app, backend


# Signed result URLs: /jobs/<id>/results[/assets|/items|/items11]/<user base64>/<signature>/...
_SIGNED = re.compile(r"(/results(?:/assets|/items11|/items)?/)[A-Za-z0-9_=-]+/[0-9a-f]{32}")


class _RedactSignatures(logging.Filter):
    """Signed asset URLs work without login: log them with the signature replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/results" in message:
            redacted = _SIGNED.sub(r"\1***/***", message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


def _quiet_secrets() -> None:
    # openeo-driver logs a refused bearer token verbatim at WARNING: keep tokens out of the logs.
    logging.getLogger("openeo_driver.users.auth").setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactSignatures())


def _warm_up() -> None:
    """Import the execution engine in the background; the first request needing it waits for it."""
    begin = time.monotonic()
    importlib.import_module("apex_core.local.openeo.engine")
    logger.info("execution engine ready in %.1f s", time.monotonic() - begin)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Embedded openEO backend (loopback only).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--auth-file", type=Path, default=None, help="JSON: basic_users, oidc_providers")
    parser.add_argument("--workers", type=int, default=2, help="batch job worker processes")
    parser.add_argument(
        "--workspaces-file", type=Path, default=None, help="JSON: workspaces for export_workspace (0600)"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    _quiet_secrets()
    auth = AuthOptions()
    if args.auth_file is not None:
        auth = auth_options_from_dict(json.loads(args.auth_file.read_text()))
    options = ServerOptions(
        state_dir=args.state_dir.resolve(),
        data_dir=args.data_dir.resolve(),
        auth=auth,
        workers=args.workers,
        workspaces_file=args.workspaces_file.resolve() if args.workspaces_file else None,
    )
    app, backend = create_app(options)
    server = make_server(args.host, args.port, app, threaded=True)
    threading.Thread(target=_warm_up, name="engine-warm-up", daemon=True).start()

    def stop(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info(
        "embedded openEO backend on http://%s:%d%s (%s)", args.host, args.port, API_PREFIX, options.to_dict()
    )
    try:
        server.serve_forever()
    finally:
        backend.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
