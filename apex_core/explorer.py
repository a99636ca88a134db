"""The hand-over to the APEx Geospatial Explorer after publishing: its configuration for the new layer,
and what the Explorer needs that the catalogue does not give.

The Explorer is configured by one JSON document (``layout``, ``interfaceGroups``, ``exclusivitySets``,
``sources``; see the APEx documentation, "Configuring the APEx Geospatial Explorer"). From the collection
and items as they were published, :func:`explorer_handover` makes an :class:`ExplorerHandover`:

- one ``sources`` entry for the collection (:meth:`ExplorerHandover.source`): its ``name``, ``isActive``,
  one ``data`` entry per item (the item's COG by URL, else the STAC item), the ``timeframe`` (``Days``,
  ``Months`` or ``Years``) and each item's ``timestamps`` when the items are a series on several dates,
  the legend in ``meta`` and ``layout.layerCard.legend``;
- the minimal whole configuration around it (:meth:`ExplorerHandover.config`);
- the legend (:class:`Legend`): a gradient from the collection's render extension (``renders``:
  ``rescale`` and ``colormap_name``, the colours from rio-tiler's colormaps), else one swatch per class
  of the classification extension (``classification:classes`` with ``title``/``color_hint`` on the items'
  assets or bands, or the collection's ``item_assets``);
- the Explorer requirements the catalogue does not meet (:class:`Unmet`), each as a plain sentence: not
  HTTPS (EXPLORER-REQ-05), not public (EXPLORER-REQ-04: a loopback or private address, or a collection
  whose ``_auth.read`` lacks ``anonymous``), and CORS once :func:`check_cors` asked.

:func:`check_cors` sends the browser's CORS preflight (``OPTIONS`` with the Explorer's ``Origin``) to the
URLs the configuration uses, through :class:`~apex_core.catalogue.CatalogueClient` (a timeout on every
request, no token: a preflight never carries one). It is one HTTP round per URL, made when asked.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from rio_tiler.colormap import cmap as _rio_cmaps

from apex_core.catalogue import CatalogueClient
from apex_core.errors import ApexError, DataError
from apex_core.metadata import ADMIN_ONLY_READ_ROLE
from apex_core.publish import PublishResult

__all__ = [
    "EXPLORER_ORIGIN",
    "CorsCheck",
    "ExplorerHandover",
    "ExplorerLayer",
    "Legend",
    "LegendEntry",
    "Timeframe",
    "Unmet",
    "check_cors",
    "explorer_handover",
    "handover_of",
    "legend_of",
    "timeframe_of",
]

EXPLORER_ORIGIN = "https://explorer.apex.esa.int"
"""The origin of the APEx Geospatial Explorer: the ``Origin`` of its browsers' requests."""

GRADIENT_STOPS = 5  # colour stops of a gradient legend (and of the COG's colour ramp)
_GEOTIFF = "image/tiff"
_INTERFACE_GROUP = "Published results"
_HTTPS_RULE = "EXPLORER-REQ-05"
_PUBLIC_RULE = "EXPLORER-REQ-04"
_CORS_RULE = "CORS"


class Timeframe(StrEnum):
    """The Explorer's time picker for a series: one date, one month or one year per layer."""

    DAYS = "Days"
    MONTHS = "Months"
    YEARS = "Years"


# --------------------------------------------------------------------------- legend


@dataclass(frozen=True)
class LegendEntry:
    """One colour of a legend: a class (``value`` its pixel value) or a stop of a gradient."""

    label: str
    color: str  # "#rrggbb"
    value: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LegendEntry:
        value = data.get("value")
        return cls(str(data["label"]), str(data["color"]), None if value is None else float(value))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "color": self.color, "value": self.value}


