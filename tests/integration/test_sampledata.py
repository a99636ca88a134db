from __future__ import annotations

import hashlib
import http.server
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import rasterio

from apex_core import ChecksumMismatch, DataError
from apex_core.config import PROJECT_ROOT, Settings
from apex_core.sampledata import (
    SAMPLE_FILES,
    STAC_SCHEMAS_MANIFEST,
    SampleFile,
    ensure_sample_data,
    ensure_stac_schemas,
    load_manifest,
    sha256_of,
    stac_schemas_dir,
)
from apex_core.sampledata import main as sampledata_main
from tests.services import loopback_http

CONTENT = b"real bytes of a sample file\n" * 100
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a folder; JSON for the PEP 691 simple-index request."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    with loopback_http(Handler) as url:
        yield url, root


def test_copies_from_local_folder_then_finds_it_present(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "area").mkdir(parents=True)
    (shared / "area" / "f.tif").write_bytes(CONTENT)
    spec = SampleFile(path="area/f.tif", sha256=SHA, url="http://127.0.0.1:9/never-used")
    dest = tmp_path / "dest"
    assert [r.outcome for r in ensure_sample_data(dest, shared, [spec])] == ["copied"]
    assert (dest / "area" / "f.tif").read_bytes() == CONTENT
    assert [r.outcome for r in ensure_sample_data(dest, shared, [spec])] == ["present"]


def test_corrupt_local_copy_is_rejected_and_not_installed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f.tif").write_bytes(CONTENT + b"tampered")
    spec = SampleFile(path="f.tif", sha256=SHA)
    dest = tmp_path / "dest"
    with pytest.raises(ChecksumMismatch) as info:
        ensure_sample_data(dest, shared, [spec])
    assert SHA in str(info.value) and "f.tif" in str(info.value)
    assert list(dest.iterdir()) == []  # no half file, no temp folder left behind


def test_downloads_when_no_local_copy(tmp_path: Path, served: tuple[str, Path]) -> None:
    base, root = served
    (root / "f.tif").write_bytes(CONTENT)
    spec = SampleFile(path="x/f.tif", sha256=SHA, url=f"{base}/f.tif")
    results = ensure_sample_data(tmp_path / "dest", None, [spec])
    assert [r.outcome for r in results] == ["downloaded"]
    assert sha256_of(results[0].path) == SHA


def test_download_mismatch_and_http_error_are_clear(tmp_path: Path, served: tuple[str, Path]) -> None:
    base, root = served
    (root / "f.tif").write_bytes(b"something else")
    with pytest.raises(ChecksumMismatch, match="expected " + SHA):
        ensure_sample_data(tmp_path, None, [SampleFile(path="f.tif", sha256=SHA, url=f"{base}/f.tif")])
    with pytest.raises(DataError, match="Could not download"):
        ensure_sample_data(tmp_path, None, [SampleFile(path="g.tif", sha256=SHA, url=f"{base}/missing.tif")])


def test_extracts_a_member_of_a_wheel_found_through_the_simple_index(
    tmp_path: Path, served: tuple[str, Path]
) -> None:
    base, root = served
    wheel = root / "files" / "demo_pkg-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo_pkg/data/cube.nc", CONTENT)
    index = root / "simple" / "demo-pkg"
    index.mkdir(parents=True)
    files = [
        {
            "filename": "demo_pkg-0.9-py3-none-any.whl",
            "url": "../../files/old.whl",
            "hashes": {"sha256": "0"},
        },
        {"filename": wheel.name, "url": f"../../files/{wheel.name}", "hashes": {"sha256": sha256_of(wheel)}},
    ]
    (index / "index.html").write_text(json.dumps({"files": files}))
    spec = SampleFile(
        path="ts/cube.nc", sha256=SHA, wheel="demo-pkg==1.0", member="demo_pkg/data/cube.nc",
        index_url=f"{base}/simple",
    )  # fmt: skip
    results = ensure_sample_data(tmp_path / "dest", None, [spec])
    assert results[0].outcome == "downloaded"
    assert results[0].path.read_bytes() == CONTENT


def test_the_real_sample_is_in_place_and_verified() -> None:
    """What setup did: every file of the real sample present with its published SHA-256."""
    dest = Settings.load(environ={}).sample_data_dir
    results = ensure_sample_data(dest)
    assert {r.outcome for r in results} <= {"present", "copied"}
    assert len(results) == len(SAMPLE_FILES) == 6
    with rasterio.open(dest / SAMPLE_FILES[0].path) as ds:
        assert (ds.count, ds.crs.to_epsg(), ds.width, ds.height) == (5, 32632, 935, 705)


