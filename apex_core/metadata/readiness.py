"""Readiness: everything the page shows about a draft (field issues, the collection, schema checks)
and the checklist before publishing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apex_core import ndvi
from apex_core.errors import MetadataError
from apex_core.metadata.apex import ApexReport, apex_report, temporal_proposal
from apex_core.metadata.build import PublishableCollection, publishable
from apex_core.metadata.checks import FieldIssue, check_draft
from apex_core.metadata.draft import CollectionDraft
from apex_core.metadata.links import (
    EXPIRING_SOON,
    AssetExpiry,
    Reachability,
    asset_expiries,
    format_time_left,
    short_href,
)
from apex_core.metadata.schema import SchemaCheck, validate_stac
from apex_core.metadata.values import DEFAULT_DESCRIPTION_RE, STAC_VERSION
from apex_core.resultfile import FileFacts

__all__ = ["CheckItem", "Evaluation", "evaluate", "readiness"]


@dataclass(frozen=True)
class CheckItem:
    key: str
    label: str
    ok: bool | None  # None: not checked yet
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "ok": self.ok, "detail": self.detail}


def readiness(
    draft: CollectionDraft,
    publishable: PublishableCollection,
    *,
    reachability: Sequence[Reachability] | None = None,
    now: dt.datetime | None = None,
    expiries: Sequence[AssetExpiry] | None = None,
    value_range: tuple[float, float] = ndvi.VALUE_RANGE,
) -> tuple[CheckItem, ...]:
    """The checklist before publishing (advisory: the Publish page shows it again). ``expiries``: the
    publishable's :func:`asset_expiries` when the caller has them; ``value_range``: the range the band
    statistics should stay within (the product's, :data:`apex_core.ndvi.VALUE_RANGE`)."""
    lic_ok = bool(draft.license) and draft.license not in ("proprietary", "various")
    desc_ok = bool(draft.description.strip()) and not DEFAULT_DESCRIPTION_RE.match(draft.description)
    if expiries is None:
        expiries = asset_expiries(publishable.collection, publishable.items, now)
    worst = min(
        (e for e in expiries if e.seconds_left is not None), key=lambda e: e.seconds_left or 0, default=None
    )
    if worst is None:
        exp = CheckItem("expiry", "Asset links do not expire soon", True, "No signed (expiring) asset links.")
    else:
        left = worst.seconds_left or 0.0
        exp = CheckItem(
            "expiry",
            "Asset links do not expire soon",
            left >= EXPIRING_SOON.total_seconds(),
            f"Earliest: {worst.key} ({worst.owner}), {format_time_left(left)}"
            f" (at {worst.expires_at:%Y-%m-%d %H:%M} UTC). Signed links stop working then: re-host the files "
            "for a lasting catalogue entry.",
        )
    if reachability is None:
        reach = CheckItem("reachable", "Assets reachable", None, "Not checked yet: use 'Check assets'.")
    else:
        bad = [r for r in reachability if not r.ok]
        reach = CheckItem(
            "reachable",
            "Assets reachable",
            not bad,
            "All assets answered."
            if not bad
            else "; ".join(f"{short_href(r.href)}: {r.detail}" for r in bad),
        )
    items = [
        CheckItem("licence", "Licence set (not proprietary)", lic_ok, draft.license or "none"),
        CheckItem(
            "description",
            "Description written (not openEO's default)",
            desc_ok,
            "ok" if desc_ok else "Still 'Results for batch job ...': describe the data.",
        ),
        CheckItem(
            "providers", "At least one provider", bool(draft.providers), f"{len(draft.providers)} provider(s)"
        ),
        exp,
        reach,
    ]
    stats = draft.statistics
    if stats is not None and stats.minimum is not None and stats.maximum is not None:
        low, high = value_range
        in_range = stats.minimum >= low and stats.maximum <= high
        items.append(
            CheckItem(
                "statistics",
                f"Statistics within the {ndvi.NAME} range [{low:g}, {high:g}]",
                in_range,
                f"min {stats.minimum:g}, max {stats.maximum:g} (from {stats.source})",
            )
        )
    return tuple(items)


@dataclass(frozen=True)
class Evaluation:
    """Everything the page shows about a draft: field issues, the publishable collection (None while a
    field has an error), schema checks, the readiness checklist and when each asset link expires."""

    issues: tuple[FieldIssue, ...]
    publishable: PublishableCollection | None = None
    checks: tuple[SchemaCheck, ...] = ()
    checklist: tuple[CheckItem, ...] = ()
    expiries: tuple[AssetExpiry, ...] = ()
    apex: ApexReport | None = None
    proposal: tuple[tuple[str, str], str] | None = None  # a temporal extent for results that lack one

    @property
    def errors(self) -> tuple[FieldIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def valid(self) -> bool:
        return self.publishable is not None and not self.errors and all(c.ok for c in self.checks)

    def headline(self, collection_id: str) -> tuple[bool, str]:
        """Whether the draft is valid, and one markdown sentence saying so (or what to fix)."""
        if self.publishable is None:
            return False, f"**Not valid yet**: fix the {len(self.errors)} field(s) marked in the form."
        if not self.valid:
            return False, "**Not valid yet**: see the schema checks below."
        n = len(self.publishable.items)
        return True, f"**Valid STAC {STAC_VERSION} collection** `{collection_id}` with {n} item(s)."


def evaluate(
    draft: CollectionDraft,
    results: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    *,
    reachability: Sequence[Reachability] | None = None,
    now: dt.datetime | None = None,
    files: Mapping[str, FileFacts] | None = None,
    process: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Check the draft's fields; if none is in error, build the collection (with the draft's fixes,
    from ``files``: the result files on this machine by asset href), validate it, run the checklist
    and the APEx-readiness report (``process``: the job's process graph, for a temporal proposal).

    Each step once: the fields are checked once and the collection built once (a page rerun calls this
    once and shows the parts of its answer)."""
    issues = check_draft(draft)
    proposal = temporal_proposal(results, items, process) if not any(draft.interval) else None
    if any(i.severity == "error" for i in issues):
        return Evaluation(issues, proposal=proposal)
    try:
        pub = publishable(draft, results, items, files)
    except MetadataError as exc:  # a broken item or results document: no field of the form is to blame
        issue = FieldIssue(exc.field or "document", exc.message)
        return Evaluation((*issues, issue), proposal=proposal)
    checks = validate_stac(pub.collection, pub.items)
    expiries = asset_expiries(pub.collection, pub.items, now)
    checklist = readiness(draft, pub, reachability=reachability, now=now, expiries=expiries)
    report = apex_report(
        draft, pub, files, source_version=str(results.get("stac_version") or ""), proposal=proposal
    )
    return Evaluation(issues, pub, checks, checklist, expiries, report, proposal)
