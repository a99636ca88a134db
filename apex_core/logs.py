"""Logging set up once, idempotently, with credentials masked in every record.

The app calls :func:`configure_logging` at the top of every run; only the first call installs the
handler. The filter masks bearer tokens, JWTs and ``password=`` / ``access_token=`` style values
even if a library logs a request or a URL with one in it.
"""

from __future__ import annotations

import logging
import re

__all__ = ["SecretMaskingFilter", "configure_logging", "mask_secrets"]

_MARK = "_apex_handler"
_MASK = "***"

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # A JWT anywhere: three base64url parts, the first two starting with '{"' encoded ("eyJ").
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # Authorization header values.
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # key=value and "key": "value" forms of credential fields.
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|device_code|code_verifier|password|passwd"
        r"|secret|token)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\"'\s&,}]+"
    ),
)


def mask_secrets(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``***``."""
    text = _PATTERNS[0].sub(_MASK, text)
    for pattern in _PATTERNS[1:]:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return text


class SecretMaskingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged) with :func:`mask_secrets`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
        return True


def configure_logging(level: str = "INFO") -> bool:
    """Install the app's handler on the root logger once; later calls only adjust the level.

    Returns True when this call installed the handler.
    """
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(h, _MARK, False) for h in root.handlers):
        return False
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskingFilter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    return True