# --- manifests: the same copy-or-download-and-verify for other file sets ----------------------------


def _manifest(tmp_path: Path, files: list[dict[str, object]]) -> Path:
    path = tmp_path / "m" / "files.manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"description": "test", "files": files}))
    return path


def test_manifest_copies_or_downloads_and_verifies(tmp_path: Path, served: tuple[str, Path]) -> None:
    base, www = served
    (www / "a.json").write_bytes(CONTENT)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "b.ini").write_bytes(CONTENT)  # a URL relative to the manifest: a file beside it
    shared = tmp_path / "shared"
    (shared / "deep" / "er").mkdir(parents=True)
    (shared / "deep" / "er" / "c.py").write_bytes(CONTENT)
    manifest = _manifest(
        tmp_path,
        [
            {"path": "a.json", "sha256": SHA, "size": len(CONTENT), "url": f"{base}/a.json"},
            {"path": "conf/b.ini", "sha256": SHA.upper(), "url": "b.ini"},
            {"path": "deep/er/c.py", "sha256": SHA, "url": f"{base}/absent.py"},
        ],
    )
    files = load_manifest(manifest)
    assert [f.path for f in files] == ["a.json", "conf/b.ini", "deep/er/c.py"]
    assert files[1].url == (tmp_path / "m" / "b.ini").as_uri() and files[1].sha256 == SHA
    dest = tmp_path / "dest"
    results = ensure_sample_data(dest, shared, files)
    assert [r.outcome for r in results] == ["downloaded", "downloaded", "copied"]
    assert all((dest / f.path).read_bytes() == CONTENT for f in files)
    assert {r.outcome for r in ensure_sample_data(dest, shared, files)} == {"present"}


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ([], "non-empty"),
        ([{"path": "../x", "sha256": SHA, "url": "x"}], "outside"),
        ([{"path": "/etc/x", "sha256": SHA, "url": "x"}], "outside"),
        ([{"path": "x", "sha256": "abc", "url": "x"}], "SHA-256"),
        ([{"path": "x", "url": "x"}], "sha256"),
        ([{"path": "x", "sha256": SHA, "url": "x"}, {"path": "x", "sha256": SHA, "url": "y"}], "twice"),
    ],
)
def test_malformed_manifests_are_refused(tmp_path: Path, files: list[dict[str, object]], reason: str) -> None:
    with pytest.raises(DataError, match=reason):
        load_manifest(_manifest(tmp_path, files))


def test_the_openeo_suite_manifest_pins_every_file() -> None:
    """The compliance suite's layout: downloads only from the two repositories at fixed commits."""
    files = load_manifest(PROJECT_ROOT / "tests" / "compliance" / "openeo-test-suite.manifest.json")
    api = "https://raw.githubusercontent.com/Open-EO/openeo-api/c5a45b4647b06e313a4f099e9119bfa3cca5c6a3/"
    suite = "https://raw.githubusercontent.com/Open-EO/openeo-test-suite/4127e8f9604098c09a645a0f8c9c9f400fc2c02b/"
    for spec in files:
        assert spec.url is not None
        if spec.path.startswith("assets/openeo-api/"):
            assert spec.url == api + spec.path.removeprefix("assets/openeo-api/")
        else:
            assert spec.url == suite + spec.path
    paths = {spec.path for spec in files}
    assert {
        "conftest.py",
        "assets/openeo-api/openapi.yaml",
        "src/openeo_test_suite/tests/general/test_compliance.py",
    } <= paths
    assert "pytest.ini" not in paths  # the project's own, tests/compliance/pytest-openeo-suite.ini


# --- the STAC extension schemas: the project's manifest, copied or downloaded, verified ----------------


def _schemas_manifest(tmp_path: Path, base: str, names: tuple[str, ...]) -> tuple[Path, dict[str, bytes]]:
    """A manifest like the project's (canonical URL per file) over the loopback server ``base``."""
    bodies = {f"{name}/v1.0.0/schema.json": json.dumps({"$id": name}).encode() for name in names}
    files = [
        {"path": p, "sha256": hashlib.sha256(b).hexdigest(), "url": f"{base}/{p}"} for p, b in bodies.items()
    ]
    return _manifest(tmp_path, files), bodies


