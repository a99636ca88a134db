"""One sign-in UI for the Job page (the openEO backend) and the Publish page (the catalogue's issuer): a
running OIDC device sign-in (:class:`apex_core.device.DeviceSignIn`) with its verification link and code,
waiting for the approval, then approved (the page's ``on_approved`` keeps what it brought) or failed (the
page's ``on_failed`` gets the error) or cancelled (the page shows its sign-in form again).

The sign-in lives in this session's state under the page's key only (it holds the token once approved).
No logic here: :mod:`apex_core.device` runs the flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from apex_core import ApexError
from apex_core.device import DeviceSignIn, DeviceSignInState
from pages.common.errors import show_error

__all__ = ["DeviceSignInUi", "cancel_sign_in", "running_sign_in", "show_sign_in", "start_sign_in"]

OnApproved = Callable[[DeviceSignIn[Any]], None]  # takes flow.result() (and flow.url) into the session
OnFailed = Callable[[ApexError], None]


@dataclass(frozen=True)
class DeviceSignInUi:
    """How a page shows its running sign-in: the state key it lives under, the words after the code,
    the cancel button. Without ``continue_key`` the page follows the sign-in by itself (a fragment every
    second, with the poll status); with it, the person continues with that button once they approved."""

    key: str
    after_code: str
    cancel_label: str
    cancel_key: str
    icon: str | None = None
    continue_key: str | None = None


def running_sign_in(key: str) -> DeviceSignIn[Any] | None:
    """The sign-in running under ``key`` in this session, or None."""
    flow = st.session_state.get(key)
    return flow if isinstance(flow, DeviceSignIn) else None


def cancel_sign_in(key: str) -> None:
    """Forget the sign-in under ``key`` and stop it (also a button callback); none: nothing to do."""
    flow = st.session_state.pop(key, None)
    if isinstance(flow, DeviceSignIn):
        flow.cancel()


def start_sign_in(ui: DeviceSignInUi, flow: DeviceSignIn[Any], *, wait: float = 0.0) -> None:
    """Keep the new ``flow`` as the page's sign-in and rerun. With ``wait``, wait at most that many
    seconds for its code first: a sign-in that fails at once shows its error and is not kept."""
    state = flow.wait(wait) if wait > 0 else flow.state()
    if state.status == "failed" and state.error is not None:
        show_error(state.error)
        return
    cancel_sign_in(ui.key)
    st.session_state[ui.key] = flow
    st.rerun()


def _ended(ui: DeviceSignInUi, flow: DeviceSignIn[Any], on_approved: OnApproved, on_failed: OnFailed) -> bool:
    """Approved: the page takes the result; failed: the page gets the error; cancelled: nothing. The
    sign-in is then forgotten. True when it has ended."""
    state = flow.state()
    if not state.done:
        return False
    st.session_state.pop(ui.key, None)
    if flow.result() is not None:
        on_approved(flow)
    elif state.error is not None:
        on_failed(state.error)
    return True


def _instructions(ui: DeviceSignInUi, state: DeviceSignInState) -> None:
    how = state.instructions
    if how is None:
        st.info("Asking the sign-in service for a code…", icon=":material/hourglass:")
        return
    st.info(
        f"Open [{how.verification_uri or how.link}]({how.link}) and enter the code **{how.user_code}**"
        + ui.after_code,
        icon=ui.icon,
    )
    if ui.continue_key is None:
        st.caption(f"{state.progress or 'Waiting for approval'} · {state.elapsed:.0f} s")


@st.fragment(run_every=1.0)
def _follow(ui: DeviceSignInUi, on_approved: OnApproved, on_failed: OnFailed) -> None:
    """The sign-in running in the background: link and code, its status, cancel; the whole page runs
    again once it has ended."""
    flow = running_sign_in(ui.key)
    if flow is None or _ended(ui, flow, on_approved, on_failed):  # None: cancelled (a fragment-only run)
        st.rerun(scope="app")
    _instructions(ui, flow.state())
    st.button(ui.cancel_label, key=ui.cancel_key, on_click=cancel_sign_in, args=(ui.key,))


def show_sign_in(
    ui: DeviceSignInUi,
    on_approved: OnApproved,
    on_failed: OnFailed = show_error,
    *,
    wait: float = 30.0,
) -> bool:
    """The page's running sign-in, if any: followed by itself, or continued by the person (the button
    waits at most ``wait`` s for the issuer's answer to the next poll). False when there is none (any
    more), so the page shows its sign-in form."""
    flow = running_sign_in(ui.key)
    if flow is None:
        return False
    if ui.continue_key is None:
        _follow(ui, on_approved, on_failed)
        return True
    if _ended(ui, flow, on_approved, on_failed):
        if flow.result() is not None:
            st.rerun()
        return False
    _instructions(ui, flow.state())
    if st.button("I have approved: continue", key=ui.continue_key):
        with st.spinner("Checking the sign-in…"):
            state = flow.wait(wait, answered=True)
        if state.done:
            st.rerun()
        st.warning("Not approved yet: approve in the sign-in page, then continue.")
    st.button(ui.cancel_label, key=ui.cancel_key, on_click=cancel_sign_in, args=(ui.key,))
    return True
