"""The pystac build: a draft applied to the job results gives the collection and items to publish.

The link rels a STAC API generates itself and openEO's signed ``canonical`` link are stripped *before*
pystac sees them (it would otherwise try to resolve the remote ``root``); bare ``/eodata/...``
``derived_from`` links are dropped or made absolute; STAC 1.0 fields are moved to their 1.1 names;
statistics go into ``raster:bands`` and the render hints into ``renders``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pystac
from pystac.extensions.raster import RasterExtension
from pystac.extensions.render import Render, RenderExtension

from apex_core.errors import MetadataError
from apex_core.licences import OTHER
from apex_core.metadata.fixes import PROJECTION_V2, Fix, apply_fixes, finite_statistics
from apex_core.metadata.ids import item_ids
from apex_core.metadata.results import require_results
from apex_core.metadata.values import parse_time
from apex_core.resultfile import FileFacts, is_geotiff
from apex_core.statistics import BandStatistics

if TYPE_CHECKING:
    from apex_core.metadata.draft import CollectionDraft

__all__ = [
    "PROJECTION_V2",
    "SERVER_RELS",
    "PublishableCollection",
    "absolute_eodata_href",
    "build_collection",
    "publishable",
]

# Rels a STAC API regenerates itself, plus openEO's signed canonical link: never POSTed.
SERVER_RELS = frozenset({"self", "root", "parent", "item", "items", "collection", "canonical"})


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


def _asset_keys(collection: pystac.Collection) -> list[tuple[str, pystac.Asset]]:
    pairs = list(collection.assets.items())
    for item in collection.get_items(recursive=False):
        pairs.extend(item.assets.items())
    return pairs


def _data_assets(collection: pystac.Collection) -> list[pystac.Asset]:
    return [a for _k, a in _asset_keys(collection) if "data" in (a.roles or [])]


def _put_statistics(asset: pystac.Asset, draft_stats: BandStatistics | None, facts: FileFacts | None) -> None:
    """Band 1's ``statistics`` in ``raster:bands`` (its other fields kept): the asset's own file's when
    the app has it (each observation of a series its own), else the draft's (the Preview step's, when
    the person keeps them); none when neither."""
    own = facts.raster.statistics if facts is not None and facts.raster is not None else None
    if not own and draft_stats is None:
        return
    stats = dict(own) if own else draft_stats.stac_statistics()  # type: ignore[union-attr]
    RasterExtension.ext(asset, add_if_missing=True)
    bands = [dict(b) for b in asset.extra_fields.get("raster:bands") or [] if isinstance(b, Mapping)]
    if not bands:
        old = asset.extra_fields.get("bands") or []
        name = next((b.get("name") for b in old if isinstance(b, Mapping) and b.get("name")), None)
        bands = [{"name": name} if name else {}]
    bands[0]["statistics"] = stats
    asset.extra_fields["raster:bands"] = bands


def build_collection(
    draft: CollectionDraft,
    results: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    files: Mapping[str, FileFacts] | None = None,
) -> tuple[pystac.Collection, list[str]]:
    """The pystac collection (its items added) for ``draft`` over ``results``, and notes on the links
    it removed. Does not check the draft's fields (:func:`~apex_core.metadata.checks.check_draft`)."""
    notes: list[str] = []
    require_results(results)
    raw = copy.deepcopy(dict(results))
    raw["id"] = draft.id
    raw.pop("openeo:status", None)
    raw.pop("_auth", None)
    raw["links"] = _clean_links(draft, raw.get("links") or [], notes, where="collection")
    _normalise(raw)
    collection = pystac.Collection.from_dict(raw, migrate=True, preserve_dict=False)
    collection.license = draft.license
    collection.title = draft.title or None
    collection.description = draft.description
    collection.keywords = list(draft.keywords) or None
    collection.providers = [pystac.Provider.from_dict(p.to_dict()) for p in draft.providers] or None
    start, end = (parse_time(t) for t in draft.interval)
    collection.extent = pystac.Extent(
        pystac.SpatialExtent([list(draft.bbox)]), pystac.TemporalExtent([[start, end]])
    )
    if draft.license == OTHER and draft.license_url:
        collection.add_link(pystac.Link("license", draft.license_url, media_type="text/html"))
    for i, item_doc in enumerate(items):
        doc = copy.deepcopy(dict(item_doc))
        if doc.get("type") != "Feature":
            raise MetadataError(f"Item {i + 1} is not a STAC Item.", field=f"items[{i}]")
        doc["links"] = _clean_links(draft, doc.get("links") or [], notes, where=f"item {doc.get('id')}")
        doc["collection"] = draft.id
        _normalise(doc)
        try:
            item = pystac.Item.from_dict(doc, migrate=True, preserve_dict=False)
        except (KeyError, TypeError, ValueError, pystac.STACError) as exc:
            raise MetadataError(
                f"Item {i + 1} is not a valid STAC Item: {exc}.", field=f"items[{i}]"
            ) from exc
        collection.add_item(item)
    data_assets = [a for a in _data_assets(collection) if is_geotiff(a.to_dict())]
    for asset in data_assets:
        _put_statistics(asset, draft.statistics, (files or {}).get(asset.href))
    if draft.render is not None and data_assets:
        keys = list(
            dict.fromkeys(
                k for k, a in _asset_keys(collection) if "data" in (a.roles or []) and is_geotiff(a.to_dict())
            )
        )
        hints = draft.render
        render = Render.create(
            assets=keys[:1],
            title=hints.title,
            rescale=[list(hints.rescale)],
            colormap_name=hints.colormap_name or None,
        )
        if hints.colormap:
            render.colormap = {str(value): f"#{colour}" for value, colour in hints.colormap}
        RenderExtension.ext(collection, add_if_missing=True).apply({hints.key: render})
    return collection, notes


