"""openeo-driver configuration file (``OPENEO_BACKEND_CONFIG``): the config the server set in-process."""

from apex_core.local.openeo.backend import active_config

config = active_config()
