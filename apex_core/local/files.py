"""Files the embedded services keep in their state directory, written one way: atomically (a temporary
file in the same folder, then ``os.replace``: a reader sees the old file or the new one, never part of
one) and readable by their owner only (mode 0600: some hold secrets, none is for other users)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["write_private_file"]


def write_private_file(path: Path, data: bytes | str) -> None:
    """Write ``data`` (``str``: as UTF-8) to ``path`` atomically, readable by the owner only (mode 0600);
    its folder is created when missing. On any failure the temporary file is removed."""
    body = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