@dataclass(frozen=True)
class Legend:
    """A gradient (colour stops from ``minimum`` to ``maximum``) or a swatch (one entry per class);
    ``source`` says which metadata it came from."""

    kind: Literal["gradient", "swatch"]
    entries: tuple[LegendEntry, ...]
    source: str
    minimum: float | None = None
    maximum: float | None = None
    colormap: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Legend:
        kind = data.get("kind")
        if kind not in ("gradient", "swatch"):
            raise DataError(f"A legend is a gradient or a swatch, got {kind!r}.")
        low, high, name = data.get("minimum"), data.get("maximum"), data.get("colormap")
        return cls(
            kind=kind,
            entries=tuple(LegendEntry.from_dict(e) for e in data.get("entries") or ()),
            source=str(data.get("source") or ""),
            minimum=None if low is None else float(low),
            maximum=None if high is None else float(high),
            colormap=None if name is None else str(name),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "entries": [e.to_dict() for e in self.entries],
            "source": self.source,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "colormap": self.colormap,
        }

    def meta(self) -> dict[str, Any]:
        """The source's ``meta`` fields the Explorer draws this legend from."""
        if self.kind == "swatch":
            return {
                "categories": [
                    {
                        "label": e.label,
                        "color": e.color,
                        **({"value": _number(e.value)} if e.value is not None else {}),
                    }
                    for e in self.entries
                ]
            }
        out: dict[str, Any] = {"startColor": self.entries[0].color, "endColor": self.entries[-1].color}
        if self.minimum is not None and self.maximum is not None:
            out.update(min=_number(self.minimum), max=_number(self.maximum))
        return out

    def style(self) -> dict[str, Any] | None:
        """An OpenLayers WebGL tile style colouring band 1 as this legend says (None: no pixel values)."""
        if self.kind == "swatch":
            if any(e.value is None for e in self.entries):
                return None
            match: list[Any] = ["match", ["band", 1]]
            for e in self.entries:
                match += [_number(e.value), _rgba(e.color)]
            return {"color": [*match, [0, 0, 0, 0]]}
        if any(e.value is None for e in self.entries):
            return None
        ramp: list[Any] = ["interpolate", ["linear"], ["band", 1]]
        for e in self.entries:
            ramp += [_number(e.value), _rgba(e.color)]
        return {"color": ramp}


