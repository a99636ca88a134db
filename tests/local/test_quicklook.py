"""The Catalogue page's quicklook read over real HTTP: a loopback server answering ``Range`` requests (a
4096 x 4096 COG: only a small part of it is fetched), the bearer token only for its own origin (also after
a redirect to another host), and the embedded catalogue's asset store (a private collection: the editor
sees the raster, anonymous is told to sign in)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import requests
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from apex_core.catalogue import AccessToken
from apex_core.errors import CatalogueUnavailable, DataError, ForbiddenError, UnauthorizedError, user_message
from apex_core.local.catalogue import CatalogueHandle
from apex_core.quicklook import quicklook
from tests.services import Served, serving
from tests.stacdocs import collection_doc, item_doc, write_land_cover_geotiff

T = 15.0
TOKEN = "tok-" + uuid.uuid4().hex
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def write_big_cog(path: Path, size: int = 4096) -> Path:
    """A float32 COG (512 px tiles, deflate, internal overviews) with a smooth field and noise."""
    rng = np.random.default_rng(3)
    y = np.linspace(0, 3 * np.pi, size, dtype=np.float32)[:, None]
    x = np.linspace(0, 4 * np.pi, size, dtype=np.float32)[None, :]
    data = (0.3 + 0.5 * np.sin(x) * np.cos(y) + rng.normal(0, 0.05, (size, size))).astype(np.float32)
    plain = path.with_name("plain.tif")
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32",
        "crs": "EPSG:32632", "transform": from_origin(680000, 5160000, 10, 10), "nodata": float("nan"),
    }  # fmt: skip
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "NDVI")
    cog_profile = cog_profiles.get("deflate")  # type: ignore[no-untyped-call]
    cog_profile.update(blockxsize=512, blockysize=512)
    cog_translate(str(plain), str(path), cog_profile, overview_resampling="nearest", quiet=True)
    plain.unlink()
    return path


@pytest.fixture(scope="module")
def big_cog(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_big_cog(tmp_path_factory.mktemp("quicklook") / "big.tif").read_bytes()


def item_at(href: str, iid: str = "item-1", cid: str = "col-1") -> dict[str, Any]:
    return item_doc(iid, cid, {"data": {"href": href, "type": COG_TYPE, "roles": ["data"]}})


def test_a_large_cog_is_read_decimated_fetching_a_small_part(big_cog: bytes) -> None:
    served = Served(files={"/big.tif": big_cog})
    with serving(served) as base:
        look = quicklook(item_at(f"{base}/big.tif"), collection_doc("col-1", "x"), max_size=512, timeout=T)
    assert look.source_shape == (4096, 4096)
    assert max(look.read_shape) <= 512
    assert look.legend_source == "data" and look.style.kind == "ndvi"  # the band says NDVI
    sent = served.bytes_sent
    assert 0 < sent < 0.25 * len(big_cog), (sent, len(big_cog))
    assert all(r["range"] for r in served.requests if r["method"] == "GET"), served.requests
    assert look.overlay.png.startswith(b"\x89PNG") and max(look.overlay.shape) <= 512
    west, south, east, north = look.bounds
    assert 11.2 < west < east < 11.9 and 46.1 < south < north < 46.6  # UTM 32N near Bolzano
    assert all(a is None for a in served.authorizations)  # no token given: none sent


def test_a_large_file_without_overviews_is_not_downloaded(tmp_path: Path) -> None:
    path = tmp_path / "striped.tif"
    profile = {
        "driver": "GTiff", "width": 4200, "height": 4000, "count": 1, "dtype": "uint8", "compress": "deflate",
        "crs": "EPSG:32632", "transform": from_origin(680000, 5160000, 10, 10),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write((np.arange(4200, dtype=np.uint8)[None, :] * np.ones((4000, 1), np.uint8)), 1)
    body = path.read_bytes()
    served = Served(files={"/striped.tif": body})
    with serving(served) as base, pytest.raises(DataError, match="without overviews") as info:
        quicklook(item_at(f"{base}/striped.tif"), {}, timeout=T)
    assert "'data' of item item-1" in str(info.value)
    assert served.bytes_sent < 0.25 * len(body)


def test_the_token_goes_to_its_own_origin_only(big_cog: bytes, tmp_path: Path) -> None:
    small = write_land_cover_geotiff(tmp_path / "lc.tif", (11.0, 46.0, 11.1, 46.1), (600, 400)).read_bytes()
    home, other = Served(files={"/lc.tif": small}), Served(files={"/lc.tif": small})
    token = AccessToken(TOKEN)
    with serving(home) as home_url, serving(other) as other_url:
        mine = quicklook(item_at(f"{home_url}/lc.tif"), {}, token=token, token_origin=home_url, timeout=T)
        assert home.authorizations and all(a == f"Bearer {TOKEN}" for a in home.authorizations)
        assert mine.legend_source == "data" and mine.style.kind == "categorical"
        assert {c.title for c in mine.style.classes} >= {"Class 10", "Class 80"}

        quicklook(item_at(f"{other_url}/lc.tif"), {}, token=token, token_origin=home_url, timeout=T)
        assert other.requests and all(a is None for a in other.authorizations), other.requests
        # the same host on another port is another origin
        assert home_url.rsplit(":", 1)[0] == other_url.rsplit(":", 1)[0]

        # a redirect from the home origin to another host: the token stays home
        home.redirect["/moved.tif"] = f"{other_url}/lc.tif"
        before = len(other.requests)
        quicklook(item_at(f"{home_url}/moved.tif"), {}, token=token, token_origin=home_url, timeout=T)
        assert len(other.requests) > before
        assert all(a is None for a in other.authorizations), other.requests


def test_a_signed_in_read_leaves_nothing_for_an_anonymous_one(tmp_path: Path) -> None:
    small = write_land_cover_geotiff(tmp_path / "lc.tif", (11.0, 46.0, 11.1, 46.1), (300, 200)).read_bytes()
    served = Served(files={"/lc.tif": small}, required_auth=f"Bearer {TOKEN}")
    with serving(served) as base:
        item = item_at(f"{base}/lc.tif")
        quicklook(item, {}, token=AccessToken(TOKEN), token_origin=base, timeout=T)
        # GDAL's HTTP cache would answer this from the signed-in read: it is off for quicklooks
        with pytest.raises(UnauthorizedError, match="sign in"):
            quicklook(item, {}, token_origin=base, timeout=T)
        assert served.authorizations[-1] is None


def test_http_errors_are_clear_and_never_show_the_token(tmp_path: Path) -> None:
    small = write_land_cover_geotiff(tmp_path / "lc.tif", (11.0, 46.0, 11.1, 46.1), (300, 200)).read_bytes()
    served = Served(
        files={"/ok.tif": small, "/html.tif": b"<html>not a tiff</html>" * 50},
        status={"/private.tif": 401, "/forbidden.tif": 403, "/broken.tif": 500},
    )
    token = AccessToken(TOKEN)
    with serving(served) as base:

        def look(name: str, **kw: Any) -> Exception:
            with pytest.raises((DataError, UnauthorizedError, ForbiddenError, CatalogueUnavailable)) as info:
                quicklook(item_at(f"{base}/{name}"), {}, token_origin=base, timeout=T, **kw)
            text = f"{info.value} {user_message(info.value)}"
            assert TOKEN not in text and "data" in text, text  # the asset is named
            return info.value

        assert isinstance(look("private.tif"), UnauthorizedError)
        assert "sign in" in str(look("private.tif", token=token))
        forbidden = look("forbidden.tif", token=token)
        assert isinstance(forbidden, ForbiddenError) and "sign in" in str(forbidden)
        missing = look("missing.tif", token=token)  # signed in and still missing: it is not there
        assert type(missing) is DataError and "not found" in str(missing)
        hidden = look("missing.tif")  # anonymous at the catalogue's own store: may be private
        assert isinstance(hidden, UnauthorizedError) and "sign in" in str(hidden)
        assert isinstance(look("broken.tif"), CatalogueUnavailable)
        not_tiff = look("html.tif")
        assert type(not_tiff) is DataError and "not a readable GeoTIFF" in str(not_tiff)
    # nothing listens there any more
    with pytest.raises(CatalogueUnavailable) as gone:
        quicklook(item_at(f"{base}/ok.tif"), {}, timeout=5)
    assert "data" in str(gone.value)


# --------------------------------------------------------------------------- the embedded catalogue


PRIVATE = {"read": ["apex-editor"], "write": ["apex-editor"]}


@pytest.fixture
def private_collection(
    catalogue: CatalogueHandle, auth_header: Callable[[str], dict[str, str]]
) -> Iterator[str]:
    cid = f"ql-{uuid.uuid4().hex[:10]}"
    doc = {**collection_doc(cid, "Quicklook test"), "_auth": PRIVATE}
    created = requests.post(
        f"{catalogue.url}/collections", json=doc, headers=auth_header("editor"), timeout=T
    )
    assert created.status_code == 201, created.text
    yield cid
    requests.delete(f"{catalogue.url}/collections/{cid}", headers=auth_header("admin"), timeout=T)


@pytest.mark.services
def test_a_private_item_on_the_catalogue_store_needs_its_reader(
    catalogue: CatalogueHandle,
    auth_header: Callable[[str], dict[str, str]],
    token_for: Callable[[str], str],
    private_collection: str,
    tmp_path: Path,
) -> None:
    cid = private_collection
    editor = auth_header("editor")
    tif = write_land_cover_geotiff(tmp_path / "lc.tif", (11.0, 46.0, 11.5, 46.5), (1400, 1000))
    href = f"{catalogue.assets_url}/{cid}/lc.tif"
    put = requests.put(href, data=tif.read_bytes(), headers=editor, timeout=T)
    assert put.status_code == 201, put.text
    classes = [
        {"value": 10, "name": "tree-cover", "title": "Tree cover", "color_hint": "006400"},
        {"value": 80, "name": "water", "title": "Permanent water bodies", "color_hint": "0064C8"},
    ]
    item = item_doc("lc-2022", cid, {"map": {"href": href, "type": COG_TYPE, "roles": ["data"]}})
    item["assets"]["map"]["classification:classes"] = classes
    posted = requests.post(f"{catalogue.url}/collections/{cid}/items", json=item, headers=editor, timeout=T)
    assert posted.status_code in (200, 201), posted.text
    stored = requests.get(
        f"{catalogue.url}/collections/{cid}/items/lc-2022", headers=editor, timeout=T
    ).json()
    collection = requests.get(f"{catalogue.url}/collections/{cid}", headers=editor, timeout=T).json()

    token = AccessToken(token_for("editor"))
    look = quicklook(stored, collection, token=token, token_origin=catalogue.url, timeout=T, max_size=256)
    assert look.asset_key == "map" and look.legend_source == "classification"
    assert look.style.kind == "categorical"
    assert [(c.value, c.title, c.color) for c in look.style.classes] == [
        (10, "Tree cover", "#006400"),
        (80, "Permanent water bodies", "#0064c8"),
    ]
    assert look.source_shape == (1000, 1400) and max(look.read_shape) <= 256
    west, south, east, north = look.bounds
    assert (round(west, 3), round(south, 3), round(east, 3), round(north, 3)) == (11.0, 46.0, 11.5, 46.5)

    # anonymous, right after the editor's read: refused (GDAL kept nothing of the signed-in read)
    with pytest.raises((UnauthorizedError, ForbiddenError)) as anonymous:
        quicklook(stored, collection, token_origin=catalogue.url, timeout=T)
    assert "sign in" in str(anonymous.value) and token.access_token not in str(anonymous.value)
    # a token meant for the catalogue is not sent elsewhere: the same file via another origin is refused
    with pytest.raises((UnauthorizedError, ForbiddenError, DataError)):
        quicklook(stored, collection, token=token, token_origin="https://elsewhere.example", timeout=T)
    # a role without read access
    with pytest.raises((UnauthorizedError, ForbiddenError, DataError)) as noroles:
        quicklook(
            stored, collection, token=AccessToken(token_for("noroles")), token_origin=catalogue.url, timeout=T
        )
    assert token_for("noroles") not in str(noroles.value)
