"""Shared test helpers."""

from __future__ import annotations

import math

import pytest
import torch


def fraction_tolerance(rate: float, numel: int, sigmas: float = 5.0) -> float:
    """Allowed |observed - rate| for the dropped fraction of ``numel`` Bernoulli draws."""
    return sigmas * math.sqrt(max(rate * (1 - rate), 1e-12) / numel) + 1e-9


def assert_fraction_close(observed: float, rate: float, numel: int) -> None:
    tolerance = fraction_tolerance(rate, numel)
    assert abs(observed - rate) <= tolerance, (
        f"dropped fraction {observed:.4f} vs scheduled rate {rate:.4f} over {numel} units "
        f"(tolerance {tolerance:.4f})"
    )


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
