"""Across-seed statistics: mean, sample std, t confidence intervals, paired t-tests and verdicts.

Undefined quantities are ``None``, never 0 or NaN: one seed has no spread and no test. Zero
spread is exact: a constant sample has a zero-width interval, and a constant paired difference
has p = 0 (or p = 1 when the difference is 0), the limits of the t-test as the spread vanishes.

A report compares many schedules with one baseline, so verdicts use Holm-Bonferroni adjusted
p-values over that family of comparisons (:func:`holm_adjust`, :func:`adjust_family`): the chance
of calling any schedule better or worse when none differs stays below ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
    """A schedule minus the baseline, seed by seed: mean difference, its CI, paired t-test, verdict.

    ``effect_size`` is the standardised mean difference of the pairs (mean / sample std of the
    differences, Cohen's d_z; ``None`` with fewer than 2 pairs or a constant difference).
    ``p_adjusted`` is the p-value after the family's multiple-comparison adjustment (equal to
    ``p_value`` for a comparison made alone); the verdict is read from it.
    """

    n: int
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str
    effect_size: float | None = None
    p_adjusted: float | None = None


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
    check_alpha(alpha)
    differences = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    summary = summarize(differences, confidence=1.0 - alpha)
    p_value = _paired_p_value(differences)
    effect = None
    if summary.std is not None and summary.std > 0.0 and summary.mean is not None:
        effect = summary.mean / summary.std
    return PairedComparison(
        n=summary.n,
        mean_difference=summary.mean,
        ci_low=summary.ci_low,
        ci_high=summary.ci_high,
        p_value=p_value,
        verdict=NO_PAIRS if summary.n == 0 else verdict(summary.mean, p_value, direction, alpha),
        effect_size=effect,
        p_adjusted=p_value,
    )


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the order given; ``None`` (no test) stays ``None``.

    With the m defined p-values sorted ascending, p_(i) becomes max over j <= i of
    min(1, (m - j + 1) * p_(j)): rejecting where the adjusted p < alpha controls the
    family-wise error rate at alpha, and is never less powerful than plain Bonferroni.
    """
    defined = sorted((p, index) for index, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(defined):
        running = max(running, min(1.0, (len(defined) - rank) * p))
        adjusted[index] = running
    return adjusted


def adjust_family(
    comparisons: Mapping[str, PairedComparison | None],
    direction: Direction | None,
    alpha: float = 0.05,
) -> dict[str, PairedComparison | None]:
    """The same comparisons with Holm-adjusted p-values over the family and verdicts read from them."""
    labels = [label for label, comparison in comparisons.items() if comparison is not None]
    adjusted = holm_adjust([comparisons[label].p_value for label in labels])
    result: dict[str, PairedComparison | None] = dict(comparisons)
    for label, p_adjusted in zip(labels, adjusted, strict=True):
        comparison = comparisons[label]
        decision = NO_PAIRS if comparison.n == 0 else verdict(comparison.mean_difference, p_adjusted,
                                                              direction, alpha)
        result[label] = replace(comparison, p_adjusted=p_adjusted, verdict=decision)
    return result


def check_alpha(alpha: float) -> float:
    """``alpha`` if it is a significance level strictly between 0 and 0.5, else a ValueError."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be between 0 and 0.5 (e.g. 0.05), got {alpha}")
    return alpha


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
