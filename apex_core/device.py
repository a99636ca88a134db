"""The OIDC device sign-in (RFC 8628): one concept for the openEO backend and for a catalogue's issuer.

The stock openeo client runs the flow (``openeo.rest.auth.oidc.OidcDeviceAuthenticator``: discovery, PKCE,
the poll loop with its interval and ``slow_down``). What it shows the person goes through its ``display``
callback: :class:`DeviceSignIn` reads the link and code and the poll status from there, and stops the poll
loop there when the person cancels. The flow runs in a background thread so a page never blocks: the page
shows :meth:`DeviceSignIn.state` and takes :meth:`DeviceSignIn.result` once approved.

What is signed in to decides the result: :func:`apex_core.jobs.device_sign_in` (the openEO backend names
its issuer; the result is the authenticated connection) and :func:`apex_core.catalogue.device_sign_in`
(the catalogue's issuer; the result is an access token). Nothing here logs or keeps a token.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

import requests

from apex_core.errors import ApexError, AuthError

__all__ = [
    "DeviceInstructions",
    "DeviceSignIn",
    "DeviceSignInState",
    "DeviceStatus",
    "Display",
    "TimeoutSession",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Display = Callable[..., None]  # the openeo client's ``display``: ``print``-like, with ``end``
SignIn = Callable[[Display], T]  # runs the whole flow, showing what it shows through the display
DeviceStatus = Literal["starting", "waiting", "connected", "failed", "cancelled"]


class TimeoutSession(requests.Session):
    """A ``requests`` session with a timeout on every request (the openeo client's device flow sends
    some requests without one): give it to the client's authenticators as ``requests_session``."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class DeviceInstructions:
    """What the person must do, from the client's instructions text: open ``link`` (the verification
    URL, with the code filled in when the issuer offers that) and enter ``user_code``."""

    text: str
    link: str | None = None
    verification_uri: str | None = None
    user_code: str | None = None

    @classmethod
    def from_text(cls, text: str) -> DeviceInstructions:
        """Parse ``Visit <url> to authenticate.`` / ``Visit <url> and enter user code 'X' ...``."""
        found = re.search(r"https?://[^\s'\"]+?(?=[.,;]?(?:\s|$))", text)
        link = found.group(0) if found else None
        code = re.search(r"user code '([^']+)'", text)
        user_code = code.group(1) if code else None
        verification_uri = link
        if link is not None:
            parts = urlsplit(link)
            from_query = parse_qs(parts.query).get("user_code")
            if from_query:
                user_code = user_code or from_query[0]
                verification_uri = parts._replace(query="", fragment="").geturl()
        return cls(text=text, link=link, verification_uri=verification_uri, user_code=user_code)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceInstructions:
        return cls(
            text=str(data.get("text", "")),
            link=data.get("link"),
            verification_uri=data.get("verification_uri"),
            user_code=data.get("user_code"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "link": self.link,
            "verification_uri": self.verification_uri,
            "user_code": self.user_code,
        }


@dataclass(frozen=True)
class DeviceSignInState:
    """A snapshot of a :class:`DeviceSignIn` for the page (no token in it). ``answers`` counts the
    issuer's "not yet" answers to the client's polls so far."""

    status: DeviceStatus
    instructions: DeviceInstructions | None = None
    progress: str | None = None
    elapsed: float = 0.0
    error: ApexError | None = field(default=None, compare=False)
    answers: int = 0

    @property
    def done(self) -> bool:
        return self.status in ("connected", "failed", "cancelled")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "instructions": self.instructions.to_dict() if self.instructions else None,
            "progress": self.progress,
            "elapsed": self.elapsed,
            "error": str(self.error) if self.error else None,
        }


_NOT_YET = ("Authorization pending", "Slowing down")  # the client's status after a pending poll


class _Cancelled(Exception):
    """The person cancelled the sign-in (raised from the client's display callback)."""


