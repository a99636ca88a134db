"""Use cases 2/3: ``save_result(...).export_workspace(...)`` on the embedded backend, over HTTP with the
stock openeo client, into an S3 workspace (moto's server on loopback) and a folder workspace: the
files land in the workspace, the job results carry their ``s3://`` / ``file:`` hrefs (download links
kept as alternates), a second export with the same name overwrites, and an unknown workspace fails
the job with a clear log. The graph is built by :func:`apex_core.workspace.with_export`."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openeo
import pytest
import requests
from openeo.rest.job import BatchJob

from apex_core.config import Settings
from apex_core.flow import JobOutcome
from apex_core.local.openeo.service import OpenEoBackendService, start_openeo_backend
from apex_core.local.openeo.workspaces import WorkspaceSpec, load_workspaces
from apex_core.workspace import (
    ExportChoice,
    download_href,
    export_outcome,
    offers_export,
    with_export,
)
from tests.services import S3Server

pytestmark = pytest.mark.services

COLLECTION = "SENTINEL2_L2A"
AOI = {"west": 11.30, "south": 46.47, "east": 11.34, "north": 46.50}
DAY = "2022-06-12"
POLL = 0.2


@pytest.fixture(scope="module")
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.bucket("workspace")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace-folder")


@pytest.fixture(scope="module")
def backend(
    openeo_data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    s3_server: S3Server,
    s3_bucket: str,
    folder: Path,
) -> Iterator[OpenEoBackendService]:
    """An embedded backend whose operator configured two workspaces."""
    workspaces = (
        WorkspaceSpec.s3(
            "apex-s3",
            s3_bucket,
            prefix="exports",
            endpoint_url=s3_server.endpoint_url,
            region=s3_server.region,
            access_key_id=s3_server.access_key_id,
            secret_access_key=s3_server.secret_access_key,
        ),
        WorkspaceSpec.disk("apex-folder", folder),
    )
    state = tmp_path_factory.mktemp("openeo-workspace-state")
    service = start_openeo_backend(state, openeo_data_dir, workspaces=workspaces)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def con(backend: OpenEoBackendService, openeo_credentials: tuple[str, str]) -> openeo.Connection:
    return openeo.connect(backend.url).authenticate_basic(*openeo_credentials)


def ndvi(con: openeo.Connection) -> Any:
    cube = con.load_collection(COLLECTION, spatial_extent=AOI, temporal_extent=DAY, bands=["B04", "B08"])
    return cube.ndvi().save_result(format="GTiff")  # as apex_core.ndvi builds it: no options yet


def run(con: openeo.Connection, choice: ExportChoice, title: str) -> BatchJob:
    job = with_export(ndvi(con), choice).create_job(title=title)
    job.start_and_wait(
        max_poll_interval=POLL, print=lambda *_: None, require_success=False, show_error_logs=False
    )
    return job


def results_doc(con: openeo.Connection, job: BatchJob) -> dict[str, Any]:
    """The job's results collection and its items, as the Job page reads them."""
    collection = job.get_results().get_metadata()
    items = [
        con.get(link["href"], expected_status=200).json()
        for link in collection.get("links", [])
        if link.get("rel") == "item"
    ]
    return {"collection": collection, "items": items}


def test_the_backend_offers_export_workspace_only_with_workspaces(
    con: openeo.Connection, openeo_backend: OpenEoBackendService, backend: OpenEoBackendService
) -> None:
    assert offers_export(p["id"] for p in con.list_processes())
    plain = openeo.connect(openeo_backend.url)
    assert not offers_export(p["id"] for p in plain.list_processes())
    secret_file = Path(backend.log_path).parent.parent / "openeo" / "workspaces.json"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert set(load_workspaces(secret_file)) == {"apex-s3", "apex-folder"}
    spec = load_workspaces(secret_file)["apex-s3"]
    assert spec.secret_access_key and spec.secret_access_key not in repr(spec)
    assert "secret_access_key" not in spec.to_dict()


