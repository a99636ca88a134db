"""The services this session talks to: the embedded services (one set per server process, started in
the background), the default openEO backend and the catalogue to publish to."""

from __future__ import annotations

import atexit
from pathlib import Path

import streamlit as st

from apex_core.catalogue import CatalogueTarget
from apex_core.errors import ServiceError
from apex_core.jobs import OpenEoTarget
from apex_core.jobs import openeo_target as openeo_target_for
from apex_core.local.contract import EmbeddedServices, LocalError
from pages.common.session import settings

__all__ = ["catalogue_target", "embedded_services", "openeo_backend_url", "openeo_target"]


@st.cache_resource(show_spinner=False)
def _embedded(state_dir: str, data_dir: str) -> EmbeddedServices:
    """One set of embedded services per server process (shared: it holds no user's token)."""
    services = EmbeddedServices(Path(state_dir), Path(data_dir))
    atexit.register(services.stop)
    return services


def embedded_services() -> EmbeddedServices | None:
    """The embedded services, started in the background when a service is not configured remotely."""
    cfg = settings()
    if not cfg.embedded_autostart or not (cfg.embedded_openeo or cfg.embedded_catalogue):
        return None
    try:
        return _embedded(str(cfg.state_dir), str(cfg.sample_data_dir)).start()
    except LocalError as exc:
        raise ServiceError.carrying(exc) from exc


def openeo_target() -> OpenEoTarget:
    """The openEO backend this session uses by default (configured URL, else the embedded one)."""
    services = embedded_services()
    return openeo_target_for(settings().openeo_url, services.endpoints if services is not None else None)


def openeo_backend_url() -> str | None:
    """The default backend's URL; None while the embedded one is not ready."""
    return openeo_target().url


def catalogue_target() -> CatalogueTarget | None:
    """The catalogue this session publishes to (configured, else embedded; None while it starts)."""
    services = embedded_services()
    return CatalogueTarget.from_settings(settings(), services.endpoints if services is not None else None)
