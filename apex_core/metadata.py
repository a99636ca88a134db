"""From an openEO job's STAC results to a clean, valid STAC 1.1 Collection for an APEx-style catalogue.

The steps follow the APEx notebook "Using the APEx Product Catalogue with openEO" (results dict -> new
id -> ``pystac.Collection.from_dict`` -> licence -> no ``collection``/``canonical`` links ->
``normalize_hrefs`` -> self-contained layout) and fix what it leaves broken:

- every item's ``collection`` field is the new id;
- ``derived_from`` links with bare ``/eodata/...`` paths (which a catalogue resolves against its own URL,
  giving broken links) are dropped, or made absolute against a base the user gives (``s3://eodata``);
- the link rels a STAC API generates itself (``self``, ``root``, ``parent``, ``items``, ``item``,
  ``collection``) and openEO's signed ``canonical`` link are stripped *before* pystac sees them (pystac
  would otherwise try to resolve the remote ``root``); items are kept as separate objects to POST to
  ``/collections/{id}/items``;
- STAC 1.0 and 1.1 input (``eo:bands``/``bands``, ``proj:epsg``/``proj:code``, collection-level and
  item-level assets, optional ``processing:expression``) gives STAC 1.1.0 output.

The editable values are a :class:`CollectionDraft`; :meth:`CollectionDraft.apply` gives the
:class:`PublishableCollection` (collection dict + item dicts); :func:`check_draft` gives field-level
issues, :func:`validate_stac` the schema checks (offline: pystac's bundled core schemas through a local
registry that refuses any other URI; no maintained PyPI, npm or Debian package ships the STAC extension
schemas (eo, file, processing, projection, raster, render, datacube) and their site is out of reach, so
each extension gets field checks of its own and is reported as not validated), :func:`readiness` the
checklist before publishing.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import io
import itertools
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import pystac
import requests
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from pystac.extensions.raster import RasterBand, RasterExtension, Statistics
from pystac.extensions.render import Render, RenderExtension
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

from apex_core.errors import MetadataError
from apex_core.licences import DEFAULT_LICENCE, LICENCE_ID_PATTERN, LICENCES, OTHER, licence_label

__all__ = [
    "ADMIN_ONLY_READ_ROLE",
    "COLORMAPS",
    "DEFAULT_ROLE",
    "FORM_SECTIONS",
    "PROVIDER_ROLES",
    "SERVER_RELS",
    "AssetExpiry",
    "BandStatistics",
    "CheckItem",
    "CollectionDraft",
    "Evaluation",
    "FieldIssue",
    "FormField",
    "FormSection",
    "FormState",
    "LoadedResults",
    "MetadataSession",
    "Provider",
    "PublishableCollection",
    "Reachability",
    "RenderHints",
    "SchemaCheck",
    "absolute_eodata_href",
    "asset_expiries",
    "asset_hrefs",
    "catalogue_zip",
    "check_draft",
    "check_reachable",
    "check_slug",
    "diff_against_results",
    "evaluate",
    "fetch_items",
    "form_fields",
    "form_rows",
    "format_time_left",
    "href_expiry",
    "item_links",
    "job_fingerprint",
    "pick_statistics",
    "read_documents",
    "readiness",
    "results_from_job",
    "results_from_upload",
    "schema_rows",
    "schema_summary",
    "suggest_id",
    "upload_fingerprint",
    "validate_stac",
]

STAC_VERSION = "1.1.0"
SLUG_RE = re.compile(r"^[a-z][a-z0-9_-]{2,63}$")
DEFAULT_DESCRIPTION_RE = re.compile(r"^\s*Results for batch job\b", re.IGNORECASE)
# Rels a STAC API regenerates itself, plus openEO's signed canonical link: never POSTed.
SERVER_RELS = frozenset({"self", "root", "parent", "item", "items", "collection", "canonical"})
PROVIDER_ROLES = ("licensor", "producer", "processor", "host")
# The embedded catalogue's editor role: a working default offline; production projects use their own.
DEFAULT_ROLE = "apex-editor"
ADMIN_ONLY_READ_ROLE = "anonymous"
COLORMAPS = ("rdylgn", "viridis", "greens", "ylgn", "cividis", "spectral", "brbg")
RENDER_EXTENSION = "https://stac-extensions.github.io/render/v2.0.0/schema.json"
PROJECTION_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EXPIRING_SOON = dt.timedelta(hours=24)

Severity = Literal["error", "warning"]


# --------------------------------------------------------------------------------------------------
# Small values
# --------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Provider:
    name: str
    roles: tuple[str, ...] = ()
    url: str | None = None
    description: str | None = None
    # Anything else the back-end put there (processing:expression, processing:software ...), kept as is.
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provider:
        known = {"name", "roles", "url", "description"}
        roles = data.get("roles") or ()
        return cls(
            name=str(data.get("name") or ""),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list | tuple) else (),
            url=str(data["url"]) if data.get("url") else None,
            description=str(data["description"]) if data.get("description") else None,
            extra={k: copy.deepcopy(v) for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.roles:
            out["roles"] = list(self.roles)
        if self.url:
            out["url"] = self.url
        out.update(copy.deepcopy(dict(self.extra)))
        return out


@dataclass(frozen=True)
class RenderHints:
    """One ``renders`` entry of the render extension (v2.0.0)."""

    rescale: tuple[float, float] = (-1.0, 1.0)
    colormap_name: str = "rdylgn"
    title: str = "NDVI"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderHints:
        lo, hi = data.get("rescale") or (-1.0, 1.0)
        return cls(
            rescale=(float(lo), float(hi)),
            colormap_name=str(data.get("colormap_name") or "rdylgn"),
            title=str(data.get("title") or "NDVI"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"rescale": list(self.rescale), "colormap_name": self.colormap_name, "title": self.title}


_STAT_KEYS = ("minimum", "maximum", "mean", "stddev", "valid_percent")
_STAT_ALIASES = {"min": "minimum", "max": "maximum", "std": "stddev", "valid_pct": "valid_percent"}


@dataclass(frozen=True)
class BandStatistics:
    """``raster:bands`` statistics of the data band; ``source`` says where they came from."""

    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    stddev: float | None = None
    valid_percent: float | None = None
    source: str = "preview"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> BandStatistics:
        values: dict[str, float] = {}
        for key, value in data.items():
            name = _STAT_ALIASES.get(str(key), str(key))
            if name in _STAT_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
                values[name] = float(value)
        src = source if source is not None else str(data.get("source") or "preview")
        return cls(**values, source=src)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in _STAT_KEYS if getattr(self, k) is not None}
        out["source"] = self.source
        return out

    def stac_statistics(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in _STAT_KEYS if getattr(self, k) is not None}


def pick_statistics(
    preview: Any, saved: Mapping[str, Any] | None, job_id: Any = None
) -> BandStatistics | None:
    """The Preview page's statistics when it has some for this job, else ``saved``.

    The Preview page stores ``{"job_id", "raster_statistics": {minimum, maximum, mean, stddev,
    valid_percent}, "statistics": {...}}``; a preview of another job than ``job_id`` is ignored.
    """
    if isinstance(preview, Mapping):
        pjob = preview.get("job_id")
        if not (pjob and job_id and pjob != job_id):
            for key in ("raster_statistics", "statistics"):
                pstats = preview.get(key)
                if isinstance(pstats, Mapping) and pstats:
                    return BandStatistics.from_dict(pstats, source="preview")
    return BandStatistics.from_dict(saved) if saved else None


# --------------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Reading documents
# --------------------------------------------------------------------------------------------------


def _parse_json(name: str, data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"{name} is not a JSON document: {exc}.", field="document") from exc


def read_documents(files: Sequence[tuple[str, bytes | str]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The job-results Collection and any Item documents among uploaded ``(name, content)`` files.

    A file may also hold a FeatureCollection of items. Raises :class:`MetadataError` when no file or
    more than one file is a STAC Collection, or a file is not JSON.
    """
    collections: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for name, content in files:
        doc = _parse_json(name, content)
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind == "Collection":
            collections.append(doc)
        elif kind == "Feature":
            items.append(doc)
        elif kind == "FeatureCollection" and isinstance(doc.get("features"), list):
            items.extend(f for f in doc["features"] if isinstance(f, dict))
        else:
            raise MetadataError(
                f"{name} is neither a STAC Collection (job results) nor a STAC Item (type {kind!r}).",
                field="document",
            )
    if len(collections) != 1:
        raise MetadataError(
            "Upload exactly one job-results document (a STAC Collection, what "
            f"`job.get_results().get_metadata()` returns); got {len(collections)}.",
            field="document",
        )
    return collections[0], items


