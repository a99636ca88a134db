"""The embedded catalogue's settings (environment variables of its process) and asset paths.

Light: no web framework is imported, so the process starting the catalogue reads them too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apex_core.local.catalogue.validation import DEFAULT_MAX_BULK_BYTES, DEFAULT_MAX_DOCUMENT_BYTES
from apex_core.local.errors import LocalServiceError

__all__ = [
    "DEFAULT_ADMIN_ROLE",
    "DEFAULT_ASSET_ROLES",
    "DEFAULT_AUDIENCE",
    "CatalogueSettings",
    "safe_asset_path",
]

DEFAULT_ADMIN_ROLE = "stac-admin-local"
DEFAULT_ASSET_ROLES: tuple[str, ...] = ("apex-editor",)
DEFAULT_AUDIENCE = "apex-catalogue-local"
"""The ``aud`` every write token must carry (the local issuer's default audience)."""
_SEGMENT = re.compile(r"^[A-Za-z0-9._~@+=,-]+$")


@dataclass(frozen=True)
class CatalogueSettings:
    """What the catalogue process needs besides the database."""

    issuer_url: str
    asset_dir: Path
    admin_role: str = DEFAULT_ADMIN_ROLE
    audience: str = DEFAULT_AUDIENCE
    asset_roles: tuple[str, ...] = DEFAULT_ASSET_ROLES
    max_asset_bytes: int = 4 * 1024**3
    filter_reads: bool = True
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    max_bulk_bytes: int = DEFAULT_MAX_BULK_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CatalogueSettings:
        env = os.environ if env is None else env
        try:
            issuer = env["APEX_CATALOGUE_ISSUER"]
            asset_dir = Path(env["APEX_CATALOGUE_ASSET_DIR"])
        except KeyError as exc:
            raise LocalServiceError(f"The catalogue needs the environment variable {exc}.") from exc
        roles = env.get("APEX_CATALOGUE_ASSET_ROLES")
        return cls(
            issuer_url=issuer.rstrip("/"),
            asset_dir=asset_dir,
            admin_role=env.get("APEX_CATALOGUE_ADMIN_ROLE") or DEFAULT_ADMIN_ROLE,
            audience=env.get("APEX_CATALOGUE_AUDIENCE") or DEFAULT_AUDIENCE,
            asset_roles=tuple(r for r in roles.split(",") if r) if roles is not None else DEFAULT_ASSET_ROLES,
            max_asset_bytes=int(env.get("APEX_CATALOGUE_MAX_ASSET_BYTES") or 4 * 1024**3),
            filter_reads=(env.get("APEX_CATALOGUE_FILTER_READS", "1") != "0"),
            max_document_bytes=int(
                env.get("APEX_CATALOGUE_MAX_DOCUMENT_BYTES") or DEFAULT_MAX_DOCUMENT_BYTES
            ),
            max_bulk_bytes=int(env.get("APEX_CATALOGUE_MAX_BULK_BYTES") or DEFAULT_MAX_BULK_BYTES),
        )

    def to_env(self) -> dict[str, str]:
        out = {
            "APEX_CATALOGUE_ISSUER": self.issuer_url,
            "APEX_CATALOGUE_ASSET_DIR": str(self.asset_dir),
            "APEX_CATALOGUE_ADMIN_ROLE": self.admin_role,
            "APEX_CATALOGUE_ASSET_ROLES": ",".join(self.asset_roles),
            "APEX_CATALOGUE_MAX_ASSET_BYTES": str(self.max_asset_bytes),
            "APEX_CATALOGUE_FILTER_READS": "1" if self.filter_reads else "0",
            "APEX_CATALOGUE_MAX_DOCUMENT_BYTES": str(self.max_document_bytes),
            "APEX_CATALOGUE_MAX_BULK_BYTES": str(self.max_bulk_bytes),
            "APEX_CATALOGUE_AUDIENCE": self.audience,
        }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer_url": self.issuer_url,
            "asset_dir": str(self.asset_dir),
            "admin_role": self.admin_role,
            "audience": self.audience,
            "asset_roles": list(self.asset_roles),
            "max_asset_bytes": self.max_asset_bytes,
            "filter_reads": self.filter_reads,
            "max_document_bytes": self.max_document_bytes,
            "max_bulk_bytes": self.max_bulk_bytes,
        }


def safe_asset_path(root: Path, relative: str) -> Path:
    """``root/relative`` if ``relative`` is a plain relative path of safe segments; else ValueError."""
    if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative:
        raise ValueError("The asset path must be a relative path with '/' separators.")
    parts = relative.split("/")
    if len(parts) > 16 or any(p in (".", "..") or not _SEGMENT.match(p) or p.startswith(".") for p in parts):
        raise ValueError(
            "Each asset path segment may use letters, digits and ._~@+=,- and must not start with a dot."
        )
    target = root.joinpath(*parts).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError("The asset path leaves the asset folder.")
    return target
