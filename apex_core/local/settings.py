"""What ``python -m apex_core.local serve`` reads of the app's settings, and only that.

The same sources, in the same order, as the app's ``apex_core.config.Settings``: ``APEX_*`` environment
variables > ``.streamlit/secrets.toml`` of the working directory (flat or under ``[apex]``, as Streamlit
reads it) > defaults. Only the keys ``serve`` needs are read; the app checks the others.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apex_core.local.contract import DEFAULT_SAMPLE_SOURCE, IMPORT_ROOT
from apex_core.local.errors import LocalConfigError

__all__ = ["SECRETS_FILE", "ServeSettings"]

SECRETS_FILE = Path(".streamlit") / "secrets.toml"
"""Relative to the working directory, as Streamlit looks for it."""


def _secrets(path: Path) -> Mapping[str, Any]:
    """The settings part of a secrets file (``[apex]`` table merged under the flat keys); ``{}`` if none."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LocalConfigError(f"{path} cannot be read: {exc}") from exc
    nested = data.get("apex")
    flat = dict(nested) if isinstance(nested, Mapping) else {}
    flat.update({k: v for k, v in data.items() if k != "apex"})
    return flat


_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ServeSettings:
    """The state directory (default ``<project>/.apex``) and the sample data (default ``<state>/data``);
    where the backend provisions a missing sample from: ``sample_source_dir`` (default ``../shared/data``),
    else its public sources unless ``sample_download`` is false.

    Those two are ``serve``'s own: the app's settings do not know them, so the app (which refuses unknown
    ``APEX_*`` variables) passes them in ``.streamlit/secrets.toml``; ``serve`` run on its own also reads
    ``APEX_SAMPLE_SOURCE_DIR``/``APEX_SAMPLE_DOWNLOAD`` (or ``--sample-source``/``--no-download``)."""

    state_dir: Path
    data_dir: Path
    sample_source: Path = DEFAULT_SAMPLE_SOURCE
    download: bool = True

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, secrets_file: Path = SECRETS_FILE
    ) -> ServeSettings:
        env = os.environ if environ is None else environ
        secrets = _secrets(secrets_file)

        def path(name: str) -> Path | None:
            raw = env.get(f"APEX_{name.upper()}") or secrets.get(name)
            return Path(str(raw)).expanduser().resolve() if raw not in (None, "") else None

        raw_download = str(env.get("APEX_SAMPLE_DOWNLOAD") or secrets.get("sample_download", "true"))
        if raw_download.strip().lower() not in (*_TRUE, *_FALSE):
            raise LocalConfigError(
                f"sample_download must be true or false, not {raw_download!r}.", field="sample_download"
            )
        state_dir = path("state_dir") or IMPORT_ROOT / ".apex"
        return cls(
            state_dir=state_dir,
            data_dir=path("data_dir") or state_dir / "data",
            sample_source=path("sample_source_dir") or DEFAULT_SAMPLE_SOURCE,
            download=raw_download.strip().lower() in _TRUE,
        )
