"""Catalogue ids: is a value a valid slug, and a valid one suggested from the results."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SLUG_RE", "check_slug", "suggest_id"]

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