def _bbox(value: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, list | tuple) or len(value) not in (4, 6):
        raise MetadataError(f"`{where}` must be a list of 4 (or 6) numbers.", field=where)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise MetadataError(f"`{where}` must contain numbers only.", field=where)
    nums = [float(v) for v in value]
    if len(nums) == 6:
        return nums[0], nums[1], nums[3], nums[4]
    return nums[0], nums[1], nums[2], nums[3]


def _require_results(results: Any) -> Mapping[str, Any]:
    if not isinstance(results, Mapping):
        raise MetadataError("The job results are not a JSON object.", field="document")
    if results.get("type") != "Collection":
        raise MetadataError(
            f"The job results must be a STAC Collection (`type` is {results.get('type')!r}).", field="type"
        )
    extent = results.get("extent")
    if not isinstance(extent, Mapping):
        raise MetadataError("The job results have no `extent`.", field="extent")
    spatial = extent.get("spatial")
    bboxes = spatial.get("bbox") if isinstance(spatial, Mapping) else None
    if not isinstance(bboxes, list) or not bboxes:
        raise MetadataError("`extent.spatial.bbox` is missing or empty.", field="extent.spatial.bbox")
    _bbox(bboxes[0], "extent.spatial.bbox")
    temporal = extent.get("temporal")
    intervals = temporal.get("interval") if isinstance(temporal, Mapping) else None
    if (
        not isinstance(intervals, list)
        or not intervals
        or not isinstance(intervals[0], list)
        or len(intervals[0]) != 2
    ):
        raise MetadataError(
            "`extent.temporal.interval` must be a list of [start, end] pairs.",
            field="extent.temporal.interval",
        )
    for key in ("links", "stac_extensions", "keywords", "providers"):
        if key in results and not isinstance(results[key], list):
            raise MetadataError(f"`{key}` must be a list.", field=key)
    if "assets" in results and not isinstance(results["assets"], Mapping):
        raise MetadataError("`assets` must be an object keyed by asset name.", field="assets")
    return results


def item_links(results: Mapping[str, Any]) -> list[str]:
    """The hrefs of the results' ``item`` links (openEO signs them: no login needed)."""
    return [
        str(link["href"])
        for link in results.get("links") or []
        if isinstance(link, Mapping) and link.get("rel") == "item" and link.get("href")
    ]


