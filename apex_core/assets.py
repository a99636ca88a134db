"""Re-hosting a publication's result files before publishing: off the expiring openEO links.

:func:`rehost_assets` reads every GeoTIFF asset of a collection and its items (plain STAC documents; a
signed ``http(s)`` href, or a local file the app downloaded, used first), converts it to a Cloud
Optimized GeoTIFF with rio-cogeo laid out for the APEx Geospatial Explorer (EXPLORER-REC-01/02/03: 512
px tiles, overviews by factors of two down to one tile, band interleave; nodata kept), reads the
written file back with :func:`apex_core.resultfile.read_facts` and refuses to store a COG that breaks
those rules (:class:`~apex_core.errors.AssetError` naming the rule). Other data files (CSV, JSON,
NetCDF ...: role ``data``) are stored byte for byte, with their media type filled in when missing.
Files go to ``{store}/{collection_id}/{file}`` in an :class:`~apex_core.storage.AssetStore` (the
embedded catalogue's asset store, PUT with the bearer token, or an S3-compatible bucket); the result
holds copies of the documents with the hrefs rewritten and ``file:checksum`` (multihash sha2-256,
``"1220" + sha256 hex``) and ``file:size`` set. It knows nothing of publishing:
:func:`apex_core.publish.publish` calls it and puts the documents back into its plan. Storing is
idempotent (PUT replaces), so re-hosting again after a failure is safe.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from apex_core.catalogue import CatalogueClient
from apex_core.errors import ApexError, AssetError, DataError
from apex_core.progress import Progress, no_progress
from apex_core.resultfile import (
    FILE_EXTENSION,
    CogLayout,
    DownloadedFile,
    Downloads,
    is_geotiff,
    local_asset_files,
    media_type,
    multihash_sha256,
    read_facts,
)
from apex_core.storage import AssetStore, CatalogueAssetStore

__all__ = [
    "COG_BLOCKSIZE",
    "COG_MEDIA_TYPE",
    "FILE_EXTENSION",
    "DownloadedFile",
    "Downloads",
    "HostedAsset",
    "RehostResult",
    "is_geotiff",
    "layout_summary",
    "local_asset_files",
    "multihash_sha256",
    "overview_level",
    "rehost_assets",
]

logger = logging.getLogger(__name__)

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
COG_BLOCKSIZE = 512  # EXPLORER-REC-01: 256 or 512 px tiles, 512 recommended
_IN_MEMORY_BYTES = 64 << 20  # uncompressed pixels above this are tiled through a file in the work dir
_NOT_REHOSTED = ("application/vnd+zarr",)  # a directory, not a file
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
    media_type: str = COG_MEDIA_TYPE
    layout: str | None = None  # a COG's verified layout ("512 px tiles, overviews 2/4, band interleave")

    @property
    def is_cog(self) -> bool:
        return self.layout is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "key": self.key,
            "source": self.source,
            "href": self.href,
            "type": self.media_type,
            "layout": self.layout,
            "file:checksum": self.checksum,
            "file:size": self.size,
        }


@dataclass(frozen=True)
class RehostResult:
    """The collection and items with their result files' hrefs rewritten, and what was stored or skipped."""

    collection: dict[str, Any]
    items: tuple[dict[str, Any], ...] = ()
    hosted: tuple[HostedAsset, ...] = ()
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"hosted": [h.to_dict() for h in self.hosted], "skipped": list(self.skipped)}

    @property
    def cogs(self) -> tuple[HostedAsset, ...]:
        return tuple(h for h in self.hosted if h.is_cog)

    @property
    def files(self) -> tuple[HostedAsset, ...]:
        """The data files stored byte for byte (CSV, JSON ...)."""
        return tuple(h for h in self.hosted if not h.is_cog)


def _source_file(
    client: CatalogueClient, href: str, local_files: Mapping[str, Path], work: Path, name: str
) -> Path:
    """The asset's file: the local copy the app has for it (``local_files``: the Job step's downloads,
    files attached on the Metadata page; used before the href, so an expired link with a re-attached file
    still works), else the href downloaded into ``work`` (http(s) only). A local path or ``file:`` href
    is never read by itself: a results document must not make the app publish a file of its server."""
    local = local_files.get(href)
    parts = urlsplit(href)
    if local is not None:
        if not local.is_file():
            raise AssetError(f"The local file {local.name} cannot be read: it is not a file.")
        return local
    if parts.scheme not in ("http", "https"):
        where = f"{parts.scheme}://" if parts.scheme else "local path"
        raise AssetError(
            f"Cannot re-host the {where} asset link {unquote(parts.path).rsplit('/', 1)[-1] or href!r}: only "
            "http(s) links and the result files on this machine (downloaded by the Job step, or attached on "
            "the Metadata page) are re-hosted."
        )
    try:
        content = client.request("GET", href, what="download the asset", auth=False).content
    except ApexError as exc:
        raise AssetError(
            f"The asset could not be downloaded (its link may have expired): {exc.message}",
            status=exc.status,
            request_id=exc.request_id,
        ) from exc
    target = work / f"{name}.src"
    target.write_bytes(content)
    return target


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AssetError(f"The local file {path.name} cannot be read: {exc.strerror}.") from exc


