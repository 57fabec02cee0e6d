"""The one check of a whole number that a user typed, a page sent or a script passed.

Every field that takes a count, a seed, a budget or a size goes through :func:`whole_number`,
so they all accept the same values and say the same things when refused.
"""

from __future__ import annotations

import math
import numbers

from .errors import InputError

__all__ = ["whole_number"]


def whole_number(
    field: str,
    value: object,
    expected: str | None = None,
    *,
    low: int | None = None,
    high: int | None = None,
    integers_only: bool = False,
) -> int:
    """``value`` as an ``int`` if it is a whole number in [low, high].

    An int, or (unless ``integers_only``) a float with no fraction, as values from a page or an
    API may arrive. Booleans, NaN, infinities, texts and other types are refused.

    Args:
        field: The field's name as the user sees it.
        value: What was received.
        expected: What the message says is accepted; by default "a whole number from low to
            high" (or ">= low", "<= high").
        low, high: Bounds (inclusive), None for none.
        integers_only: Refuse floats even without a fraction (engine settings, not page values).

    Raises:
        InputError: naming ``field``, the value and ``expected``.
    """
    if expected is None:
        if low is not None and high is not None:
            expected = f"a whole number from {low:,} to {high:,}"
        elif low is not None:
            expected = f"a whole number >= {low:,}"
        elif high is not None:
            expected = f"a whole number <= {high:,}"
        else:
            expected = "a whole number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(field, value, expected)
    if isinstance(value, numbers.Integral):
        number = int(value)
    else:
        if integers_only:
            raise InputError(field, value, expected)
        as_float = float(value)
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise InputError(field, value, expected)
        number = int(as_float)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InputError(field, value, expected)
    return number
