"""The Area page's message when the embedded backend has no (or not all) data, or failed to start: it
says why and what to do, instead of an empty map (AppTest of ``pages.common.area.data_notice``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from apex_core.local.contract import DataStatus, EmbeddedEndpoints


class _Services:
    """What the notice reads of :class:`~apex_core.local.contract.EmbeddedServices`."""

    def __init__(self, status: str, endpoints: EmbeddedEndpoints | None = None, error: str | None = None):
        self.status = status
        self.endpoints = endpoints
        self.error = error
        self.log_path = Path("/tmp/state/embedded-services.log")


def _page(services: "Any") -> None:  # noqa: UP037 - AppTest runs this source alone
    from pages.common.area import data_notice

    data_notice(services)


def _run(services: _Services) -> AppTest:
    at = AppTest.from_function(_page, args=(services,), default_timeout=30)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _ready(status: DataStatus | None) -> _Services:
    return _Services(
        "ready", EmbeddedEndpoints(openeo_url="http://127.0.0.1:1/openeo/1.2", sample_data=status)
    )


def test_no_data_says_why_and_what_to_do() -> None:
    status = DataStatus(
        data_dir="/tmp/new-state/data",
        ok=False,
        problems=("s2_l2a_bolzano/S2_L2A_sample.tif is not in /nowhere and downloads are off.",),
        download=False,
    )
    at = _run(_ready(status))
    assert len(at.error) == 1
    text = at.error[0].value
    assert "no Sentinel-2 data" in text and "/tmp/new-state/data" in text
    assert "S2_L2A_sample.tif is not in /nowhere and downloads are off" in text
    for remedy in ("setup.sh", "sample_source_dir", "APEX_DATA_DIR", "internet"):
        assert remedy in text, remedy


def test_part_of_the_data_is_a_warning() -> None:
    status = DataStatus(
        data_dir="/d",
        ok=False,
        outcomes={"s2_l2a_bolzano/S2_L2A_sample.tif": "copied"},
        problems=("romania",),
    )
    at = _run(_ready(status))
    assert not at.error and len(at.warning) == 1
    assert "some areas are not offered" in at.warning[0].value and "romania" in at.warning[0].value


def test_complete_data_or_no_status_says_nothing() -> None:
    ok = DataStatus(data_dir="/d", ok=True, outcomes={"f": "present"})
    for services in (_ready(ok), _ready(None), _Services("starting"), None):
        at = _run(services)  # type: ignore[arg-type]
        assert not at.error and not at.warning


def test_a_failed_start_is_said_with_its_log() -> None:
    at = _run(_Services("failed", error="The embedded services stopped before they were ready."))
    assert len(at.error) == 1
    assert "could not start" in at.error[0].value and "embedded-services.log" in at.error[0].value
