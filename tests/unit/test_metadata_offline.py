"""The Metadata page's schema checks run offline: no socket is opened, whatever ``stac_extensions`` say.

The core STAC 1.1.0 schemas are pystac's bundled copies, resolved through a local ``referencing``
registry that refuses every other URI. No maintained package (PyPI, npm, Debian) ships the STAC extension
schemas, and their site cannot be reached from here, so each extension is reported as not validated
against its schema, with the page's own field checks (or none) instead.
"""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from apex_core import metadata as md
from tests.services import shared_fixture

ROOT = Path(__file__).resolve().parents[2]
RECORDED = shared_fixture("apex_catalogue_collection_response.json")
OWN = ROOT / "tests" / "fixtures"
DATACUBE = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every socket connection or name lookup is refused and recorded."""
    seen: list[str] = []

    def refuse(*args: Any, **_kwargs: Any) -> Any:
        seen.append(repr(args[-1] if args else None))
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return seen


def _embedded() -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        json.loads((OWN / "embedded_job_results.json").read_text()),
        json.loads((OWN / "embedded_job_item.json").read_text()),
    )


def test_the_blocker_blocks(attempts: list[str]) -> None:
    with pytest.raises(OSError, match="blocked by the test"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert len(attempts) == 1


def test_recorded_document_is_validated_without_network(attempts: list[str]) -> None:
    results = json.loads(RECORDED.read_text())
    pub = md.CollectionDraft.from_results(results, []).apply(results)
    checks = md.validate_stac(pub.collection, pub.items)
    assert checks[0].status == "valid", checks[0].messages
    ext = {c.schema: c for c in checks[1:]}
    assert set(ext) == set(pub.collection["stac_extensions"])
    assert {u.split("/")[3] for u in ext} == {"eo", "file", "processing", "projection", "raster", "render"}
    assert all(c.status == "not_available" and c.field_checked and c.ok for c in ext.values())
    assert attempts == []


def test_embedded_documents_are_validated_without_network(attempts: list[str]) -> None:
    results, item = _embedded()
    pub = md.CollectionDraft.from_results(results, [item]).apply(results, [item])
    checks = md.validate_stac(pub.collection, pub.items)
    statuses = [c.status for c in checks if c.schema.startswith("https://schemas.stacspec.org/v1.1.0/")]
    assert statuses == ["valid", "valid"]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    broken = copy.deepcopy(pub.collection)
    del broken["license"]
    (core, *_ext) = md.validate_stac(broken)
    assert core.status == "invalid" and any("'license' is a required property" in m for m in core.messages)
    assert attempts == []


def test_an_extension_without_field_checks_says_so(attempts: list[str]) -> None:
    """The embedded backend's datacube extension: field checks of `cube:dimensions`; an extension this
    app knows nothing of gets no field checks and the table says so."""
    results, _item = _embedded()
    pub = md.CollectionDraft.from_results(results, []).apply(results)
    unknown = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
    col = {**pub.collection, "stac_extensions": [*pub.collection["stac_extensions"], DATACUBE, unknown]}
    col["cube:dimensions"] = {"x": {"type": "spatial", "axis": "x", "extent": [0, 1]}}
    by_schema = {c.schema: c for c in md.validate_stac(col)}
    assert by_schema[DATACUBE].ok and by_schema[DATACUBE].field_checked
    assert by_schema[unknown].ok and not by_schema[unknown].field_checked
    rows = {r["schema"]: r["result"] for r in md.schema_rows(by_schema.values())}
    assert rows["sat/v1.0.0"].endswith("not validated (no field checks for it)")
    assert rows["datacube/v2.2.0"].endswith("not validated (field checks passed)")
    assert md.schema_summary(tuple(by_schema.values())).endswith("; no field checks for sat.")
    col["cube:dimensions"] = {"x": {"axis": "x"}}
    bad = next(c for c in md.validate_stac(col) if c.schema == DATACUBE)
    assert not bad.ok
    assert bad.messages == ("cube:dimensions must map each name to an object with `type`",)
    assert attempts == []
