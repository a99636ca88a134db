"""``POST /token``: grants ``client_credentials``, device code (RFC 8628) and ``refresh_token``.

Client authentication by HTTP basic or form fields (``client_secret_basic`` / ``client_secret_post``),
or none for the public client ``apex-local-app`` (device flow, optionally with PKCE).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from apex_core.local.issuer.oauth import DEVICE_GRANT, issuer_of, oauth_error, read_form
from apex_core.local.issuer.state import PUBLIC_CLIENT_ID

__all__ = ["router"]

router = APIRouter()


@router.post("/token")
async def token(request: Request) -> Response:
    issuer = issuer_of(request)
    form = await read_form(request)
    client = issuer.authenticate_client(request, form)
    if isinstance(client, JSONResponse):
        return client
    grant_type = form.get("grant_type", "")
    if grant_type == "client_credentials":
        if client is None:
            return oauth_error("unauthorized_client", "A public client cannot use client_credentials.")
        return issuer.token_response(
            client_id=client.client_id, account=client, scope=form.get("scope") or "openid"
        )
    if grant_type == DEVICE_GRANT:
        return issuer.device_token(form, client)
    if grant_type == "refresh_token":
        held = issuer.store.refresh.pop(form.get("refresh_token", ""), None)
        client_id = client.client_id if client else PUBLIC_CLIENT_ID
        if held is None or held.client_id != client_id or held.expires_at <= time.time():
            return oauth_error("invalid_grant", "Unknown, expired or foreign refresh token.")
        account = issuer.state.account(held.account)
        if account is None:
            return oauth_error("invalid_grant", "The account no longer exists.")
        return issuer.token_response(client_id=client_id, account=account, scope=held.scope)
    return oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")