def test_export_to_s3_workspace(
    con: openeo.Connection, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    settings = Settings.load(environ={"APEX_OPENEO_WORKSPACE": "apex-s3"})
    choice = ExportChoice.from_settings(settings, merge="bolzano/ndvi", filename_prefix="ndvi_bolzano")
    assert choice is not None and choice.workspace == "apex-s3"
    graph = with_export(ndvi(con), choice).flat_graph()
    nodes = {n["process_id"]: n["arguments"] for n in graph.values()}
    assert nodes["save_result"]["options"] == {"filename_prefix": "ndvi_bolzano"}
    assert nodes["export_workspace"]["workspace"] == "apex-s3"
    assert nodes["export_workspace"]["merge"] == "bolzano/ndvi"

    job = run(con, choice, "export to S3")
    assert job.status() == "finished", job.logs()
    outcome = export_outcome(results_doc(con, job))
    key = "exports/bolzano/ndvi/ndvi_bolzano.tif"
    assert [a.href for a in outcome.assets] == [f"s3://{s3_bucket}/{key}"]
    assert (
        outcome.exported and "overwritten" in outcome.message and f"s3://{s3_bucket}/{key}" in outcome.message
    )

    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    download = outcome.assets[0].download
    assert download is not None and download.startswith("http://127.0.0.1:")
    (asset,) = job.get_results().get_metadata()["assets"].values()
    assert asset["href"] == f"s3://{s3_bucket}/{key}" and download_href(asset) == download
    via_backend = requests.get(download, timeout=30)  # the signed alternate: no login needed
    assert via_backend.status_code == 200
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(via_backend.content).hexdigest()
    assert stored[:4] in (b"II*\x00", b"MM\x00*")  # a GeoTIFF

    # the same name again: the object is replaced, not duplicated
    before = s3_server.client().head_object(Bucket=s3_bucket, Key=key)["LastModified"]
    again = run(con, choice, "export to S3 again")
    assert again.status() == "finished"
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="exports/bolzano/ndvi/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    assert s3_server.client().head_object(Bucket=s3_bucket, Key=key)["LastModified"] >= before


def test_export_to_folder_workspace(con: openeo.Connection, folder: Path) -> None:
    choice = ExportChoice("apex-folder", "", "ndvi_folder")  # no merge: one folder per job
    job = run(con, choice, "export to a folder")
    assert job.status() == "finished", job.logs()
    outcome = export_outcome(job.get_results().get_metadata())
    exported = folder / job.job_id / "ndvi_folder.tif"
    assert [a.href for a in outcome.assets] == [f"file:{exported}"]
    assert exported.is_file() and exported.stat().st_size > 1000


def test_unknown_workspace_fails_the_job_clearly(con: openeo.Connection) -> None:
    job = run(con, ExportChoice("not-configured", "x", "ndvi"), "unknown workspace")
    assert job.status() == "error"
    messages = " ".join(str(e.get("message")) for e in job.logs())
    assert "Workspace 'not-configured' is not configured" in messages
    assert "apex-folder, apex-s3" in messages


# --- the Job page's helper (pages/common/export.py) under AppTest, against the same backends -----------


def _export_script() -> None:
    import openeo
    import streamlit as st

    from apex_core import Settings
    from pages.common.export import export_option, export_outcome_panel

    url = st.session_state["test_url"]
    workspace = st.session_state.get("test_workspace")
    cfg = Settings.load(environ={"APEX_OPENEO_WORKSPACE": workspace} if workspace else {})
    choice = export_option(
        openeo.connect(url), url, cfg, title="APEx Demo - Bolzano - NDVI", day="2022-06-12"
    )
    st.session_state["test_choice"] = choice.to_dict() if choice is not None else None
    export_outcome_panel(st.session_state.get("test_job"))


def _app(url: str, **state: Any) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_export_script, default_timeout=60)
    at.session_state["test_url"] = url
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_job_page_export_option(
    backend: OpenEoBackendService,
    openeo_backend: OpenEoBackendService,
    con: openeo.Connection,
    tmp_path: Path,
) -> None:
    at = _app(backend.url, test_workspace="apex-folder")
    assert at.session_state["test_choice"] is None and at.checkbox(key="job_export").value is False
    at.checkbox(key="job_export").check().run()
    assert at.text_input(key="job_export_merge").value == "apex-demo-bolzano-ndvi"
    assert at.text_input(key="job_export_prefix").value == f"APEx-Demo-Bolzano-NDVI_{DAY}"
    assert any("overwritten" in str(i.value) and "apex-folder" in str(i.value) for i in at.info)
    chosen = ExportChoice.from_dict(at.session_state["test_choice"])
    assert chosen == ExportChoice("apex-folder", "apex-demo-bolzano-ndvi", f"APEx-Demo-Bolzano-NDVI_{DAY}")
    assert at.session_state["apex_job_export"] == chosen.to_dict()
    at.text_input(key="job_export_prefix").set_value("  ").run()  # bad input: a message, no choice
    assert (
        any("prefix is empty" in str(e.value) for e in at.error) and at.session_state["test_choice"] is None
    )

    # the finished job's results, as the Job step saved them: the outcome is explained
    job = run(con, chosen, "export from the page")
    assert job.status() == "finished"
    meta = tmp_path / "job-results.json"
    meta.write_text(json.dumps(job.get_results().get_metadata()))
    outcome = JobOutcome(job.job_id, "finished", metadata_path=meta)
    at = _app(backend.url, test_workspace="apex-folder", test_job=outcome)
    assert any("1 file(s) exported to the workspace" in str(i.value) for i in at.info)
    assert any("file:" in str(m.value) and "APEx-Demo-Bolzano-NDVI" in str(m.value) for m in at.markdown)

    unset = _app(backend.url)  # offered by the backend, but no workspace in the settings
    assert any("APEX_OPENEO_WORKSPACE" in str(c.value) for c in unset.caption)
    assert not [c for c in unset.checkbox if c.key == "job_export"]
    plain = _app(openeo_backend.url, test_workspace="apex-folder")  # no export_workspace on this backend
    assert (
        not [c for c in plain.checkbox if c.key == "job_export"]
        and plain.session_state["test_choice"] is None
    )


