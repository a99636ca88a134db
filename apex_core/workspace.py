"""Use cases 2/3 of the APEx notebook: openEO exports the results straight to a workspace.

Where the backend offers the ``export_workspace`` process (:func:`offers_export`) and the settings name a
workspace (``APEX_OPENEO_WORKSPACE``), the Job step ends the NDVI graph the way the notebook must write it::

    result = cube.save_result(format="GTiff", options={"filename_prefix": ...})
    result = result.export_workspace(workspace=..., merge=...)

(:func:`with_export`). Workspaces are configured by the back-end operator; an exported asset's href
becomes its workspace URI (``s3://bucket/path/file.tif`` on CDSE), and a file of the same name at that
path is overwritten. :func:`export_outcome` reads that back from the job's results.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from apex_core.config import Settings
from apex_core.errors import BackendError
from apex_core.local.contract import EMBEDDED_WORKSPACE

__all__ = [
    "EMBEDDED_WORKSPACE",
    "EXPORT_PROCESS",
    "ExportChoice",
    "ExportOutcome",
    "ExportedAsset",
    "backend_offers_export",
    "default_prefix",
    "download_href",
    "effective_workspace",
    "export_outcome",
    "offers_export",
    "python_lines",
    "saved_export_outcome",
    "snippet_with_export",
    "with_export",
]

EXPORT_PROCESS = "export_workspace"
_SAFE = re.compile(r"[^A-Za-z0-9.]+")  # runs of anything else (dashes too) -> one dash
_WORKSPACE_ID = re.compile(r"^[\w\-.~]+$")  # the export_workspace spec's pattern
_SAVE_LINE = re.compile(r"^result = (\w+)\.save_result\(")
_WORKSPACE_SCHEMES = ("s3://", "file:", "gs://", "az://", "abfs://", "swift://")


def offers_export(process_ids: Iterable[str]) -> bool:
    """Does a backend whose ``GET /processes`` lists ``process_ids`` offer ``export_workspace``?"""
    return EXPORT_PROCESS in set(process_ids)


def backend_offers_export(con: Any) -> bool:
    """Ask the backend (an ``openeo.Connection``) whether it offers ``export_workspace``."""
    import requests
    from openeo.rest import OpenEoApiError

    try:
        processes = con.list_processes()
    except OpenEoApiError as exc:
        raise BackendError(
            f"Listing the backend's processes failed: {exc.message}",
            code=exc.code,
            status=exc.http_status_code,
            request_id=exc.id,
        ) from exc
    except requests.RequestException as exc:
        raise BackendError(f"The backend did not answer ({type(exc).__name__}).") from exc
    return offers_export(str(p.get("id")) for p in processes if isinstance(p, Mapping))


def effective_workspace(settings: Settings, *, embedded: bool) -> Settings:
    """The settings with the workspace to export to: the configured one, else on the embedded backend
    its own folder workspace."""
    if settings.openeo_workspace or not embedded:
        return settings
    return replace(settings, openeo_workspace=EMBEDDED_WORKSPACE)


def download_href(asset: Mapping[str, Any]) -> str | None:
    """Where to download an asset of a job's results: its href when it is http(s), else (an exported
    asset, ``s3://...``) the first http(s) alternate; None when there is none."""
    href = str(asset.get("href") or "")
    if href.startswith(("http://", "https://")):
        return href
    return _download_link(asset)


def default_prefix(title: str, day: dt.date | str | None = None) -> str:
    """A file-name prefix from the job title (and day): ``APEx-Demo-Bolzano-NDVI_2022-06-12``."""
    words = _SAFE.sub("-", title).strip("-.") or "openEO"
    return f"{words}_{day}" if day else words


@dataclass(frozen=True)
class ExportChoice:
    """The user's export: workspace id (from settings), merge path, file-name prefix."""

    workspace: str
    merge: str
    filename_prefix: str

    def __post_init__(self) -> None:
        if not _WORKSPACE_ID.match(self.workspace):
            raise BackendError(
                f"The workspace id {self.workspace!r} is not valid (letters, digits, - . _ ~ only).",
                field="openeo_workspace",
            )
        if not self.filename_prefix.strip():
            raise BackendError("The file name prefix is empty.", field="filename_prefix")

    @classmethod
    def from_settings(cls, settings: Settings, merge: str, filename_prefix: str) -> ExportChoice | None:
        """The choice with the workspace from the settings; None when no workspace is configured."""
        if not settings.openeo_workspace:
            return None
        return cls(settings.openeo_workspace, merge.strip().strip("/"), filename_prefix.strip())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportChoice:
        return cls(str(data["workspace"]), str(data.get("merge") or ""), str(data["filename_prefix"]))

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "merge": self.merge, "filename_prefix": self.filename_prefix}

    @property
    def explanation(self) -> str:
        where = f"`{self.merge}/`" if self.merge else "a folder named after the job"
        return (
            f"The backend copies the results to workspace **{self.workspace}**, under {where}, as "
            f"`{self.filename_prefix}*.tif`. The job's result links then point into the workspace "
            "(`s3://...`), not to a download link: a file of the same name already there is overwritten."
        )