def fetch_items(
    results: Mapping[str, Any], timeout: float, session: requests.Session | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """GET each ``item`` link of the results (http/https only): the items, and one sentence per failure."""
    http = session or requests.Session()
    items: list[dict[str, Any]] = []
    problems: list[str] = []
    for href in item_links(results):
        if urlsplit(href).scheme not in ("http", "https"):
            problems.append(f"Item link {_short(href)} is not an http(s) URL: not fetched.")
            continue
        try:
            resp = http.get(href, timeout=timeout)
            resp.raise_for_status()
            doc = resp.json()
        except (requests.RequestException, ValueError) as exc:
            problems.append(f"Item {_short(href)} could not be fetched: {type(exc).__name__}.")
            continue
        if isinstance(doc, dict) and doc.get("type") == "Feature":
            items.append(doc)
        else:
            problems.append(f"Item link {_short(href)} did not return a STAC Item.")
    return items, problems


@dataclass(frozen=True)
class LoadedResults:
    """A job-results document and its items, with where they came from (for the page to show)."""

    origin: str
    fingerprint: str
    results: dict[str, Any]
    items: tuple[dict[str, Any], ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadedResults:
        return cls(
            origin=str(data["origin"]),
            fingerprint=str(data["fingerprint"]),
            results=dict(data["results"]),
            items=tuple(data.get("items") or ()),
            problems=tuple(data.get("problems") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "fingerprint": self.fingerprint,
            "results": self.results,
            "items": list(self.items),
            "problems": list(self.problems),
        }


def job_fingerprint(job: Any) -> str | None:
    """Identifies the Job page's finished result (None when there is none to load)."""
    if not isinstance(job, Mapping) or job.get("status") != "finished":
        return None
    if not job.get("metadata_path") and not isinstance(job.get("metadata"), Mapping):
        return None
    return f"job:{job.get('id')}:{job.get('metadata_path') or ''}"


def results_from_job(job: Mapping[str, Any], timeout: float) -> LoadedResults:
    """The results document the Job page saved (``metadata_path``, or ``metadata`` itself) and its items
    (``items`` when the Job page kept them, else fetched from the signed ``item`` links)."""
    fingerprint = job_fingerprint(job)
    if fingerprint is None:
        raise MetadataError("The job has no finished results to load.", field="document")
    if isinstance(job.get("metadata"), Mapping):
        results = dict(job["metadata"])
    else:
        path = Path(str(job["metadata_path"]))
        try:
            results = _parse_json(path.name, path.read_bytes())
        except OSError as exc:
            raise MetadataError(
                f"Cannot read the job results {path}: {exc.strerror}.", field="document"
            ) from exc
    _require_results(results)
    items: list[dict[str, Any]] = [dict(i) for i in job.get("items") or [] if isinstance(i, Mapping)]
    problems: list[str] = []
    if not items:
        items, problems = fetch_items(results, timeout)
    return LoadedResults(f"job {job.get('id')}", fingerprint, results, tuple(items), tuple(problems))


def upload_fingerprint(files: Sequence[tuple[str, bytes]]) -> str:
    """Identifies a set of uploaded files (names and sizes), to load each set once."""
    return "upload:" + ",".join(f"{name}:{len(data)}" for name, data in files)


def results_from_upload(files: Sequence[tuple[str, bytes]], timeout: float) -> LoadedResults:
    """Uploaded documents: one job-results Collection, optionally its Items (else fetched from its links)."""
    results, items = read_documents(files)
    _require_results(results)
    problems: list[str] = []
    if not items:
        items, problems = fetch_items(results, timeout)
    fingerprint = upload_fingerprint(files)
    names = ", ".join(name for name, _ in files)
    return LoadedResults(f"upload {names}", fingerprint, results, tuple(items), tuple(problems))


def _short(href: str) -> str:
    parts = urlsplit(href)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else href.split("?")[0]


# --------------------------------------------------------------------------------------------------
# Signed hrefs
# --------------------------------------------------------------------------------------------------


def href_expiry(href: str) -> dt.datetime | None:
    """When a signed href stops working (UTC), from its query; None when it carries no expiry.

    Understands openEO's ``expires=<epoch seconds>``, S3 presigned ``X-Amz-Date`` + ``X-Amz-Expires``,
    Google's ``X-Goog-Date`` + ``X-Goog-Expires`` and Azure SAS ``se=<ISO time>``.
    """
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(href).query, keep_blank_values=True)}
    for prefix in ("x-amz-", "x-goog-"):
        start, seconds = query.get(prefix + "date"), query.get(prefix + "expires")
        if start and seconds:
            try:
                t0 = dt.datetime.strptime(start, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                return t0 + dt.timedelta(seconds=int(seconds))
            except ValueError:
                return None
    if "expires" in query:
        try:
            return dt.datetime.fromtimestamp(int(float(query["expires"])), tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if "se" in query and "sig" in query:
        try:
            return dt.datetime.fromisoformat(query["se"].replace("Z", "+00:00")).astimezone(dt.UTC)
        except ValueError:
            return None
    return None


def format_time_left(seconds: float) -> str:
    """``"6 d 23 h left"``, ``"3 h 5 min left"``, ``"expired 2 d ago"``."""
    left = abs(int(seconds))
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"{text} left" if seconds > 0 else f"expired {text} ago"


@dataclass(frozen=True)
class AssetExpiry:
    owner: str  # "collection" or "item <id>"
    key: str
    href: str
    expires_at: dt.datetime | None
    seconds_left: float | None

    @property
    def status(self) -> Literal["unsigned", "ok", "expiring", "expired"]:
        if self.seconds_left is None:
            return "unsigned"
        if self.seconds_left <= 0:
            return "expired"
        return "expiring" if self.seconds_left < EXPIRING_SOON.total_seconds() else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "key": self.key,
            "href": _short(self.href),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "time_left": format_time_left(self.seconds_left)
            if self.seconds_left is not None
            else "no expiry",
            "status": self.status,
        }


def asset_hrefs(
    collection: Mapping[str, Any], items: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str, str]]:
    out = [
        ("collection", str(k), str(a.get("href", ""))) for k, a in (collection.get("assets") or {}).items()
    ]
    for item in items:
        for k, a in (item.get("assets") or {}).items():
            out.append((f"item {item.get('id')}", str(k), str(a.get("href", ""))))
    return out


def asset_expiries(
    collection: Mapping[str, Any], items: Iterable[Mapping[str, Any]], now: dt.datetime | None = None
) -> tuple[AssetExpiry, ...]:
    """Every asset (collection-level and item-level) with when its signed href expires."""
    when = now or dt.datetime.now(dt.UTC)
    out = []
    for owner, key, href in asset_hrefs(collection, items):
        expires = href_expiry(href)
        left = (expires - when).total_seconds() if expires else None
        out.append(AssetExpiry(owner, key, href, expires, left))
    return tuple(out)


@dataclass(frozen=True)
class Reachability:
    href: str
    ok: bool
    status: int | None
    detail: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reachability:
        status = data.get("status")
        return cls(
            str(data["href"]),
            bool(data["ok"]),
            int(status) if status is not None else None,
            str(data["detail"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"href": self.href, "ok": self.ok, "status": self.status, "detail": self.detail}


def check_reachable(
    hrefs: Iterable[str], timeout: float, session: requests.Session | None = None
) -> tuple[Reachability, ...]:
    """HEAD each http(s) href (then a 1-byte ranged GET if HEAD is refused, as S3 presigned GET URLs do)."""
    http = session or requests.Session()
    out = []
    for href in dict.fromkeys(hrefs):
        if urlsplit(href).scheme not in ("http", "https"):
            out.append(Reachability(href, False, None, "not an http(s) URL: cannot be checked from here"))
            continue
        try:
            resp = http.head(href, timeout=timeout, allow_redirects=True)
            if resp.status_code >= 400:
                resp = http.get(href, timeout=timeout, headers={"Range": "bytes=0-0"}, stream=True)
                resp.close()
        except requests.RequestException as exc:
            out.append(Reachability(href, False, None, f"unreachable ({type(exc).__name__})"))
            continue
        ok = resp.status_code < 400
        out.append(
            Reachability(href, ok, resp.status_code, "reachable" if ok else f"HTTP {resp.status_code}")
        )
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# The draft
# --------------------------------------------------------------------------------------------------


def _roles(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))


def _stats_from_assets(assets: Mapping[str, Any]) -> BandStatistics | None:
    for asset in assets.values():
        for band in (
            (asset.get("raster:bands") or asset.get("bands") or []) if isinstance(asset, Mapping) else []
        ):
            stats = band.get("statistics") if isinstance(band, Mapping) else None
            if isinstance(stats, Mapping) and stats:
                return BandStatistics.from_dict(stats, source="job results")
    return None


@dataclass(frozen=True)
class CollectionDraft:
    """The values a person edits; everything else comes from the job results unchanged."""

    id: str
    title: str
    description: str
    license: str = DEFAULT_LICENCE
    license_url: str = ""
    keywords: tuple[str, ...] = ()
    providers: tuple[Provider, ...] = ()
    bbox: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)
    interval: tuple[str | None, str | None] = (None, None)
    auth_read: tuple[str, ...] = (DEFAULT_ROLE,)
    auth_write: tuple[str, ...] = (DEFAULT_ROLE,)
    render: RenderHints | None = None
    statistics: BandStatistics | None = None
    derived_from: Literal["drop", "absolute"] = "drop"
    eodata_base: str = "s3://eodata"

    @classmethod
    def from_results(
        cls,
        results: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]] = (),
        *,
        preview: Mapping[str, Any] | None = None,
        new_id: str | None = None,
    ) -> CollectionDraft:
        """Prefill from the job results (and the Preview page's statistics, when there are some).

        Raises :class:`MetadataError` naming the field when the document is not usable.
        """
        res = _require_results(results)
        bbox = _bbox(res["extent"]["spatial"]["bbox"][0], "extent.spatial.bbox")
        start, end = res["extent"]["temporal"]["interval"][0]
        licence = str(res.get("license") or "")
        raw_auth = res.get("_auth")
        auth: Mapping[str, Any] = raw_auth if isinstance(raw_auth, Mapping) else {}
        stats = pick_statistics(preview, None, res.get("id"))
        if stats is None:
            stats = _stats_from_assets(res.get("assets") or {})
            for item in items:
                stats = stats or _stats_from_assets(item.get("assets") or {})
        keywords = res.get("keywords") or []
        return cls(
            id=new_id or suggest_id(res),
            title=str(res.get("title") or ""),
            description=str(res.get("description") or ""),
            license=licence if licence and licence not in ("proprietary", "various") else DEFAULT_LICENCE,
            keywords=tuple(str(k) for k in keywords),
            providers=tuple(
                Provider.from_dict(p) for p in res.get("providers") or [] if isinstance(p, Mapping)
            ),
            bbox=bbox,
            interval=(str(start) if start else None, str(end) if end else None),
            auth_read=tuple(auth.get("read") or (DEFAULT_ROLE,)),
            auth_write=tuple(auth.get("write") or (DEFAULT_ROLE,)),
            render=RenderHints(),
            statistics=stats,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionDraft:
        render = data.get("render")
        stats = data.get("statistics")
        start, end = data.get("interval") or (None, None)
        mode = data.get("derived_from", "drop")
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            license=str(data.get("license") or DEFAULT_LICENCE),
            license_url=str(data.get("license_url") or ""),
            keywords=tuple(data.get("keywords") or ()),
            providers=tuple(Provider.from_dict(p) for p in data.get("providers") or ()),
            bbox=tuple(float(v) for v in data["bbox"]),  # type: ignore[arg-type]
            interval=(start, end),
            auth_read=tuple(data.get("auth_read") or ()),
            auth_write=tuple(data.get("auth_write") or ()),
            render=RenderHints.from_dict(render) if isinstance(render, Mapping) else None,
            statistics=BandStatistics.from_dict(stats) if isinstance(stats, Mapping) else None,
            derived_from="absolute" if mode == "absolute" else "drop",
            eodata_base=str(data.get("eodata_base") or "s3://eodata"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "license": self.license,
            "license_url": self.license_url,
            "keywords": list(self.keywords),
            "providers": [p.to_dict() for p in self.providers],
            "bbox": list(self.bbox),
            "interval": list(self.interval),
            "auth_read": list(self.auth_read),
            "auth_write": list(self.auth_write),
            "render": self.render.to_dict() if self.render else None,
            "statistics": self.statistics.to_dict() if self.statistics else None,
            "derived_from": self.derived_from,
            "eodata_base": self.eodata_base,
        }

    # ---- the form: plain values keyed by field name, and back ----------------------------------

    def form_values(self) -> dict[str, Any]:
        """The draft as flat widget values (strings, floats, bools), keyed by form field name."""
        values: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "license": self.license,
            "license_url": self.license_url,
            "keywords": ", ".join(self.keywords),
            "west": self.bbox[0],
            "south": self.bbox[1],
            "east": self.bbox[2],
            "north": self.bbox[3],
            "start": self.interval[0] or "",
            "end": self.interval[1] or "",
            "auth_read": ", ".join(self.auth_read),
            "auth_write": ", ".join(self.auth_write),
            "render_on": self.render is not None,
            "render_min": (self.render or RenderHints()).rescale[0],
            "render_max": (self.render or RenderHints()).rescale[1],
            "colormap": (self.render or RenderHints()).colormap_name,
            "stats_on": self.statistics is not None,
            "derived_from": self.derived_from,
            "eodata_base": self.eodata_base,
            "providers_count": len(self.providers),
        }
        for i, p in enumerate(self.providers):
            values[f"provider_{i}_name"] = p.name
            values[f"provider_{i}_roles"] = list(p.roles)
            values[f"provider_{i}_url"] = p.url or ""
        return values

    def with_form(
        self, values: Mapping[str, Any], *, statistics: BandStatistics | None = None
    ) -> CollectionDraft:
        """A new draft with the form's values; values absent from ``values`` keep the draft's own.

        ``statistics`` are what the draft uses when the statistics box is ticked (else the draft's own).
        """
        cur = self.form_values()
        v = {**cur, **{k: val for k, val in values.items() if k in cur or k.startswith("provider_")}}
        count = int(v.get("providers_count", len(self.providers)))
        providers = []
        for i in range(count):
            base = self.providers[i] if i < len(self.providers) else Provider(name="")
            providers.append(
                replace(
                    base,
                    name=str(v.get(f"provider_{i}_name", base.name)).strip(),
                    roles=tuple(v.get(f"provider_{i}_roles", base.roles)),
                    url=str(v.get(f"provider_{i}_url", base.url or "")).strip() or None,
                )
            )
        stats = statistics if statistics is not None else self.statistics
        return replace(
            self,
            id=str(v["id"]).strip(),
            title=str(v["title"]).strip(),
            description=str(v["description"]),
            license=str(v["license"]),
            license_url=str(v["license_url"]).strip(),
            keywords=tuple(dict.fromkeys(k.strip() for k in str(v["keywords"]).split(",") if k.strip())),
            providers=tuple(providers),
            bbox=(float(v["west"]), float(v["south"]), float(v["east"]), float(v["north"])),
            interval=(str(v["start"]).strip() or None, str(v["end"]).strip() or None),
            auth_read=_roles(str(v["auth_read"])),
            auth_write=_roles(str(v["auth_write"])),
            render=RenderHints(
                rescale=(float(v["render_min"]), float(v["render_max"])),
                colormap_name=str(v["colormap"]),
                title=(self.render or RenderHints()).title,
            )
            if v["render_on"]
            else None,
            statistics=stats if v["stats_on"] else None,
            derived_from="absolute" if v["derived_from"] == "absolute" else "drop",
            eodata_base=str(v["eodata_base"]).strip(),
        )

    def with_provider_added(self) -> CollectionDraft:
        return replace(self, providers=(*self.providers, Provider(name="")))

    def with_provider_removed(self, index: int) -> CollectionDraft:
        return replace(self, providers=tuple(p for i, p in enumerate(self.providers) if i != index))

    # ---- the result ----------------------------------------------------------------------------

    def apply(
        self, results: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()
    ) -> PublishableCollection:
        """The final collection dict (STAC 1.1.0, with ``_auth``) and its items, ready to POST.

        Raises :class:`MetadataError` (with ``field``) for the first error :func:`check_draft` finds.
        """
        errors = [i for i in check_draft(self) if i.severity == "error"]
        if errors:
            raise errors[0].to_error()
        collection, notes = self._build(results, items)
        col = collection.to_dict(include_self_link=False, transform_hrefs=False)
        col["links"] = [link for link in col.get("links", []) if link.get("rel") not in SERVER_RELS]
        col["_auth"] = {"read": list(self.auth_read), "write": list(self.auth_write)}
        out_items = []
        for item in collection.get_items(recursive=False):
            d = item.to_dict(include_self_link=False, transform_hrefs=False)
            d["links"] = [link for link in d.get("links", []) if link.get("rel") not in SERVER_RELS]
            d["collection"] = self.id
            out_items.append(d)
        return PublishableCollection(collection=col, items=tuple(out_items), notes=tuple(notes))

    def _build(
        self, results: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> tuple[pystac.Collection, list[str]]:
        notes: list[str] = []
        _require_results(results)
        raw = copy.deepcopy(dict(results))
        raw["id"] = self.id
        raw.pop("openeo:status", None)
        raw.pop("_auth", None)
        raw["links"] = self._clean_links(raw.get("links") or [], notes, where="collection")
        _normalise(raw)
        collection = pystac.Collection.from_dict(raw, migrate=True, preserve_dict=False)
        collection.license = self.license
        collection.title = self.title or None
        collection.description = self.description
        collection.keywords = list(self.keywords) or None
        collection.providers = [pystac.Provider.from_dict(p.to_dict()) for p in self.providers] or None
        start, end = (_parse_time(t) for t in self.interval)
        collection.extent = pystac.Extent(
            pystac.SpatialExtent([list(self.bbox)]), pystac.TemporalExtent([[start, end]])
        )
        if self.license == OTHER and self.license_url:
            collection.add_link(pystac.Link("license", self.license_url, media_type="text/html"))
        for i, item_doc in enumerate(items):
            doc = copy.deepcopy(dict(item_doc))
            if doc.get("type") != "Feature":
                raise MetadataError(f"Item {i + 1} is not a STAC Item.", field=f"items[{i}]")
            doc["links"] = self._clean_links(doc.get("links") or [], notes, where=f"item {doc.get('id')}")
            doc["collection"] = self.id
            _normalise(doc)
            try:
                item = pystac.Item.from_dict(doc, migrate=True, preserve_dict=False)
            except (KeyError, TypeError, ValueError, pystac.STACError) as exc:
                raise MetadataError(
                    f"Item {i + 1} is not a valid STAC Item: {exc}.", field=f"items[{i}]"
                ) from exc
            collection.add_item(item)
        data_assets = _data_assets(collection)
        if self.statistics is not None and data_assets:
            for asset in data_assets:
                old = asset.extra_fields.get("raster:bands") or asset.extra_fields.get("bands") or []
                names = [b.get("name") for b in old if isinstance(b, dict)]
                band = RasterBand.create(statistics=Statistics.create(**self.statistics.stac_statistics()))
                if names and names[0]:
                    band.properties["name"] = names[0]
                RasterExtension.ext(asset, add_if_missing=True).apply([band])
        if self.render is not None and data_assets:
            keys = list(dict.fromkeys(k for k, a in _asset_keys(collection) if "data" in (a.roles or [])))
            RenderExtension.ext(collection, add_if_missing=True).apply(
                {
                    "ndvi": Render.create(
                        assets=keys[:1],
                        title=self.render.title,
                        rescale=[list(self.render.rescale)],
                        colormap_name=self.render.colormap_name,
                    )
                }
            )
        return collection, notes

    def _clean_links(self, links: list[Any], notes: list[str], where: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        stripped: dict[str, int] = {}
        for link in links:
            if not isinstance(link, Mapping) or "href" not in link:
                continue
            rel = str(link.get("rel"))
            if rel in SERVER_RELS:
                stripped[rel] = stripped.get(rel, 0) + 1
                continue
            if rel == "derived_from":
                path = _bare_path(link)
                if path is not None:
                    if self.derived_from == "drop":
                        stripped["derived_from (bare /eodata path)"] = (
                            stripped.get("derived_from (bare /eodata path)", 0) + 1
                        )
                        continue
                    link = {**link, "href": absolute_eodata_href(path, self.eodata_base)}
            out.append(dict(link))
        if stripped:
            notes.append(
                f"{where}: removed "
                + ", ".join(f"{n} `{rel}` link{'s' if n > 1 else ''}" for rel, n in sorted(stripped.items()))
            )
        return out


@dataclass(frozen=True)
class PublishableCollection:
    """What the Publish page POSTs: the collection (with ``_auth``), then each item to its items endpoint."""

    collection: dict[str, Any]
    items: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "items": list(self.items), "notes": list(self.notes)}


_DERIVED_TITLE = re.compile(r"^Derived from (/\S+)$")


def _bare_path(link: Mapping[str, Any]) -> str | None:
    """The bare path of a ``derived_from`` link: ``/eodata/...`` as openEO writes it, or as a catalogue
    resolved it against its own URL (the title still says ``Derived from /eodata/...``)."""
    href = str(link["href"])
    parts = urlsplit(href)
    if not parts.scheme:
        return href
    match = _DERIVED_TITLE.match(str(link.get("title") or ""))
    if match and parts.path == match.group(1):
        return match.group(1)
    return None


def absolute_eodata_href(path: str, base: str) -> str:
    """``/eodata/Sentinel-2/x.SAFE`` with base ``s3://eodata`` -> ``s3://eodata/Sentinel-2/x.SAFE``.

    The base stands for the ``/eodata`` root; other bare paths are appended to it unchanged.
    """
    rest = path[len("/eodata") :] if path.startswith("/eodata/") else path
    return base.rstrip("/") + "/" + rest.lstrip("/")


def _normalise(obj: dict[str, Any]) -> None:
    """STAC 1.1 fields: ``proj:epsg`` -> ``proj:code``, ``bands`` next to ``eo:bands``."""
    places: list[dict[str, Any]] = [a for a in (obj.get("assets") or {}).values() if isinstance(a, dict)]
    if isinstance(obj.get("properties"), dict):
        places.append(obj["properties"])
    uses_code = False
    for place in places:
        if "proj:epsg" in place:
            epsg = place.pop("proj:epsg")
            place.setdefault("proj:code", f"EPSG:{epsg}" if epsg is not None else None)
        uses_code = uses_code or "proj:code" in place
        eo = place.get("eo:bands")
        if isinstance(eo, list) and "bands" not in place:
            place["bands"] = [
                {k: v for k, v in b.items() if k in ("name", "description")}
                for b in eo
                if isinstance(b, dict)
            ]
    exts = [e for e in obj.get("stac_extensions") or [] if isinstance(e, str)]
    if uses_code:
        exts = [e for e in exts if "/projection/" not in e] + [PROJECTION_V2]
    obj["stac_extensions"] = list(dict.fromkeys(exts))


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _asset_keys(collection: pystac.Collection) -> list[tuple[str, pystac.Asset]]:
    pairs = list(collection.assets.items())
    for item in collection.get_items(recursive=False):
        pairs.extend(item.assets.items())
    return pairs


def _data_assets(collection: pystac.Collection) -> list[pystac.Asset]:
    return [a for _k, a in _asset_keys(collection) if "data" in (a.roles or [])]


# --------------------------------------------------------------------------------------------------
# Field checks
# --------------------------------------------------------------------------------------------------


def _is_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    parts = urlsplit(value)
    return parts.scheme in schemes and bool(parts.netloc)


def check_draft(draft: CollectionDraft) -> tuple[FieldIssue, ...]:
    """Every problem with the draft, each naming its form field. Errors block, warnings inform."""
    issues: list[FieldIssue] = []

    def err(name: str, message: str, severity: Severity = "error") -> None:
        issues.append(FieldIssue(name, message, severity))

    if (slug := check_slug(draft.id)) is not None:
        err("id", slug)
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
    elif draft.license == OTHER and not _is_url(draft.license_url):
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
        if p.url and not _is_url(p.url):
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
            times.append(_parse_time(value))
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
        if draft.render.colormap_name not in COLORMAPS:
            err("colormap", f"Unknown colormap {draft.render.colormap_name!r}.")
    if draft.statistics is not None:
        st = draft.statistics
        if st.minimum is not None and st.maximum is not None and st.minimum > st.maximum:
            err("stats_on", "The statistics' minimum is above their maximum.")
    if draft.derived_from == "absolute" and not _is_url(draft.eodata_base, ("s3", "http", "https")):
        err("eodata_base", "Give an absolute base such as s3://eodata or https://....")
    return tuple(issues)


# --------------------------------------------------------------------------------------------------
# The form, described as data (the page renders it with one generic loop)
# --------------------------------------------------------------------------------------------------

# "live_text": a text the app gets while the person types (``st.text_input(live=True)``), not on Enter
FieldKind = Literal[
    "text", "live_text", "textarea", "select", "multiselect", "number", "checkbox", "list", "radio"
]


@dataclass(frozen=True)
class FormSection:
    """A group of fields, with the heading (markdown) and caption shown above it."""

    name: str
    heading: str = ""
    caption: str = ""


FORM_SECTIONS = (
    FormSection("main"),
    FormSection("providers", "**Providers**"),
    FormSection("extent", "**Extent** (prefilled from the job)"),
    FormSection(
        "access",
        "**Access rules** (`_auth`, required by the catalogue)",
        "Both lists are required. `anonymous` (everyone) may never write; "
        "only catalogue administrators may put `anonymous` in read.",
    ),
    FormSection("render"),
    FormSection("links"),
)


@dataclass(frozen=True)
class FormField:
    """One widget of the metadata form. ``key`` is the form field name (:meth:`CollectionDraft.form_values`),
    ``list`` a comma-separated text, ``option_labels`` what to show for each option, ``row`` groups
    consecutive fields side by side (``width`` their relative widths), ``markdown`` a text area with a
    preview, ``caption`` a line under the widget, ``issues`` what :func:`check_draft` says about it."""

    key: str
    label: str
    kind: FieldKind = "text"
    help: str | None = None
    options: tuple[str, ...] = ()
    section: str = "main"
    option_labels: tuple[str, ...] = ()
    row: str | None = None
    width: int = 1
    number_format: str | None = None
    markdown: bool = False
    caption: str | None = None
    issues: tuple[FieldIssue, ...] = ()


def form_fields(
    draft: CollectionDraft,
    statistics: BandStatistics | None = None,
    issues: Sequence[FieldIssue] | None = None,
) -> tuple[FormField, ...]:
    """The form for ``draft``, in order: fields that do not apply (the licence link unless the licence
    is ``other``, the render settings while render hints are off, the statistics box without
    ``statistics``, the /eodata base unless links are made absolute) are left out. Each field carries
    its issues (``issues``, else :func:`check_draft`'s)."""
    licences = tuple(dict.fromkeys([*LICENCES, draft.license]))
    fields: list[FormField] = [
        FormField(
            "id",
            "Id",
            "live_text",
            help="Lowercase letters, digits, '-' and '_'; 3 to 64 characters; starts with a letter.",
        ),
        FormField("title", "Title"),
        FormField("description", "Description", "textarea", markdown=True),
        FormField(
            "license",
            "Licence (type to search)",
            "select",
            options=licences,
            option_labels=tuple(licence_label(lic) for lic in licences),
        ),
    ]
    if draft.license == OTHER:
        fields.append(FormField("license_url", "Link to the licence terms"))
    fields.append(FormField("keywords", "Keywords (comma-separated)", "list"))
    for i in range(len(draft.providers)):
        fields += [
            FormField(f"provider_{i}_name", "Name", section="providers", row=f"provider_{i}", width=4),
            FormField(
                f"provider_{i}_roles",
                "Roles",
                "multiselect",
                options=PROVIDER_ROLES,
                section="providers",
                row=f"provider_{i}",
                width=4,
            ),
            FormField(f"provider_{i}_url", "URL", section="providers", row=f"provider_{i}", width=5),
        ]
    for name in ("west", "south", "east", "north"):
        fields.append(
            FormField(name, name.capitalize(), "number", section="extent", row="bbox", number_format="%.6f")
        )
    fields += [
        FormField("start", "Start (ISO 8601)", section="extent", row="interval"),
        FormField("end", "End (ISO 8601)", section="extent", row="interval"),
        FormField("auth_read", "Read roles (comma-separated)", "list", section="access", row="auth"),
        FormField("auth_write", "Write roles (comma-separated)", "list", section="access", row="auth"),
        FormField("render_on", "Render hints (render extension v2.0.0)", "checkbox", section="render"),
    ]
    if draft.render is not None:
        fields += [
            FormField("render_min", "Rescale min", "number", section="render", row="render"),
            FormField("render_max", "Rescale max", "number", section="render", row="render"),
            FormField("colormap", "Colormap", "select", options=COLORMAPS, section="render", row="render"),
        ]
    if statistics is not None:
        fields.append(
            FormField(
                "stats_on",
                f"raster:bands statistics from the {statistics.source}",
                "checkbox",
                section="render",
                caption=", ".join(f"{k} {v:g}" for k, v in statistics.stac_statistics().items()),
            )
        )
    fields.append(
        FormField(
            "derived_from",
            "Bare `/eodata/...` derived_from links",
            "radio",
            options=("drop", "absolute"),
            section="links",
        )
    )
    if draft.derived_from == "absolute":
        fields.append(FormField("eodata_base", "Absolute base for /eodata", section="links"))
    found = tuple(check_draft(draft) if issues is None else issues)
    return tuple(replace(f, issues=tuple(i for i in found if i.field == f.key)) for f in fields)


def form_rows(fields: Iterable[FormField], section: str) -> tuple[tuple[FormField, ...], ...]:
    """The fields of ``section``, grouped into rows (consecutive fields with the same ``row``)."""
    mine = [f for f in fields if f.section == section]
    return tuple(tuple(group) for _row, group in itertools.groupby(mine, key=lambda f: f.row or f.key))


# --------------------------------------------------------------------------------------------------
# Schema validation (offline)
# --------------------------------------------------------------------------------------------------

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


_EXTENSION_CHECKS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "/projection/": _check_projection,
    "/eo/": _check_eo,
    "/raster/": _check_raster,
    "/render/": _check_render,
    "/processing/": _check_processing,
    "/file/": _check_file,
    "/datacube/": _check_datacube,
}


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
            check = next((fn for part, fn in _EXTENSION_CHECKS.items() if part in str(uri)), None)
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