def _cog_profile(dtype: str) -> dict[str, Any]:
    """GTiff creation options of a re-hosted COG (EXPLORER-REC-01/03): 512 px tiles, band interleave,
    DEFLATE with the predictor that suits the data type."""
    import numpy as np

    kind = np.dtype(dtype).kind
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "tiled": True,
        "blockxsize": COG_BLOCKSIZE,
        "blockysize": COG_BLOCKSIZE,
        "interleave": "band",
        "compress": "DEFLATE",
        "bigtiff": "IF_SAFER",
    }
    if kind == "f":
        profile["predictor"] = 3
    elif kind in "iu":
        profile["predictor"] = 2
    return profile


def overview_level(width: int, height: int, tile: int = COG_BLOCKSIZE) -> int:
    """How many overviews (factors 2, 4, 8 ...) until the smallest fits one ``tile`` (EXPLORER-REC-02)."""
    level = 0
    while math.ceil(max(width, height) / 2**level) > tile:
        level += 1
    return level


def layout_summary(layout: CogLayout) -> str:
    """A COG layout in a few words: "512 px tiles, overviews 2/4/8, band interleave"."""
    bw, bh = layout.block
    tiles = f"{bw} px tiles" if bw == bh else f"{bw}×{bh} px tiles"
    overviews = (
        "overviews " + "/".join(str(f) for f in layout.overviews) if layout.overviews else "no overviews"
    )
    return f"{tiles}, {overviews}, {layout.interleave} interleave"


def _verify_cog(path: Path, name: str) -> str:
    """Read the written COG back; raise :class:`AssetError` when it breaks EXPLORER-REC-01/02/03."""
    try:
        facts = read_facts(path, name=name)
    except DataError as exc:
        raise AssetError(f"The COG written for {name} cannot be read back: {exc.message}") from exc
    raster = facts.raster
    if raster is None:
        raise AssetError(f"The COG written for {name} cannot be read back as a GeoTIFF.")
    problems = raster.layout.problems(raster.width, raster.height, raster.count)
    broken = [f"{rule}: {problem}" for rule, problem in problems.items() if problem not in (None, "n/a")]
    if broken:
        raise AssetError(
            f"The COG written for {name} breaks the Geospatial Explorer's COG rules, so it was not "
            "published: " + "; ".join(broken) + "."
        )
    return layout_summary(raster.layout)


def _to_cog(src: Path, work: Path, name: str) -> tuple[Path, str]:
    """Write ``src`` as a COG in ``work`` (512 px tiles, overviews by factors of two down to one tile,
    band interleave, nodata kept) and check it by reading it back; returns the file and its layout."""
    import numpy as np
    import rasterio
    from rasterio.errors import RasterioError
    from rio_cogeo.cogeo import cog_translate

    dst = work / f"{name}.cog.tif"
    try:
        with rasterio.open(src) as source:
            dtype = source.dtypes[0]
            profile = _cog_profile(dtype)
            tile = min(int(profile["blockxsize"]), int(profile["blockysize"]))
            pixels = source.width * source.height * source.count * np.dtype(dtype).itemsize
            cog_translate(
                source,
                str(dst),
                profile,
                overview_level=overview_level(source.width, source.height, COG_BLOCKSIZE),
                overview_resampling="average" if np.dtype(dtype).kind == "f" else "nearest",
                # big inputs go through a temporary file next to dst (in work), not memory
                in_memory=pixels <= _IN_MEMORY_BYTES,
                config={
                    "GDAL_TIFF_OVR_BLOCKSIZE": str(tile),
                    "GDAL_TIFF_INTERNAL_MASK": True,
                    "GDAL_CACHEMAX": 128,
                },
                quiet=True,
            )
    except (RasterioError, ValueError, OSError) as exc:
        raise AssetError(f"{name} is not a readable GeoTIFF: {exc}") from exc
    return dst, _verify_cog(dst, name)


