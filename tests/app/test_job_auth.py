"""AppTest of the Job page's sign-in against the real embedded openEO backend with the local OIDC issuer:
the device flow (approved over HTTP on the issuer's page while the page keeps running), a pasted access
token, client credentials from settings, bad and expired tokens, and cancelling a running job."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from streamlit.testing.v1 import AppTest

from apex_core.device import DeviceSignIn
from apex_core.flow import JobOutcome
from apex_core.local.issuer import IssuerHandle
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.steps import StateKey
from tests.app.test_job_page import BOLZANO, JOB, SEEDED
from tests.apptest import area_of, open_page
from tests.services import wait_for_workers, wait_until

pytestmark = pytest.mark.services

T = 10  # seconds, every HTTP request of the test itself


def _state(at: AppTest, key: str) -> Any:
    """``at.session_state[key]``, or None when unset (AppTest's session state has no ``get``)."""
    return at.session_state[key] if key in at.session_state else None  # noqa: SIM401


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.success] + [m.value for m in at.error]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def _rerun_until(
    at: AppTest, done: Callable[[AppTest], bool], what: str, deadline_s: float = 60.0
) -> AppTest:
    """Rerun the page (AppTest does not run ``run_every`` fragments by itself) until ``done``."""

    def settled() -> bool:
        if done(_ok(at)):
            return True
        at.run()
        return False

    wait_until(settled, deadline_s, every=0.2, what=lambda: f"{what}\n{_texts(at)}")
    return at


def _sign_in(at: AppTest, kind: str, **fields: str) -> AppTest:
    at.radio(key="job_auth").set_value(kind)
    for key, value in fields.items():
        at.text_input(key=key).set_value(value)
    return _ok(next(b for b in at.button if b.label == "Connect").click().run())


def _user(at: AppTest) -> str:
    return str(at.session_state["apex_job_con"].describe_account()["user_id"])


def _signed_token(issuer: IssuerHandle, lifetime: int = -60) -> str:
    """An editor token signed by the issuer, expiring ``lifetime`` s from now (expired when negative)."""
    account = issuer.client("editor")
    return issuer.state().sign(
        issuer=issuer.issuer_url,
        subject=account.name,
        roles=account.roles,
        azp=account.client_id,
        lifetime=lifetime,
    )


@pytest.fixture
def client_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The openeo client's user folders (its refresh-token store writes there) in an empty folder."""
    monkeypatch.delenv("OPENEO_CONFIG_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture
def page(
    openeo_backend_oidc: OpenEoBackendService, monkeypatch: pytest.MonkeyPatch, client_dirs: Path
) -> AppTest:
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend_oidc.url)
    return _job_page(SEEDED)


def _job_page(state: dict[str, Any]) -> AppTest:
    return open_page(JOB, **state)


def _device_instructions(at: AppTest) -> tuple[str, str]:
    """The link and user code the page shows (from the openeo client's display callback)."""
    _rerun_until(at, lambda a: any("enter the code" in i.value for i in a.info), "the device code is shown")
    text = next(i.value for i in at.info if "enter the code" in i.value)
    link = re.search(r"\]\((https?://[^)]+)\)", text)
    code = re.search(r"\*\*([A-Z]{4}-[A-Z]{4})\*\*", text)
    assert link and code, text
    return link.group(1), code.group(1)


def _approve(link: str, user_code: str, account: str = "editor") -> None:
    """What the person does in the browser: the issuer's page, then its Approve form."""
    form = requests.get(link, timeout=T)
    action = re.search(r'<form method="post" action="([^"]+)"', form.text)
    assert form.status_code == 200 and action is not None
    assert f'value="{user_code}"' in form.text  # the link carries the code the page shows
    resp = requests.post(
        action.group(1), data={"user_code": user_code, "account": account, "action": "approve"}, timeout=T
    )
    assert resp.status_code == 200 and f"Approved as {account}" in resp.text, resp.text


def test_device_flow_shows_the_code_without_blocking_then_connects(page: AppTest, client_dirs: Path) -> None:
    at = _sign_in(page, "oidc_device")
    # The click returned while the sign-in waits in the background: no connection yet, a way to cancel.
    assert _state(at, "apex_job_con") is None
    assert isinstance(_state(at, "apex_job_device"), DeviceSignIn)
    link, code = _device_instructions(at)
    assert any(b.label == "Cancel sign-in" for b in at.button)
    assert "Waiting for approval" in _texts(at) or "pending" in _texts(at).lower()
    _approve(link, code)
    _rerun_until(at, lambda a: _state(a, "apex_job_con") is not None, "connected after approval")
    at.run()
    assert "Connected to **APEx embedded openEO backend**" in _texts(_ok(at))
    assert _user(at) == "editor"
    assert _state(at, "apex_job_device") is None
    assert at.session_state["apex_job_choice"] == {
        "kind": "oidc_device",
        "url": at.session_state["apex_job_info"].url,
        "username": None,
        "provider_id": None,
    }
    # No refresh token on disk: nothing at all in the openeo client's user folders.
    assert not [p for p in client_dirs.rglob("*") if p.is_file()]
    # The connection works for the job: submit and see it listed.
    at.button(key="job_submit").click().run()
    assert _ok(at).session_state[StateKey.JOB].title == "APEx Demo - Bolzano - NDVI"


