"""The embedded STAC catalogue: stac-fastapi-pgstac on a private PostgreSQL, with the APEx ``_auth`` rules."""

from apex_core.local.catalogue.auth import CollectionAuth, Principal, TokenValidator
from apex_core.local.catalogue.service import CatalogueHandle, start_catalogue

__all__ = ["CatalogueHandle", "CollectionAuth", "Principal", "TokenValidator", "start_catalogue"]