# --------------------------------------------------------------------------------------------------
# Readiness, diff, download
# --------------------------------------------------------------------------------------------------


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
) -> tuple[CheckItem, ...]:
    """The checklist before publishing (advisory: the Publish page shows it again)."""
    lic_ok = bool(draft.license) and draft.license not in ("proprietary", "various")
    desc_ok = bool(draft.description.strip()) and not DEFAULT_DESCRIPTION_RE.match(draft.description)
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
            "All assets answered." if not bad else "; ".join(f"{_short(r.href)}: {r.detail}" for r in bad),
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
        in_range = stats.minimum >= -1.0 and stats.maximum <= 1.0
        items.append(
            CheckItem(
                "statistics",
                "Statistics within the NDVI range [-1, 1]",
                in_range,
                f"min {stats.minimum:g}, max {stats.maximum:g} (from {stats.source})",
            )
        )
    return tuple(items)


@dataclass(frozen=True)
class Evaluation:
    """Everything the page shows about a draft: field issues, the publishable collection (None while a
    field has an error), schema checks and the readiness checklist."""

    issues: tuple[FieldIssue, ...]
    publishable: PublishableCollection | None = None
    checks: tuple[SchemaCheck, ...] = ()
    checklist: tuple[CheckItem, ...] = ()

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

    def state(self) -> dict[str, Any]:
        """What the Publish page reads from ``StateKey.METADATA`` (``valid`` True marks the step done)."""
        out: dict[str, Any] = {"valid": self.valid, "issues": [i.to_dict() for i in self.issues]}
        if self.publishable is not None:
            out.update(
                collection=self.publishable.collection,
                items=list(self.publishable.items),
                checklist=[c.to_dict() for c in self.checklist],
                schema_checks=[c.to_dict() for c in self.checks],
            )
        return out


