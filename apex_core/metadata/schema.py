"""Schema validation, offline: the core STAC JSON schemas (pystac's bundled copies) and every extension
schema a document declares in ``stac_extensions``, resolved from a local registry that refuses any other
URI (never the network). The extension schemas are the published ones, every released version,
provisioned by setup into ``<data dir>/stac-schemas`` against the project's manifest
(:func:`apex_core.sampledata.ensure_stac_schemas`); each is registered under its canonical URL (not its
``$id``: ``processing/v1.1.0`` declares v1.0.0's). An extension with no known schema is reported as such,
by name. What no schema checks (statistics and rescale ranges) is checked in
:mod:`apex_core.metadata.extensions`."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jsonschema.exceptions import ValidationError, relevance  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT7

from apex_core.metadata.extensions import extension_check
from apex_core.metadata.values import STAC_VERSION
from apex_core.sampledata import STAC_SCHEMAS_MANIFEST, load_manifest, stac_schemas_dir

__all__ = ["SchemaCheck", "SchemaStatus", "schema_rows", "schema_summary", "validate_stac"]


SchemaStatus = Literal["valid", "invalid", "unknown", "not_available"]
"""``unknown``: an extension with no published schema the project knows (reported, not validated);
``not_available``: a known schema (or one it references) is not provisioned here (setup not run)."""


@dataclass(frozen=True)
class SchemaCheck:
    """One object checked against one schema (core STAC or one extension)."""

    target: str
    schema: str
    status: SchemaStatus
    messages: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in ("valid", "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "schema": self.schema,
            "status": self.status,
            "messages": list(self.messages),
        }


def _known_extensions() -> dict[str, str]:
    """Canonical URL -> path under the schemas folder, from the project's manifest."""
    return {str(spec.url): spec.path for spec in load_manifest(STAC_SCHEMAS_MANIFEST)}


@lru_cache(maxsize=4)
def _registry(schemas_dir: Path) -> tuple[Registry[Any], frozenset[str]]:
    """The offline registry (core STAC + every provisioned extension schema) and the known URLs."""

    def retrieve(uri: str) -> Resource[Any]:
        raise NoSuchResource(uri)

    resources = [
        (uri, Resource.from_contents(schema, default_specification=DRAFT7))
        for uri, schema in get_local_schema_cache().items()
    ]
    known = _known_extensions()
    for url, rel in known.items():
        path = schemas_dir / rel
        if not path.is_file():
            continue
        contents = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(contents, dict):
            contents = {**contents, "$id": url}  # under its URL, whatever `$id` it declares
        resources.append((url, Resource.from_contents(contents, default_specification=DRAFT7)))
    registry: Registry[Any] = Registry(retrieve=retrieve).with_resources(resources)  # type: ignore[call-arg]
    return registry, frozenset(known)


_CORE = {
    "Collection": f"https://schemas.stacspec.org/v{STAC_VERSION}/collection-spec/json-schema/collection.json",
    "Feature": f"https://schemas.stacspec.org/v{STAC_VERSION}/item-spec/json-schema/item.json",
}


def _leaf(error: ValidationError) -> ValidationError:
    """The most specific error that is certain: under a oneOf/anyOf, only into the one branch for the
    document's own ``type`` (an extension schema has one for Items, one for Collections); where several
    branches remain, the error stays at that level (the field matches none of its allowed forms)."""
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        fitting = [
            subs
            for subs in branches.values()
            if not any(e.validator == "const" and list(e.relative_path) == ["type"] for e in subs)
        ]
        if len(fitting) != 1:
            break
        error = max(fitting[0], key=relevance)
    return error


def _message(error: ValidationError, uri: str | None) -> str:
    leaf = _leaf(error)
    where = ".".join(str(p) for p in leaf.absolute_path) or "(document)"
    if leaf.validator in ("anyOf", "oneOf") and isinstance(leaf.validator_value, list):
        shown = "" if not leaf.absolute_path else f"{leaf.instance!r}"[:80] + " "
        text = f"{shown}matches none of its {len(leaf.validator_value)} allowed forms"
        subs = sorted(
            {
                f"{'.'.join(str(p) for p in sub.absolute_path) or '(document)'}: {sub.message[:100]}"
                for sub in leaf.context
            }
        )
        text += f" ({'; '.join(subs[:4])})" if subs else ""
    else:
        text = leaf.message[:300]
    return f"{where}: {text}" + (f" (schema {uri})" if uri else "")


_CHECKED: OrderedDict[str, tuple[SchemaStatus, tuple[str, ...]]] = OrderedDict()
_CHECKED_LOCK = threading.Lock()
_CHECKED_MAX = 512


