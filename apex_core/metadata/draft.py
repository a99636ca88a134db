"""The draft: the values a person edits, prefilled from the job results, and the form's flat values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from apex_core.licences import DEFAULT_LICENCE
from apex_core.metadata.apex import looks_like_ndvi
from apex_core.metadata.build import PublishableCollection, publishable
from apex_core.metadata.checks import check_draft, raise_first_error
from apex_core.metadata.ids import DEFAULT_ITEM_IDS, suggest_id
from apex_core.metadata.results import as_bbox, require_results
from apex_core.metadata.values import DEFAULT_ROLE, Provider, RenderHints
from apex_core.resultfile import is_geotiff
from apex_core.statistics import BandStatistics

if TYPE_CHECKING:
    from apex_core.flow import PreviewOutcome

__all__ = ["CollectionDraft", "pick_statistics"]


def pick_statistics(
    preview: PreviewOutcome | None, saved: BandStatistics | None, job_id: Any = None
) -> BandStatistics | None:
    """The Preview step's statistics when it has some for this job (a preview of another job than
    ``job_id`` is ignored: :meth:`PreviewOutcome.band_statistics`), else ``saved``."""
    stats = preview.band_statistics(str(job_id) if job_id else None) if preview is not None else None
    if stats:
        return BandStatistics.from_dict(stats, source="preview")
    return saved


def _roles(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))


def _stats_from_assets(assets: Mapping[str, Any]) -> BandStatistics | None:
    """The first GeoTIFF band's statistics (a CSV's or JSON's "bands" are columns, not pixels)."""
    for asset in assets.values():
        if not isinstance(asset, Mapping) or not is_geotiff(asset):
            continue
        for band in asset.get("raster:bands") or asset.get("bands") or []:
            stats = band.get("statistics") if isinstance(band, Mapping) else None
            if isinstance(stats, Mapping) and stats:
                return BandStatistics.from_dict(stats, source="job results")
    return None


