"""The embedded openEO backend: a real openEO HTTP API on loopback over real Sentinel-2 samples.

openeo-driver provides the HTTP layer (capabilities, collections, processes, auth, ``/result``,
``/jobs`` with STAC results and asset download); openeo-pg-parser-networkx + openeo-processes-dask
execute the process graphs. The adapters live here:

* :mod:`.data` - the ``SENTINEL2_L2A`` collection over the three sample areas (``load_collection``);
* :mod:`.engine` - process registry, ``save_result`` to Cloud Optimized GeoTIFF;
* :mod:`.jobs` - persistent batch jobs, run in worker processes (:mod:`.worker`) by a supervisor;
* :mod:`.backend` - the openeo-driver implementation classes; :mod:`.server` - the HTTP server;
* :mod:`.service` - :func:`start_openeo_backend`, to start it as a child process.

The app's client of the observation search (``search_scenes``) is in :mod:`apex_core.local.contract`.
Importing this package is light (no openeo-driver, no raster libraries).
"""

from apex_core.local.openeo.auth import AuthOptions, OidcProviderOptions
from apex_core.local.openeo.model import COLLECTION_ID, Scene
from apex_core.local.openeo.service import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    OpenEoBackendService,
    start_openeo_backend,
)

__all__ = [
    "COLLECTION_ID",
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "AuthOptions",
    "OidcProviderOptions",
    "OpenEoBackendService",
    "Scene",
    "start_openeo_backend",
]
