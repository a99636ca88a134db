"""Fixtures that start the embedded local services on free loopback ports (``pytest -m services``).

tests/conftest.py imports them, so that every test directory shares ONE instance of each per session
(a fixture imported into a second conftest or test module would be a second definition, and start its
services a second time). Helpers here (``S3Server``, ``wait_for_workers``…) are imported from this module.
"""

from __future__ import annotations

# =============================================================================================
# Catalogue + OIDC issuer fixtures (apex_core.local.catalogue / apex_core.local.issuer)
# =============================================================================================
import contextlib
import http.server
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import requests

from apex_core.local.catalogue import CatalogueHandle, start_catalogue
from apex_core.local.catalogue.postgres import PostgresCluster
from apex_core.local.issuer import IssuerHandle, start_issuer
from apex_core.local.process import free_port

_T = TypeVar("_T")


def traversable_tmpdir(prefix: str) -> Path:
    """A fresh directory under /tmp that the `postgres` user can traverse (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


@pytest.fixture(scope="session")
def local_state_root() -> Iterator[Path]:
    """A state root that the ``postgres`` user can traverse, for the services of this test run."""
    root = traversable_tmpdir("apex-local-tests-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def issuer(local_state_root: Path) -> Iterator[IssuerHandle]:
    handle = start_issuer(local_state_root / "issuer")
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def catalogue(issuer: IssuerHandle, local_state_root: Path) -> Iterator[CatalogueHandle]:
    handle = start_catalogue(local_state_root / "catalogue", issuer.issuer_url, audience=issuer.audience)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def token_for(issuer: IssuerHandle) -> Callable[[str], str]:
    """``token_for("admin" | "editor" | "noroles")``: a client_credentials access token (cached)."""
    cache: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in cache:
            client = issuer.client(name)
            resp = requests.post(
                issuer.token_url,
                data={"grant_type": "client_credentials"},
                auth=(client.client_id, client.client_secret),
                timeout=10,
            )
            resp.raise_for_status()
            cache[name] = resp.json()["access_token"]
        return cache[name]

    return get


@pytest.fixture(scope="session")
def auth_header(token_for: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    """``auth_header("editor")`` -> ``{"Authorization": "Bearer ..."}``."""
    return lambda name: {"Authorization": f"Bearer {token_for(name)}"}


TokenFor = Callable[[str], str]  # the ``token_for`` fixture
AuthHeader = Callable[[str], dict[str, str]]  # the ``auth_header`` fixture


def new_collection_id(created: list[str], prefix: str) -> str:
    """A fresh collection id ``<prefix>-<10 hex>``, added to ``created`` (:func:`deleted_after_each_test`)."""
    cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
    created.append(cid)
    return cid


def deleted_after_each_test(created: list[str]) -> Callable[..., Iterator[None]]:
    """An autouse fixture for a test module (``_clean_up = deleted_after_each_test(CREATED)``): after each
    test the administrator deletes every collection whose id is in ``created``, leaving the session's
    shared catalogue as found (other tests list its collections page by page)."""

    @pytest.fixture(autouse=True)
    def _clean_up(catalogue: CatalogueHandle, token_for: TokenFor) -> Iterator[None]:
        yield
        headers = {"Authorization": f"Bearer {token_for('admin')}"}
        while created:
            cid = created.pop()
            resp = requests.delete(f"{catalogue.url}/collections/{cid}", headers=headers, timeout=15.0)
            assert resp.status_code in (200, 404), resp.text

    return _clean_up


# =============================================================================================
# end of catalogue + issuer fixtures
# =============================================================================================


# =============================================================================================
# Embedded openEO backend fixtures (apex_core.local.openeo)
# =============================================================================================
from apex_core.config import Settings  # noqa: E402
from apex_core.local.openeo.service import (  # noqa: E402
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    OpenEoBackendService,
    start_openeo_backend,
)
from apex_core.sampledata import ensure_sample_data  # noqa: E402


@pytest.fixture(scope="session")
def openeo_data_dir() -> Path:
    """The verified Sentinel-2 sample (copied from ../shared/data or downloaded when missing)."""
    dest = Settings.load().sample_data_dir
    ensure_sample_data(dest)
    return dest


@pytest.fixture(scope="session")
def openeo_backend(
    openeo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenEoBackendService]:
    """The real embedded backend, on a free loopback port, with its own state directory."""
    service = start_openeo_backend(tmp_path_factory.mktemp("openeo-state"), openeo_data_dir)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def openeo_credentials() -> tuple[str, str]:
    return DEFAULT_USER, DEFAULT_PASSWORD


# =============================================================================================
# end of embedded openEO backend fixtures
# =============================================================================================


# =============================================================================================
# openEO backend with the local issuer as OIDC provider (apex_core.local.openeo + issuer)
# =============================================================================================
from apex_core.local.openeo.auth import AuthOptions, OidcProviderOptions  # noqa: E402

OIDC_PROVIDER_ID = "apex-local"


@pytest.fixture(scope="session")
def openeo_backend_oidc(
    issuer: IssuerHandle, openeo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenEoBackendService]:
    """A second embedded backend (the ``openeo_backend`` one knows no issuer): demo/demo + the issuer."""
    auth = AuthOptions(
        basic_users={DEFAULT_USER: DEFAULT_PASSWORD},
        oidc_providers=(OidcProviderOptions.from_dict(issuer.openeo_provider(OIDC_PROVIDER_ID)),),
    )
    service = start_openeo_backend(tmp_path_factory.mktemp("openeo-oidc-state"), openeo_data_dir, auth=auth)
    yield service
    service.stop()


# =============================================================================================
# end of openEO backend + OIDC fixtures
# =============================================================================================


def wait_until(
    check: Callable[[], _T], timeout: float = 15.0, every: float = 0.1, what: str | Callable[[], object] = ""
) -> _T:
    """Call ``check`` until it returns something truthy and return that; fail the test after ``timeout``
    seconds, saying ``what`` (a text, or a function giving the state to show). ``every``: the poll
    interval, not a wait for the result."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"not met after {timeout} s: {detail or 'condition'}")
        time.sleep(every)


