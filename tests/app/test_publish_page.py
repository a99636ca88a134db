"""AppTest: the Publish page against the embedded catalogue and issuer (started by the session fixtures of
tests/local, pointed at through APEX_CATALOGUE_URL / APEX_OIDC_ISSUER): sign in with client credentials
from the settings, publish, conflict -> update, log, delete; and the plain message without metadata."""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import requests
from rasterio.transform import from_origin
from streamlit.testing.v1 import AppTest

from apex_core.assets import multihash_sha256
from apex_core.catalogue import AccessToken
from apex_core.flow import JobOutcome, MetadataOutcome, ResultAsset
from apex_core.local.catalogue import CatalogueHandle
from apex_core.local.issuer import PUBLIC_CLIENT_ID, IssuerHandle
from apex_core.steps import StateKey
from tests.apptest import open_page
from tests.services import S3Server
from tests.stacdocs import collection_doc, item_doc

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PUBLISH = "pages/flow/5_publish.py"


def metadata(cid: str, title: str = "NDVI") -> MetadataOutcome:
    collection = collection_doc(cid, "AppTest collection", title=title)
    return MetadataOutcome(valid=True, collection=collection, items=(item_doc("ndvi-1", cid),))


def _open(**state: Any) -> AppTest:
    return open_page(PUBLISH, **state)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert [t.value for t in at.title] == ["Publish"]


