"""The quicklook of a published item: one band of its GeoTIFF asset read over HTTP at screen resolution,
drawn on the Catalogue page's map with a legend.

Reading (:func:`quicklook`):

- the asset (``asset_key``, else the first GeoTIFF/COG asset with the role ``data``, else the first
  GeoTIFF asset) is read only from an ``http://`` or ``https://`` href (a relative href is resolved
  against the item's ``self`` link when that is one). Anything else a catalogue may put there (a local
  path, ``file:``, ``/vsi...``, ``s3://``, a GDAL connection string, credentials in the URL) is refused
  with a :class:`~apex_core.errors.DataError` naming the asset, and never opened;
- band 1 is read decimated to at most ``max_size`` pixels on its longest side
  (:func:`apex_core.screenread.read_screen` on ``/vsicurl/<url>``): GDAL fetches byte ranges, from the
  internal overviews of a COG, so a large file is never downloaded whole (one without overviews, over
  :data:`FULL_READ_LIMIT` pixels, is refused: its decimated read would fetch nearly all of it);
- the bearer token goes along only when the href's origin (scheme, host, port) is ``token_origin`` (the
  catalogue's or its asset store's): GDAL gets it as a configuration option (``GDAL_HTTP_AUTH=BEARER``),
  never in the URL, never logged. The read runs in a thread of its own, whose GDAL options are
  thread-local (rasterio sets the main thread's options process-wide), and with GDAL's HTTP cache off for
  the file (``CPL_VSIL_CURL_NON_CACHED``) and one read of a URL at a time, so what a signed-in read
  fetched is never served to another;
- when GDAL fails, one small ranged ``GET`` tells why: 401 -> :class:`~apex_core.errors.UnauthorizedError`,
  403 -> :class:`~apex_core.errors.ForbiddenError` (sign in to see this item's raster), 404 -> a
  :class:`~apex_core.errors.DataError` (an :class:`~apex_core.errors.UnauthorizedError` when no token was
  sent to the catalogue's own store, which hides private files as missing), no answer ->
  :class:`~apex_core.errors.CatalogueUnavailable`.

The legend (:func:`quicklook_style`) comes from the metadata when it says how to draw the asset: the
classification extension's ``classification:classes`` (the item's asset or its bands, the collection's
``item_assets``, its ``summaries``) give one colour per class; else a ``renders`` entry (render extension)
of the item or the collection naming the asset gives the colour ramp (``colormap_name``, one of rio-tiler's
colormaps, else the Preview's: :func:`~apex_core.preview.ndvi_colormap` for NDVI,
:data:`~apex_core.preview.COLORMAP` for other data) over its ``rescale`` range. Without either, the data
decides as on the Preview page (:func:`~apex_core.preview.detect_kind`: NDVI, classes, else the robust
range). :func:`quicklook_map` draws the items' footprints, the quicklook and its legend on an offline map.
"""

from __future__ import annotations

import contextlib
import html
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import folium
import numpy as np
import rasterio
import rasterio.errors
import requests
from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds
from rio_tiler.colormap import cmap as _rio_cmaps

from apex_core.catalogue import AccessToken
from apex_core.categorical import MAX_CLASSES, RasterClass, class_colors, is_integer_band, legend_for
from apex_core.errors import (
    ApexError,
    CatalogueUnavailable,
    DataError,
    ForbiddenError,
    UnauthorizedError,
)
from apex_core.mapview import MapAssets, base_map
from apex_core.preview import (
    COLORMAP,
    NDVI_RANGE,
    Overlay,
    Style,
    add_overlay,
    detect_kind,
    ndvi_colormap,
    ndvi_style,
    render_overlay,
    robust_range,
)
from apex_core.resultfile import is_geotiff
from apex_core.screenread import ScreenRead, read_screen, source_name

__all__ = [
    "FULL_READ_LIMIT",
    "QUICKLOOK_MAX_SIZE",
    "LegendSource",
    "Quicklook",
    "asset_url",
    "choose_asset",
    "gdal_options",
    "origin_of",
    "quicklook",
    "quicklook_map",
    "quicklook_style",
]