def test_the_project_manifest_pins_every_published_extension_schema() -> None:
    files = load_manifest(STAC_SCHEMAS_MANIFEST)
    assert len(files) == 42
    for spec in files:
        assert spec.url == f"https://stac-extensions.github.io/{spec.path}"
        assert spec.path.endswith("/schema.json") and spec.path.count("/") == 2
    assert {spec.path.split("/")[0] for spec in files} >= {"eo", "file", "processing", "projection", "raster"}
    assert not (PROJECT_ROOT / "apex_core" / "metadata" / "eo").exists()  # the files are not committed


def test_stac_schemas_copied_from_the_shared_folder_then_present(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    manifest, bodies = _schemas_manifest(tmp_path, "http://127.0.0.1:9", ("eo", "raster"))
    for path, body in bodies.items():
        (shared / path).parent.mkdir(parents=True)
        (shared / path).write_bytes(body)
    dest = tmp_path / "data" / "stac-schemas"
    assert [r.outcome for r in ensure_stac_schemas(dest, shared, manifest)] == ["copied", "copied"]
    assert all((dest / p).read_bytes() == b for p, b in bodies.items())
    assert [r.outcome for r in ensure_stac_schemas(dest, shared, manifest)] == ["present", "present"]


def test_stac_schemas_downloaded_when_there_is_no_shared_folder(
    tmp_path: Path, served: tuple[str, Path]
) -> None:
    base, www = served
    manifest, bodies = _schemas_manifest(tmp_path, base, ("eo", "file"))
    for path, body in bodies.items():
        (www / path).parent.mkdir(parents=True)
        (www / path).write_bytes(body)
    dest = tmp_path / "dest"
    results = ensure_stac_schemas(dest, tmp_path / "no-such-shared-folder", manifest)
    assert [r.outcome for r in results] == ["downloaded", "downloaded"]
    assert all((dest / p).read_bytes() == b for p, b in bodies.items())


def test_a_tampered_stac_schema_is_refused(tmp_path: Path, served: tuple[str, Path]) -> None:
    base, www = served
    manifest, bodies = _schemas_manifest(tmp_path, base, ("eo",))
    ((path, body),) = bodies.items()
    for root in (www, tmp_path / "shared"):
        (root / path).parent.mkdir(parents=True)
        (root / path).write_bytes(body.replace(b"eo", b"xx"))
    expected = hashlib.sha256(body).hexdigest()
    for shared in (tmp_path / "shared", None):  # copied or downloaded: refused either way
        with pytest.raises(
            ChecksumMismatch, match=f"{path} from .* expected {expected}. The file was not installed"
        ):
            ensure_stac_schemas(tmp_path / "dest", shared, manifest)
        assert not (tmp_path / "dest" / path).exists()


def test_no_shared_folder_and_no_network_fails_loudly(tmp_path: Path) -> None:
    with loopback_http(http.server.BaseHTTPRequestHandler) as base:
        pass  # the server is gone: its port refuses connections
    manifest, _bodies = _schemas_manifest(tmp_path, base, ("eo",))
    with pytest.raises(DataError, match=f"Could not download {base}/eo/v1.0.0/schema.json"):
        ensure_stac_schemas(tmp_path / "dest", tmp_path / "absent", manifest)
    assert not (tmp_path / "dest" / "eo" / "v1.0.0" / "schema.json").exists()


def test_setup_command_for_the_stac_schemas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m apex_core.sampledata --stac-schemas` (setup's step): a missing shared folder and an
    unreachable site exit 1 with the reason; with the shared folder, every file is put in place."""
    with loopback_http(http.server.BaseHTTPRequestHandler) as base:
        pass
    manifest, _bodies = _schemas_manifest(tmp_path, base, ("eo",))
    args = ["--stac-schemas", "--dest", str(tmp_path / "d"), "--shared", str(tmp_path / "absent")]
    with mock.patch("apex_core.sampledata.STAC_SCHEMAS_MANIFEST", manifest):
        assert sampledata_main(args) == 1
        assert "STAC extension schemas: Could not download" in capsys.readouterr().err
    real = sampledata_main(["--stac-schemas", "--dest", str(tmp_path / "real")])
    assert real == 0
    out = capsys.readouterr().out
    assert out.count("STAC extension schemas: ") == 42 and "processing/v1.1.0/schema.json" in out


def test_the_real_stac_schemas_are_in_place_and_verified() -> None:
    """What setup did: every schema of the manifest under <data dir>/stac-schemas with its SHA-256."""
    results = ensure_stac_schemas(stac_schemas_dir(Settings.load(environ={})))
    assert {r.outcome for r in results} <= {"present", "copied"}
    assert len(results) == 42
