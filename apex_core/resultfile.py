"""What a result file on this machine says about itself: size, checksum, media type and, for a
GeoTIFF, its raster facts and layout (read once with rasterio and rio-cogeo).

The Metadata step reads these facts once when a file comes in (the Job step's download, or a file the
person re-attaches to an asset) and fills ``file:size``/``file:checksum``, ``bands``, the projection
and raster fields and the classification classes from them; the APEx-readiness report checks the
COG layout rules (EXPLORER-REC-01/02/03) on them; re-hosting checks the COG it wrote by reading it
back with :func:`read_facts`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np

from apex_core.errors import DataError
from apex_core.screenread import read_screen

__all__ = [
    "EXPLORER_BLOCK_SIZES",
    "FILE_EXTENSION",
    "MEDIA_TYPES",
    "CogLayout",
    "DownloadedFile",
    "Downloads",
    "FileFacts",
    "RasterFacts",
    "is_geotiff",
    "local_asset_files",
    "media_type",
    "multihash_sha256",
    "read_facts",
]

MEDIA_TYPES: Mapping[str, str] = {
    ".tif": "image/tiff; application=geotiff",
    ".tiff": "image/tiff; application=geotiff",
    ".csv": "text/csv",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".nc": "application/netcdf",
    ".zarr": "application/vnd+zarr",
    ".parquet": "application/vnd.apache.parquet",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
EXPLORER_BLOCK_SIZES = (256, 512)
FILE_EXTENSION = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
_CHUNK = 1 << 20


def multihash_sha256(data: bytes) -> str:
    """``file:checksum`` of ``data``: multihash of sha2-256 (code 0x12, length 0x20), hex."""
    return "1220" + hashlib.sha256(data).hexdigest()


def is_geotiff(asset: Mapping[str, Any]) -> bool:
    """Whether a STAC asset is a GeoTIFF (by its media type or its href's suffix)."""
    kind = str(asset.get("type") or "").lower()
    path = urlsplit(str(asset.get("href") or "")).path.lower()
    return "image/tiff" in kind or path.endswith((".tif", ".tiff"))


class DownloadedFile(Protocol):
    """A file the Job step downloaded (:class:`apex_core.flow.ResultAsset`): its asset key and path."""

    @property
    def key(self) -> str: ...

    @property
    def path(self) -> Path: ...


class Downloads(Protocol):
    """What the Job step downloaded (:class:`apex_core.flow.JobOutcome`; assets sits below the flow)."""

    @property
    def assets(self) -> Sequence[DownloadedFile]: ...


def local_asset_files(documents: Iterable[Mapping[str, Any]], job: Downloads | None) -> dict[str, Path]:
    """href -> the file the Job step downloaded for that asset (``job.assets``, matched on the asset
    key), for the assets of ``documents`` (the collection and its items) whose file exists."""
    if job is None:
        return {}
    paths = {a.key: a.path for a in job.assets}
    out: dict[str, Path] = {}
    for doc in documents:
        for key, asset in (doc.get("assets") or {}).items():
            path = paths.get(str(key))
            if isinstance(asset, Mapping) and asset.get("href") and path is not None and path.is_file():
                out[str(asset["href"])] = path
    return out


def media_type(name: str) -> str | None:
    """The media type of a file name by its suffix (None when unknown)."""
    return MEDIA_TYPES.get(Path(name.split("?", 1)[0]).suffix.lower())


@dataclass(frozen=True)
class CogLayout:
    """How a GeoTIFF is laid out, for the Geospatial Explorer's COG rules."""

    block: tuple[int, int]  # (width, height) of band 1's blocks; the strip size when not tiled
    tiled: bool
    overviews: tuple[int, ...]  # decimation factors of band 1's overviews
    interleave: str  # "band" or "pixel"
    cog_valid: bool
    cog_errors: tuple[str, ...] = ()

    def problems(self, width: int, height: int, count: int) -> dict[str, str | None]:
        """EXPLORER-REC-01/02/03 -> None (holds), a sentence (broken) or "n/a" (does not apply)."""
        out: dict[str, str | None] = {}
        bw, bh = self.block
        if not self.tiled or bw != bh or bw not in EXPLORER_BLOCK_SIZES:
            out["EXPLORER-REC-01"] = (
                f"internal tiles are {bw}×{bh}{'' if self.tiled else ' strips'}; the Explorer wants 256 or "
                "512 px square tiles (512 recommended)"
            )
        else:
            out["EXPLORER-REC-01"] = None
        side = max(width, height)
        needed = side > bw
        factors = list(self.overviews)
        halving = all(f == 2 ** (i + 1) for i, f in enumerate(factors))
        reaches_one_tile = not needed or (bool(factors) and math.ceil(side / factors[-1]) <= bw)
        if not self.cog_valid:
            out["EXPLORER-REC-02"] = "not a valid COG: " + "; ".join(self.cog_errors or ("unknown layout",))
        elif needed and not factors:
            out["EXPLORER-REC-02"] = f"no overviews ({width}×{height} px is larger than one {bw} px tile)"
        elif not halving or not reaches_one_tile:
            out["EXPLORER-REC-02"] = (
                f"overview factors {factors} do not halve down to one tile "
                f"({width}×{height} px, {bw} px tiles)"
            )
        else:
            out["EXPLORER-REC-02"] = None
        if count < 2:
            out["EXPLORER-REC-03"] = "n/a"
        else:
            out["EXPLORER-REC-03"] = (
                None if self.interleave == "band" else f"{self.interleave} interleave; band interleave wanted"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "block": list(self.block),
            "tiled": self.tiled,
            "overviews": list(self.overviews),
            "interleave": self.interleave,
            "cog_valid": self.cog_valid,
            "cog_errors": list(self.cog_errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CogLayout:
        bw, bh = data["block"]
        return cls(
            block=(int(bw), int(bh)),
            tiled=bool(data["tiled"]),
            overviews=tuple(int(f) for f in data.get("overviews") or ()),
            interleave=str(data.get("interleave") or "pixel"),
            cog_valid=bool(data.get("cog_valid")),
            cog_errors=tuple(str(e) for e in data.get("cog_errors") or ()),
        )


@dataclass(frozen=True)
class RasterFacts:
    """A GeoTIFF's facts, as the STAC projection, raster and bands fields need them."""

    width: int
    height: int
    data_types: tuple[str, ...]  # per band, STAC names (uint8, float32 ...)
    nodata: float | None
    crs: str | None  # "EPSG:4326", else the WKT2 string, None when not georeferenced
    bbox: tuple[float, float, float, float]  # in the file's CRS (proj:bbox)
    resolution: tuple[float, float]  # (x, y) pixel size in CRS units
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    descriptions: tuple[str | None, ...]
    layout: CogLayout
    classes: tuple[dict[str, Any], ...] | None = None  # categorical band 1: RasterClass dicts
    statistics: dict[str, float] | None = None  # band 1's STAC statistics (None: no valid pixel)

    @property
    def count(self) -> int:
        return len(self.data_types)

    @property
    def nodata_value(self) -> float | str | None:
        """The nodata value as STAC writes it (``"nan"``, ``"inf"`` for non-finite values)."""
        if self.nodata is None or math.isfinite(self.nodata):
            return self.nodata
        return "nan" if math.isnan(self.nodata) else ("inf" if self.nodata > 0 else "-inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "data_types": list(self.data_types),
            "nodata": self.nodata_value,
            "crs": self.crs,
            "bbox": list(self.bbox),
            "resolution": list(self.resolution),
            "scales": list(self.scales),
            "offsets": list(self.offsets),
            "descriptions": list(self.descriptions),
            "layout": self.layout.to_dict(),
            "classes": None if self.classes is None else [dict(c) for c in self.classes],
            "statistics": None if self.statistics is None else dict(self.statistics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RasterFacts:
        nodata = data.get("nodata")
        w, s, e, n = (float(v) for v in data["bbox"])
        rx, ry = (float(v) for v in data["resolution"])
        classes = data.get("classes")
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            data_types=tuple(str(t) for t in data["data_types"]),
            nodata=None if nodata is None else float(nodata),
            crs=str(data["crs"]) if data.get("crs") else None,
            bbox=(w, s, e, n),
            resolution=(rx, ry),
            scales=tuple(float(v) for v in data.get("scales") or ()),
            offsets=tuple(float(v) for v in data.get("offsets") or ()),
            descriptions=tuple(None if d is None else str(d) for d in data.get("descriptions") or ()),
            layout=CogLayout.from_dict(data["layout"]),
            classes=None if classes is None else tuple(dict(c) for c in classes),
            statistics=_float_dict(data.get("statistics")),
        )


def _float_dict(value: Any) -> dict[str, float] | None:
    return None if not isinstance(value, Mapping) else {str(k): float(v) for k, v in value.items()}


def _band_statistics(path: Path) -> dict[str, float] | None:
    """Band 1's statistics as STAC writes them: exact for a file the Preview reads whole, else from its
    screen-resolution read (the Preview's own read, so both agree)."""
    data = read_screen(path).data
    values = data.compressed().astype("float64")
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    return {
        "minimum": float(values.min()),
        "maximum": float(values.max()),
        "mean": float(values.mean()),
        "stddev": float(values.std()),
        "valid_percent": 100.0 * values.size / data.size,
    }


@dataclass(frozen=True)
class FileFacts:
    """A local result file: its name, size, ``file:checksum`` and media type; raster facts for a GeoTIFF."""

    path: Path
    size: int
    checksum: str
    media_type: str | None
    raster: RasterFacts | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "checksum": self.checksum,
            "media_type": self.media_type,
            "raster": None if self.raster is None else self.raster.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileFacts:
        raster = data.get("raster")
        return cls(
            path=Path(str(data["path"])),
            size=int(data["size"]),
            checksum=str(data["checksum"]),
            media_type=str(data["media_type"]) if data.get("media_type") else None,
            raster=None if raster is None else RasterFacts.from_dict(raster),
        )


def _checksum(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, "1220" + digest.hexdigest()


def _raster(path: Path, legend: Mapping[int, tuple[str, str]] | None) -> RasterFacts:
    import rasterio
    from rasterio.errors import RasterioError
    from rio_cogeo.cogeo import cog_validate

    from apex_core.categorical import classes_of

    try:
        with rasterio.open(path) as src:
            crs = None
            if src.crs is not None:
                epsg = src.crs.to_epsg()
                crs = f"EPSG:{epsg}" if epsg else src.crs.to_wkt(version="WKT2_2019")
            block_h, block_w = src.block_shapes[0]
            interleave = src.interleaving.value.lower() if src.interleaving is not None else "pixel"
            layout_parts = (
                (int(block_w), int(block_h)),
                # rasterio calls a file tiled only when a tile is narrower than the image: a 512 px
                # wide image in one 512 px tile is tiled too (strips are as wide as the image, rarely square)
                bool(src.profile.get("tiled", False)) or (block_w == block_h and block_w % 16 == 0),
                tuple(int(f) for f in src.overviews(1)),
                interleave,
            )
            facts: dict[str, Any] = {
                "width": src.width,
                "height": src.height,
                "data_types": tuple(str(t) for t in src.dtypes),
                "nodata": None if src.nodata is None else float(src.nodata),
                "crs": crs,
                "bbox": tuple(float(v) for v in src.bounds),
                "resolution": (float(abs(src.res[0])), float(abs(src.res[1]))),
                "scales": tuple(float(v) for v in src.scales),
                "offsets": tuple(float(v) for v in src.offsets),
                "descriptions": tuple(src.descriptions),
            }
        valid, errors, _warnings = cog_validate(str(path), quiet=True)
    except (RasterioError, OSError, ValueError) as exc:
        raise DataError(f"{path.name} is not a readable GeoTIFF: {exc}", field="file") from exc
    if layout_parts[1]:  # rio-cogeo asks rasterio's "tiled" too: a 512 px wide tiled image is not strips
        errors = [e for e in errors if "but is not tiled" not in str(e)]
        valid = valid or not errors
    layout = CogLayout(*layout_parts, cog_valid=bool(valid), cog_errors=tuple(str(e) for e in errors))
    classes = None
    if facts["data_types"][0].startswith(("uint", "int")):
        found = classes_of(path, legend=legend)
        classes = None if found is None else tuple(c.to_dict() for c in found)
    try:
        statistics = _band_statistics(path)
    except DataError:
        statistics = None  # a file the preview cannot map (no CRS): no statistics, the rest stands
    return RasterFacts(**facts, layout=layout, classes=classes, statistics=statistics)


def read_facts(
    path: Path | str, *, name: str | None = None, legend: Mapping[int, tuple[str, str]] | None = None
) -> FileFacts:
    """Size, checksum and media type of ``path`` (``name``: the file's real name when ``path`` is a
    stored copy), and for a GeoTIFF its :class:`RasterFacts` (categorical band 1: its classes, named
    from ``legend`` where it knows them). Raises :class:`DataError` for a missing or unreadable file."""
    path = Path(path)
    try:
        size, checksum = _checksum(path)
    except OSError as exc:
        raise DataError(f"The file {path.name} cannot be read: {exc.strerror}.", field="file") from exc
    kind = media_type(name or path.name)
    raster = _raster(path, legend) if kind is not None and kind.startswith("image/tiff") else None
    return FileFacts(path=path, size=size, checksum=checksum, media_type=kind, raster=raster)