@dataclass(frozen=True)
class CollectionDraft:
    """The values a person edits; everything else comes from the job results unchanged."""

    id: str
    title: str
    description: str
    license: str = DEFAULT_LICENCE
    license_url: str = ""
    keywords: tuple[str, ...] = ()
    providers: tuple[Provider, ...] = ()
    bbox: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)
    interval: tuple[str | None, str | None] = (None, None)
    auth_read: tuple[str, ...] = (DEFAULT_ROLE,)
    auth_write: tuple[str, ...] = (DEFAULT_ROLE,)
    render: RenderHints | None = None
    statistics: BandStatistics | None = None
    derived_from: Literal["drop", "absolute"] = "drop"
    eodata_base: str = "s3://eodata"
    item_ids: str = (
        DEFAULT_ITEM_IDS  # the pattern the items are named by (:func:`~apex_core.metadata.ids.item_ids`)
    )
    fixes: tuple[str, ...] = ()  # the APEx-readiness fixes chosen (:class:`~apex_core.metadata.fixes.Fix`)

    @classmethod
    def from_results(
        cls,
        results: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]] = (),
        *,
        preview: PreviewOutcome | None = None,
        new_id: str | None = None,
    ) -> CollectionDraft:
        """Prefill from the job results (and the Preview page's statistics, when there are some).

        Raises :class:`MetadataError` naming the field when the document is not usable.
        """
        res = require_results(results)
        bbox = as_bbox(res["extent"]["spatial"]["bbox"][0], "extent.spatial.bbox")
        start, end = res["extent"]["temporal"]["interval"][0]
        licence = str(res.get("license") or "")
        raw_auth = res.get("_auth")
        auth: Mapping[str, Any] = raw_auth if isinstance(raw_auth, Mapping) else {}
        stats = pick_statistics(preview, None, res.get("id"))
        if stats is None:
            stats = _stats_from_assets(res.get("assets") or {})
            for item in items:
                stats = stats or _stats_from_assets(item.get("assets") or {})
        keywords = res.get("keywords") or []
        return cls(
            id=new_id or suggest_id(res),
            title=str(res.get("title") or ""),
            description=str(res.get("description") or ""),
            license=licence if licence and licence not in ("proprietary", "various") else DEFAULT_LICENCE,
            keywords=tuple(str(k) for k in keywords),
            providers=tuple(
                Provider.from_dict(p) for p in res.get("providers") or [] if isinstance(p, Mapping)
            ),
            bbox=bbox,
            interval=(str(start) if start else None, str(end) if end else None),
            auth_read=tuple(auth.get("read") or (DEFAULT_ROLE,)),
            auth_write=tuple(auth.get("write") or (DEFAULT_ROLE,)),
            render=RenderHints() if looks_like_ndvi(res, items) else None,
            statistics=stats,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionDraft:
        render = data.get("render")
        stats = data.get("statistics")
        start, end = data.get("interval") or (None, None)
        mode = data.get("derived_from", "drop")
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            license=str(data.get("license") or DEFAULT_LICENCE),
            license_url=str(data.get("license_url") or ""),
            keywords=tuple(data.get("keywords") or ()),
            providers=tuple(Provider.from_dict(p) for p in data.get("providers") or ()),
            bbox=tuple(float(v) for v in data["bbox"]),  # type: ignore[arg-type]
            interval=(start, end),
            auth_read=tuple(data.get("auth_read") or ()),
            auth_write=tuple(data.get("auth_write") or ()),
            render=RenderHints.from_dict(render) if isinstance(render, Mapping) else None,
            statistics=BandStatistics.from_dict(stats) if isinstance(stats, Mapping) else None,
            derived_from="absolute" if mode == "absolute" else "drop",
            eodata_base=str(data.get("eodata_base") or "s3://eodata"),
            item_ids=str(data.get("item_ids") or DEFAULT_ITEM_IDS),
            fixes=tuple(str(f) for f in data.get("fixes") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "license": self.license,
            "license_url": self.license_url,
            "keywords": list(self.keywords),
            "providers": [p.to_dict() for p in self.providers],
            "bbox": list(self.bbox),
            "interval": list(self.interval),
            "auth_read": list(self.auth_read),
            "auth_write": list(self.auth_write),
            "render": self.render.to_dict() if self.render else None,
            "statistics": self.statistics.to_dict() if self.statistics else None,
            "derived_from": self.derived_from,
            "eodata_base": self.eodata_base,
            "item_ids": self.item_ids,
            "fixes": list(self.fixes),
        }

    # ---- the form: plain values keyed by field name, and back ----------------------------------

    def form_values(self) -> dict[str, Any]:
        """The draft as flat widget values (strings, floats, bools), keyed by form field name."""
        values: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "license": self.license,
            "license_url": self.license_url,
            "keywords": ", ".join(self.keywords),
            "west": self.bbox[0],
            "south": self.bbox[1],
            "east": self.bbox[2],
            "north": self.bbox[3],
            "start": self.interval[0] or "",
            "end": self.interval[1] or "",
            "auth_read": ", ".join(self.auth_read),
            "auth_write": ", ".join(self.auth_write),
            "render_on": self.render is not None,
            "render_min": (self.render or RenderHints()).rescale[0],
            "render_max": (self.render or RenderHints()).rescale[1],
            "colormap": (self.render or RenderHints()).colormap_name,
            "stats_on": self.statistics is not None,
            "derived_from": self.derived_from,
            "eodata_base": self.eodata_base,
            "providers_count": len(self.providers),
            "item_ids": self.item_ids,
        }
        for i, p in enumerate(self.providers):
            values[f"provider_{i}_name"] = p.name
            values[f"provider_{i}_roles"] = list(p.roles)
            values[f"provider_{i}_url"] = p.url or ""
        return values

    def with_form(
        self, values: Mapping[str, Any], *, statistics: BandStatistics | None = None
    ) -> CollectionDraft:
        """A new draft with the form's values; values absent from ``values`` keep the draft's own.

        ``statistics`` are what the draft uses when the statistics box is ticked (else the draft's own).
        """
        cur = self.form_values()
        v = {**cur, **{k: val for k, val in values.items() if k in cur or k.startswith("provider_")}}
        count = int(v.get("providers_count", len(self.providers)))
        providers = []
        for i in range(count):
            base = self.providers[i] if i < len(self.providers) else Provider(name="")
            providers.append(
                replace(
                    base,
                    name=str(v.get(f"provider_{i}_name", base.name)).strip(),
                    roles=tuple(v.get(f"provider_{i}_roles", base.roles)),
                    url=str(v.get(f"provider_{i}_url", base.url or "")).strip() or None,
                )
            )
        stats = statistics if statistics is not None else self.statistics
        return replace(
            self,
            id=str(v["id"]).strip(),
            title=str(v["title"]).strip(),
            description=str(v["description"]),
            license=str(v["license"]),
            license_url=str(v["license_url"]).strip(),
            keywords=tuple(dict.fromkeys(k.strip() for k in str(v["keywords"]).split(",") if k.strip())),
            providers=tuple(providers),
            bbox=(float(v["west"]), float(v["south"]), float(v["east"]), float(v["north"])),
            interval=(str(v["start"]).strip() or None, str(v["end"]).strip() or None),
            auth_read=_roles(str(v["auth_read"])),
            auth_write=_roles(str(v["auth_write"])),
            render=replace(
                self.render or RenderHints(),
                rescale=(float(v["render_min"]), float(v["render_max"])),
                colormap_name=str(v["colormap"]),
            )
            if v["render_on"]
            else None,
            statistics=stats if v["stats_on"] else None,
            derived_from="absolute" if v["derived_from"] == "absolute" else "drop",
            eodata_base=str(v["eodata_base"]).strip(),
            item_ids=str(v["item_ids"]).strip(),
        )

    def with_provider_added(self) -> CollectionDraft:
        return replace(self, providers=(*self.providers, Provider(name="")))

    def with_provider_removed(self, index: int) -> CollectionDraft:
        return replace(self, providers=tuple(p for i, p in enumerate(self.providers) if i != index))

    # ---- the result ----------------------------------------------------------------------------

    def apply(
        self, results: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()
    ) -> PublishableCollection:
        """The final collection dict (STAC 1.1.0, with ``_auth``) and its items, ready to POST.

        Raises :class:`MetadataError` (with ``field``) for the first error :func:`check_draft` finds.
        """
        raise_first_error(check_draft(self))
        return publishable(self, results, items)
