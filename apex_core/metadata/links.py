"""Asset links: when a signed href expires, and whether each answers (HEAD, then a 1-byte GET)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import requests

__all__ = [
    "EXPIRING_SOON",
    "AssetExpiry",
    "Reachability",
    "asset_expiries",
    "asset_hrefs",
    "check_reachable",
    "format_time_left",
    "href_expiry",
    "short_href",
]

EXPIRING_SOON = dt.timedelta(hours=24)


def short_href(href: str) -> str:
    """``href`` without its query (a signed link's signature stays out of messages and tables)."""
    parts = urlsplit(href)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else href.split("?")[0]


def href_expiry(href: str) -> dt.datetime | None:
    """When a signed href stops working (UTC), from its query; None when it carries no expiry.

    Understands openEO's ``expires=<epoch seconds>``, S3 presigned ``X-Amz-Date`` + ``X-Amz-Expires``,
    Google's ``X-Goog-Date`` + ``X-Goog-Expires`` and Azure SAS ``se=<ISO time>``.
    """
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(href).query, keep_blank_values=True)}
    for prefix in ("x-amz-", "x-goog-"):
        start, seconds = query.get(prefix + "date"), query.get(prefix + "expires")
        if start and seconds:
            try:
                t0 = dt.datetime.strptime(start, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                return t0 + dt.timedelta(seconds=int(seconds))
            except ValueError:
                return None
    if "expires" in query:
        try:
            return dt.datetime.fromtimestamp(int(float(query["expires"])), tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if "se" in query and "sig" in query:
        try:
            return dt.datetime.fromisoformat(query["se"].replace("Z", "+00:00")).astimezone(dt.UTC)
        except ValueError:
            return None
    return None


def format_time_left(seconds: float) -> str:
    """``"6 d 23 h left"``, ``"3 h 5 min left"``, ``"expired 2 d ago"``."""
    left = abs(int(seconds))
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"{text} left" if seconds > 0 else f"expired {text} ago"


@dataclass(frozen=True)
class AssetExpiry:
    owner: str  # "collection" or "item <id>"
    key: str
    href: str
    expires_at: dt.datetime | None
    seconds_left: float | None

    @property
    def status(self) -> Literal["unsigned", "ok", "expiring", "expired"]:
        if self.seconds_left is None:
            return "unsigned"
        if self.seconds_left <= 0:
            return "expired"
        return "expiring" if self.seconds_left < EXPIRING_SOON.total_seconds() else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "key": self.key,
            "href": short_href(self.href),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "time_left": format_time_left(self.seconds_left)
            if self.seconds_left is not None
            else "no expiry",
            "status": self.status,
        }


def asset_hrefs(
    collection: Mapping[str, Any], items: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str, str]]:
    out = [
        ("collection", str(k), str(a.get("href", ""))) for k, a in (collection.get("assets") or {}).items()
    ]
    for item in items:
        for k, a in (item.get("assets") or {}).items():
            out.append((f"item {item.get('id')}", str(k), str(a.get("href", ""))))
    return out


def asset_expiries(
    collection: Mapping[str, Any], items: Iterable[Mapping[str, Any]], now: dt.datetime | None = None
) -> tuple[AssetExpiry, ...]:
    """Every asset (collection-level and item-level) with when its signed href expires."""
    when = now or dt.datetime.now(dt.UTC)
    out = []
    for owner, key, href in asset_hrefs(collection, items):
        expires = href_expiry(href)
        left = (expires - when).total_seconds() if expires else None
        out.append(AssetExpiry(owner, key, href, expires, left))
    return tuple(out)


@dataclass(frozen=True)
class Reachability:
    href: str
    ok: bool
    status: int | None
    detail: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reachability:
        status = data.get("status")
        return cls(
            str(data["href"]),
            bool(data["ok"]),
            int(status) if status is not None else None,
            str(data["detail"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"href": self.href, "ok": self.ok, "status": self.status, "detail": self.detail}


def check_reachable(
    hrefs: Iterable[str], timeout: float, session: requests.Session | None = None
) -> tuple[Reachability, ...]:
    """HEAD each http(s) href (then a 1-byte ranged GET if HEAD is refused, as S3 presigned GET URLs do)."""
    http = session or requests.Session()
    out = []
    for href in dict.fromkeys(hrefs):
        if urlsplit(href).scheme not in ("http", "https"):
            out.append(Reachability(href, False, None, "not an http(s) URL: cannot be checked from here"))
            continue
        try:
            resp = http.head(href, timeout=timeout, allow_redirects=True)
            if resp.status_code >= 400:
                resp = http.get(href, timeout=timeout, headers={"Range": "bytes=0-0"}, stream=True)
                resp.close()
        except requests.RequestException as exc:
            out.append(Reachability(href, False, None, f"unreachable ({type(exc).__name__})"))
            continue
        ok = resp.status_code < 400
        out.append(
            Reachability(href, ok, resp.status_code, "reachable" if ok else f"HTTP {resp.status_code}")
        )
    return tuple(out)
