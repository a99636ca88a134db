"""What no STAC extension JSON schema checks: ranges that must be ordered.

The extension schemas themselves (every field's type and shape) are validated offline by
:func:`~apex_core.metadata.schema.validate_stac`; these checks come on top of them.
"""

from __future__ import annotations

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


def _check_raster(obj: Mapping[str, Any]) -> list[str]:
    msgs = []
    for where, p in _places(obj):
        bands = p.get("raster:bands")
        for i, band in enumerate(bands if isinstance(bands, list) else []):
            stats = band.get("statistics") if isinstance(band, Mapping) else None
            if (
                isinstance(stats, Mapping)
                and _num(stats.get("minimum"))
                and _num(stats.get("maximum"))
                and stats["minimum"] > stats["maximum"]
            ):
                msgs.append(f"{where}raster:bands.{i}.statistics: minimum > maximum")
    return msgs


def _check_render(obj: Mapping[str, Any]) -> list[str]:
    msgs: list[str] = []
    renders = obj.get("renders")
    if not isinstance(renders, Mapping):
        return msgs
    for name, r in renders.items():
        rescale = r.get("rescale") if isinstance(r, Mapping) else None
        for pair in rescale if isinstance(rescale, list) else []:
            ordered = isinstance(pair, list) and len(pair) == 2 and all(_num(v) for v in pair)
            if ordered and pair[0] >= pair[1]:
                msgs.append(f"renders.{name}.rescale: [min, max] pairs need min < max")
    return msgs


EXTENSION_CHECKS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "/raster/": _check_raster,
    "/render/": _check_render,
}


def extension_check(uri: str) -> Callable[[Mapping[str, Any]], list[str]] | None:
    """The checks no schema makes for the extension ``uri`` (None when there are none)."""
    return next((fn for part, fn in EXTENSION_CHECKS.items() if part in uri), None)
