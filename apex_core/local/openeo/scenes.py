"""App-side client of the embedded backend's observation discovery (``GET <openeo_url>/scenes/search``).

Lets the app offer real acquisition dates (with cloud cover) for an area, over HTTP, without
importing any raster library.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import requests

from apex_core.errors import BackendError, ServiceError
from apex_core.local.openeo.model import Scene

__all__ = ["search_scenes"]

logger = logging.getLogger(__name__)


def _iso(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ".."
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def search_scenes(
    openeo_url: str,
    *,
    bbox: Sequence[float] | None = None,
    start: dt.date | dt.datetime | None = None,
    end: dt.date | dt.datetime | None = None,
    max_cloud_cover: float | None = None,
    limit: int = 1000,
    timeout: float = 30.0,
    session: requests.Session | None = None,
) -> list[Scene]:
    """Observations of ``SENTINEL2_L2A`` intersecting ``bbox`` (W, S, E, N in WGS84), newest first.

    ``start``/``end`` bound the acquisition time: ``[start, end)``; a date ``end`` equal to ``start``
    means that one day. Raises :class:`~apex_core.errors.ServiceError` when the backend cannot be
    reached and :class:`~apex_core.errors.BackendError` when it refuses the request (or offers no
    scene search, as production backends do not).
    """
    params: dict[str, Any] = {"limit": limit}
    if bbox is not None:
        if len(bbox) != 4:
            raise ValueError("bbox must be (west, south, east, north)")
        params["bbox"] = ",".join(f"{float(v):.6f}" for v in bbox)
    if start is not None or end is not None:
        params["datetime"] = f"{_iso(start)}/{_iso(end)}"
    if max_cloud_cover is not None:
        params["max_cloud_cover"] = max_cloud_cover
    url = openeo_url.rstrip("/") + "/scenes/search"
    http = session or requests.Session()
    try:
        resp = http.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise ServiceError(f"The openEO backend at {openeo_url} cannot be reached: {exc}") from exc
    finally:
        if session is None:
            http.close()
    if resp.status_code == 404:
        raise BackendError(
            f"The openEO backend at {openeo_url} offers no scene search.", code="NotFound", status=404
        )
    if resp.status_code >= 400:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        raise BackendError(
            str(body.get("message") or f"Scene search failed: HTTP {resp.status_code}"),
            code=body.get("code"),
            status=resp.status_code,
            request_id=body.get("id") or resp.headers.get("Request-Id"),
        )
    try:
        features = resp.json()["features"]
        scenes = [Scene.from_stac_item(f) for f in features]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(
            f"The scene search of {openeo_url} answered an unreadable document: {exc}"
        ) from exc
    logger.debug("scene search %s: %d scene(s)", params, len(scenes))
    return scenes