def test_cancelling_the_device_flow_stops_it(page: AppTest) -> None:
    at = _sign_in(page, "oidc_device")
    link, code = _device_instructions(at)
    flow = at.session_state["apex_job_device"]
    next(b for b in at.button if b.label == "Cancel sign-in").click().run()
    _ok(at)
    assert _state(at, "apex_job_device") is None
    assert any(b.label == "Connect" for b in at.button)  # the sign-in form again
    assert flow.state().status == "cancelled"
    assert flow.join(timeout=30), "the sign-in thread still runs after cancel"
    _approve(link, code)  # approving afterwards connects nothing
    at.run()
    assert _state(_ok(at), "apex_job_con") is None
    assert flow.result() is None


def test_pasted_access_token(page: AppTest, token_for: Callable[[str], str]) -> None:
    token = token_for("editor")
    at = _sign_in(page, "token", job_token=token)
    assert "Connected to" in _texts(at)
    assert _user(at) == "editor"
    assert at.session_state["apex_job_choice"]["kind"] == "token"
    assert token not in repr(at.session_state["apex_job_choice"])


def test_client_credentials_from_settings(
    openeo_backend_oidc: OpenEoBackendService,
    issuer: IssuerHandle,
    monkeypatch: pytest.MonkeyPatch,
    client_dirs: Path,
) -> None:
    admin = issuer.client("admin")
    monkeypatch.setenv("APEX_OPENEO_URL", openeo_backend_oidc.url)
    monkeypatch.setenv("APEX_OIDC_CLIENT_ID", admin.client_id)
    monkeypatch.setenv("APEX_OIDC_CLIENT_SECRET", admin.client_secret)
    at = _sign_in(_job_page(SEEDED), "client_credentials")
    assert "Connected to" in _texts(at)
    assert _user(at) == "admin"
    assert admin.client_secret not in repr(at.session_state["apex_job_choice"])


def test_client_credentials_without_settings_is_a_clear_message(page: AppTest) -> None:
    at = _sign_in(page, "client_credentials")
    assert _state(at, "apex_job_con") is None
    assert "APEX_OIDC_CLIENT_ID and APEX_OIDC_CLIENT_SECRET" in _texts(at)


def test_bad_or_expired_token_keeps_the_area_and_the_job(page: AppTest, issuer: IssuerHandle) -> None:
    kept = JobOutcome("j-kept-123", "running", "kept")
    page.session_state[StateKey.JOB] = kept
    page.run()
    for token in (_signed_token(issuer), "not-a-token"):
        at = _sign_in(page, "token", job_token=token)
        assert _state(at, "apex_job_con") is None
        text = _texts(at)
        assert "Your session has expired" in text and "has expired or is not valid" in text, text
        assert "Sign in again; your work is kept" in text
        assert "Your job `j-kept-123` is kept" in text
        assert area_of(at).aoi == BOLZANO
        assert at.session_state[StateKey.JOB] == kept
        assert token not in text


@contextlib.contextmanager
def _workers_stopped(url: str) -> Iterator[None]:
    """The backend's job workers paused (SIGSTOP), so a submitted job stays running."""
    pids = wait_for_workers(url)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _status(at: AppTest) -> str:
    return str(at.session_state[StateKey.JOB].status)


def test_cancel_a_running_job(
    page: AppTest, openeo_backend_oidc: OpenEoBackendService, token_for: Callable[[str], str]
) -> None:
    at = _sign_in(page, "token", job_token=token_for("editor"))
    with _workers_stopped(openeo_backend_oidc.url):
        at.button(key="job_submit").click().run()
        _rerun_until(_ok(at), lambda a: _status(a) == "running", "the job runs")
        at.button(key="job_cancel").click().run()
        _rerun_until(at, lambda a: a.session_state["apex_job_follow"].done, "the follow ends")
    assert _status(at) == "canceled"
    assert "was cancelled" in _texts(at)
    assert "JobCanceled" in _texts(at)


def test_token_expiring_while_following_keeps_the_job(
    page: AppTest,
    openeo_backend_oidc: OpenEoBackendService,
    issuer: IssuerHandle,
    token_for: Callable[[str], str],
) -> None:
    short = _signed_token(issuer, lifetime=4)
    at = _sign_in(page, "token", job_token=short)
    assert _user(at) == "editor"
    with _workers_stopped(openeo_backend_oidc.url):
        at.button(key="job_submit").click().run()
        job_id = _ok(at).session_state[StateKey.JOB].id
        _rerun_until(at, lambda a: _state(a, "apex_job_con") is None, "the expired token is noticed")
        text = _texts(at)
        assert "Your session has expired" in text and f"Your job `{job_id}` is kept" in text, text
        assert at.session_state[StateKey.JOB].id == job_id
        assert area_of(at).aoi == BOLZANO
        # Sign in again, follow the same job again, and cancel it.
        _sign_in(at, "token", job_token=token_for("editor"))
        _ok(at.button(key="job_resume").click().run())
        assert at.session_state[StateKey.JOB].id == job_id
        at.button(key="job_cancel").click().run()
        _rerun_until(at, lambda a: a.session_state["apex_job_follow"].done, "the follow ends")
    assert _status(at) == "canceled"