def publishable(
    draft: CollectionDraft,
    results: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    files: Mapping[str, FileFacts] | None = None,
) -> PublishableCollection:
    """The final collection dict (STAC 1.1.0, with ``_auth``) and its items, ready to POST, with the
    draft's chosen fixes applied (``files``: the facts of the result files on this machine, by asset
    href). Does not check the draft's fields: :meth:`~apex_core.metadata.CollectionDraft.apply` does."""
    collection, notes = build_collection(draft, results, items, files)
    col = collection.to_dict(include_self_link=False, transform_hrefs=False)
    col["links"] = [link for link in col.get("links", []) if link.get("rel") not in SERVER_RELS]
    col["_auth"] = {"read": list(draft.auth_read), "write": list(draft.auth_write)}
    out_items = []
    for item in collection.get_items(recursive=False):
        d = item.to_dict(include_self_link=False, transform_hrefs=False)
        d["links"] = [link for link in d.get("links", []) if link.get("rel") not in SERVER_RELS]
        d["collection"] = draft.id
        out_items.append(d)
    apply_fixes(col, out_items, draft.fixes, files or {}, notes)
    _name_items(draft, out_items, notes)
    _finite_statistics(col, out_items, notes)
    for d in out_items:
        _drop_unused_extensions(d, notes, f"item {d.get('id')}")
    if (Fix.ITEMS in draft.fixes or Fix.ASSET_KEYS in draft.fixes) and out_items:
        col["item_assets"] = _item_assets(out_items)
    if col.get("renders") and not col.get("assets") and not col.get("item_assets") and out_items:
        # The render extension's schema needs the assets a collection's renders name: here they are the
        # items' assets, described once in the collection's `item_assets` (STAC 1.1 core).
        col["item_assets"] = _item_assets(out_items)
    _drop_unused_extensions(col, notes, "collection")
    return PublishableCollection(collection=col, items=tuple(out_items), notes=tuple(notes))


