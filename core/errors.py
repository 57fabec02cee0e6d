"""Errors raised by the engine.

Every error a user can cause is an :class:`InputError` that names the field, the value
received and what would be accepted, so that the command line can print it on one line and
the dashboard can show it as a message, without either knowing about the other.
"""

from __future__ import annotations

__all__ = ["QDGSError", "InputError", "WeightsNotFoundError", "StoppedError", "ClusterError"]


class QDGSError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputError(QDGSError, ValueError):
    """A user-supplied value is not acceptable.

    Args:
        field: Name of the field as the user sees it (e.g. ``"measure 2 positive prompt"``).
        value: The value received.
        expected: What would be accepted, in plain words.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field}: got {shown}; expected {expected}")


class WeightsNotFoundError(QDGSError):
    """Model weights are not available locally (and cannot be downloaded here)."""


class StoppedError(QDGSError):
    """Work was stopped on request before it finished."""


class ClusterError(QDGSError):
    """The Dask cluster evaluating a run cannot be reached, has no workers left, or fails to
    evaluate (after retries). A run that meets it mid-search stops and keeps what it found."""
