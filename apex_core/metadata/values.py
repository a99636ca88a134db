"""The small values a draft is made of: providers, render hints, the roles and colormaps it offers."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apex_core import ndvi
from apex_core.config import RENDER_COLORMAPS, ndvi_colormap

__all__ = [
    "ADMIN_ONLY_READ_ROLE",
    "COLORMAPS",
    "DEFAULT_DESCRIPTION_RE",
    "DEFAULT_ROLE",
    "PROVIDER_ROLES",
    "STAC_VERSION",
    "Provider",
    "RenderHints",
    "parse_time",
]

STAC_VERSION = "1.1.0"
DEFAULT_DESCRIPTION_RE = re.compile(r"^\s*Results for batch job\b", re.IGNORECASE)
PROVIDER_ROLES = ("licensor", "producer", "processor", "host")
# The embedded catalogue's editor role: a working default offline; production projects use their own.
DEFAULT_ROLE = "apex-editor"
ADMIN_ONLY_READ_ROLE = "anonymous"
COLORMAPS = RENDER_COLORMAPS


@dataclass(frozen=True)
class Provider:
    name: str
    roles: tuple[str, ...] = ()
    url: str | None = None
    description: str | None = None
    # Anything else the back-end put there (processing:expression, processing:software ...), kept as is.
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provider:
        known = {"name", "roles", "url", "description"}
        roles = data.get("roles") or ()
        return cls(
            name=str(data.get("name") or ""),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list | tuple) else (),
            url=str(data["url"]) if data.get("url") else None,
            description=str(data["description"]) if data.get("description") else None,
            extra={k: copy.deepcopy(v) for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.roles:
            out["roles"] = list(self.roles)
        if self.url:
            out["url"] = self.url
        out.update(copy.deepcopy(dict(self.extra)))
        return out


@dataclass(frozen=True)
class RenderHints:
    """One ``renders`` entry of the render extension (v2.0.0); the defaults are the product's
    (:mod:`apex_core.ndvi`), its ``colormap_name`` the NDVI ramp the Preview draws
    (:func:`apex_core.config.ndvi_colormap`, by default ``rdylgn``). ``colormap``: explicit
    ``(value, "RRGGBB")`` colours of a categorical raster (its classes), written as the render's
    ``colormap``."""

    rescale: tuple[float, float] = ndvi.VALUE_RANGE
    colormap_name: str = field(default_factory=ndvi_colormap)
    title: str = ndvi.NAME
    colormap: tuple[tuple[int, str], ...] = ()

    @property
    def key(self) -> str:
        """The key of this entry in ``renders``."""
        if self.title == ndvi.NAME:
            return ndvi.RENDER_KEY
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "default"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderHints:
        lo, hi = data.get("rescale") or ndvi.VALUE_RANGE
        name = data.get("colormap_name")
        return cls(
            rescale=(float(lo), float(hi)),
            colormap_name=ndvi_colormap() if name is None else str(name),
            title=str(data.get("title") or ndvi.NAME),
            colormap=tuple((int(v), str(c)) for v, c in data.get("colormap") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rescale": list(self.rescale),
            "colormap_name": self.colormap_name,
            "title": self.title,
        }
        if self.colormap:
            out["colormap"] = [list(pair) for pair in self.colormap]
        return out


def parse_time(value: str | None) -> dt.datetime | None:
    """An ISO 8601 date-time (``Z`` allowed; UTC when it has no zone); None for an empty value."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
