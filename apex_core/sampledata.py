"""The real Sentinel-2 sample the embedded openEO backend serves, put in place and verified.

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
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from apex_core.config import PROJECT_ROOT, Settings
from apex_core.errors import ChecksumMismatch, DataError

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

DEFAULT_SHARED_DIR = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_STAC_SCHEMAS_SHARED_DIR = PROJECT_ROOT.parent / "shared" / "stac-schemas"
# The project's own manifest of the STAC extension schemas: path (= canonical URL's path), URL, SHA-256.
STAC_SCHEMAS_MANIFEST = PROJECT_ROOT / "apex_core" / "metadata" / "stac-schemas.manifest.json"
_TIMEOUT = 60.0
_CHUNK = 1 << 20

Outcome = Literal["present", "copied", "downloaded"]


@dataclass(frozen=True)
class SampleFile:
    """One file of the sample: where it goes, what it must hash to, where it comes from.

    Exactly one source: ``url`` (a file to download), or ``wheel`` + ``member`` (a file inside a
    wheel that the package index ``index_url`` serves).
    """

    path: str
    sha256: str
    size: int | None = None
    url: str | None = None
    wheel: str | None = None
    member: str | None = None
    index_url: str = "https://pypi.org/simple"
    attribution: str = ""


_GEOTRELLIS = (
    "https://raw.githubusercontent.com/Open-EO/openeo-geotrellis-extensions/"
    "2a25a26e3d8e03135c9d3bdeba31d1400e8e73b7/openeo-geotrellis/src/test/resources/"
    "org/openeo/geotrellis/icor/atmocorr/"
)
_KEMPEN_SHA = {
    "B02": "e1c47b64328d6ff19648151832400a4cf50f329eb5b270b74b21ee69ebcf95f1",
    "B03": "c9a78a7b50e04d9c566b866ce81661612667fb2eb6ad65a256ff9fe99b014779",
    "B04": "6811280ec6badf83059fb51b282a875217f08a9c20881482f7e5464cd2ad36b1",
    "B08": "990b6445bf541db498a36f93b13a4c2fdf8c551ed227b1516bfe7adc5c778e6d",
}

SAMPLE_FILES: tuple[SampleFile, ...] = (
    SampleFile(
        path="s2_l2a_bolzano/S2_L2A_sample.tif",
        sha256="60a75620b1cfa4940a74340c342c7ebb624bbdd2a9b9edc2cad1709172bb32e2",
        size=4_026_886,
        url="https://raw.githubusercontent.com/Open-EO/openeo-localprocessing-data/main/"
        "sample_geotiff/S2_L2A_sample.tif",
        attribution="Contains modified Copernicus Sentinel data 2022, processed by openEO Platform",
    ),
    *(
        SampleFile(
            path=f"s2_boa_kempen_belgium/ref_check_icor_S2_{band}.tif",
            sha256=sha,
            url=f"{_GEOTRELLIS}ref_check_icor_S2_{band}.tif",
            attribution="Contains modified Copernicus Sentinel data 2019",
        )
        for band, sha in _KEMPEN_SHA.items()
    ),
    SampleFile(
        path="s2_l2a_romania_timeseries/sentinel2_cube_subset_romania_10m.nc",
        sha256="10165376979ed20f988bef09bf79135ea415e741256ba50fd4fef679b1c1fa9d",
        size=14_017_443,
        wheel="nrt==0.2.1",
        member="nrt/data/sentinel2_cube_subset_romania_10m.nc",
        attribution="Contains modified Copernicus Sentinel data 2015-2021",
    ),
)


@dataclass(frozen=True)
class SampleResult:
    path: Path
    outcome: Outcome

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "outcome": self.outcome}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(candidate: Path, spec: SampleFile, source: str) -> None:
    actual = sha256_of(candidate)
    if actual != spec.sha256:
        raise ChecksumMismatch(
            f"{spec.path} from {source} has SHA-256 {actual}, expected {spec.sha256}. "
            "The file was not installed.",
            code="ChecksumMismatch",
            field=spec.path,
        )


def _download(url: str, target: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as resp, target.open("wb") as out:
            shutil.copyfileobj(resp, out, _CHUNK)
    except OSError as exc:
        raise DataError(f"Could not download {url}: {exc}") from exc


def _wheel_url(spec: SampleFile) -> tuple[str, str]:
    """The download URL and SHA-256 of the wheel ``spec.wheel`` (``name==version``).

    Reads the package index's Simple API in its JSON form (PEP 691), as pip does.
    """
    assert spec.wheel is not None
    name, _, version = spec.wheel.partition("==")
    index = f"{spec.index_url}/{name}/"
    request = urllib.request.Request(index, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as resp:
            meta = json.load(resp)
    except (OSError, ValueError) as exc:
        raise DataError(f"Could not read the package index entry {index}: {exc}") from exc
    prefix = f"{name.replace('-', '_')}-{version}-"
    for entry in meta.get("files", []):
        filename = str(entry.get("filename", ""))
        if filename.startswith(prefix) and filename.endswith(".whl"):
            return urllib.parse.urljoin(index, str(entry["url"])), str(entry["hashes"]["sha256"])
    raise DataError(f"{spec.wheel} has no wheel on {spec.index_url}.")


def _fetch(spec: SampleFile, target: Path, workdir: Path) -> str:
    """Download ``spec`` into ``target``; return a description of the source."""
    if spec.url is not None:
        _download(spec.url, target)
        return spec.url
    if spec.wheel is None or spec.member is None:
        raise DataError(f"{spec.path} has no source to download it from.")
    url, wheel_sha = _wheel_url(spec)
    wheel = workdir / "package.whl"
    _download(url, wheel)
    if sha256_of(wheel) != wheel_sha:
        raise ChecksumMismatch(f"The wheel {url} does not match its index digest.", field=spec.path)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(spec.member) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{spec.member} could not be read from {url}: {exc}") from exc
    return f"{url}!{spec.member}"


def _ensure_one(spec: SampleFile, dest: Path, shared: Path | None) -> SampleResult:
    final = dest / spec.path
    if final.is_file() and sha256_of(final) == spec.sha256:
        return SampleResult(final, "present")
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".incoming-") as tmp:
        workdir = Path(tmp)
        candidate = workdir / final.name
        local = shared / spec.path if shared is not None else None
        outcome: Outcome
        if local is not None and local.is_file():
            shutil.copyfile(local, candidate)
            source, outcome = str(local), "copied"
        else:
            source, outcome = _fetch(spec, candidate, workdir), "downloaded"
        _verify(candidate, spec, source)
        os.replace(candidate, final)
    logger.info("sample file %s %s", spec.path, outcome)
    return SampleResult(final, outcome)


def ensure_sample_data(
    dest: Path,
    shared: Path | None = DEFAULT_SHARED_DIR,
    files: Sequence[SampleFile] = SAMPLE_FILES,
) -> list[SampleResult]:
    """Make every file of ``files`` present and verified under ``dest``; return what was done."""
    return [_ensure_one(spec, dest, shared) for spec in files]


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
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["files"]
        if not isinstance(entries, list) or not entries:
            raise TypeError("'files' must be a non-empty list")
        files = tuple(
            SampleFile(
                path=str(entry["path"]),
                sha256=str(entry["sha256"]).lower(),
                size=int(entry["size"]) if entry.get("size") is not None else None,
                url=urllib.parse.urljoin(path.resolve().as_uri(), str(entry["url"])),
                attribution=str(entry.get("attribution", "")),
            )
            for entry in entries
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"The manifest {path} could not be read: {exc!r}") from exc
    for spec in files:
        relative = Path(spec.path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise DataError(f"The manifest {path} names a path outside its destination: {spec.path!r}")
        if len(spec.sha256) != 64 or any(c not in "0123456789abcdef" for c in spec.sha256):
            raise DataError(f"The manifest {path} has no valid SHA-256 for {spec.path!r}")
    if len({spec.path for spec in files}) != len(files):
        raise DataError(f"The manifest {path} lists a path twice")
    return files


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