QUICKLOOK_MAX_SIZE = 512
"""Longest side, in pixels, of the decimated read and of the overlay image."""
FULL_READ_LIMIT = 16_000_000
"""A file without overviews is drawn only up to this many pixels (4000 x 4000): its decimated read
fetches nearly every byte."""

LegendSource = Literal["render", "classification", "data"]
Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SIDECAR_SUFFIXES = (".ovr", ".xml", ".msk", ".aux", ".rpb", ".imd", ".tfw")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 b64token: no space, no header break
_HEX6_RE = re.compile(r"#?([0-9A-Fa-f]{6})")
_NDVI_TOLERANCE = 0.05
_WORLD = ((-60.0, -180.0), (75.0, 180.0))


@dataclass(frozen=True)
class Quicklook:
    """One band of a published item's GeoTIFF asset as the map draws it."""

    item_id: str
    asset_key: str
    overlay: Overlay  # PNG in EPSG:3857 and the lon/lat bounds it spans
    style: Style  # how it is coloured, and its legend
    bounds: tuple[float, float, float, float]  # the raster's lon/lat footprint (west, south, east, north)
    source_shape: tuple[int, int]  # rows, cols of the full raster
    read_shape: tuple[int, int]  # rows, cols actually read (decimated)
    legend_source: LegendSource  # where the legend came from


# --------------------------------------------------------------------------- legend from the metadata


def _text(*values: Any) -> str | None:
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value)


def _hex6(value: Any) -> str | None:
    match = _HEX6_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    return match.group(1).upper() if match else None


def _classes(raw: Any) -> tuple[RasterClass, ...]:
    """The classification extension's Class Objects as :class:`RasterClass` values (in value order; a
    class without a usable ``color_hint`` gets the next qualitative colour; nodata classes left out)."""
    if not isinstance(raw, list):
        return ()
    palette = class_colors()
    found: dict[int, RasterClass] = {}
    others = 0
    for entry in raw:
        if not isinstance(entry, Mapping) or entry.get("nodata") is True:
            continue
        value = _integer(entry.get("value"))
        if value is None or value in found:
            continue
        title = _text(entry.get("title"), entry.get("description"), entry.get("name")) or f"Class {value}"
        color = _hex6(entry.get("color_hint"))
        if color is None:
            color, others = palette[others % len(palette)], others + 1
        found[value] = RasterClass(value, title[:200], color, 0, 0.0)
    return tuple(sorted(found.values(), key=lambda c: c.value))[:255]


def _asset_classes(holder: Any) -> tuple[RasterClass, ...]:
    """The classes of an asset (or an ``item_assets`` entry): its own, else its first band's with some."""
    if not isinstance(holder, Mapping):
        return ()
    classes = _classes(holder.get("classification:classes"))
    for key in ("bands", "raster:bands", "eo:bands"):
        bands = holder.get(key)
        for band in bands if isinstance(bands, list) and not classes else ():
            if isinstance(band, Mapping) and (classes := _classes(band.get("classification:classes"))):
                break
    return classes


def _mapping(doc: Any, *keys: str) -> Mapping[str, Any]:
    for key in keys:
        doc = doc.get(key) if isinstance(doc, Mapping) else None
    return doc if isinstance(doc, Mapping) else {}


