"""The APEx-readiness report: every APEx rule that applies to what will be published, for the
collection and each item and asset, with pass / fail / not applicable, the field or file concerned, and
the one-click fix wherever the app can make it.

The rules are the ESA APEx "Interoperability and Data Hosting Guidelines" and Geospatial Explorer
recommendations (ids are theirs: STAC-REC-01 to 12, METADATA-REC-07, EXPLORER-REC-01 to 03). The report
checks the *built* documents (:class:`~apex_core.metadata.build.PublishableCollection`, after the
draft's fixes) and the facts of the result files on this machine; what only a person knows (title,
description, licence, providers, a temporal extent the results lack) is asked for, with a proposal where
the app can make one (:func:`temporal_proposal`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from apex_core import ndvi
from apex_core.categorical import class_colors
from apex_core.errors import DataError
from apex_core.metadata.fixes import Fix, asset_facts, date_in
from apex_core.metadata.values import DEFAULT_DESCRIPTION_RE, RenderHints, parse_time
from apex_core.resultfile import FileFacts, is_geotiff

if TYPE_CHECKING:
    from apex_core.metadata.build import PublishableCollection
    from apex_core.metadata.draft import CollectionDraft

__all__ = [
    "RULES",
    "ApexReport",
    "RuleResult",
    "Status",
    "apex_report",
    "fixed_draft",
    "looks_like_ndvi",
    "render_proposal",
    "temporal_proposal",
]

Status = Literal["pass", "fail", "n/a"]

RULES: Mapping[str, str] = {
    "STAC-REC-01": "STAC 1.1 or newer",
    "STAC-REC-02": "Collection metadata complete (PRR collection)",
    "STAC-REC-03": "Homogeneous items: the same asset keys",
    "STAC-REC-04": "Every item has a `data` asset",
    "STAC-REC-05": "Every asset has type, roles, title and file:size",
    "STAC-REC-06": "Projection: proj:code, proj:bbox, proj:shape",
    "STAC-REC-07": "datetime, start_datetime and end_datetime",
    "STAC-REC-08": "`bands` with names, one data type",
    "STAC-REC-09/11": "Datacube extension for NetCDF / Zarr",
    "STAC-REC-10": "Resolution, scale, offset and nodata per band",
    "STAC-REC-12": "Classification classes for categorical rasters",
    "METADATA-REC-07": "Render hints (rescale, colormap)",
    "EXPLORER-REC-01": "COG tiles of 256 or 512 px",
    "EXPLORER-REC-02": "Overviews by factors of two down to one tile",
    "EXPLORER-REC-03": "Band interleave for multi-band COGs",
}

_DATACUBE_TYPES = ("application/netcdf", "application/x-netcdf", "application/vnd+zarr")


@dataclass(frozen=True)
class RuleResult:
    """One rule on one target (``collection``, ``item <id>``, ``<owner> asset <key>``)."""

    rule: str
    target: str
    status: Status
    detail: str
    field: str = ""
    fix: Fix | None = None  # the one-click fix, when the app can make it
    ask: str | None = None  # the form field a person fills in, when only a person knows

    @property
    def title(self) -> str:
        return RULES.get(self.rule, self.rule)  # a rule of a newer version, read from a saved project

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "target": self.target,
            "status": self.status,
            "field": self.field,
            "detail": self.detail,
            "fix": None if self.fix is None else self.fix.value,
            "ask": self.ask,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleResult:
        status = str(data["status"])
        if status not in ("pass", "fail", "n/a"):
            raise ValueError(f"unknown status {status!r}")
        fix = data.get("fix")
        return cls(
            rule=str(data["rule"]),
            target=str(data["target"]),
            status=status,  # type: ignore[arg-type]
            detail=str(data.get("detail") or ""),
            field=str(data.get("field") or ""),
            fix=Fix(fix) if fix else None,
            ask=str(data["ask"]) if data.get("ask") else None,
        )


@dataclass(frozen=True)
class ApexReport:
    """The report: every rule on every target it applies to."""

    results: tuple[RuleResult, ...] = ()

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.status == "fail")

    @property
    def ready(self) -> bool:
        """APEx-ready: no rule that applies fails."""
        return bool(self.results) and not self.failures

    @property
    def fixes(self) -> tuple[Fix, ...]:
        """The one-click fixes that would mend a failing rule, in the order they are applied."""
        found = {r.fix for r in self.failures if r.fix is not None}
        return tuple(f for f in Fix if f in found)

    @property
    def asks(self) -> tuple[RuleResult, ...]:
        """The failures only a person can mend (a form field to fill in)."""
        return tuple(r for r in self.failures if r.fix is None and r.ask)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "n/a": 0}
        for r in self.results:
            out[r.status] += 1
        return out

    def headline(self) -> str:
        c = self.counts()
        if self.ready:
            return f"**APEx-ready**: all {c['pass']} applicable rule checks pass."
        return (
            f"**Not APEx-ready yet**: {c['fail']} of {c['pass'] + c['fail']} rule checks fail"
            f" ({len(self.fixes)} fix(es) the app can make, {len(self.asks)} field(s) for you)."
        )

    def rows(self) -> list[dict[str, Any]]:
        """One table row per rule and target (failures first)."""
        order = {"fail": 0, "pass": 1, "n/a": 2}
        ranked = sorted(self.results, key=lambda r: order[r.status])
        return [
            {
                "": {"pass": "✅", "fail": "❌", "n/a": "—"}[r.status],
                "rule": r.rule,
                "what": r.title,
                "target": r.target,
                "field": r.field,
                "detail": r.detail,
                "fix": r.fix.label if r.fix else (f"fill in: {r.ask}" if r.ask else ""),
            }
            for r in ranked
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApexReport:
        """Read back :meth:`to_dict`; raises :class:`DataError` for anything else."""
        try:
            return cls(tuple(RuleResult.from_dict(r) for r in data.get("results") or ()))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(f"The APEx report cannot be read ({type(exc).__name__}: {exc}).") from exc


# ---------------------------------------------------------------------------- proposals


def _times(items: Iterable[Mapping[str, Any]]) -> list[str]:
    out = []
    for item in items:
        props = item.get("properties") or {}
        for key in ("datetime", "start_datetime", "end_datetime"):
            if props.get(key):
                out.append(str(props[key]))
    return out


def _graph_extents(graph: Any) -> Iterator[list[Any]]:
    if isinstance(graph, Mapping):
        args = graph.get("arguments")
        if isinstance(args, Mapping) and isinstance(args.get("temporal_extent"), list):
            yield args["temporal_extent"]
        for value in graph.values():
            yield from _graph_extents(value)
    elif isinstance(graph, list):
        for value in graph:
            yield from _graph_extents(value)


def _stamp(value: str, *, end: bool = False) -> str:
    if len(value) == 10:  # a date: openEO's end date is exclusive
        day = dt.date.fromisoformat(value)
        if end:
            return (dt.datetime.combine(day, dt.time()) - dt.timedelta(seconds=1)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        return f"{value}T00:00:00Z"
    return value


def temporal_proposal(
    results: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    process: Mapping[str, Any] | None = None,
) -> tuple[tuple[str, str], str] | None:
    """A temporal extent for results that lack one, and where it comes from: the items' datetimes, a
    date in the asset names, or the ``temporal_extent`` of the job's process graph (``process``: the
    job's ``process`` or its process graph). None when nothing says."""
    times = sorted(_times(items))
    if times:
        return (times[0], times[-1]), "the items' datetimes"
    days = sorted(d for key in (results.get("assets") or {}) if (d := date_in(str(key))) is not None)
    if days:
        return (f"{days[0]}T00:00:00Z", f"{days[-1]}T00:00:00Z"), "the dates in the result file names"
    for extent in _graph_extents(process or {}):
        if len(extent) == 2 and all(isinstance(v, str) and v for v in extent):
            try:
                start, end = _stamp(extent[0]), _stamp(extent[1], end=True)
                parse_time(start), parse_time(end)
            except ValueError:
                continue  # a hand-written graph's impossible date: no proposal from it
            return (start, end), "the job's process graph (temporal_extent)"
    return None


