"""A small local OIDC provider (client credentials + device flow) issuing Keycloak-shaped RS256 JWTs."""

from apex_core.local.issuer.service import IssuerHandle, issuer_url_for, openeo_provider_for, start_issuer
from apex_core.local.issuer.state import (
    ADMIN_ROLE,
    DEFAULT_AUDIENCE,
    EDITOR_ROLE,
    PUBLIC_CLIENT_ID,
    IssuerClient,
    IssuerState,
)

__all__ = [
    "ADMIN_ROLE",
    "DEFAULT_AUDIENCE",
    "EDITOR_ROLE",
    "PUBLIC_CLIENT_ID",
    "IssuerClient",
    "IssuerHandle",
    "IssuerState",
    "issuer_url_for",
    "openeo_provider_for",
    "start_issuer",
]
