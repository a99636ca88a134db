"""Embedded local services (openEO backend, STAC catalogue, OIDC issuer), started on loopback.

The app uses them over HTTP exactly as it uses production services. The rest of ``apex_core`` and the
pages import from here only :mod:`apex_core.local.contract`; nothing here imports the rest of
``apex_core`` (its own errors: :mod:`apex_core.local.errors`; its own settings:
:mod:`apex_core.local.settings`). The contracts in ``pyproject.toml`` (``lint-imports``) hold both.
"""

from apex_core.local.process import LocalService, free_port, wait_for_http

__all__ = ["LocalService", "free_port", "wait_for_http"]
