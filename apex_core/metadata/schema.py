"""Schema validation, offline: the core STAC JSON schemas (pystac's bundled copies, through a local
registry that refuses any other URI) and, for each extension, its field checks
(:mod:`apex_core.metadata.extensions`), reported as not validated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

from apex_core.metadata.extensions import extension_check
from apex_core.metadata.values import STAC_VERSION

__all__ = ["SchemaCheck", "SchemaStatus", "schema_rows", "schema_summary", "validate_stac"]


SchemaStatus = Literal["valid", "invalid", "not_available"]


@dataclass(frozen=True)
class SchemaCheck:
    """One object checked against one schema. ``not_available``: no offline copy of that schema, so only
    the minimal checks in ``messages`` were made (an empty list: they passed; ``field_checked`` False:
    there are none for that extension)."""

    target: str
    schema: str
    status: SchemaStatus
    messages: tuple[str, ...] = ()
    field_checked: bool = True

    @property
    def ok(self) -> bool:
        return self.status == "valid" or (self.status == "not_available" and not self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "schema": self.schema,
            "status": self.status,
            "messages": list(self.messages),
            "field_checked": self.field_checked,
        }


def _registry() -> Registry[Any]:
    def retrieve(uri: str) -> Resource[Any]:
        raise NoSuchResource(uri)

    resources = [
        (uri, Resource.from_contents(schema, default_specification=DRAFT7))
        for uri, schema in get_local_schema_cache().items()
    ]
    return Registry(retrieve=retrieve).with_resources(resources)  # type: ignore[call-arg]


_CORE = {
    "Collection": f"https://schemas.stacspec.org/v{STAC_VERSION}/collection-spec/json-schema/collection.json",
    "Feature": f"https://schemas.stacspec.org/v{STAC_VERSION}/item-spec/json-schema/item.json",
}


def _core_check(target: str, obj: Mapping[str, Any], registry: Registry[Any]) -> SchemaCheck:
    uri = _CORE["Feature" if obj.get("type") == "Feature" else "Collection"]
    schema = registry.contents(uri)
    validator = validator_for(schema)(schema, registry=registry)
    try:
        errors = sorted(validator.iter_errors(dict(obj)), key=lambda e: list(e.absolute_path))
    except NoSuchResource as exc:
        return SchemaCheck(
            target, uri, "not_available", (f"schema reference {exc.ref} not available offline",)
        )
    msgs = tuple(
        f"{'.'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message[:300]}" for e in errors[:20]
    )
    return SchemaCheck(target, uri, "invalid" if msgs else "valid", msgs)


def validate_stac(
    collection: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()
) -> tuple[SchemaCheck, ...]:
    """Core STAC 1.1.0 JSON schemas (pystac's bundled copies, offline) for the collection and each item;
    for each extension, minimal checks of its fields, reported as ``not_available`` (its JSON schema is
    not available offline, so it is *not* validated against it)."""
    registry = _registry()
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
        checks.append(_core_check(target, core, registry))
        for uri in obj.get("stac_extensions") or []:
            check = extension_check(str(uri))
            msgs = tuple(check(obj)) if check else ()
            checks.append(
                SchemaCheck(target, str(uri), "not_available", msgs, field_checked=check is not None)
            )
    return tuple(checks)


def _ext_name(uri: str) -> str:
    return uri.removeprefix("https://stac-extensions.github.io/").split("/")[0]


def schema_summary(checks: Sequence[SchemaCheck]) -> str:
    """One markdown line: what was validated against JSON schemas offline, and what could not be."""
    core = [c for c in checks if c.schema in _CORE.values()]
    ext = [c for c in checks if c.schema not in _CORE.values()]
    bad_core = [c for c in core if not c.ok]
    bad_ext = [c for c in ext if not c.ok]
    parts = [
        f"Core STAC {STAC_VERSION} JSON schemas: "
        + (
            f"**{len(bad_core)} of {len(core)} objects invalid**"
            if bad_core
            else f"{len(core)} object(s) valid"
        )
    ]
    if ext:
        names = sorted({_ext_name(c.schema) for c in ext})
        unchecked = sorted({_ext_name(c.schema) for c in ext if not c.field_checked})
        parts.append(
            f"extensions {', '.join(names)}: extension schema not available offline: not validated "
            + (f"(**field checks failed for {len(bad_ext)}**)" if bad_ext else "(field checks passed)")
            + (f"; no field checks for {', '.join(unchecked)}" if unchecked else "")
        )
    return "; ".join(parts) + "."


def schema_rows(checks: Iterable[SchemaCheck]) -> list[dict[str, str]]:
    """The checks as table rows, saying plainly which schemas could not be used offline."""
    rows = []
    for c in checks:
        if c.status == "valid":
            result = "valid (JSON schema)"
        elif c.status == "invalid":
            result = "INVALID: " + "; ".join(c.messages)
        elif c.messages:
            result = (
                "extension schema not available offline: not validated; field checks FAILED: "
                + "; ".join(c.messages)
            )
        elif c.field_checked:
            result = "extension schema not available offline: not validated (field checks passed)"
        else:
            result = "extension schema not available offline: not validated (no field checks for it)"
        name = c.schema.removeprefix("https://stac-extensions.github.io/").removeprefix(
            "https://schemas.stacspec.org/"
        )
        name = name.removesuffix("/schema.json").removesuffix(".json").replace("/json-schema/", " ")
        rows.append({"object": c.target, "schema": name, "result": result})
    return rows
