"""What each step hands to the next: one frozen, typed value per step outcome, and the session keys.

:class:`StateKey` names every key of the session's state the app uses (the flow's outcomes, what is
derived from them, and the pages' own state); :class:`WidgetPrefix` names the prefixes of the pages'
widget keys. The session holds the typed values below, never another step's raw dict:

=============================  =========================================  ============================
key                            value                                      step
=============================  =========================================  ============================
``StateKey.AREA``              :class:`AreaChoice`                        Area
``StateKey.JOB``               :class:`JobOutcome`                        Job
``StateKey.PREVIEW``           :class:`PreviewOutcome`                    Preview
``StateKey.METADATA``          :class:`MetadataOutcome`                   Metadata
``StateKey.PUBLISH_RUN``       :class:`PublishRun`                        Publish
``StateKey.PUBLISHED``         :class:`Published`                         Publish
=============================  =========================================  ============================

Each type has one JSON codec (``to_dict``/``from_dict``); :data:`PERSISTED` pairs each persisted key with
its codec, and the project store (:mod:`apex_core.projects`) keeps exactly those keys. A codec reads the
JSON shapes saved projects hold (the old plain dicts) and refuses a value it cannot read with a
:class:`~apex_core.errors.DataError` that says why. (Projects saved when the area's three parts had keys
of their own are read as one :class:`AreaChoice` by :meth:`apex_core.projects.ProjectState.from_json`.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from apex_core.errors import DataError
from apex_core.metadata import ApexReport, CollectionDraft, Evaluation, LoadedResults, Reachability
from apex_core.publish import PublishResult, browser_link
from apex_core.resultfile import FileFacts
from apex_core.statistics import BandStatistics

__all__ = [
    "DERIVED",
    "PERSISTED",
    "AreaChoice",
    "Codec",
    "JobOutcome",
    "MetadataOutcome",
    "MetadataWork",
    "PreviewOutcome",
    "PublishRun",
    "Published",
    "ResultAsset",
    "StateKey",
    "WidgetPrefix",
]


class StateKey(StrEnum):
    """Every key of the session's state the app uses (widget keys are apart: :class:`WidgetPrefix`)."""

    # The flow's outcomes and the choices they came from: persisted in the project (see PERSISTED).
    AREA = "apex_area"  # AreaChoice (the AOI geometry, its place name, the observation day)
    JOB_CHOICE = "apex_job_choice"  # the openEO connection choice (ConnectionChoice.to_dict(), no secret)
    JOB = "apex_job"  # JobOutcome
    PREVIEW = "apex_preview"  # PreviewOutcome
    METADATA_DRAFT = "apex_metadata_draft"  # MetadataWork: the Metadata page's work in progress
    METADATA = "apex_metadata"  # MetadataOutcome
    PUBLISH_RUN = "apex_publish_run"  # PublishRun
    PUBLISHED = "apex_published"  # Published
    # Derived from the persisted ones: reset when another project is loaded (see DERIVED).
    JOB_FOLLOW = "apex_job_follow"  # jobs.Follow: the live follow of the job
    JOB_ERR = "apex_job_err"  # the Job page's last ApexError
    JOB_RECENT = "apex_job_recent"  # the backend's recent jobs
    AREA_ERROR = "apex_area_error"  # why the last area was refused
    AREA_SEEN_DRAWING = "apex_area_seen_drawing"  # the map drawing already used
    JOB_SESSION_ID = "apex_job_session_id"  # the work folder's id (the project's, once there is one)
    JOB_DEVICE = "apex_job_device"  # a running device sign-in: a thread, and the token once approved
    # The pages' own session state, never persisted.
    JOB_CON = "apex_job_con"  # the openEO connection (holds a token)
    JOB_INFO = "apex_job_info"  # jobs.BackendInfo of that connection
    JOB_RENAME_ERR = "apex_job_rename_err"  # an unusable new title, shown at the rename field
    JOB_ESTIMATE = "apex_job_estimate"  # (job id, JobEstimate or the ApexError why there is none)
    JOB_EXPORT = "apex_job_export"  # the session's ExportChoice.to_dict(), or None
    JOB_EXPORT_OFFERED = "apex_job_export_offered"  # {backend url: bool}
    AREA_FOOTPRINTS = "apex_area_footprints"  # cache: the backend's data footprints
    AREA_OBSERVATIONS = "apex_area_observations"  # cache: observations per AOI and day
    CATALOGUE_TOKENS = "apex_catalogue_tokens"  # {catalogue url: AccessToken}
    CATALOGUE_DEVICE_FLOW = "apex_catalogue_device_flow"  # a running catalogue device sign-in
    CATALOGUE_CONFORMANCE = "apex_catalogue_conformance"  # cache: {catalogue url: Conformance}
    CATALOGUE_COLLECTIONS = "apex_catalogue_collections"  # cache: {catalogue url: [(id, title)]}
    PUBLISH_MERGE = "apex_publish_merge"  # the add-to-collection preview: (what it is for, MergePlan)
    EXPLORER = "apex_explorer"  # explorer.ExplorerHandover of the last publish, with its CORS answers
    CATALOGUE_LIST = "apex_catalogue_list"  # cache: (url, token, browse.CollectionSummary tuple)
    CATALOGUE_VIEW = "apex_catalogue_view"  # cache: (url, token, browse.CollectionView) of the chosen one
    CATALOGUE_QUICKLOOKS = "apex_catalogue_quicklooks"  # cache: {(url, collection, item, asset): Quicklook}
    CATALOGUE_EDIT = "apex_catalogue_edit"  # MetadataWork: a published collection in the Metadata form
    CATALOGUE_DONE = "apex_catalogue_done"  # the last edit's or delete's message, shown after the rerun
    SETTINGS = "apex_settings"  # the session's Settings
    PROJECT = "apex_project"  # {"id", "name", "version", "saved"}
    PROJECT_CONFLICT = "apex_project_conflict"  # True while another tab's save is newer
    PROJECT_FAILED = "apex_project_failed"  # the id in the URL that could not be loaded this run


