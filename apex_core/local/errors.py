"""The embedded services' own exception tree (they import nothing of the app).

Every failure local code explains is a :class:`LocalError`. Like the app's ``ApexError`` it keeps
what a service said: its error ``code``, the HTTP ``status``, the ``request_id`` and the ``field`` at
fault. The app meets these only through :mod:`apex_core.local.contract` and turns them into its own
errors at the call site (``raise ServiceError.carrying(exc) from exc``).
"""

from __future__ import annotations

__all__ = [
    "LocalBackendError",
    "LocalChecksumError",
    "LocalConfigError",
    "LocalDataError",
    "LocalError",
    "LocalForbiddenError",
    "LocalMetadataError",
    "LocalServiceError",
    "LocalTokenExpired",
    "LocalUnauthorizedError",
]


class LocalError(Exception):
    """Base of every error the embedded services explain; ``message`` is a sentence for a person."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.field = field

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " ".join(parts)


class LocalServiceError(LocalError):
    """A local service could not be started, stopped or reached (or one it depends on)."""


class LocalConfigError(LocalError):
    """A local service's state or setting is malformed."""


class LocalDataError(LocalError):
    """Sample data (or another verified file) could not be put in place; ``field`` names the file."""


class LocalChecksumError(LocalDataError):
    """A file's SHA-256 differs from the one it must have (it was not installed)."""


class LocalBackendError(LocalError):
    """The embedded openEO backend refused a request (scene search)."""


class LocalMetadataError(LocalError):
    """A document sent to the embedded catalogue is invalid (400); ``field`` names the culprit."""


class LocalUnauthorizedError(LocalError):
    """No credentials, or credentials the embedded catalogue does not accept (401)."""


class LocalTokenExpired(LocalUnauthorizedError):
    """The access token has expired (401)."""


class LocalForbiddenError(LocalError):
    """Authenticated, but the roles do not allow this (403)."""
