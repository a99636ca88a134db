"""The device flow (RFC 8628): ``POST /device/authorize`` hands out codes; ``GET|POST /device`` is the
HTML page where a person enters the user code and approves (or denies) the request as one of the
configured accounts. There is no password: the issuer is a loopback test double, not an identity
provider. The application then polls ``POST /token`` (:mod:`.token`).
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from apex_core.local.issuer.oauth import (
    DeviceGrant,
    Issuer,
    issuer_of,
    new_user_code,
    normalise_user_code,
    oauth_error,
    read_form,
)
from apex_core.local.issuer.state import PUBLIC_CLIENT_ID

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()


@router.post("/device/authorize")
async def device_authorize(request: Request) -> Response:
    issuer = issuer_of(request)
    form = await read_form(request)
    client = issuer.authenticate_client(request, form)
    if isinstance(client, JSONResponse):
        return client
    challenge = form.get("code_challenge")
    if challenge and form.get("code_challenge_method", "plain") != "S256":
        return oauth_error("invalid_request", "Only code_challenge_method S256 is supported.")
    grant = DeviceGrant(
        device_code=secrets.token_urlsafe(32),
        user_code=new_user_code(),
        client_id=client.client_id if client else PUBLIC_CLIENT_ID,
        scope=form.get("scope") or "openid",
        expires_at=time.time() + issuer.config.device_code_lifetime,
        code_challenge=challenge or None,
    )
    issuer.store.put_device(grant)
    return JSONResponse(
        {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": f"{issuer.base}/device",
            "verification_uri_complete": f"{issuer.base}/device?user_code={grant.user_code}",
            "expires_in": issuer.config.device_code_lifetime,
            "interval": issuer.config.device_interval,
        },
        headers={"Cache-Control": "no-store"},
    )


def _page(issuer: Issuer, message: str, user_code: str = "", status: int = 200) -> HTMLResponse:
    accounts = "".join(
        f'<label><input type="radio" name="account" value="{html.escape(c.name)}"'
        f"{' checked' if i == 0 else ''}> {html.escape(c.name)}"
        f" (roles: {html.escape(', '.join(c.roles) or 'none')})</label><br>"
        for i, c in enumerate(issuer.state.clients)
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>APEx local sign-in</title></head>
<body>
<h1>APEx local sign-in</h1>
<p id="message">{html.escape(message)}</p>
<form method="post" action="{html.escape(issuer.base)}/device">
<p><label>User code <input name="user_code" value="{html.escape(user_code)}" autocomplete="off"></label></p>
<fieldset><legend>Sign in as</legend>{accounts}</fieldset>
<p><button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button></p>
</form>
</body></html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/device")
def device_page(request: Request, user_code: str = "") -> HTMLResponse:
    return _page(
        issuer_of(request), "Enter the code shown by the application and choose an account.", user_code
    )


@router.post("/device")
async def device_decide(request: Request) -> HTMLResponse:
    issuer = issuer_of(request)
    form = await read_form(request)
    user_code = normalise_user_code(form.get("user_code", ""))
    grant = issuer.store.by_user_code(user_code)
    if grant is None or grant.status != "pending" or time.time() >= grant.expires_at:
        return _page(issuer, "Unknown or expired code. Request a new one in the application.", status=400)
    if form.get("action") == "deny":
        issuer.store.update_device(replace(grant, status="denied"))
        return _page(issuer, "Request denied. You can close this page.")
    account = issuer.state.account(form.get("account", ""))
    if account is None:
        return _page(issuer, "Choose one of the listed accounts.", user_code, status=400)
    issuer.store.update_device(replace(grant, status="approved", account=account.name))
    logger.info("Device code approved as %s", account.name)
    return _page(
        issuer, f"Approved as {account.name}. You can close this page and return to the application."
    )