# --- the whole Job page (app.py under AppTest): choose the export, submit, follow, download ------------


def test_job_page_submits_the_export_and_explains_it(
    backend: OpenEoBackendService,
    openeo_credentials: tuple[str, str],
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from streamlit.testing.v1 import AppTest

    from apex_core.flow import AreaChoice
    from apex_core.steps import StateKey

    monkeypatch.setenv("APEX_OPENEO_URL", backend.url)
    monkeypatch.setenv("APEX_OPENEO_WORKSPACE", "apex-folder")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=60)
    box = AOI
    aoi = {
        "type": "Polygon",
        "coordinates": [
            [
                [box["west"], box["south"]],
                [box["east"], box["south"]],
                [box["east"], box["north"]],
                [box["west"], box["north"]],
                [box["west"], box["south"]],
            ]
        ],
    }
    at.session_state[StateKey.AREA.value] = AreaChoice(aoi, "Bolzano", DAY)
    at.run()
    at.switch_page("pages/flow/2_job.py").run()
    at.text_input(key="job_user").set_value(openeo_credentials[0])
    at.text_input(key="job_password").set_value(openeo_credentials[1])
    next(b for b in at.button if b.label == "Connect").click().run()
    assert not at.exception, [e.message for e in at.exception]
    at.checkbox(key="job_export").check().run()
    # the graph shown and the snippet end in export_workspace, like the job submitted below
    assert any('"export_workspace"' in str(c.value) for c in at.code)
    assert any("export_workspace(workspace=" in str(c.value) for c in at.code)
    at.button(key="job_submit").click().run()
    assert not at.exception, [e.message for e in at.exception]
    deadline = time.monotonic() + 180
    while not at.session_state["apex_job_follow"].done:
        assert time.monotonic() < deadline, at.session_state[StateKey.JOB]
        time.sleep(POLL)  # poll interval of the rerun loop (AppTest does not run run_every fragments)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
    job = at.session_state[StateKey.JOB]
    assert job.status == "finished", job
    # the file went to the workspace, and the page still downloaded it through the alternate link
    exported = sorted(folder.rglob(f"APEx-Demo-Bolzano-NDVI_{DAY}*.tif"))
    assert exported, list(folder.rglob("*"))
    local = [a.path for a in job.assets]
    assert local and all(p.is_file() for p in local)
    digest = hashlib.sha256(exported[-1].read_bytes()).hexdigest()
    assert hashlib.sha256(local[0].read_bytes()).hexdigest() == digest
    assert any("exported to the workspace" in str(i.value) for i in at.info)


@pytest.mark.parametrize("merge", ["../{name}", "a/../../{name}", "./{name}"])
def test_a_merge_path_leaving_the_workspace_fails_the_job(
    con: openeo.Connection, folder: Path, merge: str
) -> None:
    """`..` passed openeo-driver's disk workspace (it compares paths as text): a job wrote outside the
    workspace, and could overwrite another user's results. Now the job fails, naming the parameter."""
    name = f"escaped-{uuid.uuid4().hex[:8]}"
    job = run(con, ExportChoice("apex-folder", merge.format(name=name), "escape"), "escape the workspace")
    assert job.status() == "error"
    logs = job.logs()
    assert any(e.get("code") == "ProcessParameterInvalid" for e in logs), logs
    assert "merge" in " ".join(str(e.get("message")) for e in logs)
    assert not list(folder.parent.rglob(f"{name}*")) and not (folder / name).exists()