def _is_data_file(asset: Mapping[str, Any]) -> bool:
    """A non-GeoTIFF result file (CSV, JSON, NetCDF ...) to re-host byte for byte: role ``data``, or no
    roles and a known, non-image media type."""
    if is_geotiff(asset):
        return False
    roles = asset.get("roles")
    if isinstance(roles, list) and roles:
        return "data" in roles
    kind = str(asset.get("type") or "") or media_type(urlsplit(str(asset.get("href") or "")).path) or ""
    return bool(kind) and not kind.startswith("image/") and kind not in _NOT_REHOSTED


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
    COG checked against EXPLORER-REC-01/02/03, and every other data file (CSV, JSON ...) byte for byte;
    the result holds rewritten copies of the documents (the arguments are left as they are).

    ``store`` is an :class:`~apex_core.storage.AssetStore`, or the URL of the catalogue's asset store.
    ``local_files`` maps an href to a file already downloaded (used instead of the href). Assets
    already stored under the store's ``base_url`` with a ``file:checksum`` are skipped. Storing is
    logged in ``client.log`` (the publish log). Raises :class:`AssetError` when a file cannot be read
    or stored, or when a written COG breaks a layout rule (nothing is stored for it).
    """
    target: AssetStore = CatalogueAssetStore(client, store) if isinstance(store, str) else store
    base = target.base_url.rstrip("/")
    cid = str(collection["id"])
    new_collection = copy.deepcopy(dict(collection))
    new_items = tuple(copy.deepcopy(dict(i)) for i in items)
    owners: list[tuple[str, dict[str, Any]]] = [("collection", new_collection)]
    owners += [(f"item {i['id']}", i) for i in new_items]
    todo = [
        (owner, doc, key, asset, is_geotiff(asset))
        for owner, doc in owners
        for key, asset in (doc.get("assets") or {}).items()
        if isinstance(asset, dict) and (is_geotiff(asset) or _is_data_file(asset))
    ]
    report = progress or no_progress
    hosted: list[HostedAsset] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="apex-rehost-") as tmp:
        work = Path(tmp)
        for n, (owner, doc, key, asset, geotiff) in enumerate(todo):
            href = str(asset.get("href") or "")
            if href.startswith(base + "/") and asset.get("file:checksum"):
                skipped.append(f"{owner} {key}")
                report(n + 1, len(todo), f"{owner} {key}: already hosted.")
                continue
            name = _segment(f"{doc['id']}-{key}" if owner != "collection" else str(key))
            if geotiff:
                if not name.lower().endswith((".tif", ".tiff")):
                    name += ".tif"
            else:
                suffix = _UNSAFE.sub("", Path(unquote(urlsplit(href).path)).suffix.lstrip("."))[:16]
                if suffix and not name.lower().endswith(f".{suffix.lower()}"):
                    name += f".{suffix}"  # the stored file keeps its kind (timeseries.csv)
            source_file = _source_file(client, href, local_files or {}, work, name)
            layout: str | None = None
            if geotiff:
                stored, layout = _to_cog(source_file, work, name)
                kind = COG_MEDIA_TYPE
            else:
                stored = source_file
                kind = str(asset.get("type") or "") or media_type(name) or "application/octet-stream"
            data = _read_bytes(stored)
            try:
                new_href = target.put(f"{_segment(cid)}/{name}", data, kind.split(";")[0].strip(), client.log)
            except AssetError:
                raise
            except ApexError as exc:
                raise AssetError(
                    f"Storing {name} failed: {exc.message}", status=exc.status, request_id=exc.request_id
                ) from exc
            for path in {stored, source_file}:
                if path.parent == work:
                    path.unlink(missing_ok=True)  # large files: keep the work dir small
            checksum = multihash_sha256(data)
            asset.update({"href": new_href, "type": kind, "file:checksum": checksum, "file:size": len(data)})
            if not geotiff and not asset.get("roles"):
                asset["roles"] = ["data"]
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
                    len(data),
                    media_type=kind,
                    layout=layout,
                )
            )
            done = (
                f"stored as a COG ({layout}; {len(data)} bytes)" if geotiff else f"stored ({len(data)} bytes)"
            )
            report(n + 1, len(todo), f"{owner} {key}: {done}.")
    logger.info("re-hosted %d assets of %s", len(hosted), cid)
    return RehostResult(new_collection, new_items, tuple(hosted), tuple(skipped))