def _rescale(value: Any) -> tuple[float, float] | None:
    """``[[low, high]]`` (the render extension) or ``[low, high]``; None unless two finite numbers,
    low < high."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        value = value[0]
    if not (isinstance(value, list) and len(value) == 2):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    low, high = float(value[0]), float(value[1])
    return (low, high) if math.isfinite(low) and math.isfinite(high) and low < high else None


def _colormap_name(value: Any, default: str) -> str:
    name = value.strip().lower() if isinstance(value, str) else ""
    return name if name in _rio_cmaps.list() else default


def _render_classes(colormap: Any) -> tuple[RasterClass, ...]:
    """A render's explicit ``colormap`` (``{value: [r, g, b, a]}`` or ``[[value, "RRGGBB"], ...]``)."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(colormap, Mapping):
        pairs = list(colormap.items())
    elif isinstance(colormap, list):
        pairs = [tuple(p) for p in colormap if isinstance(p, list | tuple) and len(p) == 2]
    found: dict[int, RasterClass] = {}
    for raw_value, raw_color in pairs:
        try:
            value = int(str(raw_value))
        except ValueError:
            continue
        color = _hex6(raw_color)
        rgb = raw_color[:3] if isinstance(raw_color, list) and len(raw_color) >= 3 else None
        if color is None and rgb and all(type(c) is int and 0 <= c <= 255 for c in rgb):
            color = "{:02X}{:02X}{:02X}".format(*rgb)
        if color is not None:
            found.setdefault(value, RasterClass(value, f"Class {value}", color, 0, 0.0))
    return tuple(sorted(found.values(), key=lambda c: c.value))[:255]


