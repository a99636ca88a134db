"""The asset store: ``GET/HEAD /assets/{path}`` serves the asset folder read-only (Range supported by
Starlette's ``FileResponse``) under the ``_auth.read`` of the collection whose folder holds the file;
``PUT /assets/{path}`` stores a file (a role in the collection's ``_auth.write``; an asset role for a
folder without a collection yet).
"""

from __future__ import annotations

import logging
import mimetypes
import os
import uuid
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from apex_core.local.catalogue.access import CollectionRules
from apex_core.local.catalogue.guard import WriteGuard, guard_of
from apex_core.local.catalogue.settings import safe_asset_path
from apex_core.local.catalogue.validation import id_problem

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()


def _require_token(request: Request) -> None:
    guard_of(request).require_token(request)


def _asset_media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return "image/tiff; application=geotiff"
    if suffix in (".json", ".geojson"):
        return "application/geo+json" if suffix == ".geojson" else "application/json"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _asset_target(guard: WriteGuard, path: str) -> Path:
    try:
        return safe_asset_path(guard.settings.asset_dir, path)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


async def _folder_rules(guard: WriteGuard, request: Request, path: str) -> CollectionRules:
    """The rules of the collection whose folder holds ``path`` (``<collection>/<file>``)."""
    return await guard.rules.rules_of(request.app.state.readpool, path.split("/", 1)[0])


@router.get("/assets/{path:path}", include_in_schema=True)
@router.head("/assets/{path:path}", include_in_schema=False)
async def get_asset(path: str, request: Request) -> FileResponse:
    """A stored file, readable under its collection's ``_auth.read`` (Range requests included).

    A file the caller may not read is a 404, like a hidden collection: its existence does not show.
    """
    guard = guard_of(request)
    cfg = guard.settings
    target = _asset_target(guard, path)
    if cfg.filter_reads:
        reader = await guard.rules.reader(request.scope.get("headers", []))
        rules = await _folder_rules(guard, request, path)
        if not rules.can_read_files(reader, guard.admin, cfg.asset_roles):
            raise HTTPException(status_code=404, detail=f"No asset at {path}.")
    if not target.is_file():
        raise HTTPException(status_code=404, detail=f"No asset at {path}.")
    return FileResponse(target, media_type=_asset_media_type(target))


@router.put("/assets/{path:path}", dependencies=[Depends(_require_token)], status_code=201)
async def put_asset(path: str, request: Request) -> JSONResponse:
    """Store a file: in the folder of an existing collection, a role in its ``_auth.write``; in a
    folder with no collection yet (files staged before their collection), an asset role."""
    guard = guard_of(request)
    cfg, admin = guard.settings, guard.admin
    principal = guard.principal_of(request)
    target = _asset_target(guard, path)
    if (reason := id_problem(path.split("/", 1)[0], "the collection folder")) is not None:
        raise HTTPException(status_code=400, detail=f"{reason} Files go in the folder of a collection id.")
    found = await _folder_rules(guard, request, path)
    if found.auth is not None and not found.auth.can_read(principal, admin):
        raise HTTPException(status_code=404, detail=f"No collection {path.split('/', 1)[0]!r}.")
    if not found.can_write_files(principal, admin, cfg.asset_roles):
        if found.collection_exists:
            allowed = ", ".join(found.auth.write) if found.auth else admin
            what = f"Storing files of collection {path.split('/', 1)[0]!r}"
        else:
            allowed = ", ".join((admin, *cfg.asset_roles))
            what = "Storing assets"
        raise HTTPException(status_code=403, detail=f"{what} needs one of the roles: {allowed}.")
    if target.is_dir():
        raise HTTPException(status_code=409, detail=f"{path} is a folder.")
    existed = target.exists()
    size = await _store(request, target, cfg.max_asset_bytes)
    logger.info("Asset %s stored (%d bytes) by %s", path, size, principal.subject)
    href = str(request.url_for("get_asset", path=path))
    return JSONResponse({"href": href, "size": size}, status_code=200 if existed else 201)


async def _store(request: Request, target: Path, limit: int) -> int:
    """The request body into ``target`` (a part file renamed into place); 413 past ``limit`` bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    size = 0
    try:
        with tmp.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(status_code=413, detail="The asset is larger than allowed.")
                fh.write(chunk)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return size
