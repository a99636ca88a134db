"""The Metadata page's schema checks run offline: no socket is opened, whatever ``stac_extensions`` say.

The core STAC 1.1.0 schemas are pystac's bundled copies; the extension schemas are the published ones that
setup provisioned into ``<data dir>/stac-schemas`` (every released version, verified against the project's
manifest). Both are resolved through a local ``referencing`` registry that refuses every other URI.
"""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from apex_core import metadata as md
from apex_core.sampledata import STAC_SCHEMAS_MANIFEST, load_manifest
from tests.services import shared_fixture

ROOT = Path(__file__).resolve().parents[2]
RECORDED = shared_fixture("apex_catalogue_collection_response.json")
OWN = ROOT / "tests" / "fixtures"
EXT = "https://stac-extensions.github.io/"
DATACUBE = EXT + "datacube/v2.2.0/schema.json"
EO = EXT + "eo/v1.1.0/schema.json"
RASTER = EXT + "raster/v1.1.0/schema.json"
FILE = EXT + "file/v2.1.0/schema.json"
PROJ = EXT + "projection/v1.1.0/schema.json"
PROCESSING = EXT + "processing/v1.1.0/schema.json"


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


def _item() -> dict[str, Any]:
    """An item using eo, raster, file, projection (v1.1: proj:epsg) and processing, all valid."""
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [EO, RASTER, FILE, PROJ, PROCESSING],
        "id": "ndvi-2019-08-19",
        "geometry": {"type": "Point", "coordinates": [11.3, 46.5]},
        "bbox": [11.3, 46.5, 11.3, 46.5],
        "properties": {
            "datetime": "2019-08-19T00:00:00Z",
            "proj:epsg": 32632,
            "processing:level": "L3",
            "processing:facility": "openEO",
        },
        "links": [],
        "assets": {
            "ndvi": {
                "href": "ndvi.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "eo:bands": [{"name": "NDVI"}],
                "raster:bands": [{"data_type": "float32", "nodata": -9999, "statistics": {"minimum": -1}}],
                "file:size": 4026886,
                "proj:shape": [705, 935],
            }
        },
    }


