"""One exception tree for the whole app, and the one table that turns it into user messages.

Every failure the app can explain is an :class:`ApexError` subclass. Code that catches a
library's exception re-raises one of these with ``raise ... from exc`` so the cause is kept
for the logs, while the page shows :func:`user_message` of it.

Remote errors keep what the remote service said: its error ``code``, its ``request_id`` and the
HTTP ``status``, the way openeo-python-client's ``OpenEoApiError`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self

__all__ = [
    "AoiError",
    "ApexError",
    "AssetError",
    "AuthError",
    "BackendError",
    "CatalogueConflict",
    "CatalogueError",
    "CatalogueUnavailable",
    "ChecksumMismatch",
    "ConfigError",
    "DataError",
    "Failure",
    "ForbiddenError",
    "InputError",
    "JobError",
    "MetadataError",
    "NotFoundError",
    "ProcessGraphRefused",
    "ProjectConflict",
    "ProjectError",
    "ProjectNotFound",
    "ProjectSecretRefused",
    "ProjectStoreCorrupt",
    "ProjectStoreLocked",
    "ServiceError",
    "TokenExpired",
    "UnauthorizedError",
    "UserMessage",
    "user_message",
]

Severity = Literal["error", "warning", "info"]


class Failure(Protocol):
    """What another exception tree (the embedded services' ``LocalError``) carries, read by
    :meth:`ApexError.carrying`."""

    message: str
    code: str | None
    status: int | None
    request_id: str | None
    field: str | None


class ApexError(Exception):
    """Base of every error the app explains to its user.

    ``message`` is a complete sentence for a person. ``code``, ``status`` and ``request_id``
    carry what a remote service said, so support can find the request on the server side.
    """

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

    @classmethod
    def carrying(cls, failure: Failure) -> Self:
        """This error with the message, code, status, request id and field of ``failure``: how the app
        turns an embedded service's error into its own (``raise ServiceError.carrying(exc) from exc``)."""
        return cls(
            failure.message,
            code=failure.code,
            status=failure.status,
            request_id=failure.request_id,
            field=failure.field,
        )

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " ".join(parts)


class InputError(ApexError):
    """A value typed on a page is not usable (an empty title, say); ``field`` names the input, where the
    page shows the message. Nothing was sent anywhere."""


class ConfigError(ApexError):
    """A setting is missing, malformed or contradicts another one."""


class DataError(ApexError):
    """Input data (sample data, rasters, uploaded files) is missing or unreadable."""


class ChecksumMismatch(DataError):
    """A file's SHA-256 differs from the one it must have."""


class AoiError(ApexError):
    """The area of interest is not usable (not a polygon, too large, outside the data ...)."""


class ServiceError(ApexError):
    """An embedded local service could not be started, or a remote one is unreachable."""


class AuthError(ApexError):
    """Authentication or authorisation failed."""


class UnauthorizedError(AuthError):
    """No credentials, or credentials the service does not accept (HTTP 401)."""


class TokenExpired(UnauthorizedError):
    """The access token has expired: authenticate again."""


class ForbiddenError(AuthError):
    """Authenticated, but the role does not allow this action (HTTP 403)."""


class BackendError(ApexError):
    """The openEO backend refused a request or failed."""


class JobError(BackendError):
    """A batch job failed, was cancelled or cannot be found."""


class ProcessGraphRefused(BackendError):
    """The backend's ``POST /validation`` found problems in the process graph, so no job was created.

    ``problems`` holds each one as the backend said it: ``(code, message)``; pages list them (see
    ``pages.common.errors.show_error``), ``str()`` names them too (logs, notebooks). ``message`` says how
    many.
    """

    def __init__(self, message: str, problems: tuple[tuple[str, str], ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.problems = problems

    def __str__(self) -> str:
        listed = "".join(f"\n- {code}: {message}" for code, message in self.problems)
        return super().__str__() + listed


class NotFoundError(ApexError):
    """A job, collection, item or asset does not exist (HTTP 404)."""


class CatalogueError(ApexError):
    """The STAC catalogue refused a request or failed."""


class CatalogueConflict(CatalogueError):
    """An object with this id already exists in the catalogue (HTTP 409)."""


class CatalogueUnavailable(CatalogueError):
    """The catalogue cannot serve now (HTTP 503, or no answer): nothing was changed; try again."""


class MetadataError(ApexError):
    """The STAC metadata is invalid; ``field`` names the offending field when known."""


class AssetError(ApexError):
    """An asset cannot be downloaded, re-hosted or has expired."""


class ProjectError(ApexError):
    """The project store (saved work) cannot be read or written."""


class ProjectNotFound(ProjectError):
    """No project with this id (deleted, or a link from another server)."""


class ProjectConflict(ProjectError):
    """The project was saved meanwhile by another tab or session (optimistic version check)."""


class ProjectStoreCorrupt(ProjectError):
    """The project store file, or one project's row in it, is damaged."""


class ProjectStoreLocked(ProjectError):
    """The project store is locked by another process for longer than the wait allows."""


class ProjectSecretRefused(ProjectError):
    """A value that looks like a credential was about to be stored; it is refused."""


@dataclass(frozen=True)
class UserMessage:
    """What a page shows for an error: a title, the detail, what to do next."""

    title: str
    detail: str
    hint: str
    severity: Severity = "error"
    code: str | None = None
    request_id: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "title": self.title,
            "detail": self.detail,
            "hint": self.hint,
            "severity": self.severity,
            "code": self.code,
            "request_id": self.request_id,
            "field": self.field,
        }


# The one table from exception class to (title, hint, severity). The most specific class wins:
# lookup walks the exception's MRO, so a subclass without a row inherits its parent's.
_MESSAGES: dict[type[BaseException], tuple[str, str, Severity]] = {
    TokenExpired: ("Your session has expired", "Sign in again; your work is kept.", "warning"),
    UnauthorizedError: (
        "Not signed in",
        "Sign in (or paste a valid access token) and try again; your work is kept.",
        "warning",
    ),
    ForbiddenError: (
        "Not allowed",
        "Your account lacks the role this action needs. Ask the catalogue administrator, "
        "or change the access rules.",
        "error",
    ),
    AuthError: ("Authentication failed", "Check your credentials and try again.", "error"),
    CatalogueConflict: (
        "Already exists",
        "Update the existing entry, or choose a new id.",
        "warning",
    ),
    CatalogueUnavailable: (
        "Catalogue unavailable, try again",
        "The catalogue cannot answer right now. Your work is kept: try again in a moment.",
        "warning",
    ),
    CatalogueError: (
        "The catalogue refused the request",
        "Check the message above; nothing was lost, you can retry.",
        "error",
    ),
    ProcessGraphRefused: (
        "The backend refuses this process graph",
        "Nothing was submitted. Change what the problems above name (the area, the day, the options) "
        "and try again.",
        "error",
    ),
    JobError: (
        "The processing job failed",
        "Read the job logs below; you can re-submit or re-attach by job id.",
        "error",
    ),
    BackendError: (
        "The openEO backend reported an error",
        "Check the message above; your area and settings are kept.",
        "error",
    ),
    NotFoundError: ("Not found", "Check the id, or pick one from the list.", "warning"),
    ProjectNotFound: (
        "Project not found",
        "It may have been deleted: open another one from the Projects page, or start a new one.",
        "warning",
    ),
    ProjectConflict: (
        "Changed in another tab",
        "Keep your version (it overwrites the other) or load the saved one; your current work is kept "
        "until you choose.",
        "warning",
    ),
    ProjectStoreCorrupt: (
        "Saved work is damaged",
        "The other projects are unaffected. Delete the damaged project, or move the named file away "
        "and restore it from a backup; the app never overwrites it.",
        "error",
    ),
    ProjectStoreLocked: (
        "Saved work is busy",
        "Another process holds the project store; your work is kept in this tab. Retry in a moment.",
        "warning",
    ),
    ProjectSecretRefused: (
        "Not saved: it contains a credential",
        "Tokens and passwords are never stored; this is a bug in the app, please report it.",
        "error",
    ),
    ProjectError: (
        "Saved work is not available",
        "Your work is kept in this tab; check the project store setting (APEX_PROJECT_STORE_URL).",
        "error",
    ),
    AoiError: ("This area cannot be used", "Adjust the area and try again.", "warning"),
    InputError: ("This value cannot be used", "Correct it and try again; nothing was sent.", "warning"),
    MetadataError: ("The metadata is not valid yet", "Fix the field named above.", "warning"),
    AssetError: (
        "A result file is not available",
        "Download it again from the job, or re-host it before publishing.",
        "error",
    ),
    ChecksumMismatch: (
        "Sample data is corrupt",
        "Delete the file named above and run the setup command again.",
        "error",
    ),
    DataError: ("Data problem", "Check the file named above.", "error"),
    ServiceError: (
        "A service is not available",
        "Check that it is running and reachable, then retry.",
        "error",
    ),
    ConfigError: (
        "Configuration problem",
        "Fix the setting named above (APEX_* environment variable or .streamlit/secrets.toml).",
        "error",
    ),
    ApexError: ("Something went wrong", "Retry; if it persists, report it with the details.", "error"),
}

_UNEXPECTED = (
    "Unexpected error",
    "This is a bug in the app: please report it with the time it happened. Your work is kept.",
)


def user_message(exc: BaseException) -> UserMessage:
    """The message a page shows for ``exc``: the table above, most specific class first."""
    for cls in type(exc).__mro__:
        row = _MESSAGES.get(cls)
        if row is not None and isinstance(exc, ApexError):
            title, hint, severity = row
            return UserMessage(
                title=title,
                detail=exc.message,
                hint=hint,
                severity=severity,
                code=exc.code,
                request_id=exc.request_id,
                field=exc.field,
            )
    title, hint = _UNEXPECTED
    return UserMessage(title=title, detail=type(exc).__name__, hint=hint, severity="error")
