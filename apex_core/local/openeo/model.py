"""Light domain values of the embedded backend's collection (no raster libraries are imported here).

What the app reads too (:class:`Scene`, :data:`COLLECTION_ID`, :func:`parse_datetime`) is defined in
:mod:`apex_core.local.contract` and re-exported here for the server's modules.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apex_core.local.contract import COLLECTION_ID, Scene, parse_datetime

__all__ = [
    "BANDS",
    "CLOUD_CLASSES",
    "COLLECTION_ID",
    "INVALID_CLASSES",
    "OUTPUT_FORMATS",
    "Band",
    "BandStatistics",
    "CollectionNotFound",
    "NoDataAvailable",
    "ProcessGraphError",
    "ProcessParameterInvalid",
    "ProcessParameterRequired",
    "ProcessParameterUnsupported",
    "ProcessUnsupported",
    "ResultFile",
    "Scene",
    "TimeRange",
    "failure_of",
    "parse_datetime",
]

# Sen2Cor scene classes counted as cloudy: cloud shadow, cloud medium / high probability, thin cirrus.
CLOUD_CLASSES = (3, 8, 9, 10)
# Sen2Cor scene classes not counted at all: no data, saturated or defective.
INVALID_CLASSES = (0, 1)


OUTPUT_FORMATS: dict[str, dict[str, Any]] = {
    "GTiff": {
        "title": "GeoTiff (Cloud Optimized)",
        "description": "Cloud Optimized GeoTIFF, float32, nodata NaN, one file per date.",
        "gis_data_types": ["raster"],
        "parameters": {},
    },
}


class ProcessGraphError(ValueError):
    """The process graph cannot be evaluated (unknown process, bad argument...).

    ``code`` and ``status`` are the openEO API error code and HTTP status the backend answers with (and
    the code a failed batch job logs); the subclasses use the official openEO error codes.
    """

    code = "ProcessGraphInvalid"
    status = 400


class ProcessUnsupported(ProcessGraphError):
    """A process the backend does not offer."""

    code = "ProcessUnsupported"

    def __init__(self, process: str, namespace: str | None = None) -> None:
        where = namespace or "backend"
        super().__init__(
            f"Process with identifier '{process}' is not available in namespace '{where}': it is not "
            "supported by this backend. GET /processes lists the processes it runs."
        )
        self.process = process


class CollectionNotFound(ProcessGraphError):
    """``load_collection`` names a collection the backend does not have."""

    code = "CollectionNotFound"
    status = 404

    def __init__(self, collection: str, available: tuple[str, ...]) -> None:
        super().__init__(
            f"Collection '{collection}' does not exist; this backend has {', '.join(map(repr, available))}."
        )
        self.collection = collection


class ProcessParameterInvalid(ProcessGraphError):
    """An argument of a process has a value the process cannot use; ``reason`` says what to change."""

    code = "ProcessParameterInvalid"

    def __init__(self, process: str, parameter: str, reason: str) -> None:
        super().__init__(
            f"The value passed for parameter '{parameter}' in process '{process}' is invalid: {reason}"
        )
        self.process, self.parameter, self.reason = process, parameter, reason


class ProcessParameterRequired(ProcessGraphError):
    """A required argument of a process is missing."""

    code = "ProcessParameterRequired"

    def __init__(self, process: str, parameter: str) -> None:
        super().__init__(f"Process '{process}' parameter '{parameter}' is required.")
        self.process, self.parameter = process, parameter


class ProcessParameterUnsupported(ProcessGraphError):
    """An argument the process does not have."""

    code = "ProcessParameterUnsupported"

    def __init__(self, process: str, parameter: str, known: tuple[str, ...] = ()) -> None:
        hint = f" Its parameters are: {', '.join(known)}." if known else ""
        super().__init__(f"Process '{process}' does not support parameter '{parameter}'.{hint}")
        self.process, self.parameter = process, parameter


class NoDataAvailable(Exception):
    """The request touches none of the sample areas and dates; the message says where data exists."""

    code = "NoDataAvailable"
    status = 400


# Libraries whose exceptions, raised while a graph runs, are the graph's fault: the engine's own (named
# after openEO errors, e.g. DimensionNotAvailable, NirBandAmbiguous) and the graph parser's.
_ENGINE_MODULES = ("openeo_processes_dask", "openeo_pg_parser_networkx")
# Python's and the geodata libraries' refusals of values a graph passed (a string added to a number, an
# unknown CRS or resampling method, an index beyond any array...).
_VALUE_ERRORS = (TypeError, ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError)
_VALUE_MODULES = ("pyproj", "rasterio", "rioxarray")


def _raised_in(exc: BaseException, packages: tuple[str, ...]) -> bool:
    """Whether the innermost frame that raised ``exc`` is in one of ``packages``."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and any(f"/{package}/" in frames[-1].filename for package in packages)


