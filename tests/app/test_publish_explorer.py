"""AppTest: after publishing to the embedded catalogue (test_publish_page.py's set-up), the Publish page
hands over to the APEx Geospatial Explorer: the `sources` entry and the whole configuration for the new
layer, the download, the requirements the loopback catalogue does not meet, and the CORS check on
request (kept across reruns)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from streamlit.testing.v1 import AppTest

from apex_core.explorer import ExplorerHandover
from apex_core.flow import MetadataOutcome
from apex_core.local.catalogue import CatalogueHandle
from apex_core.steps import StateKey
from tests.apptest import ok, open_page
from tests.stacdocs import collection_doc, item_doc

PUBLISH = "pages/flow/5_publish.py"
SECTION = "Open in the APEx Geospatial Explorer"
COG = "https://files.example/ndvi-1.tif"
RENDERS = {"ndvi": {"assets": ["ndvi"], "rescale": [[-1, 1]], "colormap_name": "rdylgn", "title": "NDVI"}}


def metadata(cid: str) -> MetadataOutcome:
    collection = collection_doc(cid, "Explorer hand-over", title="NDVI Bolzano", renders=RENDERS)
    item = item_doc(
        "ndvi-1", cid, {"ndvi": {"href": COG, "type": "image/tiff; application=geotiff", "roles": ["data"]}}
    )
    return MetadataOutcome(valid=True, collection=collection, items=(item,))


def _click(at: AppTest, key: str) -> None:
    ok(at.button(key=key).click().run())


def _warnings(at: AppTest) -> str:
    return " ".join(str(w.value) for w in at.warning)


def _handover(at: AppTest) -> Any:
    handover = at.session_state[StateKey.EXPLORER.value]
    assert isinstance(handover, ExplorerHandover)
    return handover


def test_after_publishing_the_page_offers_the_explorer_configuration(
    remote_env: None, catalogue: CatalogueHandle
) -> None:
    cid = f"app-{uuid.uuid4().hex[:8]}"
    at = open_page(PUBLISH, **{StateKey.METADATA.value: metadata(cid)})
    assert SECTION not in [s.value for s in at.subheader]  # nothing published yet
    _click(at, "pub_sign_in_client")
    _click(at, "pub_go")
    assert at.session_state[StateKey.PUBLISHED.value].collection_url == f"{catalogue.url}/collections/{cid}"

    assert SECTION in [s.value for s in at.subheader]
    codes = [json.loads(c.value) for c in at.code if c.language == "json"]
    source, config = codes[0], codes[1]
    assert source["name"] == "NDVI Bolzano" and source["isActive"] is True
    assert source["data"][0]["url"] == COG and source["data"][0]["format"] == "cog"
    assert "timeframe" not in source  # one item: no series
    assert source["meta"]["min"] == -1 and source["meta"]["max"] == 1
    assert source["layout"]["layerCard"]["legend"] == {"type": "gradient"}
    assert set(config) == {"layout", "interfaceGroups", "exclusivitySets", "sources"}
    assert config["sources"][-1] == source
    downloads = [d for d in at.get("download_button") if "Explorer" in str(d.proto.label)]
    assert len(downloads) == 1

    warned = _warnings(at)
    assert "EXPLORER-REQ-05" in warned and f"{catalogue.url} is served over plain HTTP" in warned
    assert "loopback" in warned  # the embedded catalogue is on this machine only
    assert "`_auth.read` lacks `anonymous`" in warned and "apex-editor" in warned
    assert any("CORS not checked yet" in str(c.value) for c in at.caption)
    assert _handover(at).cors is None

    _click(at, "pub_explorer_cors")
    handover = _handover(at)
    assert handover.cors is not None
    by_url = {c.url: c for c in handover.cors}
    item_url = f"{catalogue.url}/collections/{cid}/items/ndvi-1"
    assert by_url[item_url].allowed  # the embedded catalogue admits every origin
    assert not by_url[COG].allowed and by_url[COG].status is None  # files.example does not answer
    assert f"{COG} did not answer the CORS preflight" in _warnings(at)
    assert any(f"CORS: {item_url} admits" in str(c.value) for c in at.caption)

    ok(at.run())  # a rerun keeps the answers (the check runs only on the button)
    assert _handover(at).cors == handover.cors
    assert at.button(key="pub_explorer_cors").label == "Check CORS again"
