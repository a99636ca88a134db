"""Pure logic of the catalogue client and the publish plan/state: error mapping, retries policy, the
log, plans, states, content comparison, tokens, expiry warnings. No server."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from apex_core.assets import is_geotiff, multihash_sha256
from apex_core.catalogue import (
    AccessToken,
    CatalogueClient,
    Conformance,
    RequestLogEntry,
    apex_client_id,
    error_from_response,
    token_expiry,
)
from apex_core.errors import (
    CatalogueConflict,
    CatalogueError,
    CatalogueUnavailable,
    ForbiddenError,
    MetadataError,
    NotFoundError,
    TokenExpired,
    UnauthorizedError,
    user_message,
)
from apex_core.flow import MetadataOutcome
from apex_core.publish import (
    COLLECTION_STEP,
    VERIFY_STEP,
    PublishPlan,
    PublishState,
    browser_link,
    expiry_warnings,
    item_step,
    log_json,
    same_content,
)
from tests.services import loopback_http


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    resp.headers.update({"Content-Type": "application/json", **(headers or {})})
    return resp


def jwt_with(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


# --- errors ----------------------------------------------------------------------------------------


def test_400_names_the_auth_rule() -> None:
    err = error_from_response(
        response(400, {"detail": "`anonymous` may never be in `_auth.write`."}, {"x-request-id": "r-1"}),
        "create collection c",
    )
    assert type(err) is CatalogueError
    assert err.field == "_auth" and err.status == 400 and err.request_id == "r-1"
    assert "`anonymous` may never be in `_auth.write`" in err.message
    assert "(HTTP 400)" in str(err) and "request id r-1" in str(err)


def test_401_expired_and_not() -> None:
    expired = error_from_response(
        response(401, {"detail": "The access token has expired; sign in again."}), "x"
    )
    assert isinstance(expired, TokenExpired) and "sign in again" in expired.message
    assert user_message(expired).title == "Your session has expired"
    plain = error_from_response(response(401, {"detail": "This request needs a bearer token."}), "x")
    assert isinstance(plain, UnauthorizedError) and not isinstance(plain, TokenExpired)


def test_403_names_the_role() -> None:
    roles = error_from_response(
        response(
            403,
            {"detail": "Writing to collection 'c' needs one of the roles: team-a, team-b. Your roles: x."},
        ),
        "create item i",
    )
    assert isinstance(roles, ForbiddenError) and "It needs one of the roles: team-a, team-b." in roles.message
    admin = error_from_response(
        response(403, {"detail": "Only the catalogue administrators (role stac-admin-prod) may make ..."}),
        "x",
    )
    assert "It needs the role stac-admin-prod." in admin.message


def test_404_409_5xx_and_text_bodies() -> None:
    assert isinstance(error_from_response(response(404, {"code": "NotFoundError"}), "x"), NotFoundError)
    conflict = error_from_response(response(409, {"code": "ConflictError", "description": "exists"}), "x")
    assert isinstance(conflict, CatalogueConflict) and conflict.code == "ConflictError"
    assert "exists" in conflict.message
    server = error_from_response(response(502, b"<html>Bad gateway</html>"), "x")
    assert type(server) is CatalogueError and "resume" in server.message and "Bad gateway" in server.message


def test_retries_only_idempotent_methods() -> None:
    client = CatalogueClient("http://127.0.0.1:9/", "secret-token")
    adapter = client.session.get_adapter("http://127.0.0.1:9/")
    retry = adapter.max_retries  # type: ignore[attr-defined]
    assert set(retry.allowed_methods) == {"GET", "PUT", "DELETE", "HEAD"}
    assert set(retry.status_forcelist) == {502, 503, 504}
    assert "secret-token" not in repr(client)
    assert client.url == "http://127.0.0.1:9"


def test_connection_failure_is_logged_without_token() -> None:
    client = CatalogueClient("http://127.0.0.1:9", "secret-token", timeout=2, retries=0)
    with pytest.raises(CatalogueError, match="did not answer"):
        client.get_collection("c")
    assert client.log[-1].status is None and client.log[-1].method == "GET"
    assert "secret-token" not in log_json(client.log)


def test_log_entry_round_trip_and_no_query() -> None:
    client = CatalogueClient("http://127.0.0.1:9", timeout=2, retries=0)
    with pytest.raises(CatalogueError):
        client.request("GET", "http://user:pw@127.0.0.1:9/a.tif?X-Amz-Signature=abc", what="download")
    entry = client.log[-1]
    assert entry.url == "http://127.0.0.1:9/a.tif"
    assert RequestLogEntry.from_dict(entry.to_dict()) == entry


# --- conformance -----------------------------------------------------------------------------------


def test_conformance_transactions() -> None:
    yes = Conformance("u", ("https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction",), False)
    assert yes.transactions and "one by one" in yes.message
    no = Conformance("u", ("https://api.stacspec.org/v1.0.0/core",), False)
    assert not no.transactions and "cannot be published" in no.message


# --- plan and state ----------------------------------------------------------------------------------


def metadata_state() -> MetadataOutcome:
    collection = {"id": "ndvi", "type": "Collection", "_auth": {"read": ["a"], "write": ["a"]}, "links": []}
    items = ({"id": "x", "collection": "job-1"}, {"id": "y"})
    return MetadataOutcome(valid=True, collection=collection, items=items)


def test_plan_from_metadata_and_new_id() -> None:
    plan = PublishPlan.from_metadata(metadata_state())
    assert plan.collection_id == "ndvi" and plan.item_ids == ("x", "y")
    assert all(i["collection"] == "ndvi" for i in plan.items)
    assert plan.steps == (COLLECTION_STEP, item_step("x"), item_step("y"), VERIFY_STEP)
    other = plan.with_new_id(" ndvi-2 ")
    assert other.collection_id == "ndvi-2" and all(i["collection"] == "ndvi-2" for i in other.items)
    assert plan.collection_id == "ndvi"  # unchanged
    assert PublishPlan.from_dict(plan.with_conflict("update", "put").to_dict()).update_method == "put"
    with pytest.raises(MetadataError):
        PublishPlan.from_metadata(MetadataOutcome(valid=False))
    with pytest.raises(MetadataError, match="not valid yet"):
        PublishPlan.from_metadata(None)
    with pytest.raises(MetadataError):
        PublishPlan.from_dict({"collection": {"id": "c"}, "items": [{"id": "a"}, {"id": "a"}]})
    with pytest.raises(MetadataError):
        plan.with_new_id("  ")


def test_state_round_trip_and_matching() -> None:
    plan = PublishPlan.from_metadata(metadata_state())
    state = PublishState.start("http://cat/", plan).with_done(COLLECTION_STEP, COLLECTION_STEP)
    state = state.with_log(
        [RequestLogEntry("t", "POST", "http://cat/collections", 201, 5, "create collection ndvi")]
    )
    assert state.done == (COLLECTION_STEP,)
    assert PublishState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert state.matches("http://cat", plan) and not state.matches("http://other", plan)
    assert not state.matches("http://cat", plan.with_new_id("z"))
    assert not state.complete(plan)
    assert state.with_done(*plan.steps).complete(plan)
    assert json.loads(log_json(state))[0]["status"] == 201


def test_same_content_ignores_server_fields() -> None:
    ours = {"id": "c", "title": "T", "links": [{"rel": "x"}], "_auth": {"read": []}}
    theirs = {"id": "c", "title": "T", "links": [{"rel": "self"}], "extra": 1}
    assert same_content(ours, theirs)
    assert not same_content({**ours, "title": "U"}, theirs)


# --- tokens, links, expiry ---------------------------------------------------------------------------


def test_token_helpers() -> None:
    exp = int(dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp())
    token = jwt_with({"exp": exp, "sub": "s"})
    assert token_expiry(token) == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert token_expiry("opaque") is None
    pasted = AccessToken.pasted(f"Bearer {token}\n")
    assert (
        pasted.access_token == token
        and token not in repr(pasted)
        and token not in json.dumps(pasted.to_dict())
    )
    left = pasted.seconds_left(dt.datetime(2029, 12, 31, 23, tzinfo=dt.UTC))
    assert left == 3600
    with pytest.raises(UnauthorizedError):
        AccessToken.pasted("  ")
    assert apex_client_id("myproj") == "myproj-catalogue-prod"


def test_browser_link_and_expiry_warnings() -> None:
    assert browser_link(None, "c") is None
    assert browser_link("https://browser.example/", "c") == "https://browser.example/collections/c"
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    expires = int((now + dt.timedelta(days=2, hours=3)).timestamp())
    plan = PublishPlan.from_dict(
        {
            "collection": {"id": "c"},
            "items": [{"id": "i", "assets": {"ndvi": {"href": f"https://x/ndvi.tif?expires={expires}"}}}],
        }
    )
    warnings = expiry_warnings(plan, now=now)
    assert len(warnings) == 1 and "2 d 3 h left" in warnings[0] and "item i" in warnings[0]
    hosted = PublishPlan.from_dict({"collection": {"id": "c"}, "items": [{"id": "i", "assets": {}}]})
    assert expiry_warnings(hosted, now=now) == ()


def test_asset_helpers() -> None:
    assert multihash_sha256(b"") == "1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert is_geotiff({"href": "https://x/a.TIF?sig=1"})
    assert is_geotiff({"href": "https://x/a", "type": "image/tiff; application=geotiff"})
    assert not is_geotiff({"href": "https://x/a.json", "type": "application/json"})


def test_token_goes_only_to_the_catalogue_origin() -> None:
    from apex_core.catalogue import _origin

    client = CatalogueClient("https://cat.example/stac", "t")
    assert _origin("https://CAT.example/stac/collections") in client._origins
    assert _origin("https://elsewhere.example/x") not in client._origins
    assert _origin("http://cat.example/stac") not in client._origins


def test_local_asset_files_match_the_job_downloads(tmp_path: Any) -> None:
    from apex_core.assets import local_asset_files
    from apex_core.flow import JobOutcome, ResultAsset

    tif = tmp_path / "openEO.tif"
    tif.write_bytes(b"x")
    plan = PublishPlan.from_dict(
        {
            "collection": {"id": "c", "assets": {"openEO.tif": {"href": "https://x/openEO.tif?sig=1"}}},
            "items": [
                {"id": "i", "assets": {"openEO.tif": {"href": "https://x/i.tif"}, "other": {"href": "h"}}}
            ],
        }
    )
    job = JobOutcome(
        "j-1", "finished", assets=(ResultAsset("openEO.tif", tif), ResultAsset("gone", Path("/no")))
    )
    documents = (plan.collection, *plan.items)
    assert local_asset_files(documents, job) == {"https://x/openEO.tif?sig=1": tif, "https://x/i.tif": tif}
    assert local_asset_files(documents, None) == {}


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first request of each method, then 200; counts requests per method."""

    counts: ClassVar[dict[str, int]] = {}

    def _answer(self) -> None:
        n = self.counts[self.command] = self.counts.get(self.command, 0) + 1
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status = 503 if n == 1 else 200
        body = json.dumps({"detail": "busy"} if status == 503 else {"id": "c"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def flaky_server() -> Iterator[str]:
    _Flaky.counts = {}
    with loopback_http(_Flaky) as url:
        yield url


def test_get_and_put_are_retried_post_is_not(flaky_server: str) -> None:
    with CatalogueClient(flaky_server, "t", timeout=5) as client:
        assert client.get_collection("c") == {"id": "c"}
        client.put_collection({"id": "c"})
        with pytest.raises(CatalogueUnavailable, match="unavailable right now") as failed:
            client.create_collection({"id": "c"})
    assert _Flaky.counts == {"GET": 2, "PUT": 2, "POST": 1}
    assert failed.value.status == 503 and "busy" in failed.value.message
    assert [e.status for e in client.log] == [200, 200, 503]


def test_bulk_answers_with_errors_are_failures() -> None:
    from apex_core.publish import _check_bulk_answer

    _check_bulk_answer('{"received": 1, "success": 1, "skipped": 0, "errors": []}', "c")
    _check_bulk_answer("Successfully added 3 items.", "c")
    with pytest.raises(CatalogueError, match="1 failures: bad geometry"):
        _check_bulk_answer('{"received": 1, "success": 0, "errors": ["bad geometry"]}', "c")
