"""apex_core.device.DeviceSignIn without a network: a sign-in that talks through the display callback the way
the openeo client's device flow does (instructions once, then a progress line per poll tick)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from apex_core.device import DeviceSignIn, Display
from apex_core.errors import AuthError

LINK = "http://127.0.0.1:1/device?user_code=ABCD-EFGH"


def _client(approved: threading.Event, *, ticks: int = 200) -> Callable[[Display], str]:
    """A fake client flow: shows the link, then polls ("Polling", then the issuer's answer) until
    ``approved`` is set; returns "token"."""

    def sign_in(display: Display) -> str:
        display(f"Visit {LINK} to authenticate.")
        for _ in range(ticks):
            display("[#####-----] Authorization pending", end="\r")
            display("[#####-----] Polling", end="\r")
            if approved.wait(0.05):
                display("Authorized successfully", end="\r")
                return "token"
            display("[#####-----] Authorization pending", end="\r")
        raise AuthError("The sign-in code has expired; start the sign-in again.")

    return sign_in


def test_instructions_answers_and_the_result() -> None:
    approved = threading.Event()
    sign_in = _client(approved)
    flow = DeviceSignIn.start("http://issuer", sign_in)
    state = flow.wait(5)
    assert state.status == "waiting" and flow.link == LINK and flow.user_code == "ABCD-EFGH"
    assert (
        state.instructions is not None and state.instructions.verification_uri == "http://127.0.0.1:1/device"
    )
    answered = flow.wait(5, answered=True)
    assert answered.status == "waiting" and answered.answers >= 1 and flow.result() is None
    approved.set()
    assert flow.join(5)
    assert flow.state().status == "connected" and flow.result() == "token"
    assert flow.wait(0, answered=True).done  # an ended sign-in does not wait


def test_cancel_stops_the_poll_loop() -> None:
    flow = DeviceSignIn.start("http://issuer", _client(threading.Event()))
    flow.wait(5)
    flow.cancel()
    assert flow.state().status == "cancelled"
    assert flow.join(5), "the poll loop goes on after cancel"
    assert flow.result() is None and flow.state().status == "cancelled"


@pytest.mark.parametrize("error", [AuthError("The sign-in was denied."), RuntimeError("boom")])
def test_a_failure_is_reported(error: Exception) -> None:
    def sign_in(display: Display) -> str:
        display(f"Visit {LINK} to authenticate.")
        raise error

    flow = DeviceSignIn.start("http://issuer", sign_in)
    assert flow.join(5)
    state = flow.state()
    assert state.status == "failed" and isinstance(state.error, AuthError) and flow.result() is None
    assert ("denied" if isinstance(error, AuthError) else "boom") in str(state.error)