def render_proposal(publishable: PublishableCollection, files: Mapping[str, FileFacts]) -> RenderHints | None:
    """Render hints for the first GeoTIFF data asset: NDVI's own (its ramp the Preview's,
    :func:`apex_core.config.ndvi_colormap`), the classes' colours for categorical data, else the range of
    its statistics with viridis. None when there is nothing to render."""
    for _owner, _key, asset in _assets(publishable):
        if not is_geotiff(asset) or "data" not in (asset.get("roles") or []):
            continue
        facts = asset_facts(asset, files)
        classes = _classes(asset, facts)
        bands = _band_list(asset)
        name = str(bands[0].get("name") or "") if bands else ""
        if classes:
            values = [int(c["value"]) for c in classes]
            palette = class_colors()  # classes the metadata gives no colour: the app's class palette
            colours = tuple(
                (int(c["value"]), str(c.get("color_hint") or palette[n % len(palette)]).upper().lstrip("#"))
                for n, c in enumerate(classes)
            )
            return RenderHints(
                rescale=(float(min(values)), float(max(values))),
                colormap_name="",
                title=name or "Classes",
                colormap=colours,
            )
        stats = bands[0].get("statistics") if bands else None
        if "ndvi" in name.lower() or "ndvi" in str(asset.get("title") or "").lower():
            return RenderHints()
        if isinstance(stats, Mapping) and isinstance(stats.get("minimum"), int | float):
            low, high = float(stats["minimum"]), float(stats["maximum"])
            mean, sd = stats.get("mean"), stats.get("stddev")
            if isinstance(mean, int | float) and isinstance(sd, int | float) and sd > 0:
                low, high = max(low, float(mean) - 2 * float(sd)), min(high, float(mean) + 2 * float(sd))
            if low < high:
                return RenderHints(rescale=(low, high), colormap_name="viridis", title=name or "Data")
        return None
    return None