def _schema_check(
    target: str, obj: Mapping[str, Any], uri: str, registry: Registry[Any], cite: bool, scope: Path
) -> tuple[SchemaStatus, tuple[str, ...]]:
    """:func:`_validate` once per document content, schema and registry: a page rerun that changed
    nothing validates nothing again (the answer depends on those alone)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    key = hashlib.sha256(f"{scope}|{uri}|{cite}|{target}|{text}".encode()).hexdigest()
    with _CHECKED_LOCK:
        if key in _CHECKED:
            _CHECKED.move_to_end(key)
            return _CHECKED[key]
    answer = _validate(obj, uri, registry, cite)
    with _CHECKED_LOCK:
        _CHECKED[key] = answer
        while len(_CHECKED) > _CHECKED_MAX:
            _CHECKED.popitem(last=False)
    return answer


def _validate(
    obj: Mapping[str, Any], uri: str, registry: Registry[Any], cite: bool
) -> tuple[SchemaStatus, tuple[str, ...]]:
    try:
        schema = registry.contents(uri)
        validator = validator_for(schema)(schema, registry=registry)
        errors = sorted(validator.iter_errors(dict(obj)), key=lambda e: list(e.absolute_path))
    except (NoSuchResource, Unresolvable) as exc:
        ref = getattr(exc, "ref", None) or getattr(exc, "uri", None) or uri
        return "not_available", (f"schema {ref} not available offline (run ./scripts/setup.sh)",)
    msgs = tuple(dict.fromkeys(_message(e, uri if cite else None) for e in errors))[:20]
    return ("invalid" if msgs else "valid"), msgs


_EXTENSIONS_SITE = "https://stac-extensions.github.io/"


def _ext_name(uri: str) -> str:
    """``raster`` for a schema of the STAC extensions site; any other URL as it is."""
    return uri.removeprefix(_EXTENSIONS_SITE).split("/")[0] if uri.startswith(_EXTENSIONS_SITE) else uri


def validate_stac(
    collection: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    schemas_dir: Path | None = None,
) -> tuple[SchemaCheck, ...]:
    """Core STAC 1.1.0 JSON schema and every declared extension's JSON schema, offline, for the
    collection and each item. ``schemas_dir``: the provisioned extension schemas (default
    ``<data dir>/stac-schemas``)."""
    scope = (schemas_dir if schemas_dir is not None else stac_schemas_dir()).resolve()
    registry, known = _registry(scope)
    checks: list[SchemaCheck] = []
    targets: list[tuple[str, Mapping[str, Any]]] = [("collection", collection)]
    targets += [(f"item {it.get('id')}", it) for it in items]
    for target, obj in targets:
        core = obj
        links = obj.get("links") or []
        if (
            obj.get("type") == "Feature"
            and obj.get("collection")
            and not any(isinstance(link, Mapping) and link.get("rel") == "collection" for link in links)
        ):
            # The item is POSTed without the links the catalogue generates; STAC requires a `collection`
            # link next to the `collection` field, so check it as the catalogue will serve it.
            core = {**obj, "links": [*links, {"rel": "collection", "href": "../collection.json"}]}
        uri = _CORE["Feature" if obj.get("type") == "Feature" else "Collection"]
        status, msgs = _schema_check(target, core, uri, registry, cite=False, scope=scope)
        checks.append(SchemaCheck(target, uri, status, msgs))
        for ext in obj.get("stac_extensions") or []:
            ext_uri = str(ext)
            if ext_uri not in known:
                checks.append(
                    SchemaCheck(
                        target,
                        ext_uri,
                        "unknown",
                        (f"no known schema for extension {_ext_name(ext_uri)!r} ({ext_uri}): not validated",),
                    )
                )
                continue
            status, msgs = _schema_check(target, obj, ext_uri, registry, cite=True, scope=scope)
            extra = extension_check(ext_uri)
            if extra is not None and status != "not_available":
                more = tuple(f"{m} (not checked by schema {ext_uri})" for m in extra(obj))
                if more:
                    status, msgs = "invalid", msgs + more
            checks.append(SchemaCheck(target, ext_uri, status, msgs))
    return tuple(checks)


def schema_summary(checks: Sequence[SchemaCheck]) -> str:
    """One markdown line: what was validated against JSON schemas offline, and what could not be."""
    core = [c for c in checks if c.schema in _CORE.values()]
    ext = [c for c in checks if c.schema not in _CORE.values()]
    bad_core = [c for c in core if not c.ok]
    parts = [
        f"Core STAC {STAC_VERSION} JSON schemas: "
        + (
            f"**{len(bad_core)} of {len(core)} objects invalid**"
            if bad_core
            else f"{len(core)} object(s) valid"
        )
    ]
    validated = [c for c in ext if c.status in ("valid", "invalid")]
    if validated:
        names = ", ".join(sorted({_ext_name(c.schema) for c in validated}))
        bad = [c for c in validated if c.status == "invalid"]
        parts.append(
            f"extension schemas {names}: "
            + (f"**{len(bad)} check(s) invalid**" if bad else f"{len(validated)} check(s) valid")
        )
    missing = sorted({_ext_name(c.schema) for c in ext if c.status == "not_available"})
    if missing:
        parts.append(f"**extension schema not available offline** (run setup): {', '.join(missing)}")
    unknown = sorted({_ext_name(c.schema) for c in ext if c.status == "unknown"})
    if unknown:
        parts.append(f"no known schema, not validated: {', '.join(unknown)}")
    return "; ".join(parts) + "."


def schema_rows(checks: Iterable[SchemaCheck]) -> list[dict[str, str]]:
    """The checks as table rows, saying plainly which could not be validated offline and why."""
    rows = []
    for c in checks:
        if c.status == "valid":
            result = "valid (JSON schema)"
        elif c.status == "invalid":
            result = "INVALID: " + "; ".join(c.messages)
        elif c.status == "unknown":
            result = f"no known schema for extension {_ext_name(c.schema)}: not validated"
        else:
            result = "schema not available offline: not validated: " + "; ".join(c.messages)
        name = c.schema.removeprefix("https://stac-extensions.github.io/").removeprefix(
            "https://schemas.stacspec.org/"
        )
        name = name.removesuffix("/schema.json").removesuffix(".json").replace("/json-schema/", " ")
        rows.append({"object": c.target, "schema": name, "result": result})
    return rows
