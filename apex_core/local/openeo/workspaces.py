"""Workspaces of the embedded backend, for the ``export_workspace`` process (openEO Workspaces API).

As on production back-ends, workspaces are configured by the operator: a JSON file (``--workspaces-file``,
written 0600 by :func:`~apex_core.local.openeo.service.start_openeo_backend`) maps a workspace id to

* ``{"type": "s3", "bucket": ..., "prefix": ..., "endpoint_url": ..., "region": ..., "access_key_id": ...,
  "secret_access_key": ...}`` - an S3-compatible bucket (boto3); exported files get ``s3://`` hrefs;
* ``{"type": "disk", "root": "/path"}`` - a folder, openeo-driver's own
  :class:`~openeo_driver.workspace.DiskWorkspace`; exported files get ``file:`` hrefs.

A job whose graph ends in ``save_result(...).export_workspace(workspace=id, merge=path)`` writes its
results, then copies each file to ``<workspace>/<merge>/<file name>`` (a file of the same name there is
overwritten), and its results list the exported href of each asset (``public_href``, so the job results'
asset ``href`` becomes the ``s3://`` URI, as on CDSE), with the backend's download link kept as an
``alternate``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any

from openeo_driver.workspace import DiskWorkspace, Workspace

from apex_core.local.openeo.model import ProcessGraphError, ResultFile

__all__ = [
    "S3Workspace",
    "WorkspaceSpec",
    "build_workspace",
    "export_results",
    "load_workspaces",
    "merge_problem",
    "write_workspaces_file",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkspaceSpec:
    """One configured workspace (credentials kept out of ``repr`` and of ``to_dict`` by default)."""

    id: str
    type: str  # "s3" | "disk"
    root: Path | None = None
    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.type == "s3" and not self.bucket:
            raise ValueError(f"workspace {self.id}: an s3 workspace needs a bucket")
        if self.type == "disk" and self.root is None:
            raise ValueError(f"workspace {self.id}: a disk workspace needs a root folder")
        if self.type not in ("s3", "disk"):
            raise ValueError(f"workspace {self.id}: type must be s3 or disk, not {self.type!r}")

    @classmethod
    def s3(cls, id: str, bucket: str, **kw: Any) -> WorkspaceSpec:
        return cls(id=id, type="s3", bucket=bucket, **kw)

    @classmethod
    def disk(cls, id: str, root: Path) -> WorkspaceSpec:
        return cls(id=id, type="disk", root=Path(root))

    @classmethod
    def from_dict(cls, id: str, data: Mapping[str, Any]) -> WorkspaceSpec:
        def opt(name: str) -> str | None:
            value = data.get(name)
            return str(value) if value else None

        return cls(
            id=id,
            type=str(data.get("type") or "s3"),
            root=Path(str(data["root"])) if data.get("root") else None,
            bucket=opt("bucket"),
            prefix=str(data.get("prefix") or "").strip("/"),
            endpoint_url=opt("endpoint_url"),
            region=opt("region"),
            access_key_id=opt("access_key_id"),
            secret_access_key=opt("secret_access_key"),
        )

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "disk":
            out["root"] = str(self.root)
        else:
            out.update(
                bucket=self.bucket, prefix=self.prefix, endpoint_url=self.endpoint_url, region=self.region
            )
            if include_secrets:
                out.update(access_key_id=self.access_key_id, secret_access_key=self.secret_access_key)
        return out

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/") if self.type == "s3" else f"file:{self.root}"


class S3Workspace(Workspace):  # type: ignore[misc]
    """An S3-compatible bucket as an openeo-driver :class:`~openeo_driver.workspace.Workspace`."""

    def __init__(self, spec: WorkspaceSpec) -> None:
        self.spec = spec

    def _client(self) -> Any:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        session = boto3.session.Session(
            aws_access_key_id=self.spec.access_key_id,
            aws_secret_access_key=self.spec.secret_access_key,
            region_name=self.spec.region or "us-east-1",
        )
        config = Config(
            connect_timeout=30,
            read_timeout=120,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path" if self.spec.endpoint_url else "auto"},
        )
        return session.client("s3", endpoint_url=self.spec.endpoint_url, config=config)

    def import_file(
        self, common_path: str | Path, file: Path, merge: str, remove_original: bool = False
    ) -> str:
        relative = Path(file).relative_to(common_path)
        parts = [self.spec.prefix, os.path.normpath(merge).strip("/."), relative.as_posix()]
        key = "/".join(p for p in parts if p)
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            self._client().upload_file(str(file), self.spec.bucket, key)
        except (BotoCoreError, ClientError) as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            raise ProcessGraphError(
                f"Exporting {relative} to workspace {self.spec.id!r} failed: the S3 service said {code}."
            ) from exc
        if remove_original:
            Path(file).unlink()
        return f"s3://{self.spec.bucket}/{key}"

    def import_object(
        self, common_path: str | Path, s3_uri: str, merge: str, remove_original: bool = False
    ) -> str:
        raise NotImplementedError("results of the embedded backend are files, not objects")

    def merge(self, stac_resource: Any, target: PurePath, remove_original: bool = False) -> Any:
        raise NotImplementedError("merging STAC resources into an S3 workspace is not supported")


def build_workspace(spec: WorkspaceSpec) -> Workspace:
    if spec.type == "disk":
        assert spec.root is not None
        spec.root.mkdir(parents=True, exist_ok=True)
        return DiskWorkspace(spec.root)
    return S3Workspace(spec)


def load_workspaces(path: Path | None) -> dict[str, WorkspaceSpec]:
    """The workspaces configured in ``path`` (none when ``path`` is None)."""
    if path is None:
        return {}
    raw = json.loads(Path(path).read_text())
    return {str(k): WorkspaceSpec.from_dict(str(k), v) for k, v in (raw.get("workspaces") or {}).items()}


def write_workspaces_file(path: Path, workspaces: Iterable[WorkspaceSpec]) -> Path:
    """Write the workspaces (credentials included) to ``path``, readable by its owner only."""
    body = {"workspaces": {w.id: w.to_dict(include_secrets=True) for w in workspaces}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(body))
    return path


def merge_problem(merge: object) -> str | None:
    """Why ``merge`` (``export_workspace``'s path inside a workspace) may not be used; None if it may.

    A relative path of plain segments: no ``..`` (openeo-driver's disk workspace compares paths as text,
    so ``../..`` left the workspace and could overwrite any user's files), no backslash or NUL.
    """
    if not isinstance(merge, str) or not merge.strip("/"):
        return "give a path inside the workspace, e.g. 'ndvi/2023-06'."
    if "\\" in merge or "\x00" in merge or any(ord(c) < 32 for c in merge):
        return f"{merge!r} holds a backslash or a control character; use '/' between plain names."
    if any(part in ("..", ".") for part in merge.split("/")):
        return f"{merge!r} may not contain '.' or '..' segments: the files stay inside the workspace."
    return None


def _inside(spec: WorkspaceSpec, target: str) -> bool:
    """A disk workspace's target folder resolves inside its root (links included)."""
    if spec.root is None:
        return True
    root = spec.root.resolve()
    return (root / target.lstrip("/")).resolve().is_relative_to(root)


def export_results(
    workspaces: Mapping[str, WorkspaceSpec],
    exports: Iterable[tuple[str, str | None]],
    out_dir: Path,
    files: list[ResultFile],
    *,
    default_merge: str,
) -> list[ResultFile]:
    """Copy every result file to every requested ``(workspace id, merge)``; the files with their hrefs."""
    out = list(files)
    for workspace_id, merge in exports:
        spec = workspaces.get(workspace_id)
        if spec is None:
            known = ", ".join(sorted(workspaces)) or "none"
            raise ProcessGraphError(
                f"Workspace {workspace_id!r} is not configured on this backend (configured: {known})."
            )
        target = merge if merge else default_merge
        if (problem := merge_problem(target)) is not None or not _inside(spec, target):
            raise ProcessGraphError(
                f"export_workspace: merge {problem or f'{target!r} leaves the workspace.'}"
            )
        workspace = build_workspace(spec)
        for n, f in enumerate(out):
            href = str(workspace.import_file(out_dir, out_dir / f.filename, target, False))
            out[n] = replace(f, exported=(*f.exported, href))
            logger.info("exported %s to workspace %s: %s", f.filename, workspace_id, href)
    return out
