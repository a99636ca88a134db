"""The five steps of the flow and which of them are done, computed from the session's typed outcomes
(:mod:`apex_core.flow`; :class:`StateKey` is re-exported from there)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from apex_core.flow import AreaChoice, JobOutcome, MetadataOutcome, PreviewOutcome, Published, StateKey
from apex_core.resultfile import is_geotiff

__all__ = ["STEPS", "StateKey", "Step", "StepKey", "StepStatus", "flow_status"]


class StepKey(StrEnum):
    AREA = "area"
    JOB = "job"
    PREVIEW = "preview"
    METADATA = "metadata"
    PUBLISH = "publish"


def _area_chosen(state: Mapping[str, Any]) -> bool:
    return AreaChoice.from_state(state).aoi is not None


def _holds(key: StateKey, outcome: type) -> Callable[[Mapping[str, Any]], bool]:
    return lambda state: isinstance(state.get(key), outcome)


def _job_finished(state: Mapping[str, Any]) -> bool:
    job = state.get(StateKey.JOB)
    return isinstance(job, JobOutcome) and job.finished


def _previewed(state: Mapping[str, Any]) -> bool:
    """A preview was shown, or the finished job has no raster to preview (statistics as CSV/JSON)."""
    if isinstance(state.get(StateKey.PREVIEW), PreviewOutcome):
        return True
    job = state.get(StateKey.JOB)
    return (
        isinstance(job, JobOutcome)
        and job.finished
        and bool(job.assets)
        and not any(is_geotiff({"href": a.path.name}) for a in job.assets)
    )


def _metadata_valid(state: Mapping[str, Any]) -> bool:
    meta = state.get(StateKey.METADATA)
    return isinstance(meta, MetadataOutcome) and meta.valid


@dataclass(frozen=True)
class Step:
    key: StepKey
    title: str
    icon: str
    purpose: str
    is_done: Callable[[Mapping[str, Any]], bool]

    @property
    def page(self) -> str:
        """The page script, relative to the app's folder."""
        return f"pages/flow/{STEPS.index(self) + 1}_{self.key.value}.py"

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key.value, "title": self.title, "page": self.page, "purpose": self.purpose}


STEPS: tuple[Step, ...] = (
    Step(
        StepKey.AREA,
        "Area",
        ":material/map:",
        "Choose the area of interest and the date.",
        _area_chosen,
    ),
    Step(
        StepKey.JOB,
        "Job",
        ":material/rocket_launch:",
        "Run the NDVI batch job on an openEO backend.",
        _job_finished,
    ),
    Step(
        StepKey.PREVIEW,
        "Preview",
        ":material/image:",
        "Inspect the result on the map.",
        _previewed,
    ),
    Step(
        StepKey.METADATA,
        "Metadata",
        ":material/edit_note:",
        "Turn the results into a clean STAC Collection.",
        _metadata_valid,
    ),
    Step(
        StepKey.PUBLISH,
        "Publish",
        ":material/publish:",
        "Write the collection to the STAC catalogue.",
        _holds(StateKey.PUBLISHED, Published),
    ),
)


@dataclass(frozen=True)
class StepStatus:
    step: Step
    number: int
    done: bool
    current: bool

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.step.key.value, "number": self.number, "done": self.done, "current": self.current}


def flow_status(state: Mapping[str, Any], current: StepKey | str | None = None) -> tuple[StepStatus, ...]:
    """Each step with whether it is done (from ``state``) and whether it is the page shown now."""
    return tuple(
        StepStatus(step=s, number=i, done=s.is_done(state), current=s.key == current)
        for i, s in enumerate(STEPS, start=1)
    )