def _renders(doc: Mapping[str, Any], asset_key: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """A document's render entries for ``asset_key``: those naming it first, then those naming no asset."""
    renders = doc.get("renders")
    if not isinstance(renders, Mapping):
        return
    entries = [(str(k), r) for k, r in renders.items() if isinstance(r, Mapping)]
    yield from ((k, r) for k, r in entries if isinstance(r.get("assets"), list) and asset_key in r["assets"])
    yield from ((k, r) for k, r in entries if r.get("assets") is None)


def _says_ndvi(*names: Any) -> bool:
    return any(isinstance(n, str) and "ndvi" in n.lower() for n in names)


def _metadata_style(
    collection: Mapping[str, Any], item: Mapping[str, Any], asset_key: str
) -> tuple[Style, LegendSource] | None:
    asset = _mapping(item, "assets", asset_key)
    item_asset = _mapping(collection, "item_assets", asset_key)
    title = _text(asset.get("title"), item_asset.get("title"))
    classes = (
        _asset_classes(asset)
        or _asset_classes(item_asset)
        or _classes(_mapping(collection, "summaries").get("classification:classes"))
    )
    if classes:
        return Style("categorical", title or "Classes", classes=classes), "classification"
    for doc in (_mapping(item, "properties"), item, collection):
        for key, render in _renders(doc, asset_key):
            render_title = _text(render.get("title"))
            explicit = _render_classes(render.get("colormap"))
            span = _rescale(render.get("rescale"))
            if span is None and explicit:
                return Style("categorical", render_title or title or "Classes", classes=explicit), "render"
            if span is None:
                continue
            near_ndvi = all(abs(a - b) <= _NDVI_TOLERANCE for a, b in zip(span, NDVI_RANGE, strict=True))
            names = (key, render_title, asset_key, title, collection.get("id"), collection.get("title"))
            if near_ndvi and _says_ndvi(*names):
                cmap = _colormap_name(render.get("colormap_name"), ndvi_colormap())
                return Style("ndvi", render_title or "NDVI", *span, colormap=cmap), "render"
            cmap = _colormap_name(render.get("colormap_name"), COLORMAP)
            return Style("continuous", render_title or title or asset_key, *span, colormap=cmap), "render"
    return None


def quicklook_style(collection: Mapping[str, Any], item: Mapping[str, Any], asset_key: str) -> Style | None:
    """How the metadata says ``asset_key`` of ``item`` is drawn: one colour per class of its
    ``classification:classes`` (the item's asset or its bands, the collection's ``item_assets``, its
    ``summaries``); else the first ``renders`` entry of the item or the collection naming the asset
    (``rescale`` and ``colormap_name``: continuous, or NDVI when the range is about [-1, 1] and a name says
    NDVI; an explicit ``colormap`` without ``rescale``: classes). None when the metadata says neither."""
    found = _metadata_style(collection, item, asset_key)
    return found[0] if found else None


# --------------------------------------------------------------------------- which file, where


def choose_asset(item: Mapping[str, Any], asset_key: str | None = None) -> tuple[str, Mapping[str, Any]]:
    """``asset_key`` of ``item``, else its first GeoTIFF asset with the role ``data``, else its first
    GeoTIFF asset. :class:`DataError` when there is none (or no such key)."""
    assets = {str(k): a for k, a in _mapping(item, "assets").items() if isinstance(a, Mapping)}
    item_id = str(item.get("id") or "?")
    if asset_key is not None:
        if asset_key not in assets:
            raise DataError(f"Item {item_id} has no asset {asset_key!r}.", field="asset")
        return asset_key, assets[asset_key]
    tiffs = [(k, a) for k, a in assets.items() if is_geotiff(a)]
    data = [(k, a) for k, a in tiffs if isinstance(a.get("roles"), list) and "data" in a["roles"]]
    if not (data or tiffs):
        raise DataError(f"Item {item_id} has no GeoTIFF asset to show on the map.", field="asset")
    return (data or tiffs)[0]


def origin_of(url: str) -> Origin | None:
    """``(scheme, host, port)`` of an http(s) URL (default ports filled in); None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def _self_href(item: Mapping[str, Any]) -> str | None:
    links = item.get("links")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, Mapping) and link.get("rel") == "self" and isinstance(link.get("href"), str):
            return str(link["href"])
    return None


def asset_url(item: Mapping[str, Any], asset_key: str, asset: Mapping[str, Any]) -> str:
    """The http(s) URL the asset is read from: its href, or a relative href resolved against the item's
    ``self`` link when that is http(s). Anything else is refused with a :class:`DataError` naming the
    asset (nothing is opened)."""
    href = asset.get("href")
    what = f"Asset {asset_key!r} of item {item.get('id') or '?'}"
    if not isinstance(href, str) or not href:
        raise DataError(f"{what} has no href.", field="asset")
    if any(ord(c) < 33 or ord(c) == 127 for c in href):
        raise DataError(
            f"{what} has an href with spaces or control characters: it is not read.", field="asset"
        )
    scheme = urlsplit(href).scheme.lower()
    if not scheme and not href.startswith(("/", "\\")):  # relative: against the item's own http(s) URL
        base = _self_href(item)
        if base is None or origin_of(base) is None:
            raise DataError(
                f"{what} has a relative href and the item has no http(s) self link to resolve it against: "
                "it is not read.",
                field="asset",
            )
        href = urljoin(base, href)
        scheme = urlsplit(href).scheme.lower()
    if scheme not in _DEFAULT_PORTS or origin_of(href) is None:
        raise DataError(
            f"{what} is not at an http(s) URL ({scheme or 'a local path'}): only files on the web are read.",
            field="asset",
        )
    parts = urlsplit(href)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise DataError(f"{what} has credentials in its URL: it is not read.", field="asset")
    return href


# --------------------------------------------------------------------------- reading over HTTP


def _allowed_extensions(url: str) -> str:
    """GDAL may open only the file itself: ``.tif``/``.tiff``, a name without extension, or the href's
    own extension (never a sidecar's, e.g. ``.ovr``, ``.aux.xml``)."""
    name = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    allowed = [".tif", ".tiff", "{noext}"]
    suffix = "." + name.rsplit(".", 1)[1] if "." in name else ""
    if (
        suffix
        and suffix not in allowed
        and suffix not in _SIDECAR_SUFFIXES
        and re.fullmatch(r"\.\w+", suffix)
    ):
        allowed.append(suffix)
    return ",".join(allowed)


def gdal_options(url: str, timeout: float, bearer: str | None = None) -> dict[str, str]:
    """The GDAL configuration of one read of ``url``: timeouts, few retries, no directory listing, no
    sidecar probing, no ``.netrc``, no cache kept after the read, and the bearer token (only when given)."""
    seconds = str(max(1, math.ceil(timeout)))
    options = {
        "GDAL_HTTP_TIMEOUT": seconds,
        "GDAL_HTTP_CONNECTTIMEOUT": seconds,
        "GDAL_HTTP_MAX_RETRY": "1",
        "GDAL_HTTP_RETRY_DELAY": "0.5",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": _allowed_extensions(url),
        "CPL_VSIL_CURL_NON_CACHED": "/vsicurl/",
        "GDAL_HTTP_NETRC": "NO",
        "GDAL_PAM_ENABLED": "NO",
        "CPL_CURL_VERBOSE": "NO",
        "VSI_CACHE": "FALSE",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIRANGE": "SINGLE_GET",
    }
    if bearer is not None:
        options.update(GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=bearer)
    return options


_URL_LOCKS_GUARD = threading.Lock()
_URL_LOCKS: dict[str, tuple[threading.Lock, list[int]]] = {}  # url -> (lock, [readers])


@contextlib.contextmanager
def _one_read_of(url: str) -> Iterator[None]:
    """One read of ``url`` at a time in this process: GDAL's HTTP cache of a file is shared by its open
    handles and dropped when the last one closes (``CPL_VSIL_CURL_NON_CACHED``), so a read never sees the
    bytes another one (signed in, say) fetched."""
    with _URL_LOCKS_GUARD:
        lock, users = _URL_LOCKS.setdefault(url, (threading.Lock(), [0]))
        users[0] += 1
    try:
        with lock:
            yield
    finally:
        with _URL_LOCKS_GUARD:
            users[0] -= 1
            if not users[0]:
                del _URL_LOCKS[url]


def _read_remote(url: str, options: Mapping[str, str], max_size: int) -> ScreenRead:
    """Band 1 of ``url`` decimated to ``max_size``, read in a thread of its own: rasterio sets GDAL options
    process-wide in the main thread, thread-locally in any other. A large file without overviews is refused
    (its decimated read would fetch nearly all of it)."""
    path = "/vsicurl/" + url

    def run() -> ScreenRead:
        with _one_read_of(url), rasterio.Env(**options), rasterio.open(path) as src:
            rows, cols = src.height, src.width
            if rows * cols > FULL_READ_LIMIT and max(rows, cols) > max_size and not src.overviews(1):
                raise DataError(
                    f"{source_name(path)} is {cols} x {rows} pixels without overviews (not a cloud-optimised "
                    "GeoTIFF): drawing it would download nearly all of it, so it is not drawn on the map."
                )
            return read_screen(path, band=1, max_size=max_size, exact_limit=0)  # reuses src's header bytes

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apex-quicklook") as pool:
        return pool.submit(run).result()


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _why(
    url: str, what: str, *, bearer: str | None, same_origin: bool, timeout: float, cause: str
) -> ApexError:
    """Why GDAL could not read ``url``: one ranged GET (redirects followed; requests drops the token
    on a redirect to another host) tells the HTTP status."""
    headers = {"Range": "bytes=0-0", "User-Agent": "apex-quicklook"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    host = urlsplit(url).netloc
    session = requests.Session()
    session.trust_env = False  # no .netrc credentials; the proxies of the environment still apply
    try:
        with session.get(
            url,
            headers=headers,
            timeout=timeout,
            stream=True,
            allow_redirects=True,
            proxies=requests.utils.get_environ_proxies(url),
        ) as resp:
            status = resp.status_code
    except requests.RequestException as exc:
        return CatalogueUnavailable(
            f"The raster of {what} could not be reached at {host} ({type(exc).__name__}).", field="asset"
        )
    finally:
        session.close()
    hint = "sign in to see this item's raster"
    if status == 401:
        return UnauthorizedError(f"The raster of {what} needs a sign-in: {hint}.", status=401, field="asset")
    if status == 403:
        return ForbiddenError(
            f"The raster of {what} is not open to you: {hint} with an account that may read it.",
            status=403,
            field="asset",
        )
    if status == 404 and bearer is None and same_origin:
        return UnauthorizedError(
            f"The raster of {what} was not found, or it is private: {hint}.", status=404, field="asset"
        )
    if status in (404, 410):
        return DataError(f"The raster of {what} was not found at {host} (HTTP {status}).", status=status)
    if status >= 500:
        return CatalogueUnavailable(f"The server of {what}'s raster failed (HTTP {status}).", status=status)
    if status >= 400:
        return DataError(f"The raster of {what} could not be read (HTTP {status}).", status=status)
    return DataError(f"The raster of {what} is not a readable GeoTIFF ({_scrub(cause, bearer)}).")


def _data_style(
    read: ScreenRead, collection: Mapping[str, Any], item: Mapping[str, Any], key: str, title: str | None
) -> Style:
    """The Preview page's choice for data without a legend in its metadata: NDVI, classes (counted on the
    decimated read), else the robust range."""
    classes: tuple[RasterClass, ...] | None = None
    if is_integer_band(read.dtype):
        values, counts = np.unique(read.data.compressed().astype(np.int64), return_counts=True)
        if 0 < values.size <= MAX_CLASSES:
            legend = legend_for([str(collection.get("id") or ""), str(item.get("collection") or "")]) or {}
            palette, others, found = class_colors(), 0, []
            total = int(counts.sum())
            for value, n in zip(values.tolist(), counts.tolist(), strict=True):
                if value in legend:
                    name, color = legend[value]
                else:
                    name, color, others = f"Class {value}", palette[others % len(palette)], others + 1
                found.append(RasterClass(int(value), name, color, int(n), 100.0 * n / total))
            classes = tuple(found)
    kind = detect_kind(read, read.description or title or key, classes)
    if kind == "ndvi":
        return ndvi_style()
    if kind == "categorical" and classes:
        return Style("categorical", read.description or title or "Classes", classes=classes)
    low, high = robust_range(read)
    return Style("continuous", read.description or title or key, low, high)


def quicklook(
    item: Mapping[str, Any],
    collection: Mapping[str, Any],
    *,
    asset_key: str | None = None,
    token: AccessToken | None = None,
    token_origin: str | None = None,
    timeout: float = 30.0,
    max_size: int = QUICKLOOK_MAX_SIZE,
) -> Quicklook:
    """Band 1 of the item's GeoTIFF asset (:func:`choose_asset`) read over HTTP(S) at most ``max_size``
    pixels on its longest side, coloured as :func:`quicklook_style` says (else as its data says), for
    the map. ``token`` is sent only to ``token_origin`` (a URL; its scheme, host and port). Raises
    :class:`DataError` (refused or unreadable asset), :class:`UnauthorizedError` /
    :class:`ForbiddenError` (sign in), :class:`CatalogueUnavailable` (no answer)."""
    if not (16 <= max_size <= 4096):
        raise DataError(f"A quicklook is 16 to 4096 pixels wide, not {max_size}.")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise DataError("A quicklook needs a positive timeout.")
    key, asset = choose_asset(item, asset_key)
    item_id = str(item.get("id") or "?")
    what = f"asset {key!r} of item {item_id}"
    url = asset_url(item, key, asset)
    home = origin_of(token_origin) if token_origin else None
    same_origin = home is not None and origin_of(url) == home
    bearer: str | None = None
    if token is not None and same_origin:
        bearer = token.access_token.strip()
        if not _TOKEN_RE.fullmatch(bearer):
            raise UnauthorizedError("The access token is malformed: sign in again to see this item's raster.")
    try:
        read = _read_remote(url, gdal_options(url, timeout, bearer), max_size)
    except DataError as exc:
        if isinstance(exc.__cause__, rasterio.errors.RasterioError):
            cause = str(exc.__cause__)
            raise _why(
                url, what, bearer=bearer, same_origin=same_origin, timeout=timeout, cause=cause
            ) from None
        raise DataError(f"The raster of {what}: {_scrub(exc.message, bearer)}", field="asset") from None
    except rasterio.errors.RasterioError as exc:
        raise _why(
            url, what, bearer=bearer, same_origin=same_origin, timeout=timeout, cause=str(exc)
        ) from None
    found = _metadata_style(collection, item, key)
    title = _text(asset.get("title"))
    style, source = found if found else (_data_style(read, collection, item, key, title), "data")
    rows, cols = read.shape
    west, south, east, north = transform_bounds(
        read.crs, "EPSG:4326", *array_bounds(rows, cols, read.transform), densify_pts=21
    )
    return Quicklook(
        item_id=item_id,
        asset_key=key,
        overlay=render_overlay(read, max_size=max_size, style=style),
        style=style,
        bounds=(float(west), float(south), float(east), float(north)),
        source_shape=read.source_shape,
        read_shape=read.shape,
        legend_source=source,
    )


# --------------------------------------------------------------------------- map


def _positions(coords: Any) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) of a GeoJSON geometry's ``coordinates``; ValueError when malformed."""
    if isinstance(coords, list) and coords and all(isinstance(c, int | float) for c in coords):
        if len(coords) < 2 or not all(math.isfinite(float(c)) for c in coords[:2]):
            raise ValueError("not a position")
        yield float(coords[0]), float(coords[1])
    elif isinstance(coords, list) and coords:
        for part in coords:
            yield from _positions(part)
    else:
        raise ValueError("not coordinates")


_GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def _footprints(
    footprints: Mapping[str, Any] | None, selected: str | None
) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    """Clean copies of the footprints (geometry, and an escaped id and title: the tooltip is HTML) and
    all their positions. Features with a malformed geometry are left out."""
    features: list[dict[str, Any]] = []
    points: list[tuple[float, float]] = []
    raw = footprints.get("features") if isinstance(footprints, Mapping) else None
    for feature in raw if isinstance(raw, list) else ():
        geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
        if not isinstance(geometry, Mapping) or geometry.get("type") not in _GEOMETRIES:
            continue
        try:
            positions = list(_positions(geometry.get("coordinates")))
        except ValueError:
            continue
        props = _mapping(feature, "properties")
        fid = _text(props.get("id"), feature.get("id")) or ""
        title = _text(props.get("title")) or fid
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": geometry["type"], "coordinates": geometry["coordinates"]},
                "properties": {
                    "id": html.escape(fid),
                    "title": html.escape(title),
                    "selected": selected is not None and fid == selected,
                },
            }
        )
        points += positions
    return features, points