def evaluate(
    draft: CollectionDraft,
    results: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    *,
    reachability: Sequence[Reachability] | None = None,
    now: dt.datetime | None = None,
) -> Evaluation:
    """Check the draft's fields; if none is in error, build the collection, validate it, run the checklist."""
    issues = check_draft(draft)
    if any(i.severity == "error" for i in issues):
        return Evaluation(issues)
    try:
        pub = draft.apply(results, items)
    except MetadataError as exc:  # a broken item or results document: no field of the form is to blame
        return Evaluation((*issues, FieldIssue(exc.field or "document", exc.message)))
    checks = validate_stac(pub.collection, pub.items)
    return Evaluation(issues, pub, checks, readiness(draft, pub, reachability=reachability, now=now))


def diff_against_results(results: Mapping[str, Any], publishable: PublishableCollection) -> str:
    """Unified diff of the pretty JSON: what openEO returned vs the collection to publish."""
    before = json.dumps(results, indent=2, sort_keys=True, default=str).splitlines()
    after = json.dumps(publishable.collection, indent=2, sort_keys=True, default=str).splitlines()
    return "\n".join(
        difflib.unified_diff(before, after, "openEO job results", "collection to publish", lineterm="", n=2)
    )


def catalogue_zip(
    draft: CollectionDraft, results: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()
) -> bytes:
    """A self-contained static STAC catalogue (``collection.json`` + one folder per item) as zip bytes."""
    errors = [i for i in check_draft(draft) if i.severity == "error"]
    if errors:
        raise errors[0].to_error()
    collection, _notes = draft._build(results, items)
    collection.extra_fields["_auth"] = {"read": list(draft.auth_read), "write": list(draft.auth_write)}
    with tempfile.TemporaryDirectory(prefix="apex-catalogue-") as tmp:
        root = Path(tmp) / draft.id
        collection.normalize_hrefs(str(root), skip_unresolved=True)
        collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(root.parent).as_posix())
        return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# The Metadata page's state: its own dict in the session, and the form's widget values
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormState:
    """One run of the Metadata page: the loaded source, the draft with the form's values, the statistics
    to offer (the Preview page's for this job, else the saved ones) and the draft's :func:`evaluate`."""

    source: LoadedResults
    draft: CollectionDraft
    statistics: BandStatistics | None
    evaluation: Evaluation

    @property
    def caption(self) -> str:
        """Where the source came from, its item count and what was wrong with it."""
        return f"From {self.source.origin}: {len(self.source.items)} item(s). " + " ".join(
            self.source.problems
        )

    @property
    def fields(self) -> tuple[FormField, ...]:
        return form_fields(self.draft, self.statistics, self.evaluation.issues)


