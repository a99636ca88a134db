"""AppTest: adding a job's items to a collection the catalogue has (issue #15), on the Publish page against
the embedded catalogue and issuer: choose the collection from the catalogue's list, see what changes (extents
before/after, an item id with other content shown with its diff), choose to replace that one, publish."""

from __future__ import annotations

import uuid
from typing import Any

from streamlit.testing.v1 import AppTest

from apex_core.catalogue import CatalogueClient
from apex_core.flow import MetadataOutcome, StateKey
from apex_core.local.catalogue import CatalogueHandle
from apex_core.publish import PublishPlan, publish
from tests.apptest import open_page
from tests.stacdocs import collection_doc, item_doc

PUBLISH = "pages/flow/5_publish.py"
KEMPEN_BOX = [4.8, 51.1, 5.3, 51.3]


def _click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, [e.message for e in at.exception]


def kempen_job(cid: str) -> MetadataOutcome:
    """The Metadata step's outcome of a Kempen job: ``ndvi-1`` (an id the collection uses for its Bolzano
    observation) and ``ndvi-2``."""
    collection = collection_doc(
        cid,
        "Kempen job",
        title="Kempen",
        extent={
            "spatial": {"bbox": [KEMPEN_BOX]},
            "temporal": {"interval": [["2019-04-18T00:00:00Z", "2019-04-18T23:59:59Z"]]},
        },
    )
    items: list[dict[str, Any]] = []
    for iid, day in (("ndvi-1", "18"), ("ndvi-2", "19")):
        item = item_doc(iid, cid)
        item["geometry"] = {"type": "Point", "coordinates": [5.0, 51.2]}
        item["bbox"] = [5.0, 51.2, 5.0, 51.2]
        item["properties"]["datetime"] = f"2019-04-{day}T10:30:00Z"
        items.append(item)
    return MetadataOutcome(valid=True, collection=collection, items=tuple(items))


def test_add_to_an_existing_collection_see_the_diff_replace_one(
    remote_env: str, catalogue: CatalogueHandle, token_for: Any
) -> None:
    cid = f"app-add-{uuid.uuid4().hex[:8]}"
    bolzano = PublishPlan.from_dict(
        {
            "collection": collection_doc(cid, "Bolzano series", title="Bolzano"),
            "items": [item_doc("ndvi-1", cid), item_doc("old-1", cid)],
        }
    )
    with CatalogueClient(catalogue.url, token_for("editor"), timeout=15) as c:
        assert publish(c, bolzano).ok
    try:
        at = open_page(PUBLISH, **{StateKey.METADATA.value: kempen_job(f"job-{uuid.uuid4().hex[:8]}")})
        _click(at, "pub_sign_in_client")
        at.radio(key="pub_mode").set_value("Add to an existing collection").run()
        options = at.selectbox(key="pub_add_to").options
        assert f"{cid} — Bolzano" in options  # the catalogue's collections, by id and title
        at.selectbox(key="pub_add_to").set_value(cid).run()
        assert at.button(key="pub_go").disabled  # nothing is written before the changes were seen
        _click(at, "pub_preview")
        assert not at.button(key="pub_go").disabled
        extents = next(d.value for d in at.dataframe if "spatial (overall bbox)" in d.value.columns)
        assert list(extents["spatial (overall bbox)"]) == ["11, 46, 11.5, 46.5", "4.8, 46, 11.5, 51.3"]
        assert (
            list(extents["temporal (overall interval)"])[1] == "2019-04-18T00:00:00Z to 2022-06-12T23:59:59Z"
        )
        assert any("1 new item to add" in str(c.value) for c in at.caption)
        diff = next(str(code.value) for code in at.code if "catalogue: ndvi-1" in str(code.value))
        assert '-    "datetime": "2022-06-12T10:00:00Z"' in diff
        assert '+    "datetime": "2019-04-18T10:30:00Z"' in diff
        box = at.checkbox(key="pub_replace_ndvi-1")
        assert box.value is False
        box.check().run()
        _click(at, "pub_go")
        result = at.session_state[StateKey.PUBLISH_RUN.value].result
        assert result.ok, result.error
        assert result.plan.collection_id == cid and result.plan.merging
        assert any("replaced (PUT)" in n for n in result.notes)
        with CatalogueClient(catalogue.url, token_for("editor"), timeout=15) as c:
            got = c.get_collection(cid)
            replaced = c.get_item(cid, "ndvi-1")
            assert c.item_ids(cid) == {"ndvi-1", "ndvi-2", "old-1"}
        assert got is not None and got["title"] == "Bolzano"  # the collection's own
        assert got["extent"]["spatial"]["bbox"][0] == [4.8, 46.0, 11.5, 51.3]
        assert replaced is not None and replaced["properties"]["datetime"] == "2019-04-18T10:30:00Z"
        at.run()
        assert at.button(key="pub_go").disabled  # the preview was of before: preview again to add more
        published = at.session_state[StateKey.PUBLISHED.value]
        assert published.collection_url.endswith(f"/collections/{cid}")

        # deleting what was added takes this job's items only: the collection and its own item stay
        at.text_input(key="pub_delete_confirm").set_value(cid).run()
        _click(at, "pub_delete")
        assert any(f"2 items deleted; collection {cid} kept" in str(s.value) for s in at.success)
        with CatalogueClient(catalogue.url, token_for("editor"), timeout=15) as c:
            assert c.get_collection(cid) is not None
            assert c.item_ids(cid) == {"old-1"}
    finally:
        with CatalogueClient(catalogue.url, token_for("admin"), timeout=15) as c:
            c.delete_collection(cid)