class DeviceSignIn(Generic[T]):
    """One session's device sign-in to ``url``, run by ``sign_in`` (the stock client's flow) in a
    background thread: the page shows :meth:`state` (link, code, status) and may :meth:`cancel`. Keep
    the object in that session's state only: once ``connected``, :meth:`result` holds what ``sign_in``
    returned (a connection or a token). Not for sharing."""

    def __init__(self, url: str, sign_in: SignIn[T]) -> None:
        self.url = url
        self._changed = threading.Condition()
        self._cancel = threading.Event()
        self._started = time.monotonic()
        self._state = DeviceSignInState("starting")
        self._result: T | None = None
        self._thread = threading.Thread(
            target=self._run, args=(sign_in,), name="apex-device-sign-in", daemon=True
        )

    @classmethod
    def start(cls, url: str, sign_in: SignIn[T]) -> DeviceSignIn[T]:
        """A new sign-in, already running."""
        flow = cls(url, sign_in)
        flow._thread.start()
        return flow

    def _update(self, **changes: Any) -> None:
        with self._changed:
            if not self._state.done:
                self._state = replace(self._state, elapsed=time.monotonic() - self._started, **changes)
            self._changed.notify_all()

    def _display(self, *args: Any, end: str = "\n", **_: Any) -> None:
        """The client's ``display``: instructions once (``end="\\n"``), then a progress line with
        ``end="\\r"`` every poll tick, which is where a cancelled sign-in stops the client's poll loop."""
        text = " ".join(str(a) for a in args)
        if end == "\r":
            if self._cancel.is_set():
                raise _Cancelled()
            status = re.sub(r"^[#\-\s]*", "", text.replace("[", " ").replace("]", " ")).strip()
            with self._changed:  # the issuer's "not yet" to a poll (the Condition's lock is reentrant)
                answered = self._state.progress == "Polling" and status in _NOT_YET
                self._update(progress=status, answers=self._state.answers + answered)
        elif text.strip():
            self._update(status="waiting", instructions=DeviceInstructions.from_text(text))

    def _run(self, sign_in: SignIn[T]) -> None:
        try:
            result = sign_in(self._display)
        except _Cancelled:
            self._update(status="cancelled")
            logger.info("device sign-in to %s cancelled", self.url)
            return
        except ApexError as exc:
            self._update(status="failed", error=exc)
            return
        except Exception as exc:  # a bug or an unexpected client error: reported, never a dead thread
            logger.exception("device sign-in to %s failed unexpectedly", self.url)
            self._update(status="failed", error=AuthError(f"Signing in to {self.url} failed: {exc}"))
            return
        with self._changed:
            if self._cancel.is_set():
                self._state = replace(self._state, status="cancelled")
                self._changed.notify_all()
                return
            self._result = result
        self._update(status="connected")

    def state(self) -> DeviceSignInState:
        with self._changed:
            current = self._state
        if current.done:
            return current
        return replace(current, elapsed=time.monotonic() - self._started)

    def wait(self, timeout: float, *, answered: bool = False) -> DeviceSignInState:
        """Wait at most ``timeout`` s until the sign-in shows its code (or ends); with ``answered``,
        until the issuer has said "not yet" to the client's next poll, or the sign-in ended (approved,
        denied, expired). Returns the state."""
        with self._changed:
            answers = self._state.answers

            def reached() -> bool:
                now = self._state
                return now.done or (now.answers > answers if answered else now.instructions is not None)

            self._changed.wait_for(reached, timeout)
        return self.state()

    @property
    def instructions(self) -> DeviceInstructions | None:
        return self.state().instructions

    @property
    def link(self) -> str | None:
        """The verification link to open (with the code filled in when the issuer offers that)."""
        return self.instructions.link if self.instructions else None

    @property
    def user_code(self) -> str | None:
        return self.instructions.user_code if self.instructions else None

    def cancel(self) -> None:
        """Stop waiting: the state becomes ``cancelled`` now; the thread ends at its next poll tick."""
        self._cancel.set()
        with self._changed:
            if not self._state.done:
                self._state = replace(self._state, status="cancelled")
                self._result = None
            self._changed.notify_all()

    def result(self) -> T | None:
        """What the sign-in returned, once ``connected``; else None."""
        with self._changed:
            return self._result

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (tests, shutdown); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
