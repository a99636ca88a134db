"""Catalogue ids: is a value a valid slug, a valid one suggested from the results, and the items' ids
made from a pattern (``{collection}_{date}``: stable and meaningful, unique within the collection)."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULT_ITEM_IDS",
    "ITEM_ID_FIELDS",
    "SLUG_RE",
    "check_item_pattern",
    "check_slug",
    "item_ids",
    "suggest_id",
]

SLUG_RE = re.compile(r"^[a-z][a-z0-9_-]{2,63}$")


def check_slug(value: str) -> str | None:
    """None if ``value`` is a valid catalogue id, else a sentence saying what is wrong."""
    if not value:
        return "The id is required."
    if len(value) < 3 or len(value) > 64:
        return f"The id must be 3 to 64 characters long (it has {len(value)})."
    if not value[0].islower() or not value[0].isascii() or not value[0].isalpha():
        return "The id must start with a lowercase letter (a-z)."
    bad = sorted({c for c in value if not (c.isascii() and (c.islower() or c.isdigit() or c in "-_"))})
    if bad:
        return (
            "The id may only contain lowercase letters, digits, '-' and '_' (not "
            + " ".join(repr(c) for c in bad)
            + ")."
        )
    return None if SLUG_RE.match(value) else "The id is not a valid slug."


def suggest_id(results: Mapping[str, Any]) -> str:
    """A valid id from the results' title, else the job id.

    ``"APEx Demo - Bolzano"`` -> ``apex_demo_bolzano``.
    """
    for source in (results.get("title"), results.get("id")):
        if not isinstance(source, str):
            continue
        slug = re.sub(r"[^a-z0-9]+", "_", source.lower()).strip("_-")[:64].rstrip("_-")
        if slug and not slug[0].isalpha():
            slug = ("c_" + slug)[:64]
        if check_slug(slug) is None:
            return slug
    return "openeo_results"


DEFAULT_ITEM_IDS = "{collection}_{date}"
"""Items are named after their collection and date: ``bolzano_ndvi_20220612`` (an interval for a
composite: ``romania_ndvi_20190601-20190831``). openEO's own ids (``openEO``, ``openEO_2021-01-01Z``, random
ids) are not stable: two jobs' results routinely carry the same one."""
ITEM_ID_FIELDS = ("collection", "date", "start", "end", "original", "n")
_ITEM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def _day(value: Any) -> str | None:
    text = str(value or "")
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
    return "".join(match.groups()) if match else None


def _fields(collection: str, item: Mapping[str, Any], n: int) -> dict[str, str]:
    props = item.get("properties") or {}
    start = _day(props.get("start_datetime")) or _day(props.get("datetime"))
    end = _day(props.get("end_datetime")) or _day(props.get("datetime")) or start
    date = "" if start is None else (start if end in (None, start) else f"{start}-{end}")
    return {
        "collection": collection,
        "date": date,
        "start": start or "",
        "end": end or "",
        "original": str(item.get("id") or ""),
        "n": str(n),
    }


def check_item_pattern(pattern: str) -> str | None:
    """None if ``pattern`` names items well, else a sentence saying what is wrong."""
    if not pattern.strip():
        return "Give a pattern for the item ids, e.g. {collection}_{date}."
    try:
        names = [name for _text, name, _spec, _conv in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        return f"The pattern is not valid: {exc}."
    parts = [(spec, conv) for _t, name, spec, conv in string.Formatter().parse(pattern) if name is not None]
    if any(spec or conv for spec, conv in parts):
        return "Use the fields as they are, e.g. {date}: no format specs or conversions ({n:03d}, {date!r})."
    unknown = sorted({n for n in names if n not in ITEM_ID_FIELDS})
    if unknown:
        known = ", ".join("{" + f + "}" for f in ITEM_ID_FIELDS)
        return f"Unknown field(s) {', '.join(unknown)} in the pattern; use {known}."
    if not {"date", "start", "original", "n"} & set(names):
        return "The pattern must tell items apart: use {date} (or {start}, {original}, {n})."
    return None


def item_ids(pattern: str, collection: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ids of ``items`` by ``pattern`` (:data:`DEFAULT_ITEM_IDS`), unique (``_2``, ``_3`` ... for a
    repeated one); an item whose pattern gives no valid id (no date to put in it) keeps its own id."""
    out: list[str] = []
    for n, item in enumerate(items, start=1):
        fields = _fields(collection, item, n)
        name = pattern.format(**fields).strip("_-.") if check_item_pattern(pattern) is None else ""
        if not _ITEM_ID_RE.match(name) or ("{date}" in pattern and not fields["date"]):
            name = fields["original"] or f"{collection}_{n}"
        base, k = name, 2
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return out
