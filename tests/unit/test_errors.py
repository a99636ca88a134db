from __future__ import annotations

import pytest

from apex_core import errors
from apex_core.errors import (
    ApexError,
    CatalogueConflict,
    ConfigError,
    ForbiddenError,
    TokenExpired,
    UnauthorizedError,
    user_message,
)


def test_every_error_class_has_its_own_or_inherited_message() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    for cls in classes:
        if isinstance(cls, type) and issubclass(cls, ApexError):
            msg = user_message(cls("detail text"))
            assert msg.detail == "detail text"
            assert msg.title and msg.hint


def test_most_specific_row_wins() -> None:
    assert user_message(TokenExpired("x")).title == "Your session has expired"
    assert user_message(UnauthorizedError("x")).title == "Not signed in"
    assert user_message(ForbiddenError("x")).title == "Not allowed"
    assert user_message(CatalogueConflict("x")).severity == "warning"


def test_remote_details_are_kept() -> None:
    exc = CatalogueConflict(
        "Collection gran_canaria_ndvi exists.", code="Conflict", status=409, request_id="r-1"
    )
    msg = user_message(exc)
    assert (msg.code, msg.request_id) == ("Conflict", "r-1")
    assert str(exc) == "Collection gran_canaria_ndvi exists. [Conflict] (HTTP 409) request id r-1"
    assert msg.to_dict()["request_id"] == "r-1"


def _parse_port(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(f"bad port {text!r}") from exc


def test_chained_cause_is_preserved() -> None:
    with pytest.raises(ConfigError) as info:
        _parse_port("x")
    assert isinstance(info.value.__cause__, ValueError)


def test_unexpected_errors_do_not_leak_their_text() -> None:
    msg = user_message(RuntimeError("token=abc.def"))
    assert msg.title == "Unexpected error"
    assert "abc" not in msg.detail