# The extensions whose JSON schema requires at least one of their fields (prefix) in the document.
_FIELD_PREFIX = {
    "classification": "classification:",
    "datacube": "cube:",
    "eo": "eo:",
    "file": "file:",
    "processing": "processing:",
    "projection": "proj:",
    "raster": "raster:",
    "render": "renders",
    "sat": "sat:",
    "view": "view:",
}


def _name_items(draft: CollectionDraft, items: list[dict[str, Any]], notes: list[str]) -> None:
    """Every item with ``start_datetime``/``end_datetime`` next to its ``datetime`` (STAC-REC-07), and
    its id from the draft's pattern (``{collection}_{date}``), unique within the collection."""
    for item in items:
        props = item.setdefault("properties", {})
        if props.get("datetime"):
            props.setdefault("start_datetime", props["datetime"])
            props.setdefault("end_datetime", props["datetime"])
    ids = item_ids(draft.item_ids, draft.id, items)
    renamed = [(item["id"], new) for item, new in zip(items, ids, strict=True) if item.get("id") != new]
    for item, new in zip(items, ids, strict=True):
        item["id"] = new
    if renamed:
        shown = ", ".join(f"{old} → {new}" for old, new in renamed[:3]) + (" …" if len(renamed) > 3 else "")
        notes.append(f"items named by the pattern {draft.item_ids}: {shown}")


def _finite_statistics(collection: dict[str, Any], items: Sequence[dict[str, Any]], notes: list[str]) -> None:
    """Drop non-finite band statistics (NaN, Infinity are not JSON: a catalogue refuses the document)."""
    dropped = 0
    for doc in (collection, *items):
        for asset in (doc.get("assets") or {}).values():
            for field in ("bands", "raster:bands"):
                for band in asset.get(field) or [] if isinstance(asset, dict) else []:
                    stats = band.get("statistics") if isinstance(band, dict) else None
                    if isinstance(stats, dict):
                        clean = finite_statistics(stats)
                        dropped += len(stats) - len(clean)
                        band["statistics"] = clean
    if dropped:
        notes.append(f"{dropped} non-finite statistics value(s) (NaN, Infinity) dropped: not valid JSON")


def _item_assets(items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            if isinstance(asset, Mapping) and key not in out:
                out[key] = {k: asset[k] for k in ("title", "type", "roles") if asset.get(k)}
    return out


def _keys(value: Any) -> set[str]:
    if isinstance(value, Mapping):
        found = {str(k) for k in value}
        for v in value.values():
            found |= _keys(v)
        return found
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


def _drop_unused_extensions(obj: dict[str, Any], notes: list[str], where: str) -> None:
    """An extension declared with none of its fields fails its own schema (openEO results declare
    ``processing`` with no ``processing:*`` field once their providers are replaced): undeclare it."""
    keys = _keys({k: v for k, v in obj.items() if k not in ("links", "stac_extensions")})
    kept = []
    for uri in obj.get("stac_extensions") or []:
        name = str(uri).removeprefix("https://stac-extensions.github.io/").split("/")[0]
        prefix = _FIELD_PREFIX.get(name)
        if prefix is not None and not any(k.startswith(prefix) for k in keys):
            notes.append(
                f"{where}: the {name} extension was declared but none of its fields is used: undeclared"
            )
            continue
        kept.append(uri)
    obj["stac_extensions"] = kept


def _clean_links(
    draft: CollectionDraft, links: list[Any], notes: list[str], where: str
) -> list[dict[str, Any]]:
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
                if draft.derived_from == "drop":
                    stripped["derived_from (bare /eodata path)"] = (
                        stripped.get("derived_from (bare /eodata path)", 0) + 1
                    )
                    continue
                link = {**link, "href": absolute_eodata_href(path, draft.eodata_base)}
        out.append(dict(link))
    if stripped:
        notes.append(
            f"{where}: removed "
            + ", ".join(f"{n} `{rel}` link{'s' if n > 1 else ''}" for rel, n in sorted(stripped.items()))
        )
    return out
