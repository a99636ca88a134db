"""apex_core.workspace on its own: the export choice, the notebook's graph and snippet, reading an export's
outcome from job results (documents shaped like the embedded backend's and CDSE's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openeo.rest.datacube import DataCube

from apex_core.config import Settings
from apex_core.errors import BackendError
from apex_core.workspace import (
    ExportChoice,
    default_prefix,
    download_href,
    export_outcome,
    offers_export,
    python_lines,
    saved_export_outcome,
    snippet_with_export,
    with_export,
)

CHOICE = ExportChoice("apex-ws", "bolzano/ndvi", "ndvi_2022-06-12")


def test_choice_from_settings_and_validation() -> None:
    assert ExportChoice.from_settings(Settings.load(environ={}), "m", "p") is None
    got = ExportChoice.from_settings(Settings.load(environ={"APEX_OPENEO_WORKSPACE": "ws"}), "/a/b/", " p ")
    assert got == ExportChoice("ws", "a/b", "p") and ExportChoice.from_dict(got.to_dict()) == got
    with pytest.raises(BackendError, match="not valid") as bad:
        ExportChoice("bad id/with slash", "m", "p")
    assert bad.value.field == "openeo_workspace"
    with pytest.raises(BackendError, match="prefix is empty"):
        ExportChoice("ok", "m", " ")
    assert "overwritten" in CHOICE.explanation and "`bolzano/ndvi/`" in CHOICE.explanation
    assert default_prefix("APEx Demo - Bolzano - NDVI", "2022-06-12") == "APEx-Demo-Bolzano-NDVI_2022-06-12"
    assert offers_export(["ndvi", "export_workspace"]) and not offers_export(["ndvi"])


def test_graph_ends_in_save_result_with_prefix_then_export() -> None:
    cube = DataCube.load_collection("SENTINEL2_L2A", connection=None).ndvi()
    for start in (cube, cube.save_result(format="GTiff")):  # a cube, or the notebook's SaveResult
        graph = with_export(start, CHOICE).flat_graph()
        ids = [n["process_id"] for n in graph.values()]
        assert ids.count("save_result") == 1 and ids[-1] == "export_workspace"
        nodes = {n["process_id"]: n for n in graph.values()}
        assert nodes["save_result"]["arguments"]["options"] == {"filename_prefix": "ndvi_2022-06-12"}
        assert nodes["export_workspace"]["arguments"]["workspace"] == "apex-ws"
        assert nodes["export_workspace"]["arguments"]["merge"] == "bolzano/ndvi"
        assert nodes["export_workspace"]["result"] is True
    with pytest.raises(BackendError, match="not a raster data cube"):
        with_export(object(), CHOICE)


def test_snippet_with_export_is_the_notebook_form() -> None:
    snippet = (
        "import openeo\n"
        'con = openeo.connect("http://x")\n'
        'cube = con.load_collection("SENTINEL2_L2A")\n'
        "result = cube.ndvi()\n"
        'result = result.save_result(format="GTiff")\n'
        'job = result.create_job(title="t")\n'
    )
    out = snippet_with_export(snippet, CHOICE)
    assert 'result.save_result(format="GTiff", options={"filename_prefix": "ndvi_2022-06-12"})' in out
    assert 'result = result.export_workspace(workspace="apex-ws", merge="bolzano/ndvi")\njob =' in out
    compile(out, "snippet", "exec")
    assert snippet_with_export(snippet, None) == snippet
    assert python_lines(ExportChoice("w", "", "p"))[-1].endswith("merge=None)")
    with pytest.raises(BackendError):
        snippet_with_export("print(1)\n", CHOICE)


def test_outcome_from_results() -> None:
    exported = {
        "href": "s3://bucket/exports/ndvi.tif",
        "alternate": {"openeo": {"href": "https://backend/jobs/j/results/assets/sig/ndvi.tif"}},
    }
    results = {
        "collection": {"assets": {"ndvi.tif": exported}},
        "items": [{"id": "ndvi", "assets": {"ndvi.tif": exported}}],  # the same file: listed once
    }
    outcome = export_outcome(results)
    assert [a.href for a in outcome.assets] == ["s3://bucket/exports/ndvi.tif"]
    assert "s3://bucket/exports/ndvi.tif" in outcome.message and "kept as alternates" in outcome.message
    assert download_href(exported) == "https://backend/jobs/j/results/assets/sig/ndvi.tif"
    bare = export_outcome({"assets": {"a": {"href": "s3://b/a.tif"}}})
    assert bare.exported and "S3 tools" in bare.message and download_href({"href": "s3://b/a.tif"}) is None
    plain = export_outcome({"assets": {"x.tif": {"href": "https://backend/x.tif"}}})
    assert not plain.exported and "No result was exported" in plain.message
    assert download_href({"href": "https://backend/x.tif"}) == "https://backend/x.tif"


def test_saved_export_outcome_reads_the_saved_results(tmp_path: Path) -> None:
    saved = tmp_path / "job-results.json"
    saved.write_text(json.dumps({"assets": {"a.tif": {"href": "s3://b/exports/a.tif"}}}))
    outcome = saved_export_outcome(str(saved))
    assert outcome is not None and [a.href for a in outcome.assets] == ["s3://b/exports/a.tif"]
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for missing in (None, "", tmp_path / "absent.json", broken):
        assert saved_export_outcome(missing) is None
