"""Field checks of the STAC extensions a collection or item declares.

No maintained PyPI, npm or Debian package ships the extension JSON schemas (eo, file, processing,
projection, raster, render, datacube) and their site is out of reach offline, so each extension gets
minimal checks of its own fields here; :func:`~apex_core.metadata.schema.validate_stac` reports them
as *not validated* against a schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["EXTENSION_CHECKS", "extension_check"]


def _places(obj: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out: list[tuple[str, Mapping[str, Any]]] = [("", obj)]
    if isinstance(obj.get("properties"), Mapping):
        out.append(("properties.", obj["properties"]))
    for key, asset in (obj.get("assets") or {}).items():
        if isinstance(asset, Mapping):
            out.append((f"assets.{key}.", asset))
    return out


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_projection(obj: Mapping[str, Any]) -> list[str]:
    msgs = []
    for where, p in _places(obj):
        code = p.get("proj:code")
        if (
            "proj:code" in p
            and code is not None
            and not (isinstance(code, str) and re.match(r"^\S+:\S+$", code))
        ):
            msgs.append(f"{where}proj:code must be an authority:code string such as EPSG:3857")
        if "proj:epsg" in p and p["proj:epsg"] is not None and not isinstance(p["proj:epsg"], int):
            msgs.append(f"{where}proj:epsg must be an integer")
        if "proj:bbox" in p and not (isinstance(p["proj:bbox"], list) and len(p["proj:bbox"]) in (4, 6)):
            msgs.append(f"{where}proj:bbox must be 4 or 6 numbers")
        shape = p.get("proj:shape")
        if "proj:shape" in p and not (
            isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)
        ):
            msgs.append(f"{where}proj:shape must be 2 integers")
    return msgs


def _check_eo(obj: Mapping[str, Any]) -> list[str]:
    msgs = []
    for where, p in _places(obj):
        bands = p.get("eo:bands")
        if bands is not None and not (isinstance(bands, list) and all(isinstance(b, Mapping) for b in bands)):
            msgs.append(f"{where}eo:bands must be a list of objects")
    return msgs


def _check_raster(obj: Mapping[str, Any]) -> list[str]:
    msgs = []
    for where, p in _places(obj):
        for i, band in enumerate(p.get("raster:bands") or []):
            stats = band.get("statistics") if isinstance(band, Mapping) else None
            if stats is None:
                continue
            if not isinstance(stats, Mapping) or not all(_num(v) for v in stats.values()):
                msgs.append(f"{where}raster:bands[{i}].statistics must hold numbers")
            elif (
                _num(stats.get("minimum"))
                and _num(stats.get("maximum"))
                and stats["minimum"] > stats["maximum"]
            ):
                msgs.append(f"{where}raster:bands[{i}].statistics minimum > maximum")
    return msgs


def _check_render(obj: Mapping[str, Any]) -> list[str]:
    msgs: list[str] = []
    renders = obj.get("renders")
    if renders is None:
        return msgs
    if not isinstance(renders, Mapping):
        return ["renders must be an object"]
    for name, r in renders.items():
        if not isinstance(r, Mapping) or not isinstance(r.get("assets"), list) or not r["assets"]:
            msgs.append(f"renders.{name}.assets must be a non-empty list of asset keys")
            continue
        for pair in r.get("rescale") or []:
            if not (
                isinstance(pair, list) and len(pair) == 2 and all(_num(v) for v in pair) and pair[0] < pair[1]
            ):
                msgs.append(f"renders.{name}.rescale must be [min, max] pairs with min < max")
        if "colormap_name" in r and not isinstance(r["colormap_name"], str):
            msgs.append(f"renders.{name}.colormap_name must be a string")
    return msgs


def _check_processing(obj: Mapping[str, Any]) -> list[str]:
    msgs = []
    holders: list[tuple[str, Mapping[str, Any]]] = list(_places(obj))
    holders += [
        (f"providers[{i}].", p) for i, p in enumerate(obj.get("providers") or []) if isinstance(p, Mapping)
    ]
    for where, p in holders:
        expr = p.get("processing:expression")
        if expr is not None and not (isinstance(expr, Mapping) and "format" in expr and "expression" in expr):
            msgs.append(f"{where}processing:expression must have `format` and `expression`")
    return msgs


def _check_file(obj: Mapping[str, Any]) -> list[str]:
    return [
        f"{where}file:size must be a non-negative integer"
        for where, p in _places(obj)
        if "file:size" in p and not (isinstance(p["file:size"], int) and p["file:size"] >= 0)
    ]


def _check_datacube(obj: Mapping[str, Any]) -> list[str]:
    msgs = []
    for where, p in _places(obj):
        for name, kind in (("cube:dimensions", "type"), ("cube:variables", "dimensions")):
            value = p.get(name)
            if value is None:
                continue
            if not isinstance(value, Mapping) or not all(
                isinstance(v, Mapping) and kind in v for v in value.values()
            ):
                msgs.append(f"{where}{name} must map each name to an object with `{kind}`")
    return msgs


EXTENSION_CHECKS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "/projection/": _check_projection,
    "/eo/": _check_eo,
    "/raster/": _check_raster,
    "/render/": _check_render,
    "/processing/": _check_processing,
    "/file/": _check_file,
    "/datacube/": _check_datacube,
}


def extension_check(uri: str) -> Callable[[Mapping[str, Any]], list[str]] | None:
    """The field checks for the extension schema ``uri`` (None when there are none)."""
    return next((fn for part, fn in EXTENSION_CHECKS.items() if part in uri), None)
