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
    adjust_family,
    compare_paired,
    holm_adjust,
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


def test_holm_by_hand():
    # m = 4 defined p-values sorted: 0.01, 0.02, 0.03, 0.2 -> 4*0.01, max(.04, 3*.02), max(.06, 2*.03), .2
    assert holm_adjust([0.03, None, 0.01, 0.2, 0.02]) == pytest.approx([0.06, None, 0.04, 0.2, 0.06])
    assert holm_adjust([0.5, 0.6]) == [1.0, 1.0]
    assert holm_adjust([]) == [] and holm_adjust([None]) == [None]


def _holm_rejections(p_values: list[float], alpha: float) -> set[int]:
    """Holm's step-down procedure itself: test sorted p_(k) at alpha / (m - k), stop at the first failure."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    rejected = set()
    for rank, index in enumerate(order):
        if p_values[index] >= alpha / (len(p_values) - rank):
            break
        rejected.add(index)
    return rejected


@pytest.mark.parametrize("seed", range(5))
def test_holm_adjusted_p_values_reject_exactly_what_the_step_down_procedure_rejects(seed):
    rng = np.random.default_rng(seed)
    p_values = list(rng.uniform(0.0, 0.1, size=8))
    adjusted = holm_adjust(p_values)
    for alpha in (0.01, 0.05, 0.1):
        assert {i for i, p in enumerate(adjusted) if p < alpha} == _holm_rejections(p_values, alpha)
    assert all(raw <= adj <= min(1.0, 8 * raw) for raw, adj in zip(p_values, adjusted, strict=True))


def test_effect_size_is_cohens_dz_from_scipy():
    comparison = compare_paired(SAMPLE, BASELINE, "lower")
    t_statistic = scipy_stats.ttest_rel(SAMPLE, BASELINE).statistic
    assert comparison.effect_size == pytest.approx(t_statistic / np.sqrt(len(SAMPLE)))
    assert compare_paired([250.0, 500.0], [500.0, 750.0], "lower").effect_size is None


def test_family_adjustment_turns_a_lone_significant_result_into_no_difference():
    significant = compare_paired([1.0, 2.0, 3.05, 4.0], [1.08, 2.05, 3.12, 4.02], "lower")
    assert 0.01 < significant.p_value < 0.05 and significant.verdict == BETTER
    noise = compare_paired([1.0, 2.0, 3.0], [1.5, 1.5, 2.9], "lower")
    family = adjust_family({"a": significant, "b": noise, "c": noise, "baseline": None}, "lower")
    assert family["baseline"] is None
    assert family["a"].p_value == significant.p_value
    assert family["a"].p_adjusted == pytest.approx(min(1.0, 3 * significant.p_value))
    assert family["a"].verdict == NO_DIFFERENCE
    alone = adjust_family({"a": significant}, "lower")["a"]
    assert alone.p_adjusted == significant.p_value and alone.verdict == BETTER


def test_alpha_sets_the_interval_and_the_threshold():
    loose = compare_paired(SAMPLE, BASELINE, "lower", alpha=0.2)
    interval = scipy_stats.ttest_rel(SAMPLE, BASELINE).confidence_interval(0.8)
    assert (loose.ci_low, loose.ci_high) == pytest.approx((interval.low, interval.high))
    assert verdict(-0.1, 0.08, "lower", alpha=0.1) == BETTER
    for bad in (0.0, 0.5, 1.5):
        with pytest.raises(ValueError, match=f"alpha must be between 0 and 0.5.*got {bad}"):
            compare_paired(SAMPLE, BASELINE, "lower", alpha=bad)