def _number(value: float | None) -> float | int | None:
    """``value`` as JSON shows it best: 2 rather than 2.0."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _hex(rgb: Sequence[Any]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


def _rgba(color: str) -> list[float | int]:
    text = color.lstrip("#")
    return [int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16), 1]


def _color_hint(value: Any) -> str | None:
    """A classification ``color_hint`` (``RRGGBB``, no ``#``) as ``#rrggbb``; None if malformed."""
    text = str(value or "").strip().lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        return None
    return "#" + text.lower()


def _render_legend(collection: Mapping[str, Any]) -> Legend | None:
    renders = collection.get("renders")
    if not isinstance(renders, Mapping):
        return None
    for key, render in renders.items():
        if not isinstance(render, Mapping):
            continue
        name, rescale = render.get("colormap_name"), render.get("rescale")
        if not isinstance(name, str) or name.lower() not in _rio_cmaps.list():
            continue
        if not (
            isinstance(rescale, list) and rescale and isinstance(rescale[0], list) and len(rescale[0]) == 2
        ):
            continue
        low, high = (float(v) for v in rescale[0])
        lut = _rio_cmaps.get(name.lower())
        entries = []
        for i in range(GRADIENT_STOPS):
            value = low + (high - low) * i / (GRADIENT_STOPS - 1)
            entries.append(LegendEntry(f"{value:g}", _hex(lut[round(255 * i / (GRADIENT_STOPS - 1))]), value))
        return Legend("gradient", tuple(entries), f"renders.{key}", low, high, name.lower())
    return None


def _classes_in(holder: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """``(where, classes)`` of ``holder`` (an asset): its own ``classification:classes`` and its bands'."""
    found: list[tuple[str, Any]] = []
    if holder.get("classification:classes"):
        found.append(("", holder["classification:classes"]))
    for key in ("bands", "raster:bands", "eo:bands"):
        bands = holder.get(key)
        if isinstance(bands, list):
            for i, band in enumerate(bands):
                if isinstance(band, Mapping) and band.get("classification:classes"):
                    found.append((f".{key}[{i}]", band["classification:classes"]))
    return tuple(found)


def _class_legend(classes: Any, source: str) -> Legend | None:
    if not isinstance(classes, list):
        return None
    entries = []
    for c in classes:
        if not isinstance(c, Mapping) or c.get("nodata") is True:
            continue
        color = _color_hint(c.get("color_hint"))
        if color is None:
            continue
        value = c.get("value")
        label = c.get("title") or c.get("description") or c.get("name") or value
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        entries.append(LegendEntry(str(label), color, number))
    return Legend("swatch", tuple(entries), source) if entries else None


def _classification_legend(
    collection: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> Legend | None:
    places: list[tuple[str, Mapping[str, Any]]] = []
    for item in items:
        assets = item.get("assets")
        if isinstance(assets, Mapping):
            places += [
                (f"item {item.get('id')} asset {k}", a) for k, a in assets.items() if isinstance(a, Mapping)
            ]
    for field in ("item_assets", "assets"):
        assets = collection.get(field)
        if isinstance(assets, Mapping):
            places += [(f"collection {field} {k}", a) for k, a in assets.items() if isinstance(a, Mapping)]
    for where, holder in places:
        for sub, classes in _classes_in(holder):
            legend = _class_legend(classes, f"classification:classes of {where}{sub}")
            if legend is not None:
                return legend
    return None


def legend_of(collection: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = ()) -> Legend | None:
    """The layer's legend: the classes when the data is categorical (classification extension), else the
    collection's render hints (a gradient); None when the metadata says neither."""
    return _classification_legend(collection, items) or _render_legend(collection)


# --------------------------------------------------------------------------- time


def _item_time(item: Mapping[str, Any]) -> dt.datetime | None:
    props = item.get("properties")
    if not isinstance(props, Mapping):
        return None
    raw = props.get("datetime") or props.get("start_datetime")
    if not isinstance(raw, str):
        return None
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def timeframe_of(times: Sequence[dt.datetime | None]) -> Timeframe | None:
    """The Explorer's picker for layers on ``times``: None for fewer than two dates (no series); else the
    coarsest of Years, Months, Days that still tells every layer's date apart."""
    dates = sorted({t.astimezone(dt.UTC).date() for t in times if t is not None})
    if len(dates) < 2:
        return None
    if len({d.year for d in dates}) == len(dates):
        return Timeframe.YEARS
    if len({(d.year, d.month) for d in dates}) == len(dates):
        return Timeframe.MONTHS
    return Timeframe.DAYS


# --------------------------------------------------------------------------- requirements


@dataclass(frozen=True)
class Unmet:
    """An Explorer requirement the catalogue or its files do not meet: its id and a plain sentence."""

    rule: str
    message: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Unmet:
        return cls(str(data["rule"]), str(data["message"]))

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class CorsCheck:
    """The answer to one CORS preflight: ``allowed`` when ``Access-Control-Allow-Origin`` admits the
    Explorer's origin; ``status`` None when the URL did not answer at all."""

    url: str
    allowed: bool
    status: int | None = None
    allow_origin: str | None = None
    detail: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorsCheck:
        status, allow = data.get("status"), data.get("allow_origin")
        return cls(
            url=str(data["url"]),
            allowed=data.get("allowed") is True,
            status=None if status is None else int(status),
            allow_origin=None if allow is None else str(allow),
            detail=str(data.get("detail") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "allowed": self.allowed,
            "status": self.status,
            "allow_origin": self.allow_origin,
            "detail": self.detail,
        }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _unreachable(host: str) -> str | None:
    """Why a browser elsewhere cannot reach ``host`` (a loopback or private address), else None."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback address (this machine only)"
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None
    if address.is_loopback:
        return "a loopback address (this machine only)"
    if address.is_private or address.is_link_local:
        return "a private network address"
    return None


def _url_unmet(urls: Sequence[str]) -> list[Unmet]:
    out: list[Unmet] = []
    for origin in dict.fromkeys(_origin(u) for u in urls):
        parts = urlsplit(origin)
        if parts.scheme != "https":
            out.append(
                Unmet(
                    _HTTPS_RULE,
                    f"{origin} is served over plain {parts.scheme.upper() or 'HTTP'}, not HTTPS: the "
                    "Explorer needs every source over HTTPS.",
                )
            )
        why = _unreachable(parts.hostname or "")
        if why is not None:
            out.append(
                Unmet(
                    _PUBLIC_RULE,
                    f"{origin} is {why}: the Explorer, running in other people's browsers, cannot reach it. "
                    "Publish to a public catalogue (the APEx one) for the Explorer.",
                )
            )
    return out


def _auth_unmet(collection: Mapping[str, Any]) -> list[Unmet]:
    auth = collection.get("_auth")
    if not isinstance(auth, Mapping):
        return []  # not said here: the catalogue's default applies
    readers = [str(r) for r in auth.get("read") or ()]
    if ADMIN_ONLY_READ_ROLE in readers:
        return []
    who = f"the roles {', '.join(readers)}" if readers else "catalogue administrators"
    return [
        Unmet(
            _PUBLIC_RULE,
            f"Collection {collection.get('id')} is readable only by {who} (its `_auth.read` lacks "
            f"`{ADMIN_ONLY_READ_ROLE}`): the Explorer shows it only with an APEx bearer token. Ask a "
            "catalogue administrator to make it public.",
        )
    ]


def _cors_unmet(checks: Sequence[CorsCheck], origin: str) -> list[Unmet]:
    out = []
    for check in checks:
        if check.allowed:
            continue
        if check.status is None:
            said = f"did not answer the CORS preflight ({check.detail or 'no answer'})"
        elif check.allow_origin:
            said = (
                f"answered the CORS preflight with Access-Control-Allow-Origin {check.allow_origin!r}, "
                f"which does not admit {origin}"
            )
        else:
            said = f"answered the CORS preflight (HTTP {check.status}) without Access-Control-Allow-Origin"
        out.append(Unmet(_CORS_RULE, f"{check.url} {said}: browsers will refuse its data to the Explorer."))
    return out


# --------------------------------------------------------------------------- the hand-over


@dataclass(frozen=True)
class ExplorerLayer:
    """One published item as the Explorer reads it: its catalogue URL, its COG's URL (None when it has
    no GeoTIFF data asset by URL: the Explorer then reads the STAC item) and its date."""

    item_id: str
    item_url: str
    cog_url: str | None = None
    asset_key: str | None = None
    datetime: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExplorerLayer:
        def opt(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            str(data["item_id"]), str(data["item_url"]), opt("cog_url"), opt("asset_key"), opt("datetime")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "item_url": self.item_url,
            "cog_url": self.cog_url,
            "asset_key": self.asset_key,
            "datetime": self.datetime,
        }

    @property
    def url(self) -> str:
        """What the Explorer loads: the COG, else the STAC item."""
        return self.cog_url or self.item_url

    def timestamp(self) -> int | None:
        if self.datetime is None:
            return None
        when = dt.datetime.fromisoformat(self.datetime.replace("Z", "+00:00"))
        return int((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp())


@dataclass(frozen=True)
class ExplorerHandover:
    """What the Explorer needs for the published collection, and what it lacks.

    ``unmet`` is every requirement not met, from the URLs and the collection's ``_auth``, plus the CORS
    answers once :func:`check_cors` gave ``cors`` (None: not checked yet)."""

    name: str
    collection_id: str
    collection_url: str
    layers: tuple[ExplorerLayer, ...]
    legend: Legend | None = None
    timeframe: Timeframe | None = None
    description: str = ""
    unmet: tuple[Unmet, ...] = ()
    cors: tuple[CorsCheck, ...] | None = None
    origin: str = EXPLORER_ORIGIN

    # --- the configuration ----------------------------------------------------------------------

    def source(self) -> dict[str, Any]:
        """The ``sources`` entry for the collection: one ``data`` entry per item."""
        style = self.legend.style() if self.legend is not None else None
        data = []
        for z, layer in enumerate(self.layers):
            entry: dict[str, Any]
            if layer.cog_url is not None:
                entry = {"url": layer.cog_url, "format": "cog", "zIndex": 10 + z, "normalize": False}
                if style is not None:
                    entry["style"] = style
            else:
                entry = {"url": layer.item_url, "format": "stac", "zIndex": 10 + z}
                if layer.asset_key:
                    entry.update(assets=[layer.asset_key], assetFormats={layer.asset_key: "cog"})
            stamp = layer.timestamp()
            if self.timeframe is not None and stamp is not None:
                entry["timestamps"] = [stamp]
            data.append(entry)
        meta: dict[str, Any] = {"description": self.description or f"Collection {self.collection_id}"}
        meta["attribution"] = {"text": f"STAC collection {self.collection_id}", "url": self.collection_url}
        card: dict[str, Any] = {"toggleable": True, "controls": {"zoomToCenter": True, "opacitySlider": True}}
        if self.legend is not None:
            meta.update(self.legend.meta())
            card["legend"] = {"type": self.legend.kind}
        out: dict[str, Any] = {"name": self.name, "isActive": True, "data": data}
        if self.timeframe is not None:
            out["timeframe"] = self.timeframe.value
        out["meta"] = meta
        out["layout"] = {"interfaceGroup": _INTERFACE_GROUP, "layerCard": card}
        return out

    def config(self) -> dict[str, Any]:
        """The minimal whole configuration: a title, one interface group, a base map and the source."""
        basemap = {
            "name": "OpenStreetMap",
            "isActive": True,
            "isBaseLayer": True,
            "data": [{"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "format": "xyz", "zIndex": 0}],
        }
        return {
            "layout": {"navigation": {"title": self.name}},
            "interfaceGroups": [_INTERFACE_GROUP],
            "exclusivitySets": [],
            "sources": [basemap, self.source()],
        }

    def config_json(self) -> str:
        """The whole configuration as the file the Explorer loads."""
        return json.dumps(self.config(), indent=2, ensure_ascii=False) + "\n"

    def cors_targets(self) -> tuple[str, ...]:
        """The URLs a CORS preflight should reach: the first layer's data URL and its STAC item."""
        if not self.layers:
            return (self.collection_url,)
        first = self.layers[0]
        return tuple(dict.fromkeys((first.url, first.item_url)))

    def with_cors(self, checks: Sequence[CorsCheck]) -> ExplorerHandover:
        """This hand-over with the CORS answers (and the requirements they leave unmet)."""
        kept = tuple(u for u in self.unmet if u.rule != _CORS_RULE)
        return replace(self, cors=tuple(checks), unmet=kept + tuple(_cors_unmet(checks, self.origin)))

    # --- JSON --------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExplorerHandover:
        try:
            legend, timeframe, cors = data.get("legend"), data.get("timeframe"), data.get("cors")
            return cls(
                name=str(data["name"]),
                collection_id=str(data["collection_id"]),
                collection_url=str(data["collection_url"]),
                layers=tuple(ExplorerLayer.from_dict(x) for x in data.get("layers") or ()),
                legend=Legend.from_dict(legend) if legend is not None else None,
                timeframe=Timeframe(timeframe) if timeframe is not None else None,
                description=str(data.get("description") or ""),
                unmet=tuple(Unmet.from_dict(u) for u in data.get("unmet") or ()),
                cors=None if cors is None else tuple(CorsCheck.from_dict(c) for c in cors),
                origin=str(data.get("origin") or EXPLORER_ORIGIN),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"The Explorer hand-over cannot be read ({type(exc).__name__}: {exc}).") from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "collection_id": self.collection_id,
            "collection_url": self.collection_url,
            "layers": [x.to_dict() for x in self.layers],
            "legend": self.legend.to_dict() if self.legend is not None else None,
            "timeframe": self.timeframe.value if self.timeframe is not None else None,
            "description": self.description,
            "unmet": [u.to_dict() for u in self.unmet],
            "cors": None if self.cors is None else [c.to_dict() for c in self.cors],
            "origin": self.origin,
        }


def _cog_asset(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(key, href)`` of the item's GeoTIFF data asset at an http(s) URL (data role first)."""
    assets = item.get("assets")
    if not isinstance(assets, Mapping):
        return None
    tiffs = [
        (str(k), a)
        for k, a in assets.items()
        if isinstance(a, Mapping)
        and str(a.get("type") or "").startswith(_GEOTIFF)
        and urlsplit(str(a.get("href") or "")).scheme in ("http", "https")
    ]
    tiffs.sort(key=lambda ka: "data" not in (ka[1].get("roles") or ()))
    return (tiffs[0][0], str(tiffs[0][1]["href"])) if tiffs else None


def _data_key(item: Mapping[str, Any]) -> str | None:
    assets = item.get("assets")
    if not isinstance(assets, Mapping):
        return None
    keys = [str(k) for k, a in assets.items() if isinstance(a, Mapping) and "data" in (a.get("roles") or ())]
    return keys[0] if keys else None


def explorer_handover(
    collection: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    collection_url: str,
    item_urls: Sequence[str],
) -> ExplorerHandover:
    """The hand-over for ``collection`` and its ``items`` as published at ``collection_url`` and
    ``item_urls`` (one per item, in order)."""
    if len(item_urls) != len(items):
        raise DataError(f"{len(items)} items but {len(item_urls)} item URLs: they go in pairs.")
    layers = []
    for item, url in zip(items, item_urls, strict=True):
        cog = _cog_asset(item)
        when = _item_time(item)
        layers.append(
            ExplorerLayer(
                item_id=str(item.get("id")),
                item_url=url,
                cog_url=cog[1] if cog else None,
                asset_key=cog[0] if cog else _data_key(item),
                datetime=when.isoformat().replace("+00:00", "Z") if when else None,
            )
        )
    layers.sort(key=lambda x: x.datetime or "")
    cid = str(collection.get("id") or "")
    name = str(collection.get("title") or cid)
    urls = [collection_url, *(x.url for x in layers)]
    return ExplorerHandover(
        name=name,
        collection_id=cid,
        collection_url=collection_url,
        layers=tuple(layers),
        legend=legend_of(collection, items),
        timeframe=timeframe_of([_item_time(i) for i in items]),
        description=str(collection.get("description") or ""),
        unmet=tuple(_url_unmet(urls) + _auth_unmet(collection)),
    )


def handover_of(result: PublishResult, kept: ExplorerHandover | None = None) -> ExplorerHandover:
    """The hand-over for what ``result`` published (the documents as sent, with re-hosted asset URLs);
    with the CORS answers of ``kept`` when they were for the same URLs (a check is not repeated)."""
    plan = result.plan
    handover = explorer_handover(plan.collection, plan.items, result.collection_url, result.item_urls)
    if kept is not None and kept.cors is not None and kept.cors_targets() == handover.cors_targets():
        return replace(handover, origin=kept.origin).with_cors(kept.cors)
    return handover


def _preflight(client: CatalogueClient, url: str, origin: str) -> CorsCheck:
    try:
        resp = client.request(
            "OPTIONS",
            url,
            what=f"ask {url} for CORS",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            ok=tuple(range(400, 600)),
            auth=False,
        )
    except ApexError as exc:
        return CorsCheck(url, False, None, None, exc.message)
    allow = resp.headers.get("Access-Control-Allow-Origin")
    allowed = allow is not None and allow.strip() in ("*", origin)
    return CorsCheck(url, allowed, resp.status_code, allow, "" if allowed else f"HTTP {resp.status_code}")


def check_cors(
    handover: ExplorerHandover, *, timeout: float = 10.0, origin: str | None = None
) -> ExplorerHandover:
    """``handover`` with the answers to a CORS preflight from the Explorer's origin to each of its
    :meth:`~ExplorerHandover.cors_targets` (no token sent; ``timeout`` seconds per request)."""
    sender = origin or handover.origin
    with CatalogueClient(handover.collection_url, timeout=timeout, retries=0) as client:
        checks = [_preflight(client, url, sender) for url in handover.cors_targets()]
    return replace(handover, origin=sender).with_cors(checks)
