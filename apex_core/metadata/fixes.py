"""The one-click fixes of the APEx-readiness report, applied to the built collection and items.

A draft names the fixes a person chose (:attr:`CollectionDraft.fixes`); :func:`apply_fixes` applies
them, in a fixed order, to the documents the build made, from what the documents already say and the
facts of the result files on this machine (:class:`~apex_core.resultfile.FileFacts`, keyed by the
asset's href). Fixes that change what a person edits (the render hints, the temporal extent) are draft
changes instead: :func:`~apex_core.metadata.apex.fixed_draft`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, MutableMapping
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from apex_core.categorical import RasterClass
from apex_core.resultfile import FILE_EXTENSION, FileFacts, is_geotiff, media_type

__all__ = [
    "CLASSIFICATION",
    "EO_V2",
    "PROJECTION_V2",
    "RASTER_V2",
    "Fix",
    "apply_fixes",
    "asset_facts",
    "date_in",
    "finite_statistics",
]

RASTER_V2 = "https://stac-extensions.github.io/raster/v2.0.0/schema.json"
PROJECTION_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EO_V2 = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
CLASSIFICATION = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"


class Fix(StrEnum):
    """A fix the app can make in one click (the order is the order they are applied in)."""

    ITEMS = "items"
    ASSET_KEYS = "asset_keys"
    ROLES_TITLES = "roles_titles"
    DATETIMES = "datetimes"
    BANDS = "bands"
    PROJECTION = "projection"
    RASTER = "raster"
    CLASSES = "classes"
    FILE_INFO = "file_info"
    COG = "cog"  # re-host as a COG on publishing (no document change here)
    RENDER = "render"  # a draft change
    TEMPORAL = "temporal"  # a draft change

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Fix.ITEMS: "Make one item per result file",
    Fix.ASSET_KEYS: "Same asset keys in every item",
    Fix.ROLES_TITLES: "Add the data role, media types and asset titles",
    Fix.DATETIMES: "Add start_datetime / end_datetime",
    Fix.BANDS: "Write `bands` from eo:bands + raster:bands",
    Fix.PROJECTION: "Projection fields from the files",
    Fix.RASTER: "Resolution, scale, offset and nodata from the files",
    Fix.CLASSES: "Classification classes from the files",
    Fix.FILE_INFO: "file:size and file:checksum from the files",
    Fix.COG: "Re-host as COGs (512 px tiles, overviews) when publishing",
    Fix.RENDER: "Add render hints",
    Fix.TEMPORAL: "Use the proposed temporal extent",
}

_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
# A date in a file name as openEO writes it (``openEO_2021-01-01Z``, ``..._20210101T000000Z``).
_DATE_STAMP = re.compile(r"\d{4}-?\d{2}-?\d{2}(?:T\d{2}:?\d{2}(?::?\d{2})?)?Z?")
_DATA_TYPES = ("image/tiff", "text/csv", "application/json", "application/netcdf", "application/x-netcdf",
               "application/vnd+zarr", "application/vnd.apache.parquet", "application/geo+json")  # fmt: skip
_GENERIC_STEMS = {"", "openeo", "result", "results", "out", "output", "data"}
# Band fields of STAC 1.1 common metadata (no extension prefix).
_COMMON_BAND_FIELDS = frozenset({"description", "unit", "statistics", "data_type", "nodata"})


def date_in(text: str) -> dt.date | None:
    """The first plausible date (``2021-01-01`` or ``20210101``) in a file name or asset key."""
    for match in _DATE.finditer(text):
        try:
            day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
        if 1950 <= day.year <= 2100:
            return day
    return None


def finite_statistics(stats: Mapping[str, Any]) -> dict[str, Any]:
    """``statistics`` without non-finite numbers (NaN is not JSON; openEO writes it for one value)."""
    return {k: v for k, v in stats.items() if not (isinstance(v, float) and not math.isfinite(v))}


def asset_facts(asset: Mapping[str, Any], files: Mapping[str, FileFacts]) -> FileFacts | None:
    return files.get(str(asset.get("href") or ""))


def _declare(doc: MutableMapping[str, Any], url: str, *, replacing: str | None = None) -> None:
    exts = [e for e in doc.get("stac_extensions") or [] if not (replacing and f"/{replacing}/" in str(e))]
    if url not in exts:
        exts.append(url)
    doc["stac_extensions"] = exts


def _stem(key: str) -> str:
    name = PurePosixPath(unquote(urlsplit(key).path) or key).name
    return name.split(".", 1)[0]


# ---------------------------------------------------------------------------- items


def _item_from_assets(
    cid: str, members: list[tuple[str, dict[str, Any]]], collection: Mapping[str, Any], used: set[str]
) -> dict[str, Any] | None:
    """One item holding ``members`` (the result files of one date, or one name in several formats)."""
    key = members[0][0]
    day = date_in(key)
    interval = ((collection.get("extent") or {}).get("temporal") or {}).get("interval") or [[None, None]]
    start, end = interval[0]
    props: dict[str, Any]
    if day is not None:
        stamp = f"{day.isoformat()}T00:00:00Z"
        props = {"datetime": stamp, "start_datetime": stamp, "end_datetime": stamp}
        base = f"{cid}_{day:%Y%m%d}"
    elif start and end:
        props = {"datetime": start, "start_datetime": start, "end_datetime": end}
        base = f"{cid}_{re.sub(r'[^A-Za-z0-9_-]+', '_', _stem(key)).strip('_') or 'item'}"
    else:
        return None
    ident, n = base, 2
    while ident in used:
        ident, n = f"{base}_{n}", n + 1
    used.add(ident)
    bbox = list(
        ((collection.get("extent") or {}).get("spatial") or {}).get("bbox", [[-180, -90, 180, 90]])[0]
    )
    for _key, member in members:
        code, pbox = member.get("proj:code"), member.get("proj:bbox")
        if code == "EPSG:4326" and isinstance(pbox, list) and len(pbox) == 4:
            bbox = [float(v) for v in pbox]
            break
    w, s, e, n_ = bbox[:4]
    return {
        "type": "Feature",
        "stac_version": collection.get("stac_version", "1.1.0"),
        "stac_extensions": list(collection.get("stac_extensions") or []),
        "id": ident,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n_], [w, n_], [w, s]]]},
        "bbox": [w, s, e, n_],
        "properties": props,
        "links": [],
        "assets": dict(members),
        "collection": cid,
    }


def _items(collection: dict[str, Any], items: list[dict[str, Any]], notes: list[str]) -> None:
    """One item per date in the file names (else per file name in several formats: ``timeseries.csv``
    and ``timeseries.json`` are one result), when the results list their files only as collection assets."""
    if items:
        return
    assets = collection.get("assets") or {}
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, asset in assets.items():
        if isinstance(asset, dict) and _is_data(asset):
            day = date_in(str(key))
            groups.setdefault(day.isoformat() if day else _stem(str(key)), []).append((str(key), asset))
    used: set[str] = set()
    moved: list[str] = []
    for members in groups.values():
        item = _item_from_assets(str(collection["id"]), members, collection, used)
        if item is None:
            names = ", ".join(k for k, _a in members)
            notes.append(f"{names}: no date in the file name and no temporal extent: no item made")
            continue
        items.append(item)
        for key, _asset in members:
            moved.append(key)
            del assets[key]
    if moved:
        notes.append(f"{len(items)} item(s) made from the results' files: {', '.join(moved)}")
        if not assets:
            collection.pop("assets", None)


# ---------------------------------------------------------------------------- keys, roles


def _is_data(asset: Mapping[str, Any]) -> bool:
    roles = asset.get("roles") or []
    if "data" in roles:
        return True
    kind = str(asset.get("type") or media_type(str(asset.get("href") or "")) or "")
    return not roles and kind.startswith(_DATA_TYPES)


def _canonical_key(item_id: str, key: str, asset: Mapping[str, Any]) -> str:
    stem = _stem(key)
    stem = stem.replace(item_id, "") if item_id else stem
    stem = _DATE_STAMP.sub("", stem).strip("_-. ")
    if stem.lower() in _GENERIC_STEMS:
        bands = asset.get("bands") or asset.get("eo:bands") or asset.get("raster:bands") or []
        names = [b.get("name") for b in bands if isinstance(b, Mapping) and b.get("name")]
        stem = str(names[0]) if len(names) == 1 else "data"
        suffix = PurePosixPath(urlsplit(str(asset.get("href") or "")).path).suffix.lower()
        if not is_geotiff(asset) and suffix:
            stem = f"{stem}{suffix.replace('.', '_')}" if stem == "data" else stem
    return re.sub(r"[^A-Za-z0-9-]+", "_", stem).strip("_").lower() or "data"


def _asset_keys(collection: dict[str, Any], items: list[dict[str, Any]], notes: list[str]) -> None:
    renamed: dict[str, str] = {}
    for item in items:
        new: dict[str, Any] = {}
        pairs = list((item.get("assets") or {}).items())
        bases = [_canonical_key(str(item.get("id") or ""), str(k), a) for k, a in pairs]
        for (key, asset), target in zip(pairs, bases, strict=True):
            suffix = PurePosixPath(urlsplit(str(asset.get("href") or key)).path).suffix.lower().lstrip(".")
            if bases.count(target) > 1 and suffix and not target.endswith(f"_{suffix}"):
                target = f"{target}_{suffix}"  # the same result in several formats: timeseries_csv, _json
            base, n = target, 2
            while target in new:
                target, n = f"{base}_{n}", n + 1
            new[target] = asset
            if target != key:
                renamed[str(key)] = target
        item["assets"] = new
    if not renamed:
        return
    for render in (collection.get("renders") or {}).values():
        if isinstance(render, dict) and isinstance(render.get("assets"), list):
            render["assets"] = [renamed.get(str(a), a) for a in render["assets"]]
    if isinstance(collection.get("item_assets"), dict):
        collection["item_assets"] = {renamed.get(k, k): v for k, v in collection["item_assets"].items()}
    notes.append("asset keys renamed: " + ", ".join(f"{a} → {b}" for a, b in sorted(renamed.items())))


def _all_assets(
    collection: dict[str, Any], items: list[dict[str, Any]]
) -> Iterable[tuple[dict[str, Any], str, dict[str, Any]]]:
    for key, asset in (collection.get("assets") or {}).items():
        if isinstance(asset, dict):
            yield collection, str(key), asset
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            if isinstance(asset, dict):
                yield item, str(key), asset


def _roles_titles(collection: dict[str, Any], items: list[dict[str, Any]]) -> None:
    for _doc, key, asset in _all_assets(collection, items):
        if not asset.get("type") and (kind := media_type(str(asset.get("href") or "")) or media_type(key)):
            asset["type"] = kind
        if not asset.get("roles"):
            asset["roles"] = ["data"] if _is_data(asset) else ["metadata"]
        if not asset.get("title"):
            bands = [b.get("name") for b in asset.get("bands") or [] if isinstance(b, Mapping)]
            asset["title"] = f"{key} ({', '.join(map(str, bands))})" if bands and all(bands) else key


def _datetimes(items: list[dict[str, Any]]) -> None:
    for item in items:
        props = item.setdefault("properties", {})
        when = props.get("datetime")
        if when:
            props.setdefault("start_datetime", when)
            props.setdefault("end_datetime", when)
        elif props.get("start_datetime"):
            props["datetime"] = props["start_datetime"]


# ---------------------------------------------------------------------------- bands, raster


def _bands(collection: dict[str, Any], items: list[dict[str, Any]], files: Mapping[str, FileFacts]) -> None:
    touched: set[int] = set()
    for doc, _key, asset in _all_assets(collection, items):
        eo = [b for b in asset.pop("eo:bands", None) or [] if isinstance(b, Mapping)]
        raster = [b for b in asset.pop("raster:bands", None) or [] if isinstance(b, Mapping)]
        old = [b for b in asset.get("bands") or [] if isinstance(b, Mapping)]
        facts = asset_facts(asset, files)
        count = max(len(eo), len(raster), len(old), facts.raster.count if facts and facts.raster else 0)
        if not count:
            continue
        bands = []
        for i in range(count):
            e = eo[i] if i < len(eo) else {}
            r = raster[i] if i < len(raster) else {}
            o = old[i] if i < len(old) else {}
            band: dict[str, Any] = dict(o)
            described = facts.raster.descriptions[i] if facts and facts.raster else None
            band["name"] = str(
                o.get("name") or e.get("name") or r.get("name") or described or f"band_{i + 1}"
            )
            # STAC 1.1: common fields stay as they are, the others take their extension's prefix
            # (eo's common_name -> eo:common_name, raster's scale -> raster:scale); nothing is dropped.
            for source, prefix in ((e, "eo:"), (r, "raster:")):
                for field, value in source.items():
                    if field == "name" or value is None:
                        continue
                    common = field in _COMMON_BAND_FIELDS or ":" in field
                    band.setdefault(field if common else prefix + field, value)
            if isinstance(band.get("statistics"), Mapping):
                band["statistics"] = finite_statistics(band["statistics"])
            if facts and facts.raster and i < facts.raster.count:
                band.setdefault("data_type", facts.raster.data_types[i])
            bands.append(band)
        asset["bands"] = bands
        touched.add(id(doc))
    for doc in (collection, *items):
        if id(doc) in touched:
            doc["stac_extensions"] = [
                e for e in doc.get("stac_extensions") or [] if "/raster/v1" not in e and "/eo/v1" not in e
            ]
            _declare(doc, RASTER_V2)
            _declare(doc, EO_V2)


def _projection(
    collection: dict[str, Any], items: list[dict[str, Any]], files: Mapping[str, FileFacts]
) -> None:
    for doc, _key, asset in _all_assets(collection, items):
        facts = asset_facts(asset, files)
        if facts is None or facts.raster is None or not facts.raster.crs:
            continue  # a file with no CRS says nothing of where it is (its bbox is in pixels)
        r = facts.raster
        if r.crs:
            asset["proj:code"] = r.crs if r.crs.startswith("EPSG:") else None
            if not r.crs.startswith("EPSG:"):
                asset["proj:wkt2"] = r.crs
        asset["proj:bbox"] = list(r.bbox)
        asset["proj:shape"] = [r.height, r.width]
        _declare(doc, PROJECTION_V2, replacing="projection")


def _raster(collection: dict[str, Any], items: list[dict[str, Any]], files: Mapping[str, FileFacts]) -> None:
    for doc, _key, asset in _all_assets(collection, items):
        facts = asset_facts(asset, files)
        bands = asset.get("bands")
        if not isinstance(bands, list):
            continue
        resolution: float | None = None
        if facts is not None and facts.raster is not None:
            resolution = facts.raster.resolution[0] if facts.raster.crs else None
        else:
            pbox, shape = asset.get("proj:bbox"), asset.get("proj:shape")
            if (
                isinstance(pbox, list)
                and len(pbox) == 4
                and isinstance(shape, list)
                and len(shape) == 2
                and shape[1]
            ):
                resolution = (float(pbox[2]) - float(pbox[0])) / float(shape[1])
        for i, band in enumerate(bands):
            if not isinstance(band, dict):
                continue
            if resolution is not None:
                band.setdefault("raster:spatial_resolution", resolution)
            if facts is not None and facts.raster is not None and i < facts.raster.count:
                r = facts.raster
                band.setdefault("raster:scale", r.scales[i] if i < len(r.scales) else 1.0)
                band.setdefault("raster:offset", r.offsets[i] if i < len(r.offsets) else 0.0)
                if r.nodata_value is not None:
                    band.setdefault("nodata", r.nodata_value)
                band.setdefault("data_type", r.data_types[i])
        _declare(doc, RASTER_V2, replacing="raster")


def _classes(collection: dict[str, Any], items: list[dict[str, Any]], files: Mapping[str, FileFacts]) -> None:
    for doc, _key, asset in _all_assets(collection, items):
        facts = asset_facts(asset, files)
        if facts is None or facts.raster is None or not facts.raster.classes:
            continue
        classes = [RasterClass.from_dict(c).to_stac() for c in facts.raster.classes]
        asset["classification:classes"] = classes
        _declare(doc, CLASSIFICATION, replacing="classification")


def _file_info(
    collection: dict[str, Any], items: list[dict[str, Any]], files: Mapping[str, FileFacts]
) -> None:
    for doc, _key, asset in _all_assets(collection, items):
        facts = asset_facts(asset, files)
        if facts is None:
            continue
        asset["file:size"] = facts.size
        asset["file:checksum"] = facts.checksum
        _declare(doc, FILE_EXTENSION, replacing="file")


def apply_fixes(
    collection: dict[str, Any],
    items: list[dict[str, Any]],
    fixes: Iterable[str],
    files: Mapping[str, FileFacts],
    notes: list[str],
) -> None:
    """Apply the chosen ``fixes`` (in :class:`Fix` order) to ``collection`` and ``items`` in place."""
    chosen = {f for f in Fix if f.value in set(fixes)}
    if Fix.ITEMS in chosen:
        _items(collection, items, notes)
    if Fix.ASSET_KEYS in chosen:
        _asset_keys(collection, items, notes)
    if Fix.ROLES_TITLES in chosen:
        _roles_titles(collection, items)
    if Fix.DATETIMES in chosen:
        _datetimes(items)
    if chosen & {Fix.BANDS, Fix.RASTER}:
        _bands(collection, items, files)
    if Fix.PROJECTION in chosen:
        _projection(collection, items, files)
    if Fix.RASTER in chosen:
        _raster(collection, items, files)
    if Fix.CLASSES in chosen:
        _classes(collection, items, files)
    if Fix.FILE_INFO in chosen:
        _file_info(collection, items, files)