def failure_of(exc: BaseException) -> tuple[str, int, str]:
    """``(openEO code, HTTP status, message)`` for an exception raised while a process graph ran.

    What the graph asked for is the caller's error (a 4xx with the reason); only the rest is the
    back-end's own failure (500 ``Internal``). One table for the synchronous answers and the logs of
    failed batch jobs.
    """
    if isinstance(exc, ProcessGraphError | NoDataAvailable):
        return exc.code, exc.status, str(exc)
    kind, module = type(exc).__name__, type(exc).__module__
    if module.startswith(_ENGINE_MODULES):
        return kind, 400, str(exc) or kind
    if type(exc) is Exception and _raised_in(exc, _ENGINE_MODULES):  # the engine refuses with a bare one
        return "ProcessGraphInvalid", 400, str(exc)
    if isinstance(exc, MemoryError):
        return (
            "ProcessGraphComplexity",
            400,
            f"The graph needs more memory than this back-end has ({exc or 'out of memory'}): reduce the "
            "extent or the number of dates, or use a coarser resolution.",
        )
    if isinstance(exc, _VALUE_ERRORS) or module.startswith(_VALUE_MODULES):
        return "ProcessGraphInvalid", 400, f"A value in the process graph cannot be used: {kind}: {exc}"
    return "Internal", 500, f"{kind}: {exc}"


@dataclass(frozen=True)
class Band:
    name: str
    common_name: str | None
    center_wavelength: float | None
    description: str

    def to_dict(self) -> dict[str, Any]:
        """openEO / STAC 1.0 ``eo:bands`` entry."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.common_name:
            out["common_name"] = self.common_name
        if self.center_wavelength is not None:
            out["center_wavelength"] = self.center_wavelength
        return out

    def to_stac_band(self) -> dict[str, Any]:
        """STAC 1.1 ``bands`` entry."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.common_name:
            out["eo:common_name"] = self.common_name
        if self.center_wavelength is not None:
            out["eo:center_wavelength"] = self.center_wavelength
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Band:
        wavelength = d.get("center_wavelength")
        return cls(
            name=str(d["name"]),
            common_name=d.get("common_name"),
            center_wavelength=float(wavelength) if wavelength is not None else None,
            description=str(d.get("description", "")),
        )


BANDS: tuple[Band, ...] = (
    Band("B02", "blue", 0.49, "Blue, 10 m"),
    Band("B03", "green", 0.56, "Green, 10 m"),
    Band("B04", "red", 0.665, "Red, 10 m"),
    Band("B08", "nir", 0.842, "Near infrared, 10 m"),
    Band("SCL", None, None, "Scene classification (Sen2Cor classes 0-11)"),
)


@dataclass(frozen=True)
class TimeRange:
    """A half-open UTC interval ``[start, end)``; ``None`` means unbounded."""

    start: dt.datetime | None
    end: dt.datetime | None

    def contains(self, when: dt.datetime) -> bool:
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimeRange:
        start, end = d.get("start"), d.get("end")
        return cls(parse_datetime(str(start)) if start else None, parse_datetime(str(end)) if end else None)


