"""The embedded openEO backend accepting bearer tokens of the local OIDC issuer, with the stock openeo client.

openeo-driver validates a bearer token by calling the issuer's ``userinfo_endpoint``; these tests drive
the real issuer and the real backend on free loopback ports.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import openeo
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from openeo.rest import OpenEoApiError
from openeo.rest.auth.oidc import OidcException

from apex_core.local.issuer import PUBLIC_CLIENT_ID, IssuerHandle
from apex_core.local.openeo.service import DEFAULT_PASSWORD, DEFAULT_USER, OpenEoBackendService

pytestmark = pytest.mark.services

T = 10  # seconds, every HTTP request
OIDC_PROVIDER_ID = "apex-local"  # as the openeo_backend_oidc fixture registers the issuer
BOLZANO_BBOX = {"west": 11.30, "south": 46.47, "east": 11.38, "north": 46.51}


def _userinfo(issuer: IssuerHandle, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    url = requests.get(f"{issuer.issuer_url}/.well-known/openid-configuration", timeout=T).json()[
        "userinfo_endpoint"
    ]
    return requests.get(url, headers=headers, timeout=T)


def _expired_token(issuer: IssuerHandle, name: str = "editor") -> str:
    account = issuer.client(name)
    return issuer.state().sign(
        issuer=issuer.issuer_url,
        subject=account.name,
        roles=account.roles,
        azp=account.client_id,
        lifetime=-60,
    )


def _assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert resp.json()["error"] == "invalid_token"


# --- the issuer's userinfo endpoint -------------------------------------------------------------------------


def test_userinfo_returns_the_subject_and_roles(
    issuer: IssuerHandle, token_for: Callable[[str], str]
) -> None:
    doc = requests.get(f"{issuer.issuer_url}/.well-known/openid-configuration", timeout=T).json()
    assert doc["userinfo_endpoint"] == issuer.userinfo_url == f"{issuer.issuer_url}/userinfo"
    resp = _userinfo(issuer, token_for("admin"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["sub"] == "admin"
    assert body["preferred_username"] == "admin"
    assert body["realm_access"]["roles"] == ["stac-admin-local"] == body["roles"]
    # POST works too (OIDC core 5.3.1)
    post = requests.post(
        doc["userinfo_endpoint"], headers={"Authorization": f"Bearer {token_for('noroles')}"}, timeout=T
    )
    assert post.status_code == 200
    assert post.json()["sub"] == "noroles" and post.json()["roles"] == []


def test_userinfo_refuses_bad_tokens(issuer: IssuerHandle) -> None:
    state = issuer.state()
    editor = issuer.client("editor")
    other = "http://127.0.0.1:1/other"
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer.issuer_url, "sub": "editor", "iat": now, "exp": now + 300}
    cases = {
        "missing": None,
        "garbage": "not-a-jwt",
        "expired": _expired_token(issuer),
        "other issuer": state.sign(
            issuer=other, subject="editor", roles=editor.roles, azp=editor.client_id, lifetime=300
        ),
        "foreign key": jwt.encode(claims, foreign_key, algorithm="RS256", headers={"kid": state.kid}),
        "unsigned": jwt.encode(claims, None, algorithm="none"),
        "unknown subject": state.sign(
            issuer=issuer.issuer_url, subject="mallory", roles=(), azp=editor.client_id, lifetime=300
        ),
    }
    for name, token in cases.items():
        resp = _userinfo(issuer, token)
        assert resp.status_code == 401, name
        _assert_refused(resp)
    expired = _userinfo(issuer, cases["expired"])
    assert "expired" in expired.json()["error_description"]
    basic = requests.get(f"{issuer.issuer_url}/userinfo", auth=("admin", "x"), timeout=T)
    _assert_refused(basic)


def test_userinfo_never_logs_tokens(issuer: IssuerHandle, token_for: Callable[[str], str]) -> None:
    token = token_for("editor")
    assert _userinfo(issuer, token).status_code == 200
    assert _userinfo(issuer, token + "x").status_code == 401
    log = (issuer.state_dir / "issuer.log").read_text()
    assert token not in log
    assert token.split(".")[2] not in log


# --- the openEO backend with the issuer as provider ---------------------------------------------------------


def test_credentials_oidc_lists_the_issuer(
    openeo_backend_oidc: OpenEoBackendService, issuer: IssuerHandle
) -> None:
    providers = requests.get(f"{openeo_backend_oidc.url}/credentials/oidc", timeout=T).json()["providers"]
    assert [p["id"] for p in providers] == [OIDC_PROVIDER_ID]
    assert providers[0]["issuer"].rstrip("/") == issuer.issuer_url
    assert providers[0]["default_clients"][0]["id"] == PUBLIC_CLIENT_ID


def test_access_token_runs_an_ndvi_job(
    openeo_backend_oidc: OpenEoBackendService, token_for: Callable[[str], str]
) -> None:
    con = openeo.connect(openeo_backend_oidc.url).authenticate_oidc_access_token(
        token_for("editor"), provider_id=OIDC_PROVIDER_ID
    )
    assert con.describe_account()["user_id"] == "editor"
    cube = con.load_collection(
        "SENTINEL2_L2A", spatial_extent=BOLZANO_BBOX, temporal_extent="2022-06-12", bands=["B04", "B08"]
    )
    job = cube.ndvi().save_result("GTiff").create_job(title="oidc ndvi")
    job.start()
    # the job runs as the token's user; its status is readable with the same token
    assert job.status() in {"queued", "running", "finished"}
    assert con.job(job.job_id).describe()["title"] == "oidc ndvi"
    assert job.job_id in [j["id"] for j in con.list_jobs()]
    # another user does not see it
    other = openeo.connect(openeo_backend_oidc.url).authenticate_oidc_access_token(
        token_for("admin"), provider_id=OIDC_PROVIDER_ID
    )
    assert job.job_id not in [j["id"] for j in other.list_jobs()]


def test_client_credentials_with_the_stock_client(
    openeo_backend_oidc: OpenEoBackendService, issuer: IssuerHandle
) -> None:
    admin = issuer.client("admin")
    con = openeo.connect(openeo_backend_oidc.url).authenticate_oidc_client_credentials(
        client_id=admin.client_id, client_secret=admin.client_secret, provider_id=OIDC_PROVIDER_ID
    )
    assert con.describe_account()["user_id"] == "admin"
    wrong = openeo.connect(openeo_backend_oidc.url)
    with pytest.raises(OidcException, match=r"invalid_client"):
        wrong.authenticate_oidc_client_credentials(
            client_id=admin.client_id, client_secret="wrong", provider_id=OIDC_PROVIDER_ID
        )


def test_device_flow_with_the_stock_client(
    openeo_backend_oidc: OpenEoBackendService, issuer: IssuerHandle
) -> None:
    """The person approves on the issuer's HTML page (a form POST from a thread) while the client polls."""
    deadline = time.monotonic() + 25
    outcome: dict[str, Any] = {}
    approver: list[threading.Thread] = []

    def approve(url: str, user_code: str) -> None:
        try:
            page = requests.get(url, timeout=T)
            action = re.search(r'<form method="post" action="([^"]+)"', page.text)
            assert page.status_code == 200 and action is not None
            resp = requests.post(
                action.group(1),
                data={"user_code": user_code, "account": "editor", "action": "approve"},
                timeout=T,
            )
            outcome["status"] = resp.status_code
            outcome["page"] = resp.text
        except Exception as exc:  # reported by the test thread below
            outcome["error"] = repr(exc)

    def display(message: str, end: str = "\n") -> None:
        url = re.search(r"(https?://\S+?/device\S*?)[\s'.]", message + " ")
        code = re.search(r"[A-Z]{4}-[A-Z]{4}", message)
        if url and code and not approver:
            thread = threading.Thread(target=approve, args=(url.group(1), code.group(0)), daemon=True)
            approver.append(thread)
            thread.start()

    con = openeo.connect(openeo_backend_oidc.url).authenticate_oidc_device(
        provider_id=OIDC_PROVIDER_ID, client_id=PUBLIC_CLIENT_ID, display=display, max_poll_time=20
    )
    assert approver, "the client never showed the verification URL and user code"
    approver[0].join(timeout=max(0.0, deadline - time.monotonic()))
    assert not approver[0].is_alive()
    assert outcome.get("status") == 200, outcome
    assert "Approved as editor" in outcome["page"]
    assert con.describe_account()["user_id"] == "editor"
    assert time.monotonic() < deadline


