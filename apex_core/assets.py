"""Re-hosting a publication's GeoTIFFs before publishing: off the expiring openEO links, as COGs.

:func:`rehost_assets` reads every GeoTIFF asset of a collection and its items (plain STAC documents; a
signed ``http(s)`` href, or a local file the app downloaded), converts it to a Cloud Optimized GeoTIFF
with rio-cogeo, stores it at ``{store}/{collection_id}/{file}`` in an :class:`~apex_core.storage.AssetStore`
(the embedded catalogue's asset store, PUT with the bearer token, or an S3-compatible bucket), and
returns copies of the documents with the hrefs rewritten and ``file:checksum`` (multihash sha2-256,
``"1220" + sha256 hex``) and ``file:size`` set. It knows nothing of publishing:
:func:`apex_core.publish.publish` calls it and puts the documents back into its plan. Storing is
idempotent (PUT replaces), so re-hosting again after a failure is safe.
"""

from __future__ import annotations

import copy
import logging
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from apex_core.catalogue import CatalogueClient
from apex_core.errors import ApexError, AssetError
from apex_core.progress import Progress, no_progress
from apex_core.resultfile import (
    FILE_EXTENSION,
    DownloadedFile,
    Downloads,
    is_geotiff,
    local_asset_files,
    multihash_sha256,
)
from apex_core.storage import AssetStore, CatalogueAssetStore

__all__ = [
    "COG_MEDIA_TYPE",
    "FILE_EXTENSION",
    "DownloadedFile",
    "Downloads",
    "HostedAsset",
    "RehostResult",
    "is_geotiff",
    "local_asset_files",
    "multihash_sha256",
    "rehost_assets",
]

logger = logging.getLogger(__name__)

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_UNSAFE = re.compile(r"[^A-Za-z0-9._~@+=,-]+")


def _segment(text: str) -> str:
    cleaned = _UNSAFE.sub("-", text).strip("-.") or "asset"
    return cleaned[:120]


@dataclass(frozen=True)
class HostedAsset:
    owner: str
    key: str
    source: str
    href: str
    checksum: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "key": self.key,
            "source": self.source,
            "href": self.href,
            "file:checksum": self.checksum,
            "file:size": self.size,
        }


@dataclass(frozen=True)
class RehostResult:
    """The collection and items with their GeoTIFF hrefs rewritten, and what was stored or skipped."""

    collection: dict[str, Any]
    items: tuple[dict[str, Any], ...] = ()
    hosted: tuple[HostedAsset, ...] = ()
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"hosted": [h.to_dict() for h in self.hosted], "skipped": list(self.skipped)}


def _read_source(client: CatalogueClient, href: str, local_files: Mapping[str, Path]) -> bytes:
    """The asset's bytes: a local copy when the app has one, else the href (http(s) or file)."""
    local = local_files.get(href)
    parts = urlsplit(href)
    if local is None and parts.scheme in ("", "file"):
        local = Path(unquote(parts.path))
    if local is not None:
        try:
            return local.read_bytes()
        except OSError as exc:
            raise AssetError(f"The local file {local.name} cannot be read: {exc.strerror}.") from exc
    if parts.scheme not in ("http", "https"):
        raise AssetError(f"Cannot download {parts.scheme}:// asset links here; only http(s) and local files.")
    try:
        return client.request("GET", href, what="download the asset", auth=False).content
    except ApexError as exc:
        raise AssetError(
            f"The asset could not be downloaded (its link may have expired): {exc.message}",
            status=exc.status,
            request_id=exc.request_id,
        ) from exc


def _to_cog(data: bytes, work: Path, name: str) -> bytes:
    from rasterio.errors import RasterioError
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    src = work / f"{name}.src.tif"
    dst = work / f"{name}.cog.tif"
    src.write_bytes(data)
    try:
        profile = cog_profiles.get("deflate")  # type: ignore[no-untyped-call]
        cog_translate(str(src), str(dst), profile, in_memory=True, quiet=True)
    except (RasterioError, ValueError, OSError) as exc:
        raise AssetError(f"{name} is not a readable GeoTIFF: {exc}") from exc
    return dst.read_bytes()


def rehost_assets(
    client: CatalogueClient,
    store: str | AssetStore,
    collection: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    *,
    local_files: Mapping[str, Path] | None = None,
    progress: Progress | None = None,
) -> RehostResult:
    """Copy every GeoTIFF asset of ``collection`` and ``items`` to ``{store}/{collection_id}/`` as a
    COG; the result holds rewritten copies of the documents (the arguments are left as they are).

    ``store`` is an :class:`~apex_core.storage.AssetStore`, or the URL of the catalogue's asset store.
    ``local_files`` maps an href to a file already downloaded (used instead of the href). Assets
    already stored under the store's ``base_url`` with a ``file:checksum`` are skipped. Storing is
    logged in ``client.log`` (the publish log).
    """
    target: AssetStore = CatalogueAssetStore(client, store) if isinstance(store, str) else store
    base = target.base_url.rstrip("/")
    cid = str(collection["id"])
    new_collection = copy.deepcopy(dict(collection))
    new_items = tuple(copy.deepcopy(dict(i)) for i in items)
    owners: list[tuple[str, dict[str, Any]]] = [("collection", new_collection)]
    owners += [(f"item {i['id']}", i) for i in new_items]
    todo = [
        (owner, doc, key, asset)
        for owner, doc in owners
        for key, asset in (doc.get("assets") or {}).items()
        if isinstance(asset, dict) and is_geotiff(asset)
    ]
    report = progress or no_progress
    hosted: list[HostedAsset] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="apex-rehost-") as tmp:
        work = Path(tmp)
        for n, (owner, doc, key, asset) in enumerate(todo):
            href = str(asset.get("href") or "")
            if href.startswith(base + "/") and asset.get("file:checksum"):
                skipped.append(f"{owner} {key}")
                report(n + 1, len(todo), f"{owner} {key}: already hosted.")
                continue
            name = _segment(f"{doc['id']}-{key}" if owner != "collection" else str(key))
            if not name.lower().endswith((".tif", ".tiff")):
                name += ".tif"
            cog = _to_cog(_read_source(client, href, local_files or {}), work, name)
            try:
                new_href = target.put(f"{_segment(cid)}/{name}", cog, "image/tiff", client.log)
            except AssetError:
                raise
            except ApexError as exc:
                raise AssetError(
                    f"Storing {name} failed: {exc.message}", status=exc.status, request_id=exc.request_id
                ) from exc
            checksum = multihash_sha256(cog)
            asset.update(
                {"href": new_href, "type": COG_MEDIA_TYPE, "file:checksum": checksum, "file:size": len(cog)}
            )
            extensions = doc.setdefault("stac_extensions", [])
            if FILE_EXTENSION not in extensions:
                extensions.append(FILE_EXTENSION)
            source = urlsplit(href)
            hosted.append(
                HostedAsset(
                    owner,
                    str(key),
                    f"{source.scheme}://{source.netloc}{source.path}",
                    new_href,
                    checksum,
                    len(cog),
                )
            )
            report(n + 1, len(todo), f"{owner} {key}: stored as a COG ({len(cog)} bytes).")
    logger.info("re-hosted %d assets of %s", len(hosted), cid)
    return RehostResult(new_collection, new_items, tuple(hosted), tuple(skipped))
