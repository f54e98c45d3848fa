"""Across-seed statistics: mean, sample std, t confidence intervals, paired t-tests and verdicts.

Undefined quantities are ``None``, never 0 or NaN: one seed has no spread and no test. Zero
spread is exact: a constant sample has a zero-width interval, and a constant paired difference
has p = 0 (or p = 1 when the difference is 0), the limits of the t-test as the spread vanishes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as scipy_stats

Direction = Literal["lower", "higher"]

BETTER = "better"
WORSE = "worse"
NO_DIFFERENCE = "no detectable difference"
NO_DIRECTION = "-"
NO_PAIRS = "no paired seeds"


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof=1) and t confidence interval of one sample."""

    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class PairedComparison:
    """A schedule minus the baseline, seed by seed: mean difference, its CI, paired t-test, verdict."""

    n: int
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample std and the ``confidence`` t-interval of the mean (``None`` where undefined)."""
    sample = np.asarray(values, dtype=float)
    n = len(sample)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = float(sample.mean())
    if n == 1:
        return Summary(1, mean, None, None, None)
    std = float(sample.std(ddof=1))
    half_width = _t_quantile(confidence, n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half_width, mean + half_width)


def compare_paired(
    values: Sequence[float],
    baseline: Sequence[float],
    direction: Direction | None,
    *,
    alpha: float = 0.05,
) -> PairedComparison:
    """Paired t-test of ``values - baseline`` (same seeds, same order) and a direction-aware verdict.

    The verdict is ``better``/``worse`` when p < ``alpha`` and the mean difference points that
    way (lower is better for ``direction="lower"``), ``no detectable difference`` otherwise, and
    ``-`` for a metric without a better direction, ``no paired seeds`` when nothing can be compared.
    """
    if len(values) != len(baseline):
        raise ValueError(f"paired samples need equal lengths, got {len(values)} and {len(baseline)}")
    differences = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    summary = summarize(differences, confidence=1.0 - alpha)
    p_value = _paired_p_value(differences)
    return PairedComparison(
        n=summary.n,
        mean_difference=summary.mean,
        ci_low=summary.ci_low,
        ci_high=summary.ci_high,
        p_value=p_value,
        verdict=NO_PAIRS if summary.n == 0 else verdict(summary.mean, p_value, direction, alpha),
    )


def verdict(mean_difference: float | None, p_value: float | None, direction: Direction | None,
            alpha: float = 0.05) -> str:
    """``better``, ``worse`` or ``no detectable difference`` for a difference (schedule - baseline)."""
    if direction is None:
        return NO_DIRECTION
    if p_value is None or mean_difference is None or p_value >= alpha or mean_difference == 0:
        return NO_DIFFERENCE
    improved = mean_difference < 0 if direction == "lower" else mean_difference > 0
    return BETTER if improved else WORSE


def _paired_p_value(differences: np.ndarray) -> float | None:
    n = len(differences)
    if n < 2:
        return None
    mean = float(differences.mean())
    std = float(differences.std(ddof=1))
    if std == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    t_statistic = mean / (std / math.sqrt(n))
    return float(2.0 * scipy_stats.t.sf(abs(t_statistic), df=n - 1))


def _t_quantile(confidence: float, degrees_of_freedom: int) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(scipy_stats.t.ppf(0.5 + confidence / 2.0, degrees_of_freedom))
