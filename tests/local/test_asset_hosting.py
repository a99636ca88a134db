"""Re-hosting assets on an S3-compatible bucket (moto's server on loopback, real boto3 over HTTP), then
publishing to the embedded catalogue: COGs downloadable at plain URLs with matching checksums; bad
credentials and a missing bucket are clear messages, and the credentials never reach the log."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from rio_cogeo.cogeo import cog_validate

from apex_core.assets import COG_MEDIA_TYPE, multihash_sha256, rehost_assets
from apex_core.catalogue import CatalogueClient
from apex_core.config import Settings
from apex_core.errors import AssetError, user_message
from apex_core.local.catalogue import CatalogueHandle
from apex_core.publish import ASSETS_STEP, PublishPlan, log_json, publish
from apex_core.storage import CatalogueAssetStore, S3AssetStore, S3Location, asset_store
from tests.services import S3Server
from tests.stacdocs import collection_doc, item_doc, write_ndvi_geotiff

pytestmark = pytest.mark.services

T = 15.0
SOURCE = "https://openeo.example/jobs/j-1/results/assets/openEO.tif?expires=1700000000&sig=abc"


@pytest.fixture
def geotiff(tmp_path: Path) -> Path:
    return write_ndvi_geotiff(tmp_path / "ndvi.tif")


@pytest.fixture
def collection_id(catalogue: CatalogueHandle, token_for: Callable[[str], str]) -> Iterator[str]:
    cid = f"s3-{uuid.uuid4().hex[:10]}"
    yield cid
    headers = {"Authorization": f"Bearer {token_for('admin')}"}
    requests.delete(f"{catalogue.url}/collections/{cid}", headers=headers, timeout=T)


def plan_of(cid: str) -> PublishPlan:
    assets = {"openEO.tif": {"href": SOURCE, "type": "image/tiff; application=geotiff"}}
    collection = collection_doc(cid, "S3 asset hosting test")
    return PublishPlan.from_dict(
        {"collection": collection, "items": [item_doc("ndvi-2022-06-12", cid, assets)]}
    )


def settings_for(s3: S3Server, bucket: str, **overrides: str) -> Settings:
    env = {
        "APEX_S3_ENDPOINT_URL": s3.endpoint_url,
        "APEX_S3_BUCKET": bucket,
        "APEX_S3_PREFIX": "published/",
        "APEX_S3_REGION": s3.region,
        "APEX_S3_ACCESS_KEY_ID": s3.access_key_id,
        "APEX_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        **overrides,
    }
    return Settings.load(environ=env)


def test_settings_keep_the_s3_credentials_secret(s3_server: S3Server) -> None:
    settings = settings_for(s3_server, "some-bucket")
    shown = f"{settings!r} {settings.to_dict()}"
    assert s3_server.secret_access_key not in shown and s3_server.access_key_id not in shown
    assert settings.to_dict()["s3_secret_access_key"] == "***"
    store = S3AssetStore.from_settings(settings)
    assert store is not None and s3_server.secret_access_key not in repr(store)
    assert store.location == S3Location(
        "some-bucket", "published", s3_server.endpoint_url, s3_server.region, None
    )
    assert store.base_url == f"{s3_server.endpoint_url}/some-bucket/published"
    public = S3Location.from_dict({**store.location.to_dict(), "public_url": "https://cdn.example.org/x"})
    assert public.href(public.key("c/a b.tif")) == "https://cdn.example.org/x/published/c/a%20b.tif"
    assert S3AssetStore.from_settings(Settings.load(environ={})) is None


def test_rehosted_on_s3_downloadable_with_matching_checksum_then_published(
    s3_server: S3Server,
    catalogue: CatalogueHandle,
    token_for: Callable[[str], str],
    geotiff: Path,
    collection_id: str,
    tmp_path: Path,
) -> None:
    bucket = s3_server.bucket()
    settings = settings_for(s3_server, bucket)
    token = token_for("editor")
    with CatalogueClient(catalogue.url, token, timeout=T) as client:
        store = asset_store(settings, client, catalogue.assets_url)
        assert isinstance(store, S3AssetStore)  # the bucket in the settings wins over the catalogue's store
        plan = plan_of(collection_id)
        done = publish(client, plan, rehost_to=store, local_files={SOURCE: geotiff})
        assert done.ok, done.error
        assert done.state.done[0] == ASSETS_STEP
        asset = done.plan.items[0]["assets"]["openEO.tif"]
        href = asset["href"]
        assert href.startswith(f"{s3_server.endpoint_url}/{bucket}/published/{collection_id}/")
        assert "?" not in href and asset["type"] == COG_MEDIA_TYPE
        assert any(
            n.startswith("1 GeoTIFF assets re-hosted") and bucket in n and "EXPLORER-REC-01/02/03" in n
            for n in done.notes
        ), done.notes
        # a private collection whose files sit in a public bucket: the user is told
        assert any("private, but its files" in n and "anyone" in n for n in done.notes), done.notes

        downloaded = requests.get(href, timeout=T)  # anonymous: a plain, non-expiring URL
        assert downloaded.status_code == 200, downloaded.status_code
        assert multihash_sha256(downloaded.content) == asset["file:checksum"]
        assert len(downloaded.content) == asset["file:size"]
        (tmp_path / "got.tif").write_bytes(downloaded.content)
        valid, errors, _ = cog_validate(str(tmp_path / "got.tif"), quiet=True)
        assert valid, errors

        key = href.split(f"/{bucket}/", 1)[1]
        head = s3_server.client().head_object(Bucket=bucket, Key=key)
        assert head["ContentLength"] == asset["file:size"]

        stored = client.get_item(collection_id, "ndvi-2022-06-12")
        assert stored is not None and stored["assets"]["openEO.tif"]["href"] == href
        assert stored["assets"]["openEO.tif"]["file:checksum"] == asset["file:checksum"]

        again = rehost_assets(
            client, store, done.plan.collection, done.plan.items
        )  # already hosted: skipped, not copied twice
        assert again.hosted == () and again.skipped == ("item ndvi-2022-06-12 openEO.tif",)
    text = log_json(done.state)
    assert f"s3://{bucket}/published/{collection_id}/" in text
    assert s3_server.secret_access_key not in text and s3_server.access_key_id not in text
    assert token not in text


def test_without_s3_settings_the_catalogue_store_is_used(
    catalogue: CatalogueHandle, token_for: Callable[[str], str]
) -> None:
    with CatalogueClient(catalogue.url, token_for("editor"), timeout=T) as client:
        store = asset_store(Settings.load(environ={}), client, catalogue.assets_url)
        assert isinstance(store, CatalogueAssetStore) and store.base_url == catalogue.assets_url
        assert asset_store(Settings.load(environ={}), client, None) is None


def test_bad_credentials_and_missing_bucket_are_clear(
    s3_server: S3Server, catalogue: CatalogueHandle, geotiff: Path, collection_id: str
) -> None:
    bucket = s3_server.bucket()
    plan = plan_of(collection_id)
    wrong_secret = "not-the-secret-" + uuid.uuid4().hex
    bad = S3AssetStore.from_settings(settings_for(s3_server, bucket, APEX_S3_SECRET_ACCESS_KEY=wrong_secret))
    unknown = S3AssetStore.from_settings(
        settings_for(s3_server, bucket, APEX_S3_ACCESS_KEY_ID="AKIAUNKNOWN0")
    )
    good = S3AssetStore.from_settings(settings_for(s3_server, bucket))
    assert bad is not None and unknown is not None and good is not None
    with CatalogueClient(catalogue.url, None, timeout=T) as client, s3_server.checking_credentials():
        good.check(client.log)  # the real key passes while moto checks signatures
        for store, code in ((bad, "SignatureDoesNotMatch"), (unknown, "InvalidAccessKeyId")):
            with pytest.raises(AssetError) as refused:
                rehost_assets(client, store, plan.collection, plan.items, local_files={SOURCE: geotiff})
            assert refused.value.code == code and refused.value.status == 403
            assert "refused the credentials" in refused.value.message
            assert "APEX_S3_SECRET_ACCESS_KEY" in refused.value.message
            shown = user_message(refused.value)
            assert shown.title == "A result file is not available" and shown.field == "s3_access_key_id"
        stopped = publish(client, plan, rehost_to=bad, local_files={SOURCE: geotiff}, bulk=False)
    assert isinstance(stopped.error, AssetError) and stopped.state.done == ()
    text = log_json(client.log) + str(stopped.error)
    assert wrong_secret not in text and s3_server.secret_access_key not in text

    missing = S3AssetStore.from_settings(settings_for(s3_server, f"missing-{uuid.uuid4().hex[:8]}"))
    assert missing is not None
    with CatalogueClient(catalogue.url, None, timeout=T) as client:
        with pytest.raises(AssetError) as gone:
            rehost_assets(client, missing, plan.collection, plan.items, local_files={SOURCE: geotiff})
        assert gone.value.code == "NoSuchBucket" and gone.value.status == 404
        assert "does not exist" in gone.value.message and "APEX_S3_BUCKET" in gone.value.message
        with pytest.raises(AssetError, match="does not exist"):
            missing.check()

    nowhere = S3AssetStore.from_settings(
        settings_for(s3_server, bucket, APEX_S3_ENDPOINT_URL="http://127.0.0.1:9", APEX_HTTP_TIMEOUT="2")
    )
    assert nowhere is not None
    with pytest.raises(AssetError, match="did not answer"):
        nowhere.check()
