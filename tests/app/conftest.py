"""The AppTests' shared fixtures."""

from __future__ import annotations

import pytest

from apex_core.local.catalogue import CatalogueHandle
from apex_core.local.issuer import IssuerHandle


@pytest.fixture
def remote_env(monkeypatch: pytest.MonkeyPatch, catalogue: CatalogueHandle, issuer: IssuerHandle) -> str:
    """The app pointed at the embedded catalogue and issuer of tests/services (as a remote catalogue:
    APEX_CATALOGUE_URL, APEX_OIDC_ISSUER), signing in with the editor's client credentials from the
    settings; returns the client secret (to check it is never shown or logged)."""
    editor = issuer.client("editor")
    monkeypatch.setenv("APEX_CATALOGUE_URL", catalogue.url)
    monkeypatch.setenv("APEX_OIDC_ISSUER", issuer.issuer_url)
    monkeypatch.setenv("APEX_OIDC_CLIENT_ID", editor.client_id)
    monkeypatch.setenv("APEX_OIDC_CLIENT_SECRET", editor.client_secret)
    return editor.client_secret
