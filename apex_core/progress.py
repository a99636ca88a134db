"""The progress callback of the multi-step operations (publishing, re-hosting, deleting)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "no_progress"]

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``: ``done`` of ``total`` steps, and what just happened."""


def no_progress(done: int, total: int, message: str) -> None:
    """The :data:`Progress` of a caller that shows none."""
    return None
