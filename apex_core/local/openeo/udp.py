"""User-defined processes (``/process_graphs``) of the embedded backend, per user, on disk.

openeo-driver provides the routes once the backend has a ``user_defined_processes`` part; this is that
part. Each user's processes live in ``<store>/<sha256 of the user id>/<process id>.json`` (the user id
never becomes a path), written atomically (a temporary file in the same folder, then ``os.replace``).
A user sees, replaces and deletes only their own processes: another user's id is simply not there
(404 ``ProcessGraphNotFound``).

Process ids: the openEO API's pattern is ``^\\w+$``; this backend is lenient and also accepts dashes
(a UUID, as clients such as the compliance suite use), so an id is 1-:data:`MAX_ID_LENGTH` ASCII
letters, digits, ``_`` or ``-`` (:data:`PROCESS_ID`). Anything else (slashes, dots, ``..``, non-ASCII
look-alikes, control characters, longer ids) is refused with 400 ``InvalidId`` before any file is
touched (:func:`check_process_id`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openeo_driver.backend import (
    UserDefinedProcesses,
    UserDefinedProcessesListing,
    UserDefinedProcessMetadata,
)
from openeo_driver.errors import OpenEOApiException, ProcessGraphNotFoundException

from apex_core.local.files import write_private_file

__all__ = ["MAX_ID_LENGTH", "PROCESS_ID", "SPEC_FIELDS", "LocalUserDefinedProcesses", "check_process_id"]

logger = logging.getLogger(__name__)

MAX_ID_LENGTH = 128
PROCESS_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")
# What a stored process keeps: the fields of the openEO API's process description. Others (such as
# openeo-driver's non-standard "public", which would publish it under /processes/u:<user>) are dropped.
SPEC_FIELDS = (
    "id",
    "summary",
    "description",
    "categories",
    "parameters",
    "returns",
    "deprecated",
    "experimental",
    "exceptions",
    "examples",
    "links",
    "process_graph",
)


def check_process_id(process_id: str) -> str:
    """``process_id`` if it is a valid id here (see the module's docstring), else 400 ``InvalidId``."""
    if not PROCESS_ID.fullmatch(process_id):
        shown = process_id if len(process_id) <= 40 else process_id[:40] + "..."
        raise OpenEOApiException(
            code="InvalidId",
            status_code=400,
            message=(
                f"Invalid process identifier {shown!r}: use 1-{MAX_ID_LENGTH} characters from "
                "A-Z, a-z, 0-9, '_' and '-'."
            ),
        )
    return process_id


class LocalUserDefinedProcesses(UserDefinedProcesses):  # type: ignore[misc]
    """openeo-driver's ``UserDefinedProcesses`` part over a folder (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _user_dir(self, user_id: str) -> Path:
        return self.root / hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]

    def _path(self, user_id: str, process_id: str) -> Path:
        return self._user_dir(user_id) / f"{check_process_id(process_id)}.json"

    def spec(self, user_id: str, process_id: str) -> dict[str, Any] | None:
        """The stored process description (as it was stored, its ``id`` the path's), or ``None``."""
        try:
            path = self._path(user_id, process_id)
        except OpenEOApiException:
            return None  # an id that cannot be stored was never stored
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("unreadable user-defined process %s: %s", path, exc)
            return None
        return data if isinstance(data, dict) else None

    def get(self, user_id: str, process_id: str) -> UserDefinedProcessMetadata | None:
        spec = self.spec(user_id, process_id)
        return UserDefinedProcessMetadata.from_dict(spec) if spec is not None else None

    def get_for_user(self, user_id: str) -> list[UserDefinedProcessMetadata]:
        return list(self.list_for_user(user_id).udps)

    def list_for_user(self, user_id: str) -> UserDefinedProcessesListing:
        folder = self._user_dir(user_id)
        udps = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            spec = self.spec(user_id, path.stem)
            if spec is not None:
                udps.append(UserDefinedProcessMetadata.from_dict(spec))
        return UserDefinedProcessesListing(udps=udps)

    def save(self, user_id: str, process_id: str, spec: Mapping[str, Any]) -> None:
        path = self._path(user_id, process_id)
        stored = {k: spec[k] for k in SPEC_FIELDS if k in spec}
        stored["id"] = process_id
        body = json.dumps(stored, indent=1, allow_nan=False)
        with self._lock:
            write_private_file(path, body)
        logger.info("user-defined process %s stored", process_id)

    def delete(self, user_id: str, process_id: str) -> None:
        path = self._path(user_id, process_id)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                raise ProcessGraphNotFoundException(process_id) from None
        logger.info("user-defined process %s deleted", process_id)
