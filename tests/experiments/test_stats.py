"""Across-seed statistics agree with numpy/scipy and degrade gracefully."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dynadrop.experiments.stats import (
    BETTER,
    NO_DIFFERENCE,
    NO_DIRECTION,
    NO_PAIRS,
    WORSE,
    Summary,
    compare_paired,
    summarize,
    verdict,
)

SAMPLE = [1.4655, 1.4702, 1.4631, 1.4688, 1.4660]
BASELINE = [1.4701, 1.4733, 1.4690, 1.4725, 1.4688]


def test_summary_matches_numpy_and_scipy():
    summary = summarize(SAMPLE)
    low, high = scipy_stats.t.interval(0.95, len(SAMPLE) - 1, loc=np.mean(SAMPLE),
                                       scale=scipy_stats.sem(SAMPLE))
    assert summary.n == 5
    assert summary.mean == pytest.approx(np.mean(SAMPLE))
    assert summary.std == pytest.approx(np.std(SAMPLE, ddof=1))
    assert (summary.ci_low, summary.ci_high) == pytest.approx((low, high))


def test_summary_of_one_two_three_by_hand():
    # mean 2, sample std 1, t(0.975, df=2) = 4.302653 -> half width 4.302653 / sqrt(3)
    summary = summarize([1.0, 2.0, 3.0])
    assert summary.std == pytest.approx(1.0)
    assert summary.ci_high - summary.mean == pytest.approx(4.302653 / 3**0.5, rel=1e-6)


def test_paired_comparison_matches_scipy_ttest_rel():
    comparison = compare_paired(SAMPLE, BASELINE, "lower")
    expected = scipy_stats.ttest_rel(SAMPLE, BASELINE)
    differences = np.subtract(SAMPLE, BASELINE)
    interval = expected.confidence_interval(0.95)
    assert comparison.n == 5
    assert comparison.mean_difference == pytest.approx(differences.mean())
    assert comparison.p_value == pytest.approx(expected.pvalue)
    assert (comparison.ci_low, comparison.ci_high) == pytest.approx((interval.low, interval.high))
    assert comparison.verdict == BETTER


def test_verdict_is_direction_aware():
    assert compare_paired(BASELINE, SAMPLE, "lower").verdict == WORSE
    assert compare_paired(BASELINE, SAMPLE, "higher").verdict == BETTER
    assert compare_paired(SAMPLE, BASELINE, "higher").verdict == WORSE
    assert compare_paired(SAMPLE, BASELINE, None).verdict == NO_DIRECTION


def test_noisy_difference_is_not_detectable():
    comparison = compare_paired([1.0, 2.0, 3.0], [1.5, 1.5, 2.9], "lower")
    assert comparison.p_value > 0.05
    assert comparison.verdict == NO_DIFFERENCE


def test_one_seed_has_no_spread_and_no_test():
    assert summarize([1.5]) == Summary(1, 1.5, None, None, None)
    comparison = compare_paired([1.4], [1.5], "lower")
    assert comparison.mean_difference == pytest.approx(-0.1)
    assert comparison.p_value is None and comparison.ci_low is None
    assert comparison.verdict == NO_DIFFERENCE


def test_empty_sample():
    summary = summarize([])
    assert summary.n == 0 and summary.mean is None
    assert compare_paired([], [], "lower").verdict == NO_PAIRS


def test_zero_variance():
    summary = summarize([2.0, 2.0, 2.0])
    assert summary.std == 0.0 and summary.ci_low == summary.ci_high == 2.0
    same = compare_paired([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "lower")
    assert same.p_value == 1.0 and same.verdict == NO_DIFFERENCE
    shifted = compare_paired([250.0, 500.0], [500.0, 750.0], "lower")
    assert shifted.p_value == 0.0 and shifted.ci_low == shifted.ci_high == -250.0
    assert shifted.verdict == BETTER


def test_verdict_threshold():
    assert verdict(-0.1, 0.049, "lower") == BETTER
    assert verdict(-0.1, 0.05, "lower") == NO_DIFFERENCE


def test_unequal_lengths_are_an_error():
    with pytest.raises(ValueError, match="equal lengths"):
        compare_paired([1.0, 2.0], [1.0], "lower")
