"""Low-level text helpers for schedule spec strings such as ``exponential:0.2->0.0,k=5``.

A body is a comma-separated list: plain items are positional, ``key=value`` items are options.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def split_body(
    body: str, name: str, positional: int | None, options: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """Split a spec body into positional items and options, checking counts and option names."""
    items = [item.strip() for item in body.split(",")] if body.strip() else []
    plain = [item for item in items if "=" not in item]
    given: dict[str, str] = {}
    for item in items:
        if "=" in item:
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in options:
                allowed = ", ".join(options) if options else "none"
                raise ValueError(f"{name}: unknown option {key!r} (allowed: {allowed})")
            if key in given:
                raise ValueError(f"{name}: option {key!r} given twice")
            given[key] = value.strip()
    if positional is not None and len(plain) != positional:
        raise ValueError(
            f"{name}: expected {positional} positional value(s), got {len(plain)} in {body!r}"
        )
    return plain, given


def split_pair(text: str, name: str) -> tuple[str, str]:
    """Split ``START->END``."""
    start, arrow, end = text.partition("->")
    if not arrow or not start.strip() or not end.strip():
        raise ValueError(f"{name}: expected START->END (e.g. '0.2->0.0'), got {text!r}")
    return start.strip(), end.strip()


def split_rate_at(text: str, name: str) -> tuple[str, str]:
    """Split ``RATE@TIME``."""
    rate, at, time = text.partition("@")
    if not at or not rate.strip() or not time.strip():
        raise ValueError(f"{name}: expected RATE@TIME (e.g. '0.1@0.25' or '0.1@500'), got {text!r}")
    return rate.strip(), time.strip()


def parse_float_option(options: dict[str, str], key: str, name: str, default: float) -> float:
    if key not in options:
        return default
    try:
        value = float(options[key])
    except ValueError:
        raise ValueError(f"{name}: option {key}={options[key]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: option {key} must be finite, got {options[key]!r}")
    return value
