"""Field checks of a draft: every problem, each naming the form field it is about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from apex_core.errors import MetadataError
from apex_core.licences import LICENCE_ID_PATTERN, LICENCES, OTHER
from apex_core.metadata.ids import check_item_pattern, check_slug
from apex_core.metadata.values import (
    ADMIN_ONLY_READ_ROLE,
    COLORMAPS,
    DEFAULT_DESCRIPTION_RE,
    PROVIDER_ROLES,
    parse_time,
)

if TYPE_CHECKING:
    from apex_core.metadata.draft import CollectionDraft

__all__ = ["FieldIssue", "Severity", "check_draft", "is_url", "raise_first_error"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class FieldIssue:
    """A problem with one field of the draft (``field`` is the form's field name)."""

    field: str
    message: str
    severity: Severity = "error"

    def to_error(self) -> MetadataError:
        return MetadataError(self.message, field=self.field)

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "severity": self.severity}


def is_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    parts = urlsplit(value)
    return parts.scheme in schemes and bool(parts.netloc)


def raise_first_error(issues: Sequence[FieldIssue]) -> None:
    """Raise the first error among ``issues`` as a :class:`MetadataError` naming its field."""
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise errors[0].to_error()


def check_draft(draft: CollectionDraft) -> tuple[FieldIssue, ...]:
    """Every problem with the draft, each naming its form field. Errors block, warnings inform."""
    issues: list[FieldIssue] = []

    def err(name: str, message: str, severity: Severity = "error") -> None:
        issues.append(FieldIssue(name, message, severity))

    if (slug := check_slug(draft.id)) is not None:
        err("id", slug)
    if (pattern := check_item_pattern(draft.item_ids)) is not None:
        err("item_ids", pattern)
    if not draft.title.strip():
        err("title", "A title is required.")
    if not draft.description.strip():
        err("description", "A description is required (markdown).")
    elif DEFAULT_DESCRIPTION_RE.match(draft.description):
        err("description", "This is openEO's default description: say what the data is.", "warning")
    if not draft.license or not LICENCE_ID_PATTERN.match(draft.license):
        err("license", "Choose a licence (an SPDX id, or `other` with a link to its terms).")
    elif draft.license in ("proprietary", "various"):
        err(
            "license",
            f"`{draft.license}` is deprecated in STAC 1.1: choose a licence, or `other`.",
            "warning",
        )
    elif draft.license == OTHER and not is_url(draft.license_url):
        err("license_url", "With licence `other`, give an http(s) link to the licence terms.")
    elif draft.license not in LICENCES:
        err(
            "license",
            f"`{draft.license}` is not in the list of common SPDX ids: check its spelling.",
            "warning",
        )
    for kw in draft.keywords:
        if len(kw) > 100:
            err("keywords", f"Keyword {kw[:20]!r}... is longer than 100 characters.")
    if not draft.providers:
        err("providers", "Add at least one provider (who produced, processed or hosts the data).", "warning")
    for i, p in enumerate(draft.providers):
        if not p.name:
            err(f"provider_{i}_name", "A provider needs a name.")
        bad_roles = [r for r in p.roles if r not in PROVIDER_ROLES]
        if bad_roles:
            err(
                f"provider_{i}_roles",
                f"Unknown role(s) {', '.join(bad_roles)}: use {', '.join(PROVIDER_ROLES)}.",
            )
        if p.url and not is_url(p.url):
            err(f"provider_{i}_url", "The provider URL must be an http(s) URL.")
    w, s, e, n = draft.bbox
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        err("west", "Longitudes must be between -180 and 180.")
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        err("south", "Latitudes must be between -90 and 90.")
    elif s > n:
        err("south", "South must not be greater than north.")
    if w > e:
        err("west", "West is greater than east: this bbox crosses the antimeridian.", "warning")
    times: list[dt.datetime | None] = []
    for name, value in zip(("start", "end"), draft.interval, strict=True):
        try:
            times.append(parse_time(value))
        except ValueError:
            err(name, f"{value!r} is not an ISO 8601 date-time such as 2022-06-12T00:00:00Z.")
            times.append(None)
    if not any(draft.interval):
        err("start", "Give a start or an end of the temporal extent (or both).")
    elif len(times) == 2 and times[0] and times[1] and times[0] > times[1]:
        err("end", "The end is before the start.")
    if not draft.auth_read:
        err("auth_read", "`_auth.read` needs at least one role (the catalogue refuses a collection without).")
    if not draft.auth_write:
        err(
            "auth_write",
            "`_auth.write` needs at least one role (the catalogue refuses a collection without).",
        )
    if ADMIN_ONLY_READ_ROLE in draft.auth_write:
        err("auth_write", "`anonymous` may never be in `_auth.write`.")
    if ADMIN_ONLY_READ_ROLE in draft.auth_read:
        err(
            "auth_read",
            "Only catalogue administrators may make a collection readable by `anonymous`: the catalogue "
            "refuses it (403) for anybody else.",
            "warning",
        )
    if draft.render is not None:
        lo, hi = draft.render.rescale
        if not lo < hi:
            err("render_min", "The rescale minimum must be below its maximum.")
        if draft.render.colormap_name not in COLORMAPS and not (
            draft.render.colormap and not draft.render.colormap_name
        ):
            err("colormap", f"Unknown colormap {draft.render.colormap_name!r}.")
    if draft.statistics is not None:
        st = draft.statistics
        if st.minimum is not None and st.maximum is not None and st.minimum > st.maximum:
            err("stats_on", "The statistics' minimum is above their maximum.")
    if draft.derived_from == "absolute" and not is_url(draft.eodata_base, ("s3", "http", "https")):
        err("eodata_base", "Give an absolute base such as s3://eodata or https://....")
    return tuple(issues)
