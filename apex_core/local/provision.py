"""Verified files put in place: the Sentinel-2 sample the embedded openEO backend serves, and any set of
files a JSON manifest lists. The one copy-or-download-and-verify implementation: setup uses it (through
:mod:`apex_core.local.contract`, re-exported app-side by ``apex_core.sampledata``) and so does the
embedded backend when its data folder is missing, empty or incomplete (:func:`provision_sample_data`).

Each file is copied from a local folder laid out like ``../shared/data`` when it is there, else
downloaded from its public source (a raw file URL, or a member of a wheel on a package index). Either way
its SHA-256 must match; a mismatch is a :class:`~apex_core.local.errors.LocalChecksumError` and the bad
file is not kept. Files are written atomically, so an interruption never leaves a half file.

Standard library only (the app loads it through the contract).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from apex_core.local.errors import LocalChecksumError, LocalDataError

__all__ = [
    "DEFAULT_SAMPLE_SOURCE",
    "SAMPLE_FILES",
    "DataStatus",
    "SampleFile",
    "SampleResult",
    "ensure_files",
    "load_manifest",
    "provision_sample_data",
    "sha256_of",
]

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data"
"""The local copy looked at first: ``../shared/data`` beside the project folder."""

_TIMEOUT = 60.0
_CHUNK = 1 << 20

Outcome = Literal["present", "copied", "downloaded"]


@dataclass(frozen=True)
class SampleFile:
    """One file: where it goes, what it must hash to, where it comes from.

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

    @property
    def downloadable(self) -> bool:
        return self.url is not None or (self.wheel is not None and self.member is not None)


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
"""The Sentinel-2 sample of the embedded openEO backend (three areas)."""


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
        raise LocalChecksumError(
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
        raise LocalDataError(f"Could not download {url}: {exc}") from exc


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
        raise LocalDataError(f"Could not read the package index entry {index}: {exc}") from exc
    prefix = f"{name.replace('-', '_')}-{version}-"
    for entry in meta.get("files", []):
        filename = str(entry.get("filename", ""))
        if filename.startswith(prefix) and filename.endswith(".whl"):
            return urllib.parse.urljoin(index, str(entry["url"])), str(entry["hashes"]["sha256"])
    raise LocalDataError(f"{spec.wheel} has no wheel on {spec.index_url}.")


def _fetch(spec: SampleFile, target: Path, workdir: Path) -> str:
    """Download ``spec`` into ``target``; return a description of the source."""
    if spec.url is not None:
        _download(spec.url, target)
        return spec.url
    if spec.wheel is None or spec.member is None:
        raise LocalDataError(f"{spec.path} has no source to download it from.")
    url, wheel_sha = _wheel_url(spec)
    wheel = workdir / "package.whl"
    _download(url, wheel)
    if sha256_of(wheel) != wheel_sha:
        raise LocalChecksumError(f"The wheel {url} does not match its index digest.", field=spec.path)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(spec.member) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise LocalDataError(f"{spec.member} could not be read from {url}: {exc}") from exc
    return f"{url}!{spec.member}"


def _ensure_one(spec: SampleFile, dest: Path, shared: Path | None, download: bool) -> SampleResult:
    final = dest / spec.path
    if final.is_file() and sha256_of(final) == spec.sha256:
        return SampleResult(final, "present")
    local = shared / spec.path if shared is not None else None
    if (local is None or not local.is_file()) and not download:
        where = f"in {shared}" if shared is not None else "locally"
        raise LocalDataError(f"{spec.path} is not {where} and downloads are off.", field=spec.path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalDataError(f"Cannot create {final.parent}: {exc}", field=spec.path) from exc
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".incoming-") as tmp:
        workdir = Path(tmp)
        candidate = workdir / final.name
        outcome: Outcome
        if local is not None and local.is_file():
            try:
                shutil.copyfile(local, candidate)
            except OSError as exc:
                raise LocalDataError(f"Could not copy {local}: {exc}", field=spec.path) from exc
            source, outcome = str(local), "copied"
        else:
            source, outcome = _fetch(spec, candidate, workdir), "downloaded"
        _verify(candidate, spec, source)
        os.replace(candidate, final)
    logger.info("sample file %s %s", spec.path, outcome)
    return SampleResult(final, outcome)


def ensure_files(
    dest: Path,
    shared: Path | None = DEFAULT_SAMPLE_SOURCE,
    files: Sequence[SampleFile] = SAMPLE_FILES,
    *,
    download: bool = True,
) -> list[SampleResult]:
    """Make every file of ``files`` present and verified under ``dest``; return what was done.

    The first failure is raised: :class:`LocalChecksumError` for a file that is not what it must be,
    :class:`LocalDataError` for one that could not be had (no local copy and ``download`` off, or the
    download failed).
    """
    return [_ensure_one(spec, dest, shared, download) for spec in files]


def load_manifest(path: Path) -> tuple[SampleFile, ...]:
    """The files a JSON manifest lists: ``{"files": [{"path", "sha256", "size"?, "url"}, ...]}``.

    Every entry needs a relative ``path`` inside the destination, a SHA-256 and a download URL (a URL
    relative to the manifest is resolved against it). A malformed manifest is a :class:`LocalDataError`.
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
        raise LocalDataError(f"The manifest {path} could not be read: {exc!r}") from exc
    for spec in files:
        relative = Path(spec.path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise LocalDataError(f"The manifest {path} names a path outside its destination: {spec.path!r}")
        if len(spec.sha256) != 64 or any(c not in "0123456789abcdef" for c in spec.sha256):
            raise LocalDataError(f"The manifest {path} has no valid SHA-256 for {spec.path!r}")
    if len({spec.path for spec in files}) != len(files):
        raise LocalDataError(f"The manifest {path} lists a path twice")
    return files


# --- the embedded backend's own provisioning -------------------------------------------------------------

REMEDY = (
    "Run ./scripts/setup.sh (it copies the sample from ../shared/data or downloads it), or set "
    "APEX_DATA_DIR to a folder that holds it, or name a copy laid out like ../shared/data as "
    "sample_source_dir in .streamlit/secrets.toml, or connect to the internet (downloads are on unless "
    "sample_download is false); then restart the app."
)
"""What a person can do when the sample could not be put in place."""


@dataclass(frozen=True)
class DataStatus:
    """What the embedded backend's data folder holds after provisioning, as ``serve`` announces it.

    ``ok``: every sample file is there and verified. Otherwise ``problems`` says, per file, why it is
    not (no local copy and no download, a checksum mismatch...) and :attr:`remedy` what to do.
    """

    data_dir: str
    ok: bool
    outcomes: Mapping[str, str] = field(default_factory=dict, hash=False)
    problems: tuple[str, ...] = ()
    source: str | None = None
    download: bool = True
    seconds: float = 0.0

    @property
    def remedy(self) -> str:
        return "" if self.ok else REMEDY

    @property
    def empty(self) -> bool:
        """Nothing of the sample is there: the backend serves no area."""
        return not self.outcomes

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "ok": self.ok,
            "outcomes": dict(self.outcomes),
            "problems": list(self.problems),
            "source": self.source,
            "download": self.download,
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataStatus:
        return cls(
            data_dir=str(data.get("data_dir") or ""),
            ok=bool(data.get("ok")),
            outcomes={str(k): str(v) for k, v in (data.get("outcomes") or {}).items()},
            problems=tuple(str(p) for p in data.get("problems") or ()),
            source=str(data["source"]) if data.get("source") else None,
            download=bool(data.get("download", True)),
            seconds=float(data.get("seconds") or 0.0),
        )


def provision_sample_data(
    data_dir: Path,
    source: Path | None = DEFAULT_SAMPLE_SOURCE,
    *,
    download: bool = True,
    files: Sequence[SampleFile] = SAMPLE_FILES,
) -> DataStatus:
    """Every sample file present and verified under ``data_dir`` (copied from ``source``, else
    downloaded when ``download``); never raises: what could not be done is in the status.

    Files already there with the right checksum are kept (a fast check); each missing or damaged
    one is put in place on its own, so one that cannot be had does not keep the others out.
    """
    begin = time.monotonic()
    outcomes: dict[str, str] = {}
    problems: list[str] = []
    for spec in files:
        try:
            outcomes[spec.path] = _ensure_one(spec, data_dir, source, download).outcome
        except LocalDataError as exc:
            problems.append(exc.message)
        except OSError as exc:  # a data folder that cannot be written, a full disk
            problems.append(f"{spec.path}: {exc}")
    status = DataStatus(
        data_dir=str(data_dir),
        ok=not problems,
        outcomes=outcomes,
        problems=tuple(problems),
        source=str(source) if source is not None else None,
        download=download,
        seconds=time.monotonic() - begin,
    )
    if problems:
        logger.error("sample data under %s incomplete: %s", data_dir, "; ".join(problems))
    else:
        logger.info("sample data under %s ready in %.2f s", data_dir, status.seconds)
    return status