def with_export(result: Any, choice: ExportChoice) -> Any:
    """``result`` (an openeo ``DataCube``, or the ``SaveResult`` of ``save_result``) ending in
    ``save_result(format="GTiff", options={"filename_prefix": ...}).export_workspace(workspace, merge)``."""
    from openeo.rest.datacube import DataCube

    cube = result
    node = result.result_node() if hasattr(result, "result_node") else None
    if node is not None and not isinstance(result, DataCube) and node.process_id == "save_result":
        data = node.arguments.get("data")  # {"from_node": <the cube's last node>}
        source = data.get("from_node") if isinstance(data, Mapping) else None
        if source is not None:  # the cube that save_result saves, with the same connection
            cube = DataCube(graph=source, connection=getattr(result, "_connection", None))
    if not isinstance(cube, DataCube):
        raise BackendError("This result cannot be exported: it is not a raster data cube.")
    saved = cube.save_result(format="GTiff", options={"filename_prefix": choice.filename_prefix})
    return saved.export_workspace(workspace=choice.workspace, merge=choice.merge or None)


def python_lines(choice: ExportChoice, var: str = "result") -> list[str]:
    """The notebook lines for the export: ``var`` (the cube) saved with the prefix, then exported."""
    options = json.dumps({"filename_prefix": choice.filename_prefix})
    merge = json.dumps(choice.merge) if choice.merge else "None"
    return [
        f'result = {var}.save_result(format="GTiff", options={options})',
        f"result = result.export_workspace(workspace={json.dumps(choice.workspace)}, merge={merge})",
    ]


def snippet_with_export(snippet: str, choice: ExportChoice | None) -> str:
    """A Python snippet (:func:`apex_core.ndvi.python_snippet`) with its ``save_result`` line replaced
    by :func:`python_lines` (unchanged when ``choice`` is None)."""
    if choice is None:
        return snippet
    lines = snippet.splitlines()
    for n, line in enumerate(lines):
        match = _SAVE_LINE.match(line)
        if match:
            lines[n : n + 1] = python_lines(choice, match.group(1))
            return "\n".join(lines) + ("\n" if snippet.endswith("\n") else "")
    raise BackendError("The Python snippet has no save_result line to export from.")


@dataclass(frozen=True)
class ExportedAsset:
    owner: str
    key: str
    href: str
    download: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"owner": self.owner, "key": self.key, "href": self.href, "download": self.download}


def _is_workspace_href(href: str) -> bool:
    return href.startswith(_WORKSPACE_SCHEMES)


def _download_link(asset: Mapping[str, Any]) -> str | None:
    for alt in (asset.get("alternate") or {}).values():
        href = str(alt.get("href") or "") if isinstance(alt, Mapping) else ""
        if href.startswith(("http://", "https://")):
            return href
    return None


@dataclass(frozen=True)
class ExportOutcome:
    """What an export did, read from the job's results: the exported assets and what that means."""

    assets: tuple[ExportedAsset, ...]

    @classmethod
    def from_results(
        cls, collection: Mapping[str, Any], items: Iterable[Mapping[str, Any]] = ()
    ) -> ExportOutcome:
        found: dict[str, ExportedAsset] = {}
        owners: list[tuple[str, Mapping[str, Any]]] = [("collection", collection)]
        owners += [(f"item {i.get('id')}", i) for i in items]
        for owner, doc in owners:
            for key, asset in (doc.get("assets") or {}).items():
                href = str(asset.get("href") or "") if isinstance(asset, Mapping) else ""
                if _is_workspace_href(href) and href not in found:
                    found[href] = ExportedAsset(owner, str(key), href, _download_link(asset))
        return cls(tuple(found.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"assets": [a.to_dict() for a in self.assets], "message": self.message}

    @property
    def exported(self) -> bool:
        return bool(self.assets)

    @property
    def message(self) -> str:
        if not self.assets:
            return "No result was exported to a workspace: the result links are the backend's download links."
        hrefs = ", ".join(a.href for a in self.assets[:5]) + (" …" if len(self.assets) > 5 else "")
        downloadable = all(a.download for a in self.assets)
        return (
            f"{len(self.assets)} file(s) exported to the workspace: {hrefs}. These workspace links replace "
            "the download links in the job's results (an earlier file with the same name there was "
            "overwritten). "
            + (
                "The backend's download links are kept as alternates, so preview and re-hosting still work."
                if downloadable
                else "Read them with the workspace's own credentials (S3 tools), or publish the links "
                "as they are."
            )
        )


def export_outcome(results: Mapping[str, Any]) -> ExportOutcome:
    """The export outcome of a job's results document (``GET /jobs/{id}/results``, with ``items`` when
    the caller fetched them: ``{"collection": {...}, "items": [...]}`` or just the collection)."""
    if "collection" in results and isinstance(results["collection"], Mapping):
        return ExportOutcome.from_results(results["collection"], results.get("items") or ())
    return ExportOutcome.from_results(results)


def saved_export_outcome(metadata_path: str | Path | None) -> ExportOutcome | None:
    """The export outcome of the results document the Job step saved (``metadata_path``); None when
    there is none or it cannot be read (the download itself reported that)."""
    if not metadata_path:
        return None
    try:
        return export_outcome(json.loads(Path(metadata_path).read_text()))
    except (OSError, ValueError):
        return None
