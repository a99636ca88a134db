from __future__ import annotations

import logging

import pytest

from apex_core.logs import configure_logging, mask_secrets

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {JWT}",
        "Authorization: Bearer opaque-token-1234567890",
        "GET /x?access_token=opaque123456&x=1",
        '{"refresh_token": "r-abcdefgh", "ok": 1}',
        "login with password=hunter22",
        f"token {JWT} in free text",
        "VerificationInfo(verification_uri='http://x', device_code='hunter22', user_code='AB')",
        "form {'grant_type': 'device_code', 'code_verifier': 'opaque123456'}",
    ],
)
def test_credentials_are_masked(text: str) -> None:
    masked = mask_secrets(text)
    for secret in (JWT, "opaque-token-1234567890", "opaque123456", "r-abcdefgh", "hunter22"):
        assert secret not in masked
    assert "***" in masked


def test_ordinary_text_is_untouched() -> None:
    text = "job j-123 finished in 3.2 s; collection gran_canaria_ndvi"
    assert mask_secrets(text) == text


def test_configure_is_idempotent_and_masks_records(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        first = configure_logging("INFO")
        second = configure_logging("DEBUG")
        assert second is False
        ours = [h for h in root.handlers if getattr(h, "_apex_handler", False)]
        assert len(ours) == 1
        if first:
            logging.getLogger("apex_core.test").warning("sending Bearer %s", JWT)
            assert JWT not in capsys.readouterr().err
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
