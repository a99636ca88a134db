"""What the issuer says about itself and its tokens: discovery document, JWKS, userinfo, health.

``GET|POST /userinfo`` answers for a bearer access token this issuer signed (signature, ``exp`` and
``iss`` checked; 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` otherwise). This is how
openeo-driver validates the tokens it is given.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from apex_core.local.issuer.oauth import DEVICE_GRANT, bearer_token, invalid_token, issuer_of

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()


@router.get("/.well-known/openid-configuration")
def discovery(request: Request) -> dict[str, Any]:
    issuer = issuer_of(request)
    return {
        "issuer": issuer.base,
        "jwks_uri": f"{issuer.base}/jwks",
        "token_endpoint": f"{issuer.base}/token",
        "userinfo_endpoint": f"{issuer.base}/userinfo",
        "device_authorization_endpoint": f"{issuer.base}/device/authorize",
        "grant_types_supported": ["client_credentials", DEVICE_GRANT, "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "azp",
            "preferred_username",
            "realm_access",
            "roles",
        ],
    }


@router.api_route("/userinfo", methods=["GET", "POST"])
async def userinfo(request: Request) -> Response:
    issuer = issuer_of(request)
    token = bearer_token(request)
    if token is None:
        return invalid_token("A bearer access token is required.")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            issuer.public_key,
            algorithms=["RS256"],
            issuer=issuer.base,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        return invalid_token("The access token has expired.")
    except jwt.InvalidTokenError as exc:
        # the exception text names the failed check only, never the token
        logger.info("userinfo refused a token: %s", type(exc).__name__)
        return invalid_token("The access token is not valid for this issuer.")
    account = issuer.state.account(str(claims["sub"]))
    if account is None:
        return invalid_token("The access token's subject is not a known account.")
    realm = claims.get("realm_access")
    roles = realm.get("roles", []) if isinstance(realm, dict) else []
    body = {
        "sub": claims["sub"],
        "preferred_username": claims.get("preferred_username", claims["sub"]),
        "realm_access": {"roles": list(roles)},
        "roles": list(roles),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/jwks")
def jwks(request: Request) -> dict[str, Any]:
    return issuer_of(request).state.jwks()


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
