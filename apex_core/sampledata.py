"""The real Sentinel-2 sample the embedded openEO backend serves, put in place and verified: the app's
side of the one copy-or-download-and-verify implementation, :mod:`apex_core.local.provision` (reached
through :mod:`apex_core.local.contract`, which the embedded backend uses too when its data folder is
missing or incomplete).

Each file is copied from a local folder laid out like ``../shared/data`` when it is there, else
downloaded from its public source (a raw file URL, or a member of a wheel on PyPI). Either way its
SHA-256 must match; a mismatch is a :class:`~apex_core.errors.ChecksumMismatch` and the bad file
is not kept. Files are written atomically, so an interrupted setup never leaves a half file.

The same machinery puts any other set of verified files in place from a JSON manifest
(:func:`load_manifest`), e.g. the openEO API compliance suite's repository layout for the tests, and
the STAC extension JSON schemas that metadata validation resolves offline (:func:`ensure_stac_schemas`:
``<data dir>/stac-schemas/``, from ``../shared/stac-schemas`` or their canonical URLs).

Run as ``python -m apex_core.sampledata [--dest DIR] [--shared DIR] [--manifest FILE | --stac-schemas]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from apex_core.config import PROJECT_ROOT, Settings
from apex_core.errors import ChecksumMismatch, DataError
from apex_core.local import contract
from apex_core.local.contract import SAMPLE_FILES, SampleFile, SampleResult, sha256_of

__all__ = [
    "DEFAULT_SHARED_DIR",
    "DEFAULT_STAC_SCHEMAS_SHARED_DIR",
    "SAMPLE_FILES",
    "STAC_SCHEMAS_MANIFEST",
    "SampleFile",
    "SampleResult",
    "ensure_sample_data",
    "ensure_stac_schemas",
    "load_manifest",
    "sha256_of",
    "stac_schemas_dir",
]

logger = logging.getLogger(__name__)

DEFAULT_SHARED_DIR = contract.DEFAULT_SAMPLE_SOURCE
DEFAULT_STAC_SCHEMAS_SHARED_DIR = PROJECT_ROOT.parent / "shared" / "stac-schemas"
# The project's own manifest of the STAC extension schemas: path (= canonical URL's path), URL, SHA-256.
STAC_SCHEMAS_MANIFEST = PROJECT_ROOT / "apex_core" / "metadata" / "stac-schemas.manifest.json"


def _app_error(exc: contract.LocalDataError) -> DataError:
    """The app's error for a provisioning failure (a checksum mismatch stays one)."""
    if isinstance(exc, contract.LocalChecksumError):
        return ChecksumMismatch.carrying(exc)
    return DataError.carrying(exc)


def ensure_sample_data(
    dest: Path,
    shared: Path | None = DEFAULT_SHARED_DIR,
    files: Sequence[SampleFile] = SAMPLE_FILES,
) -> list[SampleResult]:
    """Make every file of ``files`` present and verified under ``dest``; return what was done."""
    try:
        return contract.ensure_files(dest, shared, files)
    except contract.LocalDataError as exc:
        raise _app_error(exc) from exc


def stac_schemas_dir(settings: Settings | None = None) -> Path:
    """Where the STAC extension schemas are provisioned: ``<data dir>/stac-schemas``."""
    return (settings if settings is not None else Settings.load()).sample_data_dir / "stac-schemas"


def ensure_stac_schemas(
    dest: Path, shared: Path | None = DEFAULT_STAC_SCHEMAS_SHARED_DIR, manifest: Path = STAC_SCHEMAS_MANIFEST
) -> list[SampleResult]:
    """Every STAC extension schema of the project's manifest present and verified under ``dest``."""
    return ensure_sample_data(dest, shared, load_manifest(manifest))


def load_manifest(path: Path) -> tuple[SampleFile, ...]:
    """The files a JSON manifest lists: ``{"files": [{"path", "sha256", "size"?, "url"}, ...]}``.

    Every entry needs a relative ``path`` inside the destination, a SHA-256 and a download URL (a URL
    relative to the manifest is resolved against it). A malformed manifest is a :class:`DataError`.
    """
    try:
        return contract.load_manifest(path)
    except contract.LocalDataError as exc:
        raise _app_error(exc) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dest", type=Path, default=None, help="default: the setting's sample data dir")
    parser.add_argument("--shared", type=Path, default=None, help="local copy to use first")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--manifest", type=Path, default=None, help="a JSON manifest of other files (then --dest is required)"
    )
    what.add_argument(
        "--stac-schemas",
        action="store_true",
        help="the STAC extension schemas (defaults: --dest <data dir>/stac-schemas, ../shared/stac-schemas)",
    )
    args = parser.parse_args(argv)
    if args.manifest is not None and args.dest is None:
        parser.error("--manifest needs --dest")
    if args.stac_schemas:
        label = "STAC extension schemas"
        shared_default = DEFAULT_STAC_SCHEMAS_SHARED_DIR
    else:
        label = "sample data" if args.manifest is None else args.manifest.name
        shared_default = DEFAULT_SHARED_DIR
    shared = args.shared if args.shared is not None else shared_default
    try:
        if args.stac_schemas:
            files = load_manifest(STAC_SCHEMAS_MANIFEST)
            dest = args.dest if args.dest is not None else stac_schemas_dir()
        else:
            files = SAMPLE_FILES if args.manifest is None else load_manifest(args.manifest)
            dest = args.dest if args.dest is not None else Settings.load().sample_data_dir
        results = ensure_sample_data(dest, shared, files)
    except DataError as exc:
        sys.stderr.write(f"{label}: {exc}\n")
        return 1
    for result in results:
        sys.stdout.write(f"{label}: {result.outcome:10} {result.path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
