"""Time points given either in optimizer steps (int) or as a fraction of training (float).

One convention everywhere: an ``int`` is a step count, a ``float`` is a fraction of
``total_steps`` in [0, 1]. So ``Early(0.1, until=0.25)`` stops dropout a quarter of the way
through training, and ``Early(0.1, until=500)`` stops it at step 500.
"""

from __future__ import annotations

import math

TimePoint = int | float


def check_time_point(value: TimePoint, what: str) -> TimePoint:
    """Validate a time point and return it unchanged (int steps >= 0, float fraction in [0, 1])."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{what} must be an int (steps) or a float (fraction of training), got {value!r}"
        )
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{what} must be a step count >= 0, got {value}")
    elif not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(
            f"{what} given as a float is a fraction of training and must lie in [0, 1], got "
            f"{value!r}; pass an int to give it in steps"
        )
    return value


def to_steps(value: TimePoint, total_steps: int) -> float:
    """Resolve a time point to a (possibly fractional) step number."""
    return float(value) if isinstance(value, int) else value * total_steps


def check_progress(step: int, total_steps: int) -> None:
    """Validate the (step, total_steps) pair a schedule is called with."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
        raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
    if isinstance(step, bool) or not isinstance(step, int | float) or not step >= 0:
        raise ValueError(f"step must be a number >= 0, got {step!r}")


def format_time_point(value: TimePoint) -> str:
    """Spec-string form of a time point: ints stay ints, floats keep a decimal point."""
    return str(value) if isinstance(value, int) else repr(float(value))


def parse_time_point(text: str, what: str) -> TimePoint:
    """Inverse of :func:`format_time_point`: '500' is steps, '0.5' is a fraction."""
    text = text.strip()
    try:
        value: TimePoint = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{what}: {text!r} is not a number") from None
    return check_time_point(value, what)