@dataclass(frozen=True)
class MetadataSession:
    """The Metadata page's state, in two mappings of the session (no Streamlit here).

    ``store`` is the page's own dict: ``source`` (a :class:`LoadedResults` dict), ``draft`` (a
    :class:`CollectionDraft` dict), ``statistics``, ``reach`` (the last asset check), ``loaded`` (the
    fingerprints of the sources loaded so far) and ``seen``. ``widgets`` holds the form's widget values
    under ``prefix`` (the session itself); they are dropped on a page change, the draft in ``store`` is
    not, and they are seeded from it. ``keep`` are the widgets under ``prefix`` that are not the form's.
    """

    store: MutableMapping[str, Any]
    widgets: MutableMapping[Any, Any]
    prefix: str = "md_"
    keep: frozenset[str] = frozenset({"upload"})

    @property
    def loaded(self) -> bool:
        return "source" in self.store

    def remember(self, fingerprint: str | None) -> bool:
        """True the first time ``fingerprint`` (a finished job, a set of uploaded files) comes; it is
        remembered, so the same source is not loaded again over the person's edits."""
        if not fingerprint or fingerprint in self.store.get("loaded", ()):
            return False
        self.store["loaded"] = [*self.store.get("loaded", ()), fingerprint]
        return True

    def load_job(self, job: Any, timeout: float, preview: Any = None) -> None:
        """The Job page's finished results (:func:`results_from_job`), unless they were loaded already."""
        if self.remember(job_fingerprint(job)):
            self.load(results_from_job(job, timeout), preview)

    def load_upload(self, files: Sequence[tuple[str, bytes]], timeout: float, preview: Any = None) -> None:
        """Uploaded documents (:func:`results_from_upload`), unless these very files were loaded already."""
        if files and self.remember(upload_fingerprint(files)):
            self.load(results_from_upload(files, timeout), preview)

    def load(self, loaded: LoadedResults, preview: Any = None) -> None:
        """A new source: a fresh draft from it, its statistics, no asset check yet, the form reseeded."""
        draft = CollectionDraft.from_results(loaded.results, loaded.items, preview=preview)
        self.store.update(source=loaded.to_dict(), draft=draft.to_dict(), reach=None, seen=loaded.fingerprint)
        self.store["statistics"] = draft.statistics.to_dict() if draft.statistics else None
        self._forget("")

    def reset(self, preview: Any = None) -> None:
        """The form back to the loaded source."""
        self.load(LoadedResults.from_dict(self.store["source"]), preview)

    def edit_providers(self, remove: int | None = None) -> None:
        """A provider added (``remove`` None), or the one at index ``remove`` removed."""
        draft = CollectionDraft.from_dict(self.store["draft"])
        draft = draft.with_provider_added() if remove is None else draft.with_provider_removed(remove)
        self.store["draft"] = draft.to_dict()
        self._forget("provider")

    def check_assets(self, publishable: PublishableCollection, timeout: float) -> None:
        """Check every asset link now (:func:`check_reachable`); the checklist shows the answers."""
        hrefs = [href for _owner, _key, href in asset_hrefs(publishable.collection, publishable.items)]
        self.store["reach"] = [r.to_dict() for r in check_reachable(hrefs, timeout)]

    def current(self, preview: Any = None) -> FormState:
        """The stored draft with the form's values (widgets seeded from it first), kept in ``store``."""
        source = LoadedResults.from_dict(self.store["source"])
        saved = CollectionDraft.from_dict(self.store["draft"])
        stats = pick_statistics(preview, self.store.get("statistics"), source.results.get("id"))
        for key, value in saved.form_values().items():
            self.widgets.setdefault(self.prefix + key, value)
        n = len(self.prefix)
        values = {str(k)[n:]: v for k, v in self.widgets.items() if str(k).startswith(self.prefix)}
        draft = saved.with_form(values, statistics=stats)
        self.store["draft"] = draft.to_dict()
        raw = self.store.get("reach")
        reach = [Reachability.from_dict(r) for r in raw] if raw is not None else None
        return FormState(
            source, draft, stats, evaluate(draft, source.results, source.items, reachability=reach)
        )

    def _forget(self, start: str) -> None:
        """Drop the form's widget values whose name starts with ``start``: they reseed from the draft."""
        n = len(self.prefix)
        names = [k for k in self.widgets if str(k).startswith(self.prefix + start)]
        for key in [k for k in names if str(k)[n:] not in self.keep]:
            del self.widgets[key]