def test_expired_or_foreign_tokens_are_refused(
    openeo_backend_oidc: OpenEoBackendService, issuer: IssuerHandle
) -> None:
    expired_token = _expired_token(issuer)
    expired = openeo.connect(openeo_backend_oidc.url).authenticate_oidc_access_token(
        expired_token, provider_id=OIDC_PROVIDER_ID
    )
    with pytest.raises(OpenEoApiError) as info:
        expired.describe_account()
    assert info.value.http_status_code in (401, 403)
    assert info.value.code in ("TokenInvalid", "AuthenticationRequired")
    # raw HTTP: the openEO error document, never a 500
    for bearer in (f"oidc/{OIDC_PROVIDER_ID}/{_expired_token(issuer)}", f"oidc/{OIDC_PROVIDER_ID}/garbage"):
        headers = {"Authorization": f"Bearer {bearer}"}
        resp = requests.get(f"{openeo_backend_oidc.url}/me", headers=headers, timeout=T)
        assert resp.status_code in (401, 403)
        assert resp.json()["code"] in ("TokenInvalid", "AuthenticationRequired")
    unauthenticated = requests.get(f"{openeo_backend_oidc.url}/me", timeout=T)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["code"] == "AuthenticationRequired"
    # refused tokens stay out of the backend's log
    assert expired_token.split(".")[2] not in openeo_backend_oidc.log_path.read_text(errors="replace")