def fixed_draft(
    draft: CollectionDraft,
    fix: Fix,
    publishable: PublishableCollection | None,
    files: Mapping[str, FileFacts],
    proposal: tuple[str, str] | None = None,
) -> CollectionDraft:
    """The draft with ``fix`` chosen: a document fix is added to :attr:`CollectionDraft.fixes`; the
    render fix sets the proposed render hints, the temporal fix the proposed extent."""
    if fix is Fix.RENDER:
        hints = render_proposal(publishable, files) if publishable is not None else None
        return replace(draft, render=hints) if hints is not None else draft
    if fix is Fix.TEMPORAL:
        return replace(draft, interval=proposal) if proposal is not None else draft
    if fix.value in draft.fixes:
        return draft
    return replace(draft, fixes=(*draft.fixes, fix.value))


# ---------------------------------------------------------------------------- the rules


def _assets(pub: PublishableCollection) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for key, asset in (pub.collection.get("assets") or {}).items():
        if isinstance(asset, dict):
            yield "collection", str(key), asset
    for item in pub.items:
        for key, asset in (item.get("assets") or {}).items():
            if isinstance(asset, dict):
                yield f"item {item.get('id')}", str(key), asset


def _band_list(asset: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [b for b in asset.get("bands") or [] if isinstance(b, Mapping)]


def _classes(asset: Mapping[str, Any], facts: FileFacts | None) -> list[Mapping[str, Any]]:
    if isinstance(asset.get("classification:classes"), list):
        return [c for c in asset["classification:classes"] if isinstance(c, Mapping)]
    for band in _band_list(asset) + list(asset.get("raster:bands") or []):
        if isinstance(band, Mapping) and isinstance(band.get("classification:classes"), list):
            return [c for c in band["classification:classes"] if isinstance(c, Mapping)]
    if facts is not None and facts.raster is not None and facts.raster.classes:
        return list(facts.raster.classes)
    return []


class _Report:
    def __init__(
        self, draft: CollectionDraft, pub: PublishableCollection, files: Mapping[str, FileFacts],
        source_version: str, proposal: tuple[tuple[str, str], str] | None,
    ) -> None:  # fmt: skip
        self.draft, self.pub, self.files = draft, pub, files
        self.source_version, self.proposal = source_version, proposal
        self.out: list[RuleResult] = []
        self.cog = Fix.COG.value in draft.fixes

    def add(self, rule: str, target: str, ok: bool | None, detail: str, field: str = "",
            fix: Fix | None = None, ask: str | None = None) -> None:  # fmt: skip
        if fix is not None and fix.value in self.draft.fixes:
            fix = None  # chosen already and still failing: what it needs is not there (said in detail)
        status: Status = "n/a" if ok is None else ("pass" if ok else "fail")
        self.out.append(
            RuleResult(rule, target, status, detail, field, None if ok else fix, None if ok else ask)
        )

    def has_facts(self, asset: Mapping[str, Any]) -> bool:
        return asset_facts(asset, self.files) is not None

    def run(self) -> ApexReport:
        self.version()
        self.collection()
        self.items()
        for owner, key, asset in _assets(self.pub):
            self.asset(owner, key, asset)
        self.render()
        return ApexReport(tuple(self.out))

    # -- STAC-REC-01
    def version(self) -> None:
        docs = [("collection", self.pub.collection)] + [(f"item {i.get('id')}", i) for i in self.pub.items]
        for target, doc in docs:
            version = str(doc.get("stac_version") or "")
            ok = _version_at_least(version, (1, 1))
            upgraded = (
                f" (the results were STAC {self.source_version}; the app writes {version})"
                if ok and self.source_version and self.source_version != version
                else ""
            )
            self.add(
                "STAC-REC-01", target, ok, f"stac_version {version or 'missing'}{upgraded}", "stac_version"
            )

    # -- STAC-REC-02
    def collection(self) -> None:
        d, col = self.draft, self.pub.collection
        self.add(
            "STAC-REC-02", "collection", bool(d.title.strip()), d.title or "no title", "title", ask="title"
        )
        described = bool(d.description.strip()) and not DEFAULT_DESCRIPTION_RE.match(d.description)
        self.add("STAC-REC-02", "collection", described,
                 "described" if described else "still openEO's default or empty", "description",
                 ask="description")  # fmt: skip
        licensed = bool(d.license) and d.license not in ("proprietary", "various")
        self.add("STAC-REC-02", "collection", licensed, d.license or "none", "license", ask="license")
        providers = f"{len(d.providers)} provider(s)"
        self.add("STAC-REC-02", "collection", bool(d.providers), providers, "providers", ask="providers")
        interval = ((col.get("extent") or {}).get("temporal") or {}).get("interval") or [[None, None]]
        start, end = interval[0]
        if start or end:
            self.add("STAC-REC-02", "collection", True, f"{start or '..'} to {end or '..'}",
                     "extent.temporal")  # fmt: skip
        else:
            hint = (
                f"proposal from {self.proposal[1]}: {self.proposal[0][0]} to {self.proposal[0][1]}"
                if self.proposal
                else "enter the start (and end) of the data in the form"
            )
            self.add("STAC-REC-02", "collection", False, f"open on both ends ([null, null]); {hint}",
                     "extent.temporal", fix=Fix.TEMPORAL if self.proposal else None, ask="start")  # fmt: skip

    # -- STAC-REC-03, 04, 06, 07
    def items(self) -> None:
        items = self.pub.items
        if not items:
            data = [
                k
                for k, a in (self.pub.collection.get("assets") or {}).items()
                if "data" in (a.get("roles") or [])
            ]
            files = ", ".join(data) or "none"
            detail = f"no items: the results' files ({files}) are collection assets (item links expire)"
            self.add("STAC-REC-04", "collection", False, detail, "items", fix=Fix.ITEMS)
            return
        keys = sorted({tuple(sorted((i.get("assets") or {}).keys())) for i in items})
        one = len(keys) == 1
        sets = "; ".join(str(list(k)) for k in keys[:3])
        detail = f"asset keys {list(keys[0])}" if one else f"{len(keys)} different sets of asset keys: {sets}"
        self.add("STAC-REC-03", "collection", one, detail, "assets", fix=Fix.ASSET_KEYS)
        for item in items:
            target = f"item {item.get('id')}"
            assets = item.get("assets") or {}
            data = [k for k, a in assets.items() if "data" in (a.get("roles") or [])]
            self.add("STAC-REC-04", target, bool(data), f"data asset(s): {', '.join(data)}" if data else
                     "no asset has the role `data`", "assets.*.roles", fix=Fix.ROLES_TITLES)  # fmt: skip
            props = item.get("properties") or {}
            missing = [k for k in ("datetime", "start_datetime", "end_datetime") if not props.get(k)]
            self.add("STAC-REC-07", target, not missing,
                     "all three set" if not missing else "missing " + ", ".join(missing),
                     "properties", fix=Fix.DATETIMES if props.get("datetime") or props.get("start_datetime")
                     else Fix.TEMPORAL if self.proposal else None)  # fmt: skip
            rasters = [(k, a) for k, a in assets.items() if is_geotiff(a)]
            if not rasters:
                self.add("STAC-REC-06", target, None, "no raster asset", "proj:*")
                continue
            lacking = []
            for key, asset in rasters:
                have = {**props, **asset}
                gone = [f for f in ("proj:code", "proj:bbox", "proj:shape") if f not in have]
                if "proj:code" in gone and "proj:wkt2" in have:
                    gone.remove("proj:code")
                if gone:
                    lacking.append(f"{key}: {', '.join(gone)}")
            facts = [asset_facts(a, self.files) for _k, a in rasters]
            can = all(f is not None and f.raster is not None and f.raster.crs for f in facts)
            if lacking and any(f is not None and f.raster is not None and not f.raster.crs for f in facts):
                lacking.append("the attached file has no CRS: attach the georeferenced result")
            self.add("STAC-REC-06", target, not lacking, "; ".join(lacking) or "set", "proj:*",
                     fix=Fix.PROJECTION if can else None,
                     ask=None if can else "file")  # fmt: skip

    # -- STAC-REC-05, 08, 09/11, 10, 12, EXPLORER-REC-01..03
    def asset(self, owner: str, key: str, asset: dict[str, Any]) -> None:
        target = f"{owner} asset {key}"
        facts = asset_facts(asset, self.files)
        missing = [f for f in ("type", "roles", "title") if not asset.get(f)]
        size_ok = "file:size" in asset or (self.cog and is_geotiff(asset))
        if missing:
            self.add("STAC-REC-05", target, False, "missing " + ", ".join(missing), ", ".join(missing),
                     fix=Fix.ROLES_TITLES)  # fmt: skip
        elif not size_ok:
            self.add("STAC-REC-05", target, False, "no file:size", "file:size",
                     fix=Fix.FILE_INFO if facts is not None else (Fix.COG if is_geotiff(asset) else None),
                     ask=None if facts is not None else "file")  # fmt: skip
        else:
            note = "set when re-hosted" if "file:size" not in asset else f"{asset['file:size']} bytes"
            self.add("STAC-REC-05", target, True, f"type, roles, title; file:size {note}", "")
        kind = str(asset.get("type") or "")
        if kind.startswith(_DATACUBE_TYPES):
            cube = any(
                "cube:dimensions" in d or "cube:dimensions" in (d.get("properties") or {})
                for d in (self.pub.collection, *self.pub.items)
            )
            self.add("STAC-REC-09/11", target, cube, "cube:dimensions " + ("set" if cube else "missing"),
                     "cube:dimensions")  # fmt: skip
        if not is_geotiff(asset):
            for rule in ("STAC-REC-08", "STAC-REC-10", "STAC-REC-12", "EXPLORER-REC-01"):
                self.add(rule, target, None, f"not a raster ({kind or 'unknown type'})")
            return
        self.bands(target, asset, facts)
        self.layout(target, asset, facts)

    def bands(self, target: str, asset: dict[str, Any], facts: FileFacts | None) -> None:
        bands = _band_list(asset)
        legacy = "eo:bands" in asset or "raster:bands" in asset
        named = bool(bands) and all(b.get("name") for b in bands)
        types = {b.get("data_type") for b in bands}
        count_ok = facts is None or facts.raster is None or len(bands) == facts.raster.count
        ok = named and len(types) == 1 and None not in types and count_ok and not legacy
        why = (
            "no `bands`" if not bands else
            "eo:bands / raster:bands next to `bands`" if legacy else
            "a band without a name" if not named else
            "no data_type" if None in types else
            f"{len(types)} data types" if len(types) > 1 else
            f"{len(bands)} bands, the file has {facts.raster.count if facts and facts.raster else '?'}"
            if not count_ok else f"{len(bands)} band(s), {next(iter(types))}"
        )  # fmt: skip
        can_type = facts is not None or any("data_type" in b for b in asset.get("raster:bands") or [])
        fixable = facts is not None or ((named or legacy) and (None not in types or can_type))
        self.add("STAC-REC-08", target, ok, why, "bands", fix=Fix.BANDS if fixable else None,
                 ask=None if can_type else "file")  # fmt: skip
        need = ("raster:spatial_resolution", "raster:scale", "raster:offset", "nodata")
        gaps = sorted({f for b in bands or [{}] for f in need if f not in b})
        if (
            "nodata" in gaps
            and facts is not None
            and facts.raster is not None
            and facts.raster.nodata is None
        ):
            gaps[gaps.index("nodata")] = "nodata (the file declares none)"
        self.add("STAC-REC-10", target, not gaps, "missing " + ", ".join(gaps) if gaps else "set", "bands",
                 fix=Fix.RASTER if facts is not None else None,
                 ask=None if facts is not None else "file")  # fmt: skip
        classes = _classes(asset, facts)
        declared = isinstance(asset.get("classification:classes"), list) or any(
            "classification:classes" in b for b in bands
        )
        if not classes:
            types_known = {str(t) for t in types if t}
            integer = bool(types_known) and all(t.startswith(("uint", "int")) for t in types_known)
            if facts is not None and facts.raster is not None:
                self.add("STAC-REC-12", target, None, "continuous data (no classes in the file)")
            elif not types_known:
                self.add("STAC-REC-12", target, False, "data type unknown: attach the file to tell classes "
                         "from continuous data", "classification:classes", ask="file")  # fmt: skip
            elif integer:
                self.add("STAC-REC-12", target, False, "integer data: attach the file to read its classes",
                         "classification:classes", ask="file")  # fmt: skip
            else:
                self.add("STAC-REC-12", target, None, "continuous data")
            return
        complete = declared and all(c.get("title") and c.get("color_hint") for c in classes)
        self.add("STAC-REC-12", target, complete,
                 f"{len(classes)} classes" + ("" if complete else
                 ", not in the metadata" if not declared else ", some without title or color_hint"),
                 "classification:classes", fix=Fix.CLASSES if facts is not None else None)  # fmt: skip

    def layout(self, target: str, asset: dict[str, Any], facts: FileFacts | None) -> None:
        rules = ("EXPLORER-REC-01", "EXPLORER-REC-02", "EXPLORER-REC-03")
        if self.cog:
            count = facts.raster.count if facts and facts.raster else len(_band_list(asset)) or 1
            for rule in rules:
                if rule == "EXPLORER-REC-03" and count < 2:
                    self.add(rule, target, None, "one band")
                else:
                    self.add(rule, target, True, "re-hosted as a COG when publishing (checked after writing)")
            return
        if facts is None or facts.raster is None:
            for rule in rules:
                self.add(rule, target, False, "the file is not on this machine: attach it, or re-host when "
                         "publishing", "file", fix=Fix.COG)  # fmt: skip
            return
        r = facts.raster
        for rule, problem in r.layout.problems(r.width, r.height, r.count).items():
            if problem == "n/a":
                self.add(rule, target, None, "one band")
            else:
                self.add(rule, target, problem is None, problem or "holds in the file", "file", fix=Fix.COG)

    # -- METADATA-REC-07
    def render(self) -> None:
        renders = self.pub.collection.get("renders") or {}
        rasters = [a for _o, _k, a in _assets(self.pub) if is_geotiff(a)]
        if not rasters:
            self.add("METADATA-REC-07", "collection", None, "no raster to render", "renders")
            return
        good = [
            k for k, r in renders.items()
            if isinstance(r, Mapping) and (r.get("colormap") or (r.get("rescale") and r.get("colormap_name")))
        ]  # fmt: skip
        can = not good and render_proposal(self.pub, self.files) is not None
        detail = f"renders {', '.join(good)}" if good else "no render with rescale and a colormap"
        if not good and not can:
            detail += ": set the render hints in the form (no statistics to propose a range from)"
        self.add("METADATA-REC-07", "collection", bool(good), detail, "renders",
                 fix=Fix.RENDER if can else None, ask=None if can else "render")  # fmt: skip


def _version_at_least(version: str, minimum: tuple[int, int]) -> bool:
    try:
        parts = tuple(int(p) for p in version.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return len(parts) == 2 and parts >= minimum


def apex_report(
    draft: CollectionDraft,
    publishable: PublishableCollection,
    files: Mapping[str, FileFacts] | None = None,
    *,
    source_version: str = "",
    proposal: tuple[tuple[str, str], str] | None = None,
) -> ApexReport:
    """Every APEx rule that applies to ``publishable`` (built from ``draft``), with ``files`` (result
    files on this machine, by asset href) for the fixes that need them; ``source_version`` is the
    results' own STAC version, ``proposal`` a :func:`temporal_proposal`."""
    return _Report(draft, publishable, files or {}, source_version, proposal).run()


def looks_like_ndvi(results: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()) -> bool:
    """Whether the results are an NDVI product (NDVI in their id, title, description or keywords, or a
    band or asset named so)."""
    text = [str(results.get(k) or "") for k in ("id", "title", "description")]
    text += [str(k) for k in results.get("keywords") or []]
    for doc in (results, *items):
        for key, asset in (doc.get("assets") or {}).items():
            text.append(str(key))
            if isinstance(asset, Mapping):
                for field in ("eo:bands", "raster:bands", "bands"):
                    text += [str(b.get("name")) for b in asset.get(field) or [] if isinstance(b, Mapping)]
    return any(ndvi.NAME.lower() in t.lower() for t in text)
