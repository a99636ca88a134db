"""The embedded catalogue with its PostgreSQL stopped: every route answers 503 with a JSON reason, the
app says "catalogue unavailable, try again" and keeps the user's work, and all resumes once it is back.

A catalogue of its own (the session's shared one must stay up for the other tests).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from apex_core.catalogue import CatalogueClient
from apex_core.errors import CatalogueUnavailable, user_message
from apex_core.local.catalogue import CatalogueHandle, start_catalogue
from apex_core.local.issuer import IssuerHandle
from apex_core.publish import COLLECTION_STEP, PublishPlan, item_step, publish
from tests.services import traversable_tmpdir
from tests.stacdocs import canary_collection, canary_item

pytestmark = pytest.mark.services

T = 15
PRIVATE = {"read": ["apex-editor"], "write": ["apex-editor"]}


@pytest.fixture(scope="module")
def own_catalogue(issuer: IssuerHandle) -> Iterator[CatalogueHandle]:
    root = traversable_tmpdir("apex-db-down-")
    handle = start_catalogue(root / "cat", issuer.issuer_url, audience=issuer.audience)
    try:
        yield handle
    finally:
        handle.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_database_down_is_503_with_a_reason_and_work_is_kept(
    own_catalogue: CatalogueHandle, token_for: Callable[[str], str]
) -> None:
    cat = own_catalogue
    editor = {"Authorization": f"Bearer {token_for('editor')}"}
    cid = f"down-{uuid.uuid4().hex[:8]}"
    plan = PublishPlan.from_dict(
        {
            "collection": canary_collection(cid, PRIVATE),
            "items": [canary_item(f"i{k}", cid) for k in range(2)],
        }
    )
    with CatalogueClient(cat.url, token_for("editor"), timeout=T) as client:
        # the collection is published, then the database goes away before the items are written
        first = publish(client, PublishPlan.from_dict({"collection": plan.collection, "items": []}))
        assert first.ok, first.error
        port = cat.postgres.port
        assert port is not None
        cat.postgres.stop()
        try:
            session = requests.Session()
            attempts = [
                ("GET", "/collections", None),
                ("GET", f"/collections/{cid}", None),
                ("GET", f"/collections/{cid}/items", None),
                ("GET", "/search?limit=1", None),
                ("POST", "/search", {"limit": 1}),
                ("GET", f"/assets/{cid}/x.tif", None),
                ("POST", "/collections", canary_collection(f"{cid}-2", PRIVATE)),
                ("PATCH", f"/collections/{cid}", {"title": "x"}),
                ("POST", f"/collections/{cid}/items", canary_item("i9", cid)),
                ("POST", f"/collections/{cid}/bulk_items", {"items": {"i9": canary_item("i9", cid)}}),
                ("DELETE", f"/collections/{cid}", None),
            ]
            for method, path, body in attempts:
                resp = session.request(method, f"{cat.url}{path}", json=body, headers=editor, timeout=T)
                assert resp.status_code == 503, (method, path, resp.status_code, resp.text[:300])
                assert resp.headers["content-type"].startswith("application/json"), (method, path)
                assert resp.json()["code"] == "ServiceUnavailable"
                assert "try again" in resp.json()["description"].lower()
            assert session.get(f"{cat.url}/_mgmt/ping", timeout=T).ok  # the API itself stays up

            # the app: a clear message, and the publish state keeps what was done
            stopped = publish(client, plan, first.state)
            assert not stopped.ok
            assert isinstance(stopped.error, CatalogueUnavailable), stopped.error
            assert user_message(stopped.error).title == "Catalogue unavailable, try again"
            assert stopped.state.is_done(COLLECTION_STEP)
            assert not stopped.state.is_done(item_step("i0"))
        finally:
            cat.postgres.start(port)

        # back: the same state resumes, nothing was lost or written twice
        resumed = publish(client, plan, stopped.state)
        assert resumed.ok, resumed.error
        assert client.item_ids(cid) == {"i0", "i1"}
