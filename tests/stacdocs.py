"""Small STAC documents and GeoTIFFs that several test modules publish (one place for their shape)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_bounds, from_origin

__all__ = [
    "EDITOR_AUTH",
    "PUBLIC_AUTH",
    "canary_collection",
    "canary_item",
    "collection_doc",
    "item_doc",
    "publish_two_dates",
    "write_land_cover_geotiff",
    "write_ndvi_geotiff",
]

EDITOR_AUTH = {"read": ["apex-editor"], "write": ["apex-editor"]}
PUBLIC_AUTH = {"read": ["anonymous"], "write": ["apex-editor"]}  # readable by everyone, written by editors


def collection_doc(cid: str, description: str, **extra: Any) -> dict[str, Any]:
    """A minimal valid collection over Bolzano on 2022-06-12, readable and writable by the editor role."""
    return {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.1.0",
        "description": description,
        "license": "CC-BY-4.0",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[11.0, 46.0, 11.5, 46.5]]},
            "temporal": {"interval": [["2022-06-12T00:00:00Z", "2022-06-12T23:59:59Z"]]},
        },
        "_auth": EDITOR_AUTH,
        **extra,
    }


def item_doc(iid: str, cid: str, assets: dict[str, Any] | None = None) -> dict[str, Any]:
    """A minimal valid item (a point in Bolzano, 2022-06-12) of collection ``cid``."""
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [11.3, 46.4]},
        "bbox": [11.3, 46.4, 11.3, 46.4],
        "properties": {"datetime": "2022-06-12T10:00:00Z"},
        "links": [],
        "assets": assets or {},
    }


def canary_collection(cid: str, auth: Any = None, **extra: Any) -> dict[str, Any]:
    """A collection on Gran Canaria from 2019-08-19 on, with ``auth`` as its ``_auth`` when given."""
    doc: dict[str, Any] = {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.1.0",
        "description": "test collection",
        "license": "CC-BY-4.0",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-16.0, 27.6, -15.3, 28.2]]},
            "temporal": {"interval": [["2019-08-19T00:00:00Z", None]]},
        },
        **extra,
    }
    if auth is not None:
        doc["_auth"] = auth
    return doc


def canary_item(iid: str, cid: str, **extra: Any) -> dict[str, Any]:
    """An item on Gran Canaria, 2019-08-19 (not the Bolzano item above): the conformance test's validator
    searches the shared catalogue from its newest item, so tests of the shared catalogue write these."""
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [-15.6, 27.9]},
        "bbox": [-15.6, 27.9, -15.6, 27.9],
        "properties": {"datetime": "2019-08-19T11:52:21Z"},
        "links": [],
        "assets": {},
        **extra,
    }


def write_ndvi_geotiff(path: Path, size: int = 256) -> Path:
    """A plain (not cloud-optimised) one-band float32 GeoTIFF in UTM 32N with values in [-1, 1)."""
    data = (np.arange(size * size, dtype=np.float32).reshape(size, size) % 200) / 100 - 1
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32632",
        "transform": from_origin(680000, 5160000, 10, 10),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


LAND_COVER_CLASSES = np.array([10, 20, 30, 40, 50, 60, 80, 90], dtype="uint8")


def write_land_cover_geotiff(
    path: Path, bbox: tuple[float, float, float, float], size: tuple[int, int] = (1400, 1000)
) -> Path:
    """A GeoTIFF laid out like CDSE's land-cover results (``../shared/fixtures/cdse-2026-04``): uint8
    band ``MAP`` of WorldCover classes, nodata 0 (the first 50 rows), EPSG:4326, 512 px tiles, overviews."""
    width, height = size
    data = np.random.default_rng(7).choice(LAND_COVER_CLASSES, size=(height, width))
    data[:50] = 0
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "uint8",
        "crs": "EPSG:4326", "transform": from_bounds(*bbox, width, height), "nodata": 0,
        "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "MAP")
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], Resampling.nearest)
    return path


OWN_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def embedded_job_results() -> dict[str, Any]:
    """The embedded backend's recorded job results document (``tests/fixtures/README.md``)."""
    doc: dict[str, Any] = json.loads((OWN_FIXTURES / "embedded_job_results.json").read_text())
    return doc


def embedded_job_item() -> dict[str, Any]:
    """The item the recorded job results' signed ``item`` link returned."""
    doc: dict[str, Any] = json.loads((OWN_FIXTURES / "embedded_job_item.json").read_text())
    return doc


def publish_two_dates(
    catalogue_url: str, assets_url: str, token: str, cid: str, tif: Path, auth: dict[str, list[str]]
) -> tuple[str, str]:
    """Publish collection ``cid`` (title ``Title of <cid>``, ``auth`` as its ``_auth``) with two items,
    2022-06-12 and 2022-07-01, whose GeoTIFF ``tif`` is re-hosted as a COG in the catalogue's asset
    store at ``assets_url``, through the app's own publish code; returns the two item ids."""
    from apex_core.catalogue import CatalogueClient
    from apex_core.publish import PublishPlan, publish

    source = f"https://openeo.example/jobs/{cid}/results/map.tif"
    assets = {"map": {"href": source, "type": "image/tiff; application=geotiff", "roles": ["data"]}}
    first, second = item_doc(f"{cid}_20220612", cid, assets), item_doc(f"{cid}_20220701", cid, assets)
    second["properties"]["datetime"] = "2022-07-01T10:00:00Z"
    collection = collection_doc(cid, f"Catalogue test **{cid}**", title=f"Title of {cid}")
    collection["_auth"] = auth
    plan = PublishPlan.from_dict({"collection": collection, "items": [first, second]})
    with CatalogueClient(catalogue_url, token, timeout=30.0) as client:
        result = publish(client, plan, rehost_to=assets_url, local_files={source: tif})
    assert result.ok, result.error
    return first["id"], second["id"]