def test_a_token_accepted_once_stops_working_when_it_expires(
    openeo_backend_oidc: OpenEoBackendService, issuer: IssuerHandle
) -> None:
    """openeo-driver caches bearer -> user for 15 min; the backend bounds that by the token's exp."""
    account = issuer.client("editor")
    token = issuer.state().sign(
        issuer=issuer.issuer_url, subject=account.name, roles=account.roles, azp=account.client_id, lifetime=3
    )
    headers = {"Authorization": f"Bearer oidc/{OIDC_PROVIDER_ID}/{token}"}
    first = requests.get(f"{openeo_backend_oidc.url}/me", headers=headers, timeout=T)
    assert first.status_code == 200, first.text
    deadline = time.monotonic() + 30
    while True:
        resp = requests.get(f"{openeo_backend_oidc.url}/me", headers=headers, timeout=T)
        if resp.status_code != 200:
            break
        assert time.monotonic() < deadline, "an expired token was still accepted 30 s after it was issued"
        time.sleep(0.2)
    assert resp.status_code in (401, 403)
    assert resp.json()["code"] in ("TokenInvalid", "AuthenticationRequired")


def test_basic_auth_keeps_working(openeo_backend_oidc: OpenEoBackendService) -> None:
    con = openeo.connect(openeo_backend_oidc.url).authenticate_basic(DEFAULT_USER, DEFAULT_PASSWORD)
    assert con.describe_account()["user_id"] == DEFAULT_USER
    with pytest.raises(OpenEoApiError) as info:
        openeo.connect(openeo_backend_oidc.url).authenticate_basic(DEFAULT_USER, "wrong")
    assert info.value.code == "CredentialsInvalid"