def test_the_blocker_blocks(attempts: list[str]) -> None:
    with pytest.raises(OSError, match="blocked by the test"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert len(attempts) == 1


def test_every_extension_of_the_manifest_is_provisioned_and_a_valid_schema() -> None:
    """What setup put in place: the 42 published schemas, each registered (even processing v1.1.0 whose
    `$id` says v1.0.0), so a valid document validates against each version of its extension."""
    urls = [str(f.url) for f in load_manifest(STAC_SCHEMAS_MANIFEST)]
    assert len(urls) == 42 and PROCESSING in urls and DATACUBE in urls
    item = _item()
    for url in (u for u in urls if "/processing/" in u):
        checks = md.validate_stac({**_item(), "stac_extensions": [url]})  # type: ignore[list-item]
        assert [c.status for c in checks] == ["valid", "valid"], checks
    assert item == _item()


def test_an_item_with_five_extensions_is_validated_without_network(attempts: list[str]) -> None:
    item = _item()
    checks = md.validate_stac(item)
    assert [(c.schema, c.status) for c in checks[1:]] == [
        (EO, "valid"),
        (RASTER, "valid"),
        (FILE, "valid"),
        (PROJ, "valid"),
        (PROCESSING, "valid"),
    ]
    assert checks[0].status == "valid", checks[0].messages
    assert attempts == []


@pytest.mark.parametrize(
    ("change", "schema", "field", "message"),
    [
        (
            lambda d: d["assets"]["ndvi"]["raster:bands"][0].update(nodata="none"),
            RASTER,
            "assets.ndvi.raster:bands.0.nodata",
            "'none' matches none of its 2 allowed forms",
        ),
        (
            lambda d: d["properties"].update({"proj:epsg": "x"}),
            PROJ,
            "properties.proj:epsg",
            "'x' is not of type",
        ),
        (
            lambda d: d["assets"]["ndvi"].update({"file:size": -1}),
            FILE,
            "assets.ndvi.file:size",
            "-1 is less than",
        ),
        (
            lambda d: d["assets"]["ndvi"].update({"eo:bands": "NDVI"}),
            EO,
            "assets.ndvi.eo:bands",
            "is not of type",
        ),
        (
            lambda d: d["properties"].update({"processing:level": 3}),
            PROCESSING,
            "properties.processing:level",
            "3 is not of type 'string'",
        ),
    ],
)
def test_a_wrong_extension_field_names_the_field_and_the_schema(
    attempts: list[str], change: Any, schema: str, field: str, message: str
) -> None:
    item = _item()
    change(item)
    bad = [c for c in md.validate_stac(item) if not c.ok]
    assert [(c.schema, c.status) for c in bad] == [(schema, "invalid")]
    (msg,) = bad[0].messages
    assert msg.startswith(f"{field}: ") and message in msg and msg.endswith(f"(schema {schema})"), msg
    (row,) = [r for r in md.schema_rows(bad)]
    assert row["result"].startswith("INVALID: " + field)
    assert "**1 check(s) invalid**" in md.schema_summary(md.validate_stac(item))
    assert attempts == []


def test_what_no_schema_checks_is_still_checked() -> None:
    item = _item()
    item["assets"]["ndvi"]["raster:bands"][0]["statistics"] = {"minimum": 1, "maximum": -1}
    (bad,) = [c for c in md.validate_stac(item) if not c.ok]
    assert bad.schema == RASTER
    assert bad.messages == (
        f"assets.ndvi.raster:bands.0.statistics: minimum > maximum (not checked by schema {RASTER})",
    )


def test_recorded_document_is_validated_without_network(attempts: list[str]) -> None:
    results = json.loads(RECORDED.read_text())
    pub = md.CollectionDraft.from_results(results, []).apply(results)
    checks = md.validate_stac(pub.collection, pub.items)
    assert checks[0].status == "valid", checks[0].messages
    ext = {c.schema: c for c in checks[1:]}
    assert set(ext) == set(pub.collection["stac_extensions"])
    assert {u.split("/")[3] for u in ext} == {"projection", "raster", "render"}
    assert all(c.status == "valid" for c in ext.values()), ext
    assert attempts == []


def test_embedded_documents_are_validated_without_network(attempts: list[str]) -> None:
    results, item = _embedded()
    pub = md.CollectionDraft.from_results(results, [item]).apply(results, [item])
    checks = md.validate_stac(pub.collection, pub.items)
    statuses = [c.status for c in checks if c.schema.startswith("https://schemas.stacspec.org/v1.1.0/")]
    assert statuses == ["valid", "valid"]
    assert all(c.status == "valid" for c in checks), [c for c in checks if c.status != "valid"]
    assert len(checks) > 2
    broken = copy.deepcopy(pub.collection)
    del broken["license"]
    (core, *_ext) = md.validate_stac(broken)
    assert core.status == "invalid" and any("'license' is a required property" in m for m in core.messages)
    assert attempts == []


def test_datacube_validated_and_an_unknown_extension_reported_by_name(attempts: list[str]) -> None:
    """The embedded backend's datacube extension against its schema; an extension no published schema is
    known for is reported by name, not validated, and does not pass as validated."""
    results, _item = _embedded()
    pub = md.CollectionDraft.from_results(results, []).apply(results)
    unknown = "https://example.org/acme-ext/v1.0.0/schema.json"
    col = {**pub.collection, "stac_extensions": [*pub.collection["stac_extensions"], DATACUBE, unknown]}
    col["cube:dimensions"] = {"x": {"type": "spatial", "axis": "x", "extent": [0, 1]}}
    by_schema = {c.schema: c for c in md.validate_stac(col)}
    assert by_schema[DATACUBE].status == "valid"
    assert by_schema[unknown].status == "unknown"
    assert by_schema[unknown].messages == (
        f"no known schema for extension {unknown!r} ({unknown}): not validated",
    )
    rows = {r["schema"]: r["result"] for r in md.schema_rows(by_schema.values())}
    assert rows["datacube/v2.2.0"] == "valid (JSON schema)"
    assert (
        rows[unknown.removesuffix("/schema.json")]
        == f"no known schema for extension {unknown}: not validated"
    )
    assert md.schema_summary(tuple(by_schema.values())).endswith(
        f"; no known schema, not validated: {unknown}."
    )
    col["cube:dimensions"] = {"x": {"axis": "x"}}
    bad = next(c for c in md.validate_stac(col) if c.schema == DATACUBE)
    assert bad.status == "invalid" and not bad.ok, bad
    assert any("cube:dimensions.x: " in m and m.endswith(f"(schema {DATACUBE})") for m in bad.messages)
    assert attempts == []


def test_schemas_not_provisioned_are_not_passed_as_valid(tmp_path: Path) -> None:
    """Without setup's schemas, a known extension is `not_available` and fails (run setup), never valid."""
    checks = md.validate_stac(_item(), schemas_dir=tmp_path)
    assert checks[0].status == "valid"
    assert {c.status for c in checks[1:]} == {"not_available"}
    assert not any(c.ok for c in checks[1:])
    assert all("run ./scripts/setup.sh" in c.messages[0] for c in checks[1:])
    assert "**extension schema not available offline** (run setup)" in md.schema_summary(checks)


def test_the_same_document_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page rerun that changed nothing validates nothing again; any change is validated afresh."""
    from apex_core.metadata import schema

    calls: list[str] = []
    real = schema._validate

    def counting(obj: Any, uri: str, registry: Any, cite: bool) -> Any:
        calls.append(uri)
        return real(obj, uri, registry, cite)

    monkeypatch.setattr(schema, "_validate", counting)
    item = _item()
    item["id"] = f"memo-{id(calls)}"  # not validated by another test of this process
    first = md.validate_stac(item)
    assert len(calls) == len(first) - sum(c.status == "unknown" for c in first) > 0
    assert md.validate_stac(copy.deepcopy(item)) == first and len(calls) == len(first)
    item["properties"]["proj:code"] = 4326  # wrong: a number
    again = md.validate_stac(item)
    assert len(calls) > len(first) and any(not c.ok for c in again)
