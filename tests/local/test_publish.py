"""Publishing against the embedded catalogue and issuer, over HTTP, no mocks: first publish, repeat,
update (PATCH and PUT with `_auth`), new id, delete, 401/403/409, interrupted and resumed publishes,
re-hosted COG assets, the publish log without tokens, and the OIDC device flow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from rio_cogeo.cogeo import cog_validate

from apex_core import metadata as md
from apex_core.assets import COG_MEDIA_TYPE, multihash_sha256, rehost_assets
from apex_core.catalogue import (
    CatalogueClient,
    CatalogueTarget,
    client_credentials_token,
    device_sign_in,
)
from apex_core.config import Settings
from apex_core.errors import AuthError, CatalogueConflict, ForbiddenError, TokenExpired, UnauthorizedError
from apex_core.flow import MetadataOutcome, Published
from apex_core.local.catalogue import CatalogueHandle
from apex_core.local.contract import EmbeddedEndpoints
from apex_core.local.issuer import PUBLIC_CLIENT_ID, IssuerHandle
from apex_core.publish import (
    COLLECTION_STEP,
    VERIFY_STEP,
    PublishPlan,
    PublishState,
    delete_published,
    item_step,
    log_json,
    publish,
)
from tests.services import TokenFor, deleted_after_each_test, new_collection_id, wait_until
from tests.stacdocs import EDITOR_AUTH as PRIVATE
from tests.stacdocs import PUBLIC_AUTH as PUBLIC
from tests.stacdocs import collection_doc, item_doc, write_ndvi_geotiff

pytestmark = pytest.mark.services

T = 15.0

CREATED: list[str] = []  # every id a test may create, deleted after it (the catalogue is shared)
_clean_up = deleted_after_each_test(CREATED)


def new_id(prefix: str = "pub") -> str:
    return new_collection_id(CREATED, prefix)


def collection(cid: str, auth: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    extra = {"title": "NDVI test", "_auth": dict(auth or PRIVATE), **extra}
    return collection_doc(cid, "test collection", **extra)


def plan_of(cid: str, n: int = 3, auth: dict[str, Any] | None = None) -> PublishPlan:
    return PublishPlan.from_dict(
        {"collection": collection(cid, auth), "items": [item_doc(f"i{k}", cid) for k in range(n)]}
    )


def client(cat: CatalogueHandle, token: str | None) -> CatalogueClient:
    return CatalogueClient(cat.url, token, timeout=T)


def expired_token(issuer: IssuerHandle, name: str = "editor") -> str:
    account = issuer.client(name)
    return issuer.state().sign(
        issuer=issuer.issuer_url, subject=name, roles=account.roles, azp=account.client_id, lifetime=-60
    )


def item_ids(cat: CatalogueHandle, cid: str, token: str) -> list[str]:
    resp = requests.get(
        f"{cat.url}/collections/{cid}/items",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=T,
    )
    assert resp.status_code == 200, resp.text
    return sorted(f["id"] for f in resp.json()["features"])


def assert_no_token(text: str, *tokens: str) -> None:
    for token in tokens:
        assert token not in text
        assert token[-20:] not in text
    assert "Bearer" not in text
    assert "eyJ" not in text  # no JWT at all


# --- conformance ---------------------------------------------------------------------------------


def test_conformance_offers_transactions_and_bulk(catalogue: CatalogueHandle) -> None:
    with client(catalogue, None) as c:
        conf = c.conformance()
    assert conf.transactions and conf.bulk
    assert "Transactions" in conf.message


# --- publish, repeat, update, new id, delete -------------------------------------------------------


def test_first_and_repeat_publish_never_duplicate(catalogue: CatalogueHandle, token_for: TokenFor) -> None:
    token = token_for("editor")
    cid = new_id()
    plan = plan_of(cid)
    seen: list[tuple[int, int, str]] = []
    with client(catalogue, token) as c:
        first = publish(c, plan, progress=lambda d, t, m: seen.append((d, t, m)))
    assert first.error is None and first.ok, first.error
    assert first.state.done[0] == COLLECTION_STEP and VERIFY_STEP in first.state.done
    assert seen[-1][0] == seen[-1][1] == len(plan.steps)
    assert first.collection_url == f"{catalogue.url}/collections/{cid}"
    assert first.item_urls[0] == f"{catalogue.url}/collections/{cid}/items/i0"
    assert str(Published.of(first, "https://browser.example").browser_url).endswith(f"/collections/{cid}")
    assert item_ids(catalogue, cid, token) == ["i0", "i1", "i2"]
    bulk_posts = [e for e in first.state.log if e.url.endswith("/bulk_items")]
    assert [e.status for e in bulk_posts] == [200]

    with client(catalogue, token) as c:  # a second publish from scratch: 409s on identical content
        again = publish(c, plan)
    assert again.ok, again.error
    assert any("same content" in n for n in again.notes)
    assert item_ids(catalogue, cid, token) == ["i0", "i1", "i2"]
    assert {e.status for e in again.state.log} >= {409}

    with client(catalogue, token) as c:  # one item more: only that one is new
        bigger = publish(c, plan_of(cid, 4))
    assert bigger.ok, bigger.error
    assert item_ids(catalogue, cid, token) == ["i0", "i1", "i2", "i3"]
    assert_no_token(log_json(bigger.state), token)


def test_conflict_then_update_by_patch_and_put_or_new_id(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    token = token_for("editor")
    cid = new_id()
    with client(catalogue, token) as c:
        assert publish(c, plan_of(cid, 2)).ok
        changed = PublishPlan.from_dict({**plan_of(cid, 2).to_dict()})
        changed.collection["title"] = "Changed title"
        changed.collection["extent"]["temporal"]["interval"] = [
            ["2022-06-13T00:00:00Z", "2022-06-13T23:59:59Z"]
        ]
        changed.items[1]["properties"]["datetime"] = "2022-06-13T10:00:00Z"

        refused = publish(c, changed)
        assert isinstance(refused.error, CatalogueConflict)
        assert "new id" in refused.error.message and refused.error.status == 409
        assert refused.state.done == ()

        patched = publish(c, changed.with_conflict("update", "patch"), refused.state)
        assert patched.ok, patched.error
        assert any("PATCH" in n for n in patched.notes)
        assert requests.get(f"{catalogue.url}/collections/{cid}", timeout=T).status_code == 404  # rules kept
        got = c.get_collection(cid)
        assert got is not None and got["title"] == "Changed title"
        # an item with other content is kept unless replacing it was chosen (after its diff: preview_merge)
        assert any("kept as they are" in n and "i1" in n for n in patched.notes), patched.notes
        got_item = c.get_item(cid, "i1")
        assert got_item is not None and got_item["properties"]["datetime"] == "2022-06-12T10:00:00Z"
        chosen = publish(c, changed.with_conflict("update", "patch", replace=["i1"]))
        assert chosen.ok, chosen.error
        got_item = c.get_item(cid, "i1")
        assert got_item is not None and got_item["properties"]["datetime"] == "2022-06-13T10:00:00Z"
        # the update keeps what the collection covered: its extent spans both days
        assert got["extent"]["temporal"]["interval"][0] == ["2022-06-12T00:00:00Z", "2022-06-13T23:59:59Z"]

        put = PublishPlan.from_dict(changed.to_dict())
        put.collection["title"] = "Put title"
        replaced = publish(c, put.with_conflict("update", "put"))
        assert replaced.ok, replaced.error
        got = c.get_collection(cid)
        assert got is not None and got["title"] == "Put title"
        assert any(e.method == "PUT" and e.status == 200 for e in replaced.state.log)

        other = changed.with_new_id(new_id("copy"))
        assert all(i["collection"] == other.collection_id for i in other.items)
        copied = publish(c, other)
        assert copied.ok, copied.error
    assert item_ids(catalogue, other.collection_id, token) == ["i0", "i1"]


def test_delete_collection_and_items(catalogue: CatalogueHandle, token_for: TokenFor) -> None:
    token = token_for("editor")
    cid = new_id()
    with client(catalogue, token) as c:
        assert publish(c, plan_of(cid, 2)).ok
        result = delete_published(c, cid, ["i0", "i1"])
        assert result.collection_deleted and result.deleted_items == ("i0", "i1")
        assert c.get_collection(cid) is None
        again = delete_published(c, cid)  # deleting twice is fine
        assert not again.collection_deleted


# --- 401, 403, 409 -------------------------------------------------------------------------------------


def test_no_token_is_unauthorized(catalogue: CatalogueHandle) -> None:
    with client(catalogue, None) as c:
        result = publish(c, plan_of(new_id()))
    assert isinstance(result.error, UnauthorizedError) and not isinstance(result.error, TokenExpired)
    assert result.error.status == 401 and "bearer token" in result.error.message
    assert result.state.done == ()


def test_expired_token_says_sign_in_again(catalogue: CatalogueHandle, issuer: IssuerHandle) -> None:
    token = expired_token(issuer)
    with client(catalogue, token) as c:
        result = publish(c, plan_of(new_id()))
    assert isinstance(result.error, TokenExpired)
    assert "sign in again" in result.error.message and result.error.status == 401
    assert_no_token(log_json(result.state), token)


def test_editor_making_a_public_collection_is_forbidden(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    with client(catalogue, token_for("editor")) as c:
        result = publish(c, plan_of(new_id(), auth=PUBLIC))
    assert isinstance(result.error, ForbiddenError)
    assert "stac-admin-local" in result.error.message and result.error.status == 403
    with client(catalogue, token_for("admin")) as c:
        assert publish(c, plan_of(new_id(), auth=PUBLIC)).ok


def test_role_not_in_write_is_forbidden_naming_the_roles(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    cid = new_id()
    rules = {"read": ["anonymous"], "write": ["other-team"]}
    with client(catalogue, token_for("admin")) as c:
        assert publish(c, plan_of(cid, 0, auth=rules)).ok
    plan = plan_of(cid, 1, auth=rules)
    with client(catalogue, token_for("editor")) as c:  # the admin made the collection; items are refused
        result = publish(c, plan, PublishState.start(catalogue.url, plan).with_done(COLLECTION_STEP))
    assert isinstance(result.error, ForbiddenError)
    assert "needs one of the roles: other-team" in result.error.message
    with client(catalogue, token_for("noroles")) as c:
        mine = publish(c, plan_of(new_id()))
    assert isinstance(mine.error, ForbiddenError) and "_auth.write" in mine.error.message


def test_rejected_auth_rule_is_named(catalogue: CatalogueHandle, token_for: TokenFor) -> None:
    plan = plan_of(new_id())
    plan.collection["_auth"] = {"read": ["anonymous"], "write": ["anonymous"]}
    with client(catalogue, token_for("admin")) as c:
        result = publish(c, plan)
    assert result.error is not None and result.error.status == 400
    assert result.error.field == "_auth" and "anonymous" in result.error.message


# --- interrupted, then resumed ---------------------------------------------------------------------------


def test_token_expiring_half_way_then_resume(
    catalogue: CatalogueHandle, issuer: IssuerHandle, token_for: TokenFor
) -> None:
    token = token_for("editor")
    stale = expired_token(issuer)
    cid = new_id()
    plan = plan_of(cid, 3)
    c = client(catalogue, token)

    def expire_after_first_item(done: int, total: int, message: str) -> None:
        if message.startswith("Item i0"):
            c.set_token(stale)

    with c:
        stopped = publish(c, plan, bulk=False, progress=expire_after_first_item)
        assert isinstance(stopped.error, TokenExpired)
        assert stopped.state.done == (COLLECTION_STEP, item_step("i0"))
        assert any(e.status == 401 for e in stopped.state.log)

        c.set_token(token)  # signed in again
        resumed = publish(c, plan, stopped.state, bulk=False)
    assert resumed.ok, resumed.error
    posts = [e for e in resumed.state.log if e.method == "POST" and e.url.endswith("/collections")]
    assert len(posts) == 1  # the collection was not created twice
    assert item_ids(catalogue, cid, token) == ["i0", "i1", "i2"]
    assert_no_token(log_json(resumed.state), token, stale)


def test_rejected_item_then_fixed_and_resumed(catalogue: CatalogueHandle, token_for: TokenFor) -> None:
    """One by one: the bad item is a 400 (in bulk the embedded catalogue answers 500 for it)."""
    token = token_for("editor")
    cid = new_id()
    good = plan_of(cid, 2)
    broken = PublishPlan.from_dict(good.to_dict())
    broken.items[1]["geometry"] = {"type": "Point", "coordinates": "nowhere"}
    with client(catalogue, token) as c:
        stopped = publish(c, broken, bulk=False)
        assert stopped.error is not None and stopped.error.status == 400, stopped.error
        assert stopped.state.done == (COLLECTION_STEP, item_step("i0"))
        resumed = publish(c, good, stopped.state)
    assert resumed.ok, resumed.error
    assert item_ids(catalogue, cid, token) == ["i0", "i1"]


# --- assets ---------------------------------------------------------------------------------------------


def test_rehosted_assets_are_cogs_with_matching_checksums(
    catalogue: CatalogueHandle, token_for: TokenFor, tmp_path: Path
) -> None:
    tif = tmp_path / "ndvi.tif"
    write_ndvi_geotiff(tif, 300)
    cid = new_id()
    raw = collection(cid)
    items = [
        item_doc(
            "i0",
            cid,
            {"ndvi": {"href": "https://openeo.example/results/ndvi.tif?expires=1", "type": "image/tiff"}},
        )
    ]
    plan = PublishPlan.from_dict({"collection": raw, "items": items})
    token = token_for("editor")
    with client(catalogue, token) as c:
        hosted = rehost_assets(
            c,
            catalogue.assets_url,
            plan.collection,
            plan.items,
            local_files={items[0]["assets"]["ndvi"]["href"]: tif},
        )
        assert plan.items[0]["assets"]["ndvi"]["href"] == items[0]["assets"]["ndvi"]["href"]  # a copy
        asset = hosted.items[0]["assets"]["ndvi"]
        assert asset["href"].startswith(catalogue.assets_url + f"/{cid}/")
        assert asset["type"] == COG_MEDIA_TYPE
        # staged before the collection exists: not public; the editor's token reads it
        assert requests.get(asset["href"], timeout=T).status_code == 404
        downloaded = requests.get(asset["href"], headers={"Authorization": f"Bearer {token}"}, timeout=T)
        assert downloaded.status_code == 200
        assert multihash_sha256(downloaded.content) == asset["file:checksum"]
        assert len(downloaded.content) == asset["file:size"]
        assert "?expires" not in hosted.hosted[0].source
        # read back after writing: 512 px tiles (300 px fits one tile, so no overviews are needed)
        assert hosted.hosted[0].layout == "512 px tiles, no overviews, band interleave"
        local = tmp_path / "downloaded.tif"
        local.write_bytes(downloaded.content)
        valid, errors, _ = cog_validate(str(local), quiet=True)
        assert valid, errors
        again = rehost_assets(c, catalogue.assets_url, hosted.collection, hosted.items)  # already hosted
        assert again.hosted == () and again.skipped == ("item i0 ndvi",)
        assert publish(c, plan.with_items(hosted.collection, hosted.items)).ok
        # the same in one call: publish re-hosts first, and its result's plan carries the new hrefs
        other = PublishPlan.from_dict({"collection": collection(new_id()), "items": items})
        done = publish(
            c, other, rehost_to=catalogue.assets_url, local_files={items[0]["assets"]["ndvi"]["href"]: tif}
        )
        assert done.ok, done.error
        assert done.state.done[0] == "assets"
        stored = c.get_item(other.collection_id, "i0")
        assert stored is not None and stored["assets"]["ndvi"]["href"].startswith(catalogue.assets_url)
        assert stored["assets"]["ndvi"]["file:checksum"].startswith("1220")
        # the collection is private (apex-editor reads): its files are too, and the result says so
        assert any("private" in n and "apex-editor" in n for n in done.notes), done.notes
        file_url = stored["assets"]["ndvi"]["href"]
        assert requests.get(file_url, timeout=T).status_code == 404
        assert (
            requests.get(
                file_url, headers={"Authorization": f"Bearer {token_for('noroles')}"}, timeout=T
            ).status_code
            == 404
        )
        assert (
            requests.get(file_url, headers={"Authorization": f"Bearer {token}"}, timeout=T).status_code == 200
        )
    assert_no_token(log_json(c.log), token)


# --- tokens ------------------------------------------------------------------------------------------


def test_client_credentials_token(issuer: IssuerHandle, catalogue: CatalogueHandle) -> None:
    editor = issuer.client("editor")
    token = client_credentials_token(issuer.token_url, editor.client_id, editor.client_secret, timeout=T)
    assert token.access_token not in repr(token) and "access_token" not in token.to_dict()
    left = token.seconds_left()
    assert left is not None and left > 0
    with client(catalogue, token.access_token) as c:
        assert publish(c, plan_of(new_id(), 1)).ok


def test_device_flow_against_the_local_issuer(
    issuer: IssuerHandle, catalogue: CatalogueHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue's device sign-in: the openeo client's flow (with PKCE) in the background."""
    sent: list[tuple[str, dict[str, Any], requests.Response]] = []
    request = requests.Session.request

    def spy(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        resp = request(self, method, url, *args, **kwargs)
        sent.append((str(url), dict(kwargs.get("data") or {}), resp))
        return resp

    monkeypatch.setattr(requests.Session, "request", spy)
    flow = device_sign_in(issuer.issuer_url, PUBLIC_CLIENT_ID, timeout=T)
    assert flow.wait(T).status == "waiting"
    assert flow.user_code and flow.link and flow.user_code in flow.link
    form, answer = next((data, resp) for url, data, resp in sent if url.endswith("/device/authorize"))
    assert form["code_challenge"] and form["code_challenge_method"] == "S256"  # PKCE
    device_code = answer.json()["device_code"]
    assert device_code not in repr(flow) and device_code not in repr(flow.state())
    assert device_code not in str(flow.state().to_dict())
    assert flow.wait(T, answered=True).status == "waiting"  # pending until approved
    assert flow.result() is None

    page = requests.get(flow.link, timeout=T)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    requests.post(
        action.group(1),
        data={"user_code": flow.user_code, "account": "editor", "action": "approve"},
        timeout=T,
    )
    token = wait_until(flow.result, 20, every=0.2, what=lambda: flow.state())
    assert flow.state().status == "connected" and token.source == f"device flow ({PUBLIC_CLIENT_ID})"
    with client(catalogue, token.access_token) as c:
        assert publish(c, plan_of(new_id(), 1)).ok


def test_a_refused_device_sign_in_is_explained_in_the_issuer_words(issuer: IssuerHandle) -> None:
    """An unknown client, and a person who denies: the page shows the issuer's reason, OAuth code and
    HTTP status (not the client library's exception text)."""
    unknown = device_sign_in(issuer.issuer_url, "no-such-client", timeout=T)
    state = unknown.wait(T)
    assert state.status == "failed" and state.error is not None
    assert isinstance(state.error, AuthError)
    assert state.error.message == "Could not start the device sign-in: the issuer said Unknown client."
    assert (state.error.code, state.error.status) == ("invalid_client", 401)

    denied = device_sign_in(issuer.issuer_url, PUBLIC_CLIENT_ID, timeout=T)
    assert denied.wait(T).status == "waiting" and denied.link
    page = requests.get(denied.link, timeout=T)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    requests.post(action.group(1), data={"user_code": denied.user_code, "action": "deny"}, timeout=T)
    final = wait_until(lambda: (st := denied.state()).done and st, 20, every=0.2, what=lambda: denied.state())
    assert final.status == "failed" and final.error is not None
    assert final.error.message == "The sign-in was denied."
    assert final.error.code == "access_denied" and final.error.status == 400


def test_refused_item_in_bulk_then_resumed(catalogue: CatalogueHandle, token_for: TokenFor) -> None:
    """A bulk write refused for one item (the embedded catalogue refuses the whole request, naming it)
    stops the publish with the item named and nothing of the chunk written; resuming does not recreate
    the collection."""
    token = token_for("editor")
    cid = new_id()
    good = plan_of(cid, 2)
    broken = PublishPlan.from_dict(good.to_dict())
    broken.items[1]["geometry"] = {"type": "Point", "coordinates": "nowhere"}
    with client(catalogue, token) as c:
        stopped = publish(c, broken)
        assert stopped.error is not None and stopped.error.field == "items"
        assert "none of them was written" in stopped.error.message and "item 'i1'" in stopped.error.message
        assert stopped.state.done == (COLLECTION_STEP,)
        assert item_ids(catalogue, cid, token) == []
        resumed = publish(c, good, stopped.state)
    assert resumed.ok, resumed.error
    assert [e.url.endswith("/collections") for e in resumed.state.log if e.method == "POST"].count(True) == 1
    assert item_ids(catalogue, cid, token) == ["i0", "i1"]


def test_embedded_target_signs_in_with_a_local_account(
    catalogue: CatalogueHandle, issuer: IssuerHandle
) -> None:
    """The app's default target: the embedded endpoints as `serve` announces them, local accounts."""
    announced = {
        "openeo_url": "http://127.0.0.1:9",
        "catalogue_url": catalogue.url,
        "assets_url": catalogue.assets_url,
        "oidc_issuer": issuer.issuer_url,
        "token_url": issuer.token_url,
        "clients": [c.to_dict(include_secret=True) for c in issuer.clients],
    }
    target = CatalogueTarget.from_settings(Settings(), EmbeddedEndpoints.from_dict(announced))
    assert target is not None and target.embedded and target.assets_url == catalogue.assets_url
    assert target.sign_in_methods == ("local account", "device sign-in", "paste a token")
    assert "client_secret" not in repr(target) and "client_secret" not in str(target.to_dict())
    assert CatalogueTarget.from_settings(Settings(), None) is None  # still starting
    remote = CatalogueTarget.from_settings(
        Settings(catalogue_url="https://catalogue.demo.apex.esa.int"), None
    )
    assert remote is not None and remote.oidc_issuer == "https://auth.apex.esa.int/realms/apex"
    token = target.local_token("admin", timeout=T)
    with client(catalogue, token.access_token) as c:
        assert publish(c, plan_of(new_id(), 1, auth=PUBLIC)).ok
    with pytest.raises(AuthError):
        target.local_token("nobody")


def test_the_metadata_pages_collection_publishes_twice_without_conflict(
    catalogue: CatalogueHandle, token_for: TokenFor
) -> None:
    """The real hand-over: the ``MetadataOutcome`` of the embedded job's results, as the Metadata page stores
    it; the catalogue's copy compares equal, so the second publish is a no-op, not a conflict."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    results = json.loads((fixtures / "embedded_job_results.json").read_text())
    job_item = json.loads((fixtures / "embedded_job_item.json").read_text())
    draft = md.CollectionDraft.from_results(results, [job_item], new_id=new_id("ndvi"))
    plan = PublishPlan.from_metadata(MetadataOutcome.of(md.evaluate(draft, results, [job_item])))
    assert plan.items and plan.collection["_auth"]
    with client(catalogue, token_for("editor")) as c:
        assert publish(c, plan).ok
        again = publish(c, plan)
    assert again.ok, again.error
    assert any("same content" in n for n in again.notes)
