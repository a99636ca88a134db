"""A private PostgreSQL + PostGIS cluster in a state directory, with pgstac migrated into it.

PostgreSQL refuses to run as root: when we are root, ``initdb`` and ``pg_ctl`` run as the
``postgres`` user through ``runuser`` and the data directory is owned by that user. The cluster
listens on 127.0.0.1 only (port chosen at each start; no Unix socket, so long state paths
are fine); connections need the password generated at ``initdb`` time (stored 0600 next to it).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from apex_core.local.errors import LocalServiceError
from apex_core.local.issuer.state import write_private_file

__all__ = ["DATABASE", "PostgresCluster", "find_pg_bin"]

logger = logging.getLogger(__name__)

DATABASE = "pgstac"
_SUPERUSER = "postgres"
_PG_BIN_CANDIDATES = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)

# The auth rules table lives next to pgstac's, outside its schema, so pgstac never returns it.
_AUTH_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS apex;
CREATE TABLE IF NOT EXISTS apex.collection_auth (
    collection_id text PRIMARY KEY,
    read jsonb NOT NULL,
    write jsonb NOT NULL,
    updated timestamptz NOT NULL DEFAULT now()
);
"""


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (``APEX_PG_BIN`` overrides)."""
    override = os.environ.get("APEX_PG_BIN")
    candidates = [override] if override else list(_PG_BIN_CANDIDATES)
    for candidate in candidates:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise LocalServiceError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install postgresql-15 and "
        "postgresql-15-postgis-3, or set APEX_PG_BIN."
    )


@dataclass
class PostgresCluster:
    """One cluster in ``root`` (``root/pgdata``); not thread-safe."""

    root: Path
    pg_bin: Path = field(default_factory=find_pg_bin)
    port: int | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def _secret_path(self) -> Path:
        return self.root / "db-secret.json"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, argv: list[str], *, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        if self._as_root:
            argv = ["runuser", "-u", _SUPERUSER, "--", *argv]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalServiceError(f"Running {Path(argv[0]).name} failed: {exc}") from exc
        return result

    def _check(self, argv: list[str], what: str, *, timeout: float = 120.0) -> None:
        result = self._run(argv, timeout=timeout)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise LocalServiceError(f"{what} failed (exit {result.returncode}):\n{tail}")

    @property
    def password(self) -> str:
        try:
            data = json.loads(self._secret_path.read_text())
            return str(data["password"])
        except (OSError, ValueError, KeyError) as exc:
            raise LocalServiceError(
                f"The database secret in {self._secret_path} is missing or unreadable."
            ) from exc

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self._secret_path.exists()

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            return
        pw = pwd.getpwnam(_SUPERUSER)
        # postgres must traverse root (not list it) to reach its data dir and log file
        self.root.chmod(self.root.stat().st_mode | 0o711)
        check = subprocess.run(
            ["runuser", "-u", _SUPERUSER, "--", "test", "-x", str(self.root)],
            capture_output=True,
            check=False,
            timeout=30,
        )
        if check.returncode != 0:
            raise LocalServiceError(
                f"The postgres user cannot reach {self.root}: a parent directory is not searchable "
                "by other users (mode 0700). Choose a state directory under a world-searchable path."
            )
        if not self.log_path.exists():
            self.log_path.touch(mode=0o600)
        os.chown(self.log_path, pw.pw_uid, pw.pw_gid)

    def init(self) -> None:
        """``initdb`` a new cluster (SCRAM password auth on TCP)."""
        self._prepare_root()
        if self.initialized:
            return
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made cluster from an interrupted init
        password = secrets.token_urlsafe(24)
        write_private_file(self._secret_path, json.dumps({"password": password}).encode())
        self.data_dir.mkdir(mode=0o700)
        pwfile = self.root / ".initdb-pw"
        write_private_file(pwfile, password.encode())
        try:
            if self._as_root:
                pw = pwd.getpwnam(_SUPERUSER)
                os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            self._check(
                [
                    str(self.pg_bin / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    _SUPERUSER,
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        logger.info("Created a PostgreSQL cluster in %s", self.data_dir)

    def running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._run([str(self.pg_bin / "pg_ctl"), "status", "-D", str(self.data_dir)]).returncode == 0

    def start(self, port: int) -> None:
        if self.running():
            logger.warning("A PostgreSQL server was still running on %s; restarting it", self.data_dir)
            self.stop()
        self.port = port
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        started = time.monotonic()
        self._check(
            [
                str(self.pg_bin / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-o",
                options,
            ],
            "Starting PostgreSQL",
        )
        logger.info("PostgreSQL listening on 127.0.0.1:%d (%.1f s)", port, time.monotonic() - started)

    def stop(self) -> None:
        if not self.data_dir.exists() or not self.running():
            return
        self._check(
            [str(self.pg_bin / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)],
            "Stopping PostgreSQL",
        )
        logger.info("PostgreSQL on %s stopped", self.data_dir)

    def dsn(self, database: str = DATABASE) -> str:
        if self.port is None:
            raise LocalServiceError("PostgreSQL is not started.")
        return f"postgresql://{_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        """The ``PG*`` variables stac-fastapi-pgstac reads."""
        if self.port is None:
            raise LocalServiceError("PostgreSQL is not started.")
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": _SUPERUSER,
            "PGPASSWORD": self.password,
            "PGDATABASE": DATABASE,
        }

    def migrate(self) -> None:
        """Create the database if needed, migrate pgstac, create the auth-rules table."""
        import psycopg
        from pypgstac.db import PgstacDB
        from pypgstac.migrate import Migrate

        try:
            with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
            with PgstacDB(dsn=self.dsn()) as db:
                version = Migrate(db).run_migration()
            with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
                conn.execute(_AUTH_SCHEMA_SQL)
        except psycopg.Error as exc:
            raise LocalServiceError(f"Preparing the catalogue database failed: {exc}") from exc
        logger.info("pgstac schema at version %s", version)
