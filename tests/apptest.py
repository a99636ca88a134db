"""The one way the AppTests open the app: a fresh session, seeded state, then the page under test."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from apex_core.flow import AreaChoice, StateKey

__all__ = ["APP", "area_of", "ok", "open_page"]

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def ok(at: AppTest) -> AppTest:
    """``at`` after a run that raised nothing (else the test fails with the app's messages)."""
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_page(page: str | None = None, /, **state: object) -> AppTest:
    """A new session with ``state`` seeded, run once (the start page), then switched to ``page``."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return ok(at)


def area_of(at: AppTest) -> AreaChoice:
    """The session's area choice (it must be there, and typed)."""
    area = at.session_state[StateKey.AREA]
    assert isinstance(area, AreaChoice), area
    return area
