"""Argument types shared by the commands: a bad number is argparse's usage error, not a traceback."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An int >= 1 (counts: steps, samples, batches)."""
    return _int_at_least(text, 1)


def count(text: str) -> int:
    """An int >= 0 (a step, a length that may be empty)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value} must be >= {low}")
    return value
