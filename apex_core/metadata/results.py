"""The job results to start from: the Job page's saved document or uploaded files, and their items
(fetched over HTTP from the signed ``item`` links when they did not come along)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from apex_core.categorical import legend_for
from apex_core.errors import MetadataError
from apex_core.metadata.links import href_expiry, short_href
from apex_core.resultfile import FileFacts, is_geotiff, media_type, read_facts

if TYPE_CHECKING:
    from apex_core.flow import JobOutcome

__all__ = [
    "LoadedResults",
    "as_bbox",
    "collection_ids",
    "fetch_items",
    "item_links",
    "job_fingerprint",
    "parse_json",
    "read_attachment",
    "read_documents",
    "read_files",
    "read_upload",
    "require_results",
    "results_from_job",
    "results_from_upload",
    "upload_fingerprint",
]


def parse_json(name: str, data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"{name} is not a JSON document: {exc}.", field="document") from exc


def read_documents(files: Sequence[tuple[str, bytes | str]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The job-results Collection and any Item documents among uploaded ``(name, content)`` files."""
    results, items, _process = read_upload(files)
    return results, items


def read_upload(
    files: Sequence[tuple[str, bytes | str]],
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """The job-results Collection, any Item documents, and the job's ``process`` (from an openEO job
    document, ``GET /jobs/{id}``, when one came along) among uploaded ``(name, content)`` files.

    A file may also hold a FeatureCollection of items. Raises :class:`MetadataError` when no file or
    more than one file is a STAC Collection, or a file is not JSON.
    """
    collections: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    process: dict[str, Any] | None = None
    for name, content in files:
        doc = parse_json(name, content)
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind is None and isinstance(doc, dict) and isinstance(doc.get("process"), dict):
            process = doc["process"]  # an openEO job document: its process graph
        elif kind == "Collection":
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
    return collections[0], items, process


def as_bbox(value: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, list | tuple) or len(value) not in (4, 6):
        raise MetadataError(f"`{where}` must be a list of 4 (or 6) numbers.", field=where)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise MetadataError(f"`{where}` must contain numbers only.", field=where)
    nums = [float(v) for v in value]
    if len(nums) == 6:
        return nums[0], nums[1], nums[3], nums[4]
    return nums[0], nums[1], nums[2], nums[3]


def require_results(results: Any) -> Mapping[str, Any]:
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
    as_bbox(bboxes[0], "extent.spatial.bbox")
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
    now = dt.datetime.now(dt.UTC)
    for href in item_links(results):
        if urlsplit(href).scheme not in ("http", "https"):
            problems.append(f"Item link {short_href(href)} is not an http(s) URL: not fetched.")
            continue
        expired = href_expiry(href)
        if expired is not None and expired <= now:
            problems.append(
                f"Item link {short_href(href)} expired on {expired:%Y-%m-%d %H:%M} UTC: not fetched "
                "(the APEx report can make the items from the result files)."
            )
            continue
        try:
            resp = http.get(href, timeout=timeout)
            resp.raise_for_status()
            doc = resp.json()
        except (requests.RequestException, ValueError) as exc:
            problems.append(f"Item {short_href(href)} could not be fetched: {type(exc).__name__}.")
            continue
        if isinstance(doc, dict) and doc.get("type") == "Feature":
            items.append(doc)
        else:
            problems.append(f"Item link {short_href(href)} did not return a STAC Item.")
    return items, problems


@dataclass(frozen=True)
class LoadedResults:
    """A job-results document and its items, with where they came from (for the page to show)."""

    origin: str
    fingerprint: str
    results: dict[str, Any]
    items: tuple[dict[str, Any], ...] = ()
    problems: tuple[str, ...] = ()
    process: dict[str, Any] | None = None  # the job's process (graph), when known

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadedResults:
        process = data.get("process")
        return cls(
            origin=str(data["origin"]),
            fingerprint=str(data["fingerprint"]),
            results=dict(data["results"]),
            items=tuple(data.get("items") or ()),
            problems=tuple(data.get("problems") or ()),
            process=dict(process) if isinstance(process, Mapping) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "fingerprint": self.fingerprint,
            "results": self.results,
            "items": list(self.items),
            "problems": list(self.problems),
            "process": self.process,
        }


def collection_ids(process: Mapping[str, Any] | None) -> list[str]:
    """The ids of the collections a job's process graph loads (``load_collection``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            args = node.get("arguments")
            if node.get("process_id") == "load_collection" and isinstance(args, Mapping) and args.get("id"):
                found.append(str(args["id"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(process or {})
    return found


def read_files(
    paths: Mapping[str, Path],
    process: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[tuple[str, FileFacts], ...]:
    """The facts of result files on this machine (``paths``: asset href -> file; ``names``: the file's
    real name when the path is a stored copy), categorical classes named from the legend of the
    collection the job loaded (ESA WorldCover)."""
    legend = legend_for(collection_ids(process))
    return tuple(
        (href, read_facts(path, name=(names or {}).get(href), legend=legend)) for href, path in paths.items()
    )


def read_attachment(
    documents: Sequence[Mapping[str, Any]],
    href: str,
    path: Path,
    name: str,
    process: Mapping[str, Any] | None = None,
) -> tuple[str, FileFacts]:
    """The facts of a file a person attaches to the asset at ``href`` (in ``documents``: the collection
    and its items). Raises :class:`MetadataError` when no asset has that href, or the file is not what
    the asset is (a CSV for a GeoTIFF, a GeoTIFF for a JSON): its size and checksum would be wrong."""
    asset = next(
        (
            a
            for doc in documents
            for a in (doc.get("assets") or {}).values()
            if isinstance(a, Mapping) and a.get("href") == href
        ),
        None,
    )
    if asset is None:
        raise MetadataError(f"No asset links to {short_href(href)}.", field="file")
    ((_href, facts),) = read_files({href: path}, process, {href: name})
    wanted = str(asset.get("type") or "") or media_type(href) or ""
    got = facts.media_type or ""
    other_kind = not is_geotiff(asset) and bool(wanted and got) and wanted.split(";")[0] != got.split(";")[0]
    if is_geotiff(asset) != (facts.raster is not None) or other_kind:
        raise MetadataError(
            f"{name} ({got or 'unknown type'}) is not the asset's kind of file ({wanted or 'unknown'}): "
            "attach the result file itself.",
            field="file",
        )
    return href, facts


def job_fingerprint(job: JobOutcome | None) -> str | None:
    """Identifies the Job step's finished result (None when there is none to load)."""
    if job is None or not job.finished or job.metadata_path is None:
        return None
    return f"job:{job.id}:{job.metadata_path}"


def results_from_job(job: JobOutcome | None, timeout: float) -> LoadedResults:
    """The results document the Job step saved (``metadata_path``) and its items (those the download
    fetched, else fetched now from the signed ``item`` links)."""
    fingerprint = job_fingerprint(job)
    if job is None or job.metadata_path is None or fingerprint is None:
        raise MetadataError("The job has no finished results to load.", field="document")
    path = job.metadata_path
    try:
        results = parse_json(path.name, path.read_bytes())
    except OSError as exc:
        raise MetadataError(f"Cannot read the job results {path}: {exc.strerror}.", field="document") from exc
    require_results(results)
    items: list[dict[str, Any]] = [dict(i) for i in job.items]
    problems: list[str] = []
    if not items:
        items, problems = fetch_items(results, timeout)
    return LoadedResults(f"job {job.id}", fingerprint, results, tuple(items), tuple(problems))


def upload_fingerprint(files: Sequence[tuple[str, bytes]]) -> str:
    """Identifies a set of uploaded files (names and sizes), to load each set once."""
    return "upload:" + ",".join(f"{name}:{len(data)}" for name, data in files)


def results_from_upload(files: Sequence[tuple[str, bytes]], timeout: float) -> LoadedResults:
    """Uploaded documents: one job-results Collection, optionally its Items (else fetched from its links)."""
    results, items, process = read_upload(files)
    require_results(results)
    problems: list[str] = []
    if not items:
        items, problems = fetch_items(results, timeout)
    fingerprint = upload_fingerprint(files)
    names = ", ".join(name for name, _ in files)
    return LoadedResults(f"upload {names}", fingerprint, results, tuple(items), tuple(problems), process)