def _button(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    _ok(at)


def test_without_valid_metadata_the_page_says_so() -> None:
    at = _open(**{StateKey.METADATA.value: MetadataOutcome(valid=False)})
    assert any("Metadata step has no valid collection" in str(w.value) for w in at.warning)
    assert not [b for b in at.button if b.key == "pub_go"]


def test_sign_in_publish_conflict_update_and_delete(remote_env: str, catalogue: CatalogueHandle) -> None:
    cid = f"app-{uuid.uuid4().hex[:8]}"
    at = _open(**{StateKey.METADATA.value: metadata(cid)})
    assert any(catalogue.url in str(m.value) for m in at.markdown)
    assert at.button(key="pub_go").disabled  # not signed in yet
    assert at.radio(key="pub_sign_in_method").value == "client credentials"
    _button(at, "pub_sign_in_client")
    assert any("Signed in" in str(s.value) for s in at.success)
    assert "apex_catalogue_tokens" in at.session_state

    _button(at, "pub_go")
    published = at.session_state[StateKey.PUBLISHED.value]
    assert published.collection_url == f"{catalogue.url}/collections/{cid}"
    assert published.items == (f"{catalogue.url}/collections/{cid}/items/ndvi-1",)
    assert any("Published" in str(s.value) for s in at.success)
    assert any("2 of 5 steps done" in str(p.proto.text) for p in at.get("progress"))  # the stepper
    log = at.session_state["apex_publish_run"].result.state.log
    text = json.dumps([e.to_dict() for e in log])
    assert remote_env not in text and "eyJ" not in text and "Bearer" not in text

    at.session_state[StateKey.METADATA.value] = metadata(cid, title="Changed")
    at.run()
    _button(at, "pub_go")
    assert any("Already exists" in str(w.value) for w in at.warning)
    at.radio(key="pub_conflict").set_value("update (PATCH)").run()
    _button(at, "pub_conflict_go")
    assert at.session_state["apex_publish_run"].result.ok

    at.session_state[StateKey.METADATA.value] = metadata(cid, title="Changed again")
    at.run()
    _button(at, "pub_go")
    at.radio(key="pub_conflict").set_value("publish under a new id").run()
    assert at.text_input(key="pub_new_id").value == f"{cid}-2"
    _button(at, "pub_conflict_go")
    assert at.session_state[StateKey.PUBLISHED.value].collection_url.endswith(f"/collections/{cid}-2")

    at.text_input(key="pub_delete_confirm").set_value(f"{cid}-2").run()
    _button(at, "pub_delete")
    assert any(f"1 items deleted; collection {cid}-2 deleted" in str(s.value) for s in at.success)
    assert StateKey.PUBLISHED.value not in at.session_state


def test_device_sign_in_then_a_missing_role_is_explained(
    monkeypatch: pytest.MonkeyPatch, catalogue: CatalogueHandle, issuer: IssuerHandle
) -> None:
    monkeypatch.setenv("APEX_CATALOGUE_URL", catalogue.url)
    monkeypatch.setenv("APEX_OIDC_ISSUER", issuer.issuer_url)
    monkeypatch.setenv("APEX_OIDC_CLIENT_ID", PUBLIC_CLIENT_ID)
    at = _open(**{StateKey.METADATA.value: metadata(f"app-{uuid.uuid4().hex[:8]}")})
    assert at.radio(key="pub_sign_in_method").value == "device sign-in"
    assert at.text_input(key="pub_device_client").value == PUBLIC_CLIENT_ID
    _button(at, "pub_device_start")
    flow = at.session_state["apex_catalogue_device_flow"]
    assert any(flow.user_code in str(i.value) for i in at.info)
    page = requests.get(flow.link, timeout=15)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    approved = requests.post(
        action.group(1),
        data={"user_code": flow.user_code, "account": "noroles", "action": "approve"},
        timeout=15,
    )
    assert approved.status_code == 200, approved.text
    _button(at, "pub_device_poll")
    assert any("Signed in (device flow" in str(s.value) for s in at.success)

    _button(at, "pub_go")
    errors = " ".join(str(e.value) for e in at.error)
    assert "Not allowed" in errors and "_auth.write" in errors
    assert StateKey.PUBLISHED.value not in at.session_state
    assert [b for b in at.button if b.key == "pub_resume"]


def test_an_expired_token_asks_to_sign_in_again(remote_env: str, issuer: IssuerHandle) -> None:
    editor = issuer.client("editor")
    stale = issuer.state().sign(
        issuer=issuer.issuer_url, subject="editor", roles=editor.roles, azp=editor.client_id, lifetime=-60
    )
    url = os.environ["APEX_CATALOGUE_URL"]
    at = _open(
        **{
            StateKey.METADATA.value: metadata(f"app-{uuid.uuid4().hex[:8]}"),
            "apex_catalogue_tokens": {url: AccessToken.pasted(stale)},
        }
    )
    assert any("session has expired" in str(w.value) for w in at.warning)
    assert url not in at.session_state["apex_catalogue_tokens"]
    assert at.button(key="pub_go").disabled
    assert at.button(key="pub_sign_in_client")


def test_rehosting_on_an_s3_bucket_from_the_settings(
    remote_env: str, s3_server: S3Server, tmp_path: Path
) -> None:
    """With APEX_S3_* set, the page re-hosts the job's GeoTIFF in the bucket before publishing: the
    published item links a plain URL there whose bytes match its ``file:checksum``."""
    bucket = s3_server.bucket("app")
    env = {
        "APEX_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "APEX_S3_BUCKET": bucket,
        "APEX_S3_REGION": s3_server.region,
        "APEX_S3_ACCESS_KEY_ID": s3_server.access_key_id,
        "APEX_S3_SECRET_ACCESS_KEY": s3_server.secret_access_key,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        tif = tmp_path / "openEO.tif"
        profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "float32"}
        with rasterio.open(
            tif, "w", crs="EPSG:32632", transform=from_origin(680000, 5160000, 10, 10), **profile
        ) as dst:
            dst.write(np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(1, 64, 64))
        cid = f"app-{uuid.uuid4().hex[:8]}"
        meta = metadata(cid)
        href = "https://openeo.example/jobs/j-1/results/assets/openEO.tif?expires=1"
        meta.items[0]["assets"] = {"openEO.tif": {"href": href, "type": "image/tiff; application=geotiff"}}
        job = JobOutcome("j-1", "finished", assets=(ResultAsset("openEO.tif", tif),))
        at = _open(**{StateKey.METADATA.value: meta, StateKey.JOB.value: job})
        rehost = at.checkbox(key="pub_rehost")
        assert rehost.value is True and f"s3://{bucket}" in str(rehost.label)
        _button(at, "pub_sign_in_client")
        _button(at, "pub_go")
        result = at.session_state["apex_publish_run"].result
        assert result.ok, result.error
        asset = result.plan.items[0]["assets"]["openEO.tif"]
        assert asset["href"].startswith(f"{s3_server.endpoint_url}/{bucket}/{cid}/")
        got = requests.get(asset["href"], timeout=15)
        assert got.status_code == 200 and multihash_sha256(got.content) == asset["file:checksum"]
        assert any(bucket in str(c.value) and "re-hosted" in str(c.value) for c in at.caption)
        log = json.dumps([e.to_dict() for e in result.state.log])
        assert s3_server.secret_access_key not in log and f"s3://{bucket}/{cid}/" in log


def test_a_rehost_the_report_counted_on_but_cannot_happen_is_explained(remote_env: str) -> None:
    """The Metadata step's COG fix counts on re-hosting; a remote catalogue with no asset store (and no
    S3 bucket set) cannot re-host: the page says the collection is not APEx-ready that way."""
    cid = f"app-{uuid.uuid4().hex[:8]}"
    at = _open(**{StateKey.METADATA.value: replace(metadata(cid), rehost=True)})
    box = at.checkbox(key="pub_rehost")
    assert box.disabled and box.value is False
    assert [w for w in at.warning if "Not APEx-ready without re-hosting" in str(w.value)]
    at = _open(**{StateKey.METADATA.value: metadata(cid)})  # no promise made: nothing said of it
    assert not [w for w in at.warning if "Not APEx-ready without re-hosting" in str(w.value)]
