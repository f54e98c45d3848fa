"""Validation and spec-string formatting of dropout rates (drop probabilities)."""

from __future__ import annotations

import math


def check_rate(value: float, what: str = "dropout rate") -> float:
    """Return ``value`` as a float if it is a valid drop probability in [0, 1), else raise.

    1 is excluded: inverted dropout divides by the keep probability 1 - p.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number in [0, 1), got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{what} must lie in [0, 1) (a drop probability), got {value!r}")
    return float(value)


def format_rate(value: float) -> str:
    """Shortest round-tripping text of a rate, e.g. '0.2', '0.0', '1e-05'."""
    return repr(float(value))


def parse_rate(text: str, what: str = "dropout rate") -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text.strip()!r} is not a number") from None
    return check_rate(value, what)
