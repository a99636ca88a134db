"""The issuer's persisted key and clients, and the tokens it signs, without the HTTP service."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest

from apex_core.local.issuer.state import IssuerState


def test_state_is_created_private_and_reloaded(tmp_path: Path) -> None:
    first = IssuerState.load_or_create(tmp_path)
    for name in ("signing-key.pem", "clients.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    again = IssuerState.load_or_create(tmp_path)
    assert again.kid == first.kid
    assert again.clients == first.clients
    other = IssuerState.load_or_create(tmp_path / "other")
    assert other.kid != first.kid
    assert {c.client_secret for c in other.clients}.isdisjoint({c.client_secret for c in first.clients})


def test_secrets_stay_out_of_repr_and_to_dict(tmp_path: Path) -> None:
    state = IssuerState.load_or_create(tmp_path)
    for client in state.clients:
        assert client.client_secret not in repr(client)
        assert "client_secret" not in client.to_dict()
        assert client.to_dict(include_secret=True)["client_secret"] == client.client_secret
    stored = json.loads((tmp_path / "clients.json").read_text())
    assert {c["client_id"] for c in stored["clients"]} == {c.client_id for c in state.clients}


def test_signed_token_verifies_with_the_jwks(tmp_path: Path) -> None:
    state = IssuerState.load_or_create(tmp_path)
    token = state.sign(issuer="http://i", subject="editor", roles=["apex-editor"], azp="c", lifetime=60)
    assert jwt.get_unverified_header(token)["kid"] == state.kid
    jwk = jwt.PyJWK.from_dict(state.jwks()["keys"][0])
    claims = jwt.decode(
        token, jwk.key, algorithms=["RS256"], issuer="http://i", audience="apex-catalogue-local"
    )
    assert claims["realm_access"] == {"roles": ["apex-editor"]}
    assert {"iss", "sub", "aud", "exp", "iat", "azp"} <= set(claims)


def test_negative_lifetime_makes_an_expired_token(tmp_path: Path) -> None:
    state = IssuerState.load_or_create(tmp_path)
    token = state.sign(issuer="http://i", subject="s", roles=[], azp="c", lifetime=-5)
    jwk = jwt.PyJWK.from_dict(state.jwks()["keys"][0])
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, jwk.key, algorithms=["RS256"], audience="apex-catalogue-local")
