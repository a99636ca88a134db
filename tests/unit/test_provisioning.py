"""The embedded backend's own provisioning of its sample, without starting a service: one
copy-or-download-and-verify code for setup and the backend, a failure reported (never raised, never
silent), the status carried by the serve line, and the import boundary around it."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from apex_core import ChecksumMismatch, DataError, sampledata
from apex_core.config import PROJECT_ROOT
from apex_core.local import contract
from apex_core.local.contract import DataStatus, EmbeddedEndpoints, SampleFile, provision_sample_data
from apex_core.local.errors import LocalConfigError
from apex_core.local.settings import ServeSettings

CONTENT = b"sample bytes\n" * 64
SHA = hashlib.sha256(CONTENT).hexdigest()
SPECS = (
    SampleFile(path="a/one.tif", sha256=SHA, url="http://127.0.0.1:9/never-used"),
    SampleFile(path="b/two.tif", sha256=SHA, url="http://127.0.0.1:9/never-used"),
)


def _shared(tmp_path: Path, *paths: str, content: bytes = CONTENT) -> Path:
    shared = tmp_path / "shared"
    for path in paths:
        (shared / path).parent.mkdir(parents=True, exist_ok=True)
        (shared / path).write_bytes(content)
    return shared


def test_setup_and_the_backend_share_one_implementation() -> None:
    assert sampledata.SAMPLE_FILES is contract.SAMPLE_FILES
    assert sampledata.SampleFile is contract.SampleFile
    assert sampledata.sha256_of is contract.sha256_of
    assert PROJECT_ROOT.parent / "shared" / "data" == sampledata.DEFAULT_SHARED_DIR


def test_an_empty_data_dir_is_provisioned_from_the_local_copy(tmp_path: Path) -> None:
    shared = _shared(tmp_path, "a/one.tif", "b/two.tif")
    data = tmp_path / "fresh" / "data"  # not even created yet, as under a new APEX_STATE_DIR
    status = provision_sample_data(data, shared, download=False, files=SPECS)
    assert status.ok and not status.problems and not status.empty
    assert dict(status.outcomes) == {"a/one.tif": "copied", "b/two.tif": "copied"}
    assert (data / "b" / "two.tif").read_bytes() == CONTENT
    again = provision_sample_data(data, shared, download=False, files=SPECS)
    assert dict(again.outcomes) == {"a/one.tif": "present", "b/two.tif": "present"}
    assert again.remedy == ""


def test_an_incomplete_or_damaged_data_dir_is_completed(tmp_path: Path) -> None:
    shared = _shared(tmp_path, "a/one.tif", "b/two.tif")
    data = tmp_path / "data"
    provision_sample_data(data, shared, download=False, files=SPECS)
    (data / "a" / "one.tif").write_bytes(b"damaged")
    (data / "b" / "two.tif").unlink()
    status = provision_sample_data(data, shared, download=False, files=SPECS)
    assert status.ok
    assert dict(status.outcomes) == {"a/one.tif": "copied", "b/two.tif": "copied"}
    assert (data / "a" / "one.tif").read_bytes() == CONTENT


def test_a_failure_is_reported_with_what_to_do_not_raised(tmp_path: Path) -> None:
    status = provision_sample_data(
        tmp_path / "data", tmp_path / "no-such-folder", download=False, files=SPECS
    )
    assert not status.ok and status.empty
    assert len(status.problems) == 2
    assert all("downloads are off" in p for p in status.problems)
    assert "sample_source_dir" in status.remedy and "setup.sh" in status.remedy

    # one file missing, one there: the other is still put in place, and the status says which is not
    shared = _shared(tmp_path, "a/one.tif")
    partial = provision_sample_data(tmp_path / "data2", shared, download=False, files=SPECS)
    assert not partial.ok and not partial.empty
    assert dict(partial.outcomes) == {"a/one.tif": "copied"}
    assert len(partial.problems) == 1 and "b/two.tif" in partial.problems[0]


def test_a_checksum_mismatch_is_a_problem_and_nothing_is_installed(tmp_path: Path) -> None:
    shared = _shared(tmp_path, "a/one.tif", content=CONTENT + b"tampered")
    status = provision_sample_data(tmp_path / "data", shared, download=False, files=SPECS[:1])
    assert not status.ok and "expected " + SHA in status.problems[0]
    assert not (tmp_path / "data" / "a" / "one.tif").exists()


def test_a_failed_download_is_a_problem(tmp_path: Path) -> None:
    spec = SampleFile(path="x.tif", sha256=SHA, url="http://127.0.0.1:9/refused")
    status = provision_sample_data(tmp_path / "data", None, download=True, files=[spec])
    assert not status.ok and "Could not download http://127.0.0.1:9/refused" in status.problems[0]


def test_the_app_side_keeps_its_own_errors(tmp_path: Path) -> None:
    shared = _shared(tmp_path, "a/one.tif", content=b"tampered")
    with pytest.raises(ChecksumMismatch, match="expected"):
        sampledata.ensure_sample_data(tmp_path / "data", shared, SPECS[:1])
    with pytest.raises(DataError, match="could not be read"):
        sampledata.load_manifest(tmp_path / "missing.json")


def test_the_serve_line_carries_the_data_status_and_timings() -> None:
    status = DataStatus(
        data_dir="/tmp/d", ok=False, outcomes={"a/one.tif": "copied"}, problems=("b/two.tif is not here",)
    )
    endpoints = EmbeddedEndpoints(
        openeo_url="http://127.0.0.1:1/openeo/1.2",
        sample_data=status,
        timings={"issuer": 1.0, "catalogue": 3.5, "openeo": 2.5, "all": 3.6},
    )
    back = EmbeddedEndpoints.from_line(endpoints.to_line())
    assert back == endpoints
    assert back.sample_data is not None and back.sample_data.problems == status.problems
    assert back.timings["all"] == 3.6
    assert endpoints.to_dict()["sample_data"]["ok"] is False  # shown on the page, no secret in it
    assert EmbeddedEndpoints.from_line('{"openeo_url": "http://x"}').sample_data is None


def test_serve_settings_for_provisioning(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    defaults = ServeSettings.load({}, secrets)
    assert defaults.sample_source == contract.DEFAULT_SAMPLE_SOURCE and defaults.download
    env = {"APEX_SAMPLE_SOURCE_DIR": str(tmp_path / "copy"), "APEX_SAMPLE_DOWNLOAD": "false"}
    custom = ServeSettings.load(env, secrets)
    assert custom.sample_source == tmp_path / "copy" and not custom.download
    with pytest.raises(LocalConfigError, match="sample_download"):
        ServeSettings.load({"APEX_SAMPLE_DOWNLOAD": "maybe"}, secrets)
    # the app's way: secrets.toml keys (its own settings refuse APEX_* variables they do not know)
    secrets.write_text(f'sample_source_dir = "{tmp_path / "kept"}"\nsample_download = false\n')
    from_secrets = ServeSettings.load({}, secrets)
    assert from_secrets.sample_source == tmp_path / "kept" and not from_secrets.download


def test_the_app_imports_provisioning_only_through_the_contract() -> None:
    """lint-imports lists the forbidden modules one by one: this holds for every module of the
    embedded services, the provisioning included, that the app side names only the contract."""
    offenders = []
    sources = [*(PROJECT_ROOT / "apex_core").rglob("*.py"), *(PROJECT_ROOT / "pages").rglob("*.py")]
    for path in sources:
        if "local" in path.relative_to(PROJECT_ROOT).parts[:2]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("apex_core.local.") and name not in (
                    "apex_core.local.contract",
                    *(f"apex_core.local.contract.{x}" for x in contract.__all__),
                ):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}: {name}")
    assert offenders == []