@dataclass(frozen=True)
class BandStatistics:
    """Statistics of one band of a written result file (STAC raster extension ``statistics``).

    ``minimum``/``maximum``/``mean``/``stddev`` are ``None`` when the band has no valid pixel.
    """

    minimum: float | None
    maximum: float | None
    mean: float | None
    stddev: float | None
    valid_percent: float

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            key: value
            for key, value in (
                ("minimum", self.minimum),
                ("maximum", self.maximum),
                ("mean", self.mean),
                ("stddev", self.stddev),
            )
            if value is not None
        }
        out["valid_percent"] = self.valid_percent
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BandStatistics:
        def number(key: str) -> float | None:
            value = d.get(key)
            return float(value) if value is not None else None

        return cls(
            minimum=number("minimum"),
            maximum=number("maximum"),
            mean=number("mean"),
            stddev=number("stddev"),
            valid_percent=float(d.get("valid_percent", 0.0)),
        )


def _when(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(value)) if value else None


@dataclass(frozen=True)
class ResultFile:
    """One written result file and the metadata its STAC item and asset need."""

    filename: str
    media_type: str
    datetime: dt.datetime | None
    bands: tuple[str, ...]
    epsg: int | None
    shape: tuple[int, int]
    proj_bbox: tuple[float, float, float, float]
    bbox: tuple[float, float, float, float]
    size: int
    # One entry per band, computed from the written file (empty for records written before they existed).
    statistics: tuple[BandStatistics, ...] = ()
    data_type: str = "float32"
    # Where export_workspace copied the file (``s3://...`` or ``file:...``), in the order of the exports.
    exported: tuple[str, ...] = ()
    # The time the file covers, both ends included: one observation's date for a file per date, the
    # requested range for a composite (time reduced); None in records written before they existed.
    start_datetime: dt.datetime | None = None
    end_datetime: dt.datetime | None = None

    @property
    def interval(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """``(start_datetime, end_datetime)``, each falling back to ``datetime`` (older records)."""
        return (self.start_datetime or self.datetime, self.end_datetime or self.datetime)

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "media_type": self.media_type,
            "datetime": self.datetime.isoformat() if self.datetime else None,
            "bands": list(self.bands),
            "epsg": self.epsg,
            "shape": list(self.shape),
            "proj_bbox": list(self.proj_bbox),
            "bbox": list(self.bbox),
            "size": self.size,
            "statistics": [s.to_dict() for s in self.statistics],
            "data_type": self.data_type,
            "exported": list(self.exported),
            "start_datetime": self.start_datetime.isoformat() if self.start_datetime else None,
            "end_datetime": self.end_datetime.isoformat() if self.end_datetime else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ResultFile:
        when = d.get("datetime")
        pb = [float(v) for v in d["proj_bbox"]]
        bb = [float(v) for v in d["bbox"]]
        shape = [int(v) for v in d["shape"]]
        return cls(
            filename=str(d["filename"]),
            media_type=str(d["media_type"]),
            datetime=dt.datetime.fromisoformat(when) if when else None,
            bands=tuple(str(b) for b in d["bands"]),
            epsg=int(d["epsg"]) if d.get("epsg") is not None else None,
            shape=(shape[0], shape[1]),
            proj_bbox=(pb[0], pb[1], pb[2], pb[3]),
            bbox=(bb[0], bb[1], bb[2], bb[3]),
            size=int(d["size"]),
            statistics=tuple(BandStatistics.from_dict(s) for s in d.get("statistics") or ()),
            data_type=str(d.get("data_type") or "float32"),
            exported=tuple(str(h) for h in d.get("exported") or ()),
            start_datetime=_when(d.get("start_datetime")),
            end_datetime=_when(d.get("end_datetime")),
        )

    @property
    def geometry(self) -> dict[str, Any]:
        w, s, e, n = self.bbox
        return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