def wait_for_workers(url: str, count: int = 2, timeout: float = 120.0) -> list[int]:
    """The backend's worker pids once ``count`` workers are ready (a fresh backend loads its engines)."""

    def ready() -> list[int]:
        pids: list[int] = requests.get(f"{url}/health", timeout=10).json()["workers"]
        return pids if len(pids) >= count else []

    return wait_until(ready, timeout, what=f"{count} worker(s) ready")


# =============================================================================================
# An S3-compatible server on loopback: moto in server mode (asset hosting, openEO workspaces)
# =============================================================================================
import json  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402


@dataclass(frozen=True)
class S3Server:
    """moto's S3 on ``endpoint_url`` with one IAM user's real access key (``s3:*``)."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "eu-central-1"

    def client(self, access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=access_key_id or self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
        )

    def bucket(self, prefix: str = "apex") -> str:
        """A new bucket whose objects anyone may read (a bucket policy, as for published assets)."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        s3 = self.client()
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{name}/*",
                }
            ],
        }
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        return name

    @contextlib.contextmanager
    def checking_credentials(self) -> Iterator[None]:
        """moto accepts any key unless told to authenticate: inside this block it checks every request's
        signature against its IAM users (anonymous reads are not served meanwhile)."""
        import moto.settings

        before = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        try:
            yield
        finally:
            moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = before


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3-compatible server on a free loopback port, and an IAM user allowed ``s3:*``."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="-"
    )
    # moto's servers in one process share one state: a user name of its own for each server
    user = f"apex-publisher-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(allow))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    yield S3Server(url, key["AccessKeyId"], key["SecretAccessKey"])
    server.stop()


# =============================================================================================
# end of the S3-compatible server fixture
# =============================================================================================


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A private PostgreSQL cluster (the one the embedded catalogue uses), with a projects database."""
    root = traversable_tmpdir("apex-projects-pg-")
    cluster = PostgresCluster(root)
    cluster.init()
    cluster.start(free_port())
    try:
        with psycopg.connect(cluster.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute('CREATE DATABASE "apex_projects"')
        yield cluster.dsn("apex_projects")
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def shared_fixture(name: str) -> Path:
    """A recorded document of ``../shared/fixtures``; its absence fails the test (never a skip)."""
    path = SHARED_FIXTURES / name
    if not path.is_file():
        pytest.fail(f"the shared fixture {path} is missing: the tests need ../shared/fixtures", pytrace=False)
    return path


@contextlib.contextmanager
def loopback_http(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port answering with ``handler``; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# =============================================================================================
# A loopback file server answering Range requests (the quicklook's tests and bench)
# =============================================================================================


@dataclass
class Served:
    """What a loopback server holds and saw: files by path, and per request its path, Range and
    Authorization header, and the body bytes sent."""

    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # path -> forced status
    redirect: dict[str, str] = field(default_factory=dict)  # path -> Location
    required_auth: str | None = None  # when set, any other Authorization is answered 401
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bytes_sent(self) -> int:
        with self.lock:
            return sum(r["sent"] for r in self.requests)

    @property
    def authorizations(self) -> list[str | None]:
        with self.lock:
            return [r["authorization"] for r in self.requests]


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD of in-memory files with single ``bytes=a-b`` ranges (206 + Content-Range)."""

    served: Served

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        record: dict[str, Any] = {
            "method": self.command,
            "path": path,
            "range": self.headers.get("Range"),
            "authorization": self.headers.get("Authorization"),
            "sent": 0,
        }
        with self.served.lock:
            self.served.requests.append(record)
        if path in self.served.redirect:
            self.send_response(302)
            self.send_header("Location", self.served.redirect[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        forced = self.served.status.get(path)
        if self.served.required_auth is not None and record["authorization"] != self.served.required_auth:
            forced = 401
        body = self.served.files.get(path)
        if forced is not None or body is None:
            self.send_response(forced or 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = len(body)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            part = body[start : end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            part = body
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        for start in range(0, 0 if head else len(part), 65536):  # counted as written, chunk by chunk
            chunk = part[start : start + 65536]
            try:
                self.wfile.write(chunk)
            except OSError:  # the client had enough (GDAL drops a connection once it has its bytes)
                self.close_connection = True
                return
            with self.served.lock:
                record["sent"] += len(chunk)

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)


def serving(served: Served) -> contextlib.AbstractContextManager[str]:
    """A loopback server of ``served``'s files (``with serving(served) as base_url``)."""
    handler = type("Handler", (RangeHandler,), {"served": served})
    return loopback_http(handler)


def process_alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by init, does not)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
