"""Re-hosted COGs follow EXPLORER-REC-01/02/03 (512 px tiles, overviews by factors of two down to one
tile, band interleave), checked by downloading what the embedded catalogue's asset store holds and
reading it back with rasterio; other data files (CSV, JSON) are stored byte for byte with their media
type; a COG that breaks a rule is refused before anything is stored."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import requests
from rasterio.enums import Interleaving
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

import apex_core.assets as assets_module
from apex_core.assets import COG_MEDIA_TYPE, RehostResult, multihash_sha256, overview_level, rehost_assets
from apex_core.catalogue import CatalogueClient
from apex_core.errors import AssetError
from apex_core.local.catalogue import CatalogueHandle
from apex_core.publish import PublishPlan, publish
from tests.stacdocs import collection_doc, item_doc

pytestmark = pytest.mark.services

T = 30.0
EXPIRED = "https://openeo.example/jobs/j-1/results/assets/{name}?expires=1700000000&sig=abc"


def write_geotiff(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None = None,
    tiled: bool = False,
    interleave: str = "pixel",
) -> Path:
    """A plain GeoTIFF (striped unless ``tiled``: 256 px tiles) in UTM 32N of ``data`` (bands, rows, cols)."""
    count, height, width = data.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": str(data.dtype),
        "crs": "EPSG:32632",
        "transform": from_origin(680000, 5160000, 10, 10),
        "nodata": nodata,
        "interleave": interleave,
    }
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.fixture
def editor(
    catalogue: CatalogueHandle, token_for: Callable[[str], str]
) -> Iterator[tuple[CatalogueClient, str]]:
    token = token_for("editor")
    with CatalogueClient(catalogue.url, token, timeout=T) as client:
        yield client, token


def rehost(
    client: CatalogueClient, catalogue: CatalogueHandle, files: dict[str, tuple[Path, dict[str, Any]]]
) -> RehostResult:
    """Re-host ``files`` (asset key -> local file, extra asset fields) of one item behind expired links."""
    cid = f"layout-{uuid.uuid4().hex[:10]}"
    assets = {key: {"href": EXPIRED.format(name=path.name), **extra} for key, (path, extra) in files.items()}
    local = {assets[key]["href"]: path for key, (path, _) in files.items()}
    item = item_doc("i0", cid, assets)
    return rehost_assets(
        client, catalogue.assets_url, collection_doc(cid, "COG layout test"), [item], local_files=local
    )


def download(asset: dict[str, Any], token: str, target: Path) -> Path:
    """The stored file (staged before its collection exists: the editor's token reads it)."""
    got = requests.get(asset["href"], headers={"Authorization": f"Bearer {token}"}, timeout=T)
    assert got.status_code == 200, got.status_code
    assert len(got.content) == asset["file:size"]
    assert multihash_sha256(got.content) == asset["file:checksum"]
    target.write_bytes(got.content)
    return target


def assert_explorer_layout(path: Path, factors: list[int]) -> None:
    valid, errors, _warnings = cog_validate(str(path), quiet=True)
    assert valid and not errors, errors
    with rasterio.open(path) as cog:
        assert cog.profile["tiled"] is True
        assert set(cog.block_shapes) == {(512, 512)}
        for band in cog.indexes:
            assert cog.overviews(band) == factors
        assert all(f == 2 ** (n + 1) for n, f in enumerate(factors))
        side = max(cog.width, cog.height)
        assert math.ceil(side / (factors[-1] if factors else 1)) <= 512  # the smallest is one tile
        if len(factors) > 1:  # and not a level further than needed
            assert math.ceil(side / factors[-2]) > 512


def test_overview_level_reaches_one_512_tile() -> None:
    assert overview_level(300, 200) == 0
    assert overview_level(512, 512) == 0
    assert overview_level(513, 10) == 1
    assert overview_level(3000, 2000) == 3  # 375 px
    assert overview_level(12503, 9454) == 5  # the land-cover file: 391 px at factor 32


def test_striped_float_becomes_512_tiles_with_halving_overviews(
    catalogue: CatalogueHandle, editor: tuple[CatalogueClient, str], tmp_path: Path
) -> None:
    client, token = editor
    rows, cols = np.mgrid[0:2000, 0:3000]
    data = (np.sin(rows / 37.0) * np.cos(cols / 53.0)).astype(np.float32)[np.newaxis]
    data[0, 1500:1600, 100:400] = -9999.0  # nodata
    source = write_geotiff(tmp_path / "ndvi.tif", data, nodata=-9999.0)
    with rasterio.open(source) as src:
        assert src.profile.get("tiled") is False  # the input is striped

    hosted = rehost(client, catalogue, {"ndvi": (source, {"type": "image/tiff; application=geotiff"})})

    asset = hosted.items[0]["assets"]["ndvi"]
    assert asset["type"] == COG_MEDIA_TYPE and asset["href"].startswith(catalogue.assets_url)
    assert hosted.hosted[0].layout == "512 px tiles, overviews 2/4/8, band interleave"
    cog = download(asset, token, tmp_path / "got.tif")
    assert_explorer_layout(cog, [2, 4, 8])
    with rasterio.open(cog) as out:
        assert out.nodata == -9999.0 and out.dtypes == ("float32",)
        assert np.array_equal(out.read(), data)
        assert out.tags()["OVERVIEW_RESAMPLING"] == "AVERAGE"  # continuous data is averaged
    with rasterio.open(cog, overview_level=0) as half:
        first = half.read(1, window=((0, 1), (0, 1)))[0, 0]
        assert first == pytest.approx(float(data[0, 0:2, 0:2].mean()), rel=1e-5)


def test_three_band_pixel_interleaved_becomes_band_interleaved(
    catalogue: CatalogueHandle, editor: tuple[CatalogueClient, str], tmp_path: Path
) -> None:
    client, token = editor
    rows, cols = np.mgrid[0:1100, 0:1500]
    classes = np.array([10, 20, 30, 40], dtype=np.uint8)
    data = np.stack([classes[(rows // 50 + cols // 70 + b) % 4] for b in range(3)])
    data[:, :40, :40] = 255
    source = write_geotiff(tmp_path / "rgb.tif", data, nodata=255, tiled=True, interleave="pixel")
    with rasterio.open(source) as src:
        assert src.interleaving == Interleaving.pixel

    hosted = rehost(client, catalogue, {"rgb": (source, {"roles": ["data"]})})  # no type: by suffix

    asset = hosted.items[0]["assets"]["rgb"]
    assert asset["type"] == COG_MEDIA_TYPE
    assert hosted.hosted[0].layout == "512 px tiles, overviews 2/4, band interleave"
    cog = download(asset, token, tmp_path / "got.tif")
    assert_explorer_layout(cog, [2, 4])
    with rasterio.open(cog) as out:
        assert out.interleaving == Interleaving.band and out.count == 3
        assert out.nodata == 255
        assert np.array_equal(out.read(), data)
        assert out.tags()["OVERVIEW_RESAMPLING"] == "NEAREST"  # categorical: no invented classes
    with rasterio.open(cog, overview_level=1) as quarter:
        assert set(np.unique(quarter.read())) <= {10, 20, 30, 40, 255}


def test_small_file_needs_no_overviews(
    catalogue: CatalogueHandle, editor: tuple[CatalogueClient, str], tmp_path: Path
) -> None:
    client, token = editor
    data = (np.arange(300 * 200, dtype=np.int16).reshape(1, 200, 300) % 500) - 1
    source = write_geotiff(tmp_path / "small.tif", data, nodata=-1)

    hosted = rehost(client, catalogue, {"small": (source, {"type": "image/tiff"})})

    assert hosted.hosted[0].layout == "512 px tiles, no overviews, band interleave"
    cog = download(hosted.items[0]["assets"]["small"], token, tmp_path / "got.tif")
    assert_explorer_layout(cog, [])
    with rasterio.open(cog) as out:
        assert out.nodata == -1 and np.array_equal(out.read(), data)


def test_csv_and_json_are_stored_byte_for_byte(
    catalogue: CatalogueHandle, editor: tuple[CatalogueClient, str], tmp_path: Path
) -> None:
    client, token = editor
    csv = tmp_path / "timeseries.csv"
    csv.write_bytes(b"date,mean\r\n2022-06-12,0.41\r\n2022-06-17,0.43\r\n\xef\xbb\xbf")  # CRLF and odd bytes
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"mean": 0.42}, indent=1))

    hosted = rehost(
        client,
        catalogue,
        {
            "timeseries": (csv, {"roles": ["data"]}),  # no type: from the file name
            "stats.json": (stats, {"type": "application/json", "roles": ["data"]}),
        },
    )

    item = hosted.items[0]
    got_csv = item["assets"]["timeseries"]
    assert got_csv["type"] == "text/csv" and got_csv["roles"] == ["data"]
    assert got_csv["href"].startswith(catalogue.assets_url) and got_csv["href"].endswith(".csv")
    assert download(got_csv, token, tmp_path / "got.csv").read_bytes() == csv.read_bytes()
    got_json = item["assets"]["stats.json"]
    assert got_json["type"] == "application/json"
    assert download(got_json, token, tmp_path / "got.json").read_bytes() == stats.read_bytes()
    assert {h.key: (h.media_type, h.layout) for h in hosted.files} == {
        "timeseries": ("text/csv", None),
        "stats.json": ("application/json", None),
    }
    assert hosted.cogs == ()
    assert any("file/v2" in e for e in item["stac_extensions"])


def test_publish_notes_say_the_cogs_were_checked(
    catalogue: CatalogueHandle, editor: tuple[CatalogueClient, str], tmp_path: Path
) -> None:
    client, token = editor
    tif = write_geotiff(tmp_path / "small.tif", np.ones((1, 200, 300), dtype=np.float32))
    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n1,2\n")
    cid = f"layout-{uuid.uuid4().hex[:10]}"
    tif_href, csv_href = EXPIRED.format(name="small.tif"), EXPIRED.format(name="points.csv")
    assets = {
        "small": {"href": tif_href, "type": "image/tiff; application=geotiff", "roles": ["data"]},
        "points": {"href": csv_href, "roles": ["data"]},
    }
    plan = PublishPlan.from_dict(
        {"collection": collection_doc(cid, "COG notes test"), "items": [item_doc("i0", cid, assets)]}
    )
    try:
        done = publish(
            client, plan, rehost_to=catalogue.assets_url, local_files={tif_href: tif, csv_href: csv}
        )
        assert done.ok, done.error
        cogs = [n for n in done.notes if n.startswith("1 GeoTIFF assets re-hosted as COGs")]
        assert len(cogs) == 1 and "EXPLORER-REC-01/02/03" in cogs[0] and "512 px tiles" in cogs[0], done.notes
        assert any(n.startswith("1 other data files (text/csv) re-hosted unchanged") for n in done.notes)
        stored = client.get_item(cid, "i0")
        assert stored is not None and stored["assets"]["points"]["type"] == "text/csv"
    finally:
        requests.delete(
            f"{catalogue.url}/collections/{cid}", headers={"Authorization": f"Bearer {token}"}, timeout=T
        )


def test_a_cog_breaking_the_tile_rule_is_refused_and_not_stored(
    catalogue: CatalogueHandle,
    editor: tuple[CatalogueClient, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _token = editor
    real = assets_module._cog_profile

    def small_tiles(dtype: str) -> dict[str, Any]:
        return {**real(dtype), "blockxsize": 128, "blockysize": 128}

    monkeypatch.setattr(assets_module, "_cog_profile", small_tiles)
    source = write_geotiff(tmp_path / "ndvi.tif", np.zeros((1, 700, 900), dtype=np.float32))
    before = len(client.log)

    with pytest.raises(AssetError) as refused:
        rehost(client, catalogue, {"ndvi": (source, {"type": "image/tiff"})})

    assert "EXPLORER-REC-01" in refused.value.message and "128×128" in refused.value.message
    assert not [e for e in client.log[before:] if e.method == "PUT"]  # nothing was stored


class RecordingStore:
    """An asset store that keeps what it is given (to prove nothing was)."""

    base_url = "https://store.example/assets"
    label = "a recording store"

    def __init__(self) -> None:
        self.stored: list[tuple[str, bytes]] = []

    def put(self, path: str, data: bytes, media_type: str, log: list[Any]) -> str:
        self.stored.append((path, data))
        return f"{self.base_url}/{path}"


@pytest.mark.parametrize("href", ["/proc/self/environ", "file:///etc/passwd", "../../secret.csv"])
def test_a_local_path_in_a_document_is_never_read(
    catalogue: CatalogueHandle, editor: tuple[CatalogueClient, str], href: str
) -> None:
    """A results document naming a file of the server (a path or ``file:`` link) cannot make the app
    publish that file: only http(s) links and the files the app itself holds are re-hosted."""
    client, _token = editor
    store = RecordingStore()
    item = item_doc("i0", "hostile", {"data": {"href": href, "type": "text/csv", "roles": ["data"]}})
    with pytest.raises(AssetError, match="only http\\(s\\) links and the result files on this machine"):
        rehost_assets(client, store, collection_doc("hostile", "hostile"), [item])
    assert store.stored == []