class WidgetPrefix(StrEnum):
    """The prefixes of the pages' widget keys (``prefix + name``)."""

    AREA = "area_"
    JOB = "job_"
    PREVIEW = "preview_"
    METADATA = "md_"
    PUBLISH = "pub_"
    PROJECTS = "projects_"
    APP = "apex_"  # app.py's and the project notice's own widgets
    CATALOGUE = "cat_"  # the Catalogue page's widgets
    CATALOGUE_EDIT = "catmd_"  # the Catalogue page's Metadata form (a published collection)
    SHARED = "shared_"  # the read-only shared view's widgets

    @classmethod
    def of_steps(cls) -> tuple[str, ...]:
        """The prefixes of the five steps' widgets: dropped when another project is loaded, so the
        widgets reseed from its state."""
        return (cls.AREA, cls.JOB, cls.PREVIEW, cls.METADATA, cls.PUBLISH)


# --------------------------------------------------------------------------- helpers


def _mapping(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise DataError(f"{what} must be a JSON object, got {type(data).__name__}.")
    return data


def _required(data: Mapping[str, Any], what: str, *keys: str) -> tuple[str, ...]:
    """The values of ``keys`` (as text), or a :class:`DataError` naming them when one is missing."""
    values = tuple(data.get(k) for k in keys)
    if not all(values):
        names = " and ".join(f"{'an' if k[0] in 'aeiou' else 'a'} {k!r}" for k in keys)
        raise DataError(f"{what} needs {names}, got {dict(data)!r}.")
    return tuple(str(v) for v in values)


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _opt_float(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{what} must be a number, got {value!r}.")
    return float(value)


def _list(data: Mapping[str, Any], key: str, what: str) -> Sequence[Any]:
    raw = data.get(key) or []
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise DataError(f"{what}'s {key!r} must be a list.")
    return raw


def _dicts(data: Mapping[str, Any], key: str, what: str) -> tuple[dict[str, Any], ...]:
    raw = _list(data, key, what)
    if not all(isinstance(d, Mapping) for d in raw):
        raise DataError(f"{what}'s {key!r} must be a list of JSON objects.")
    return tuple(dict(d) for d in raw)


# --------------------------------------------------------------------------- Area


@dataclass(frozen=True)
class AreaChoice:
    """The Area step's outcome: the AOI geometry (a GeoJSON Polygon, what the process graph uses), its
    place name and the observation day (ISO date), or the first and last day of a range (``day`` and
    ``end``, both included). JSON: ``{"aoi", "place", "day", "end"}`` (each may be null; saved before
    ranges: no ``end``).

    The Area page replaces it (:func:`dataclasses.replace`) when one part changes."""

    aoi: dict[str, Any] | None = None
    place: str | None = None
    day: str | None = None
    end: str | None = None  # the range's last day (None: the one day ``day``)

    @classmethod
    def from_state(cls, state: Mapping[Any, Any]) -> AreaChoice:
        """The session's choice (an empty one when there is none yet)."""
        area = state.get(StateKey.AREA)
        return area if isinstance(area, AreaChoice) else cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AreaChoice:
        data = _mapping(data, "The area")
        aoi = data.get("aoi")
        if aoi is not None:
            aoi = _mapping(aoi, "The area's 'aoi'")
            if not isinstance(aoi.get("type"), str) or "coordinates" not in aoi:
                raise DataError(f"The area's 'aoi' must be a GeoJSON geometry, got {dict(aoi)!r}.")
        place, day, end = data.get("place"), data.get("day"), data.get("end")
        if place is not None and not isinstance(place, str):
            raise DataError(f"The area's 'place' must be text, got {place!r}.")
        for name, value in (("day", day), ("end", end)):
            if value not in (None, ""):
                try:
                    dt.date.fromisoformat(value)
                except (TypeError, ValueError) as exc:
                    raise DataError(f"The area's '{name}' must be an ISO date, got {value!r}.") from exc
        if day and end and end < day:
            raise DataError(f"The area's range ends ({end}) before it starts ({day}).")
        return cls(
            aoi=dict(aoi) if aoi is not None else None,
            place=place or None,
            day=day or None,
            end=(end or None) if day and end != day else None,  # a range needs its first day
        )

    def to_dict(self) -> dict[str, Any]:
        out = {"aoi": dict(self.aoi) if self.aoi is not None else None, "place": self.place, "day": self.day}
        if self.end:
            out["end"] = self.end
        return out

    @property
    def is_range(self) -> bool:
        return bool(self.day and self.end and self.end != self.day)

    @property
    def ready(self) -> bool:
        """An area and a day: the Job page can build the job."""
        return self.aoi is not None and bool(self.day)

    def label(self) -> str:
        """The place and the day (or range), e.g. for a project's default name ("" when neither is
        chosen)."""
        when = f"{self.day} to {self.end}" if self.is_range else self.day
        return " ".join(p for p in (self.place, when) if p)


# --------------------------------------------------------------------------- Job


@dataclass(frozen=True)
class ResultAsset:
    """One downloaded result file: its STAC asset key, local path, (optional) date and, for a composite,
    the last day of the range it covers (``end``; ``datetime`` is then its start)."""

    key: str
    path: Path
    datetime: str | None = None
    end: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultAsset:
        data = _mapping(data, "A job result asset")
        key, path = _required(data, "A job result asset", "key", "path")
        return cls(
            key=key, path=Path(path), datetime=_opt_str(data.get("datetime")), end=_opt_str(data.get("end"))
        )

    @property
    def label(self) -> str:
        if self.datetime and self.end:
            return f"{self.key} ({self.datetime[:10]} to {self.end[:10]})"
        return f"{self.key} ({self.datetime})" if self.datetime else self.key

    def to_dict(self) -> dict[str, str | None]:
        out = {"key": self.key, "path": str(self.path), "datetime": self.datetime}
        if self.end:
            out["end"] = self.end
        return out


@dataclass(frozen=True)
class JobOutcome:
    """The Job step's outcome: the session's batch job and, once it finished, its downloaded results.

    ``assets`` are the downloaded GeoTIFFs (display order), ``metadata_path`` the job's STAC results
    document saved next to them, ``items`` the STAC items its results linked to (fetched with the
    download, so the Metadata step need not fetch them again; empty when they were not all fetched).
    JSON: ``{"status", "id", "title", "progress", "created", "assets": [{"key", "path", "datetime"}],
    "metadata_path"}`` (saved projects may lack any but ``id``). The items stay in the session only:
    their links are signed and expire, and may carry a token, which a project never stores (after a
    reload the Metadata step fetches them again)."""

    id: str
    status: str = ""  # the backend's status ("" when a saved project did not say)
    title: str | None = None
    progress: float | None = None
    created: str | None = None
    assets: tuple[ResultAsset, ...] = ()
    metadata_path: Path | None = None
    items: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobOutcome:
        data = _mapping(data, "The job")
        (job_id,) = _required(data, "The job", "id")
        assets = tuple(ResultAsset.from_dict(a) for a in _list(data, "assets", "The job"))
        meta = _opt_str(data.get("metadata_path"))
        return cls(
            id=job_id,
            status=str(data.get("status") or ""),
            title=_opt_str(data.get("title")),
            progress=_opt_float(data.get("progress"), "The job's progress"),
            created=_opt_str(data.get("created")),
            assets=assets,
            metadata_path=Path(meta) if meta else None,
            items=_dicts(data, "items", "The job"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON saved projects hold (``progress`` and ``created`` only when known; never ``items``)."""
        out: dict[str, Any] = {
            "status": self.status,
            "id": self.id,
            "title": self.title,
            "assets": [a.to_dict() for a in self.assets],
            "metadata_path": str(self.metadata_path) if self.metadata_path else None,
        }
        if self.progress is not None:
            out["progress"] = self.progress
        if self.created is not None:
            out["created"] = self.created
        return out

    @property
    def finished(self) -> bool:
        """The Job step is done: the job finished (and its results were downloaded)."""
        return self.status == "finished"

    def asset(self, key: str) -> ResultAsset:
        for a in self.assets:
            if a.key == key:
                return a
        raise DataError(f"The job {self.id} has no result asset {key!r}.")


# --------------------------------------------------------------------------- Preview


@dataclass(frozen=True)
class PreviewOutcome:
    """The Preview step's outcome: which result GeoTIFF of which job was looked at, and its statistics
    (``statistics``: ``RasterStatistics.to_dict()``; ``raster_statistics``: the STAC raster extension's
    ``{minimum, maximum, mean, stddev, valid_percent}`` for the Metadata step's ``raster:bands``), the
    ``kind`` it was shown as (``ndvi``, ``continuous``, ``categorical``; ``ndvi`` for a preview saved
    before there were kinds), its ``band`` (1-based) and, for categorical data, its ``classes``
    (``apex_core.categorical.RasterClass.to_dict()`` each: value, title, color_hint, pixels, percent)."""

    asset_key: str
    path: Path
    job_id: str | None = None
    statistics: dict[str, Any] = field(default_factory=dict)
    raster_statistics: dict[str, Any] = field(default_factory=dict)
    kind: str = "ndvi"
    band: int = 1
    classes: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreviewOutcome:
        data = _mapping(data, "The preview")
        key, path = _required(data, "The preview", "asset_key", "path")
        stats, raster = data.get("statistics") or {}, data.get("raster_statistics") or {}
        if not isinstance(stats, Mapping) or not isinstance(raster, Mapping):
            raise DataError("The preview's statistics must be JSON objects.")
        classes = data.get("classes") or ()
        if not isinstance(classes, list | tuple) or not all(isinstance(c, Mapping) for c in classes):
            raise DataError("The preview's classes must be a list of JSON objects.")
        try:
            band = int(data.get("band") or 1)
        except (TypeError, ValueError) as exc:
            raise DataError("The preview's band must be a number.") from exc
        return cls(
            asset_key=key,
            path=Path(path),
            job_id=_opt_str(data.get("job_id")),
            statistics=dict(stats),
            raster_statistics=dict(raster),
            kind=_opt_str(data.get("kind")) or "ndvi",
            band=band,
            classes=tuple(dict(c) for c in classes),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "asset_key": self.asset_key,
            "path": str(self.path),
            "statistics": dict(self.statistics),
            "raster_statistics": dict(self.raster_statistics),
            "kind": self.kind,
            "band": self.band,
            "classes": [dict(c) for c in self.classes],
        }

    def band_statistics(self, job_id: str | None = None) -> dict[str, Any] | None:
        """The statistics for the Metadata step's ``raster:bands`` (the STAC ones, else the full ones);
        None when there are none, or when they are of another job than ``job_id``."""
        if self.job_id and job_id and self.job_id != job_id:
            return None
        return self.raster_statistics or self.statistics or None


# --------------------------------------------------------------------------- Metadata


@dataclass(frozen=True)
class MetadataWork:
    """The Metadata page's work in progress (``StateKey.METADATA_DRAFT``): the loaded source, the draft
    being edited, the statistics it carries, the last asset check, and which sources were loaded."""

    source: LoadedResults | None = None
    draft: CollectionDraft | None = None
    statistics: BandStatistics | None = None
    reach: tuple[Reachability, ...] | None = None  # None: the assets were not checked yet
    loaded: tuple[str, ...] = ()  # fingerprints of the sources loaded so far (never loaded twice)
    files: tuple[tuple[str, FileFacts], ...] = ()  # (asset href, facts) of the result files here

    @property
    def file_facts(self) -> dict[str, FileFacts]:
        """The result files on this machine, by asset href (the Job step's downloads, attached files)."""
        return dict(self.files)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetadataWork:
        data = _mapping(data, "The metadata draft")
        try:
            source, draft = data.get("source"), data.get("draft")
            stats, reach = data.get("statistics"), data.get("reach")
            return cls(
                source=LoadedResults.from_dict(_mapping(source, "Its source"))
                if source is not None
                else None,
                draft=CollectionDraft.from_dict(_mapping(draft, "Its draft")) if draft is not None else None,
                statistics=BandStatistics.from_dict(_mapping(stats, "Its statistics")) if stats else None,
                reach=None
                if reach is None
                else tuple(Reachability.from_dict(r) for r in _dicts(data, "reach", "It")),
                loaded=tuple(str(f) for f in _list(data, "loaded", "The metadata draft")),
                files=tuple(
                    (str(f["href"]), FileFacts.from_dict(_mapping(f["facts"], "A file's facts")))
                    for f in _dicts(data, "files", "The metadata draft")
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"The metadata draft cannot be read ({type(exc).__name__}: {exc}).") from exc

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"loaded": list(self.loaded)}
        if self.source is not None:
            out["source"] = self.source.to_dict()
        if self.draft is not None:
            out["draft"] = self.draft.to_dict()
        out["statistics"] = self.statistics.to_dict() if self.statistics is not None else None
        out["reach"] = None if self.reach is None else [r.to_dict() for r in self.reach]
        out["files"] = [{"href": href, "facts": facts.to_dict()} for href, facts in self.files]
        return out


@dataclass(frozen=True)
class MetadataOutcome:
    """The Metadata step's outcome: whether the collection is valid, and the collection and items to
    publish once it is (:meth:`of` an ``Evaluation``: also its issues, checklist and schema checks)."""

    valid: bool = False
    collection: dict[str, Any] | None = None
    items: tuple[dict[str, Any], ...] = ()
    issues: tuple[dict[str, Any], ...] = ()
    checklist: tuple[dict[str, Any], ...] = ()
    schema_checks: tuple[dict[str, Any], ...] = ()
    apex: ApexReport | None = None  # the APEx-readiness report of the collection to publish
    rehost: bool = False  # the person chose to re-host the GeoTIFFs as COGs (EXPLORER-REC-01/02/03)
    local_files: tuple[tuple[str, Path], ...] = ()  # (asset href, the file on this machine)

    @classmethod
    def of(
        cls, evaluation: Evaluation, files: Mapping[str, FileFacts] | None = None, *, rehost: bool = False
    ) -> MetadataOutcome:
        """The outcome of one evaluation of the Metadata page's draft (``files``: the result files on
        this machine by asset href, which publishing re-hosts from)."""
        pub = evaluation.publishable
        return cls(
            valid=evaluation.valid,
            collection=dict(pub.collection) if pub is not None else None,
            items=tuple(dict(i) for i in pub.items) if pub is not None else (),
            issues=tuple(i.to_dict() for i in evaluation.issues),
            checklist=tuple(c.to_dict() for c in evaluation.checklist) if pub is not None else (),
            schema_checks=tuple(c.to_dict() for c in evaluation.checks) if pub is not None else (),
            apex=evaluation.apex if pub is not None else None,
            rehost=rehost,
            local_files=tuple((href, f.path) for href, f in (files or {}).items()),
        )

    @property
    def apex_ready(self) -> bool:
        return self.apex is not None and self.apex.ready

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetadataOutcome:
        data = _mapping(data, "The metadata")
        collection = data.get("collection")
        if collection is not None and not isinstance(collection, Mapping):
            raise DataError("The metadata's 'collection' must be a JSON object.")
        return cls(
            valid=data.get("valid") is True,
            collection=dict(collection) if collection is not None else None,
            items=_dicts(data, "items", "The metadata"),
            issues=_dicts(data, "issues", "The metadata"),
            checklist=_dicts(data, "checklist", "The metadata"),
            schema_checks=_dicts(data, "schema_checks", "The metadata"),
            apex=ApexReport.from_dict(_mapping(data["apex"], "The APEx report"))
            if data.get("apex")
            else None,
            rehost=data.get("rehost") is True,
            local_files=_local_files(_dicts(data, "local_files", "The metadata")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid, "issues": [dict(i) for i in self.issues]}
        if self.collection is not None:
            out.update(
                collection=dict(self.collection),
                items=[dict(i) for i in self.items],
                checklist=[dict(c) for c in self.checklist],
                schema_checks=[dict(c) for c in self.schema_checks],
            )
        if self.apex is not None:
            out["apex"] = self.apex.to_dict()
        if self.rehost:
            out["rehost"] = True
        if self.local_files:
            out["local_files"] = [{"href": h, "path": str(p)} for h, p in self.local_files]
        return out


def _local_files(entries: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, Path], ...]:
    out = []
    for entry in entries:
        href, path = entry.get("href"), entry.get("path")
        if not isinstance(href, str) or not isinstance(path, str):
            raise DataError("The metadata's 'local_files' must be {href, path} strings.")
        out.append((href, Path(path)))
    return tuple(out)


# --------------------------------------------------------------------------- Publish


@dataclass(frozen=True)
class PublishRun:
    """The Publish page's run: where publishing got to (``result``), for the collection id the Metadata
    step named (``base``) and the items it had (``items``: the Metadata step's item ids when the run
    started); a run for another base, or for other items (next month's job into the same collection), is
    forgotten."""

    base: str | None = None
    result: PublishResult | None = None
    items: tuple[str, ...] | None = None  # None: a run saved before this was recorded

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublishRun:
        data = _mapping(data, "The publish run")
        raw = data.get("result")
        items = data.get("items")
        return cls(
            base=_opt_str(data.get("base")),
            result=PublishResult.from_dict(_mapping(raw, "The publish result")) if raw is not None else None,
            items=None if items is None else tuple(str(i) for i in _list(data, "items", "The publish run")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base": self.base}
        if self.result is not None:
            out["result"] = self.result.to_dict()
        if self.items is not None:
            out["items"] = list(self.items)
        return out

    def for_base(self, base: str, items: Sequence[str] | None = None) -> PublishRun:
        """This run, or a new one when it was for another collection id or other items."""
        if self.base not in (None, base):
            return PublishRun()
        if items is not None and self.items is not None and tuple(items) != self.items:
            return PublishRun()
        return self


@dataclass(frozen=True)
class Published:
    """The Publish step's outcome: where the collection and its items are (and a STAC Browser link)."""

    collection_url: str
    items: tuple[str, ...] = ()
    browser_url: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Published:
        data = _mapping(data, "The published collection")
        (url,) = _required(data, "The published collection", "collection_url")
        items = _list(data, "items", "The published collection")
        return cls(url, tuple(str(i) for i in items), _opt_str(data.get("browser_url")))

    @classmethod
    def of(cls, result: PublishResult, browser_url: str | None = None) -> Published:
        """Where ``result`` put the collection and its items; the collection in the STAC Browser at
        ``browser_url`` (``Settings.stac_browser_url``), when there is one."""
        return cls(
            result.collection_url, result.item_urls, browser_link(browser_url, result.plan.collection_id)
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"collection_url": self.collection_url, "items": list(self.items)}
        if self.browser_url:
            out["browser_url"] = self.browser_url
        return out


# --------------------------------------------------------------------------- what a project keeps


def _same(value: Any) -> Any:
    return value


def _codec(cls: Any) -> Codec:
    """(encode, decode) of a typed outcome: ``to_dict`` of an instance (anything else is not saved),
    ``from_dict`` of its JSON."""

    def encode(value: Any) -> Any:
        if not isinstance(value, cls):
            raise TypeError(f"{cls.__name__} expected, got {type(value).__name__}")
        return value.to_dict()

    return encode, cls.from_dict


Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]

# The session keys a project keeps, each with its (encode, decode) codec. Nothing else is ever stored:
# not the openEO connection (JOB_CON holds a token), not the catalogue tokens, not widget values (the
# pages reseed them from these).
PERSISTED: Mapping[StateKey, Codec] = {
    StateKey.AREA: _codec(AreaChoice),
    StateKey.JOB_CHOICE: (_same, _same),
    StateKey.JOB: _codec(JobOutcome),
    StateKey.PREVIEW: _codec(PreviewOutcome),
    StateKey.METADATA_DRAFT: _codec(MetadataWork),
    StateKey.METADATA: _codec(MetadataOutcome),
    StateKey.PUBLISH_RUN: _codec(PublishRun),
    StateKey.PUBLISHED: _codec(Published),
}

# Session keys derived from the persisted ones (reset when another project is loaded).
DERIVED: tuple[StateKey, ...] = (
    StateKey.JOB_FOLLOW,
    StateKey.JOB_ERR,
    StateKey.JOB_RECENT,
    StateKey.AREA_ERROR,
    StateKey.AREA_SEEN_DRAWING,
    StateKey.JOB_SESSION_ID,
    StateKey.JOB_DEVICE,
)
