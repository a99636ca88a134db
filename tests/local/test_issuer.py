"""The local OIDC issuer over HTTP: discovery, JWKS, client_credentials, device flow, expiry, restart."""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from apex_core.local.issuer import PUBLIC_CLIENT_ID, IssuerHandle, start_issuer
from apex_core.local.process import free_port
from tests.services import wait_until

pytestmark = pytest.mark.services

T = 15
POLL = 0.2  # poll interval of the device-flow checks
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def decode(handle: IssuerHandle, token: str, **options: Any) -> dict[str, Any]:
    key = jwt.PyJWKClient(handle.jwks_url, timeout=T).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=handle.issuer_url,
        audience=handle.audience,
        options=options or None,
    )
    return claims


def device_start(handle: IssuerHandle, **extra: str) -> dict[str, Any]:
    resp = requests.post(
        handle.device_authorization_url,
        data={"client_id": PUBLIC_CLIENT_ID, "scope": "openid", **extra},
        timeout=T,
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def device_poll(handle: IssuerHandle, device_code: str, **extra: str) -> requests.Response:
    data = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": PUBLIC_CLIENT_ID, **extra}
    return requests.post(handle.token_url, data=data, timeout=T)


def decide(handle: IssuerHandle, user_code: str, action: str, account: str = "editor") -> requests.Response:
    page = requests.get(handle.issuer_url + "/device", params={"user_code": user_code}, timeout=T)
    assert page.status_code == 200
    assert "<form" in page.text and user_code in page.text
    action_url = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action_url is not None
    return requests.post(
        action_url.group(1), data={"user_code": user_code, "account": account, "action": action}, timeout=T
    )


@pytest.fixture(scope="module")
def short_issuer(local_state_root: Path) -> Iterator[IssuerHandle]:
    """1-second tokens and 2-second device codes, for expiry tests."""
    handle = start_issuer(local_state_root / "short-issuer", token_lifetime=1, device_code_lifetime=2)
    yield handle
    handle.stop()


def test_discovery_and_jwks(issuer: IssuerHandle) -> None:
    doc = requests.get(f"{issuer.issuer_url}/.well-known/openid-configuration", timeout=T).json()
    assert doc["issuer"] == issuer.issuer_url
    assert doc["token_endpoint"] == issuer.token_url
    assert doc["device_authorization_endpoint"] == issuer.device_authorization_url
    assert DEVICE_GRANT in doc["grant_types_supported"]
    keys = requests.get(doc["jwks_uri"], timeout=T).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["kid"] and keys[0]["alg"] == "RS256"
    assert "d" not in keys[0]  # public part only


def test_state_files_are_private_and_to_dict_has_no_secrets(issuer: IssuerHandle) -> None:
    for name in ("signing-key.pem", "clients.json"):
        mode = stat.S_IMODE((issuer.state_dir / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    public = issuer.to_dict()
    assert all("client_secret" not in c for c in public["clients"])
    secrets = issuer.to_dict(include_secrets=True)["clients"]
    assert {c["name"] for c in secrets} == {"admin", "editor", "noroles"}
    assert all(len(c["client_secret"]) >= 32 for c in secrets)


@pytest.mark.parametrize(
    ("name", "roles"), [("admin", ["stac-admin-local"]), ("editor", ["apex-editor"]), ("noroles", [])]
)
def test_client_credentials_basic_auth(issuer: IssuerHandle, name: str, roles: list[str]) -> None:
    client = issuer.client(name)
    resp = requests.post(
        issuer.token_url,
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret),
        timeout=T,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == issuer.token_lifetime
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = decode(issuer, body["access_token"])
    assert claims["realm_access"]["roles"] == roles
    assert claims["azp"] == client.client_id
    assert claims["sub"] == name
    assert claims["exp"] - claims["iat"] == issuer.token_lifetime


def test_client_credentials_form_post_and_errors(issuer: IssuerHandle) -> None:
    client = issuer.client("editor")
    form = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    assert requests.post(issuer.token_url, data=form, timeout=T).status_code == 200
    wrong = requests.post(issuer.token_url, data={**form, "client_secret": "nope"}, timeout=T)
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    unknown = requests.post(issuer.token_url, data={**form, "client_id": "who"}, timeout=T)
    assert unknown.json()["error"] == "invalid_client"
    grant = requests.post(issuer.token_url, data={**form, "grant_type": "password"}, timeout=T)
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"
    public = requests.post(
        issuer.token_url, data={"grant_type": "client_credentials", "client_id": PUBLIC_CLIENT_ID}, timeout=T
    )
    assert public.json()["error"] == "unauthorized_client"


def test_device_flow_with_plain_requests(issuer: IssuerHandle) -> None:
    start = device_start(issuer, scope="openid offline_access")
    assert start["verification_uri"] == f"{issuer.issuer_url}/device"
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", start["user_code"])
    first = device_poll(issuer, start["device_code"])
    assert first.status_code == 400
    assert first.json()["error"] == "authorization_pending"
    too_fast = device_poll(issuer, start["device_code"])
    assert too_fast.json()["error"] == "slow_down"

    approved = decide(issuer, start["user_code"].lower().replace("-", ""), "approve", account="editor")
    assert approved.status_code == 200
    assert "Approved as editor" in approved.text

    def token() -> dict[str, Any] | None:
        resp = device_poll(issuer, start["device_code"])
        if resp.status_code == 200:
            body: dict[str, Any] = resp.json()
            return body
        assert resp.json()["error"] in ("slow_down", "authorization_pending")
        return None

    body = wait_until(token, every=POLL)
    claims = decode(issuer, body["access_token"])
    assert claims["realm_access"]["roles"] == ["apex-editor"]
    assert claims["azp"] == PUBLIC_CLIENT_ID
    # the device code is single-use
    assert device_poll(issuer, start["device_code"]).json()["error"] == "invalid_grant"
    # offline_access gave a refresh token, which works once
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "client_id": PUBLIC_CLIENT_ID,
    }
    again = requests.post(issuer.token_url, data=refresh, timeout=T)
    assert again.status_code == 200
    assert decode(issuer, again.json()["access_token"])["sub"] == "editor"
    assert requests.post(issuer.token_url, data=refresh, timeout=T).json()["error"] == "invalid_grant"


def test_device_flow_denied(issuer: IssuerHandle) -> None:
    start = device_start(issuer)
    assert decide(issuer, start["user_code"], "deny").status_code == 200

    def denied() -> bool:
        error = device_poll(issuer, start["device_code"]).json()["error"]
        assert error in ("slow_down", "access_denied")
        return error == "access_denied"

    wait_until(denied, every=POLL)
    # an unknown code on the approval page is refused
    assert decide(issuer, "BBBB-CCCC", "approve").status_code == 400


def test_device_flow_pkce_is_enforced(issuer: IssuerHandle) -> None:
    start = device_start(
        issuer, code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method="S256"
    )
    decide(issuer, start["user_code"], "approve")
    bad = device_poll(issuer, start["device_code"], code_verifier="wrong")
    assert bad.json()["error"] == "invalid_grant"

    def ok() -> bool:
        resp = device_poll(
            issuer, start["device_code"], code_verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        )
        return resp.status_code == 200

    wait_until(ok, every=POLL)


def test_openeo_client_device_flow(issuer: IssuerHandle) -> None:
    from openeo.rest.auth.oidc import (
        DefaultOidcClientGrant,
        OidcClientInfo,
        OidcDeviceAuthenticator,
        OidcProviderInfo,
    )

    approvals: list[int] = []

    def display(message: str) -> None:
        # the first message holds the instructions; approve right away, as a person would
        match = re.search(r"[A-Z]{4}-[A-Z]{4}", message)
        if match and not approvals:
            approvals.append(decide(issuer, match.group(0), "approve", account="admin").status_code)

    # as Connection.authenticate_oidc_device() does with a back-end's /credentials/oidc entry
    provider = OidcProviderInfo.from_dict(issuer.openeo_provider())
    client_id = provider.get_default_client_id(
        grant_check=lambda grants: DefaultOidcClientGrant.DEVICE_CODE_PKCE in grants
    )
    assert client_id == PUBLIC_CLIENT_ID
    authenticator = OidcDeviceAuthenticator(
        client_info=OidcClientInfo(client_id=client_id, provider=provider), display=display, max_poll_time=20
    )
    result = authenticator.get_tokens()
    assert approvals == [200]
    assert decode(issuer, result.access_token)["realm_access"]["roles"] == ["stac-admin-local"]


def test_one_second_tokens_expire(short_issuer: IssuerHandle) -> None:
    client = short_issuer.client("editor")
    resp = requests.post(
        short_issuer.token_url,
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret),
        timeout=T,
    )
    token = resp.json()["access_token"]
    claims = decode(short_issuer, token, verify_exp=False)
    assert claims["exp"] - claims["iat"] == 1

    def expired() -> bool:
        try:
            decode(short_issuer, token)
        except jwt.ExpiredSignatureError:
            return True
        return False

    wait_until(expired, timeout=5, every=POLL)


def test_device_code_expires(short_issuer: IssuerHandle) -> None:
    start = device_start(short_issuer)

    def expired() -> bool:
        error = device_poll(short_issuer, start["device_code"]).json()["error"]
        assert error in ("authorization_pending", "slow_down", "expired_token")
        return error == "expired_token"

    wait_until(expired, timeout=8, every=POLL)
    assert decide(short_issuer, start["user_code"], "approve").status_code == 400


def test_restart_keeps_key_and_secrets() -> None:
    root = Path(tempfile.mkdtemp(prefix="apex-issuer-restart-"))
    port = free_port()
    try:
        first = start_issuer(root, port=port)
        client = first.client("admin")
        try:
            resp = requests.post(
                first.token_url,
                data={"grant_type": "client_credentials"},
                auth=(client.client_id, client.client_secret),
                timeout=T,
            )
            token = resp.json()["access_token"]
            kid = requests.get(first.jwks_url, timeout=T).json()["keys"][0]["kid"]
        finally:
            first.stop()
        second = start_issuer(root, port=port)
        try:
            assert second.client("admin").client_secret == client.client_secret
            assert requests.get(second.jwks_url, timeout=T).json()["keys"][0]["kid"] == kid
            assert decode(second, token)["sub"] == "admin"
        finally:
            second.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
