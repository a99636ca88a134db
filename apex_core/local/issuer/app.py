"""The local OIDC provider as a FastAPI application.

Endpoints (all on loopback):

- ``GET /.well-known/openid-configuration`` - discovery document
- ``GET /jwks`` - the public signing key, with ``kid``
- ``POST /token`` - grants ``client_credentials``, device code (RFC 8628) and ``refresh_token``;
  client authentication by HTTP basic or form fields (``client_secret_basic`` / ``client_secret_post``),
  or none for the public client ``apex-local-app`` (device flow, optionally with PKCE)
- ``GET|POST /userinfo`` - OIDC userinfo for a bearer access token this issuer signed (signature, ``exp``
  and ``iss`` checked; 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` otherwise). This is how
  openeo-driver validates the tokens it is given.
- ``POST /device/authorize`` - RFC 8628 device authorization endpoint
- ``GET /device`` and ``POST /device`` - the HTML page where a person enters the user code and approves
  (or denies) the request as one of the configured accounts. There is no password: the issuer is a
  loopback test double, not an identity provider.

One router per concern: :mod:`.discovery` (discovery, JWKS, userinfo, health), :mod:`.token` (the
token endpoint) and :mod:`.device` (the device flow and its page), over the shared core of
:mod:`.oauth`. Device-flow and refresh-token state lives in memory; it ends with the process.
"""

from __future__ import annotations

from fastapi import FastAPI

from apex_core.local.issuer import device, discovery, token
from apex_core.local.issuer.oauth import Issuer, IssuerConfig
from apex_core.local.issuer.state import IssuerState

__all__ = ["create_app"]


def create_app(state: IssuerState, config: IssuerConfig) -> FastAPI:
    app = FastAPI(title="APEx local OIDC issuer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.issuer = Issuer(state, config)
    for router in (discovery.router, token.router, device.router):
        app.include_router(router)
    return app
