"""Embedded local services (openEO backend, STAC catalogue, OIDC issuer), started on loopback.

The app uses them over HTTP exactly as it uses production services.
"""

from apex_core.local.process import LocalService, free_port, wait_for_http

__all__ = ["LocalService", "free_port", "wait_for_http"]
