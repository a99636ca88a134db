"""The embedded backend's store of user-defined processes (apex_core.local.openeo.udp), on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from openeo_driver.errors import OpenEOApiException, ProcessGraphNotFoundException

from apex_core.local.openeo.udp import MAX_ID_LENGTH, LocalUserDefinedProcesses, check_process_id

GRAPH = {"a": {"process_id": "absolute", "arguments": {}, "result": True}}


def test_processes_persist_per_user_across_instances(tmp_path: Path) -> None:
    store = LocalUserDefinedProcesses(tmp_path / "udp")
    store.save("alice", "p-1", {"id": "other", "summary": "mine", "process_graph": GRAPH, "public": True})
    store.save("bob", "p-1", {"process_graph": {**GRAPH}, "description": "his"})
    reopened = LocalUserDefinedProcesses(tmp_path / "udp")  # a restarted backend
    assert reopened.spec("alice", "p-1") == {"id": "p-1", "summary": "mine", "process_graph": GRAPH}
    assert reopened.spec("bob", "p-1") == {"id": "p-1", "description": "his", "process_graph": GRAPH}
    assert reopened.spec("carol", "p-1") is None
    assert [u.id for u in reopened.list_for_user("alice").udps] == ["p-1"]
    assert reopened.list_for_user("carol").udps == []
    udp = reopened.get("alice", "p-1")
    assert udp is not None and (udp.summary, udp.public) == ("mine", False)
    # Written atomically: no temporary file stays; user ids never become paths.
    files = sorted(p.relative_to(tmp_path / "udp") for p in (tmp_path / "udp").rglob("*") if p.is_file())
    assert [f.name for f in files] == ["p-1.json", "p-1.json"]
    assert all(len(f.parts[0]) == 32 and "alice" not in str(f) for f in files)
    reopened.delete("alice", "p-1")
    assert reopened.spec("alice", "p-1") is None
    assert reopened.spec("bob", "p-1") is not None
    with pytest.raises(ProcessGraphNotFoundException):
        reopened.delete("alice", "p-1")


def test_a_damaged_file_is_skipped(tmp_path: Path) -> None:
    store = LocalUserDefinedProcesses(tmp_path)
    store.save("alice", "good", {"process_graph": GRAPH})
    store.save("alice", "bad", {"process_graph": GRAPH})
    next(tmp_path.rglob("bad.json")).write_text("{not json")
    assert store.spec("alice", "bad") is None
    assert [u.id for u in store.list_for_user("alice").udps] == ["good"]


@pytest.mark.parametrize(
    "process_id",
    [
        "",
        ".",
        "..",
        "a.b",
        "a/b",
        "../x",
        "x" * (MAX_ID_LENGTH + 1),
        "caf\u00e9",
        "\uff41",
        "a b",
        "a\x00",
        "a\n",
    ],
)
def test_ids_that_could_name_a_path_are_refused(tmp_path: Path, process_id: str) -> None:
    store = LocalUserDefinedProcesses(tmp_path / "udp")
    with pytest.raises(OpenEOApiException) as refused:
        check_process_id(process_id)
    assert (refused.value.code, refused.value.status_code) == ("InvalidId", 400)
    with pytest.raises(OpenEOApiException):
        store.save("alice", process_id, {"process_graph": GRAPH})
    assert store.spec("alice", process_id) is None
    assert list(tmp_path.rglob("*")) == [tmp_path / "udp"]


def test_valid_ids() -> None:
    for process_id in ("a", "evi_2", "0f8fad5b-d9cb-469f-a165-70867728950e", "Z" * MAX_ID_LENGTH):
        assert check_process_id(process_id) == process_id