def _footprint_style(feature: Mapping[str, Any]) -> dict[str, Any]:
    if _mapping(feature, "properties").get("selected"):
        return {"color": "#d9480f", "weight": 3, "fillOpacity": 0.05}
    return {"color": "#0b6bcb", "weight": 1.5, "fillOpacity": 0.08}


def quicklook_map(
    assets: MapAssets,
    *,
    footprints: Mapping[str, Any] | None = None,
    quicklook: Quicklook | None = None,
    selected: str | None = None,
    tiles: str = "OpenStreetMap",
    attribution: str | None = None,
    opacity: float = 0.8,
) -> folium.Map:
    """An offline map (:func:`apex_core.mapview.base_map`) with the items' footprints (a GeoJSON
    FeatureCollection whose features' properties have ``id`` and ``title``; ``selected`` drawn apart),
    their titles as tooltips, and the quicklook with its legend (the Preview page's, ``apex-legend``).
    Fitted to the quicklook, else to the footprints, else to the world."""
    fmap = base_map(assets, tiles=tiles, attribution=attribution)
    features, points = _footprints(footprints, selected)
    if features:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            name="Items",
            style_function=_footprint_style,
            tooltip=folium.GeoJsonTooltip(fields=["title"], labels=False),
            # a point item as a circle: Leaflet's default marker is an image the offline map lacks
            marker=folium.CircleMarker(radius=6, fill=True),
        ).add_to(fmap)
    bounds: Sequence[Sequence[float]] = _WORLD
    if points:
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        bounds = ((min(lats), min(lons)), (max(lats), max(lons)))
    if quicklook is not None:
        add_overlay(fmap, quicklook.overlay, quicklook.style, opacity)
        fw, fs, fe, fn = quicklook.bounds
        bounds = ((fs, fw), (fn, fe))
    fmap.fit_bounds([list(bounds[0]), list(bounds[1])])
    return fmap
