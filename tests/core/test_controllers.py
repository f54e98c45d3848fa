"""ValLossAdaptive: the validation-driven rule, its noise guards, bounds and state."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dynadrop as dd


def feed(controller: dd.ValLossAdaptive, values: list[float]) -> list[float]:
    """The rate after each observed value."""
    rates = []
    for value in values:
        controller.observe(value)
        rates.append(controller.rate)
    return rates


def test_first_value_is_only_a_baseline_then_improvement_lowers_and_stall_raises():
    controller = dd.ValLossAdaptive(0.2, delta=0.05)
    rates = feed(controller, [2.0, 1.9, 1.8, 1.85])
    assert rates == pytest.approx([0.2, 0.15, 0.1, 0.15])


def test_patience_waits_for_more_than_patience_bad_evaluations():
    controller = dd.ValLossAdaptive(0.2, delta=0.05, patience=2)
    rates = feed(controller, [2.0, 2.1, 2.1, 2.1, 2.1])
    assert rates == pytest.approx([0.2, 0.2, 0.2, 0.25, 0.25])


def test_threshold_ignores_improvements_smaller_than_it():
    relative = dd.ValLossAdaptive(0.2, threshold=0.01, patience=5)
    assert feed(relative, [2.0, 1.99, 1.97]) == pytest.approx([0.2, 0.2, 0.15])
    absolute = dd.ValLossAdaptive(0.2, threshold=0.05, threshold_mode="abs", patience=5)
    assert feed(absolute, [2.0, 1.96, 1.9]) == pytest.approx([0.2, 0.2, 0.15])


def test_cooldown_blocks_changes_after_a_change():
    controller = dd.ValLossAdaptive(0.3, delta=0.05, cooldown=2)
    rates = feed(controller, [2.0, 1.9, 1.8, 1.7, 1.6])
    assert rates == pytest.approx([0.3, 0.25, 0.25, 0.25, 0.2])


def test_patience_rides_out_one_noisy_spike():
    noisy = [2.0, 1.9, 1.8, 2.3, 1.75, 1.7]
    raw = feed(dd.ValLossAdaptive(0.2, delta=0.05), noisy)
    patient = feed(dd.ValLossAdaptive(0.2, delta=0.05, patience=1), noisy)
    assert max(b - a for a, b in zip(raw, raw[1:], strict=False)) > 0  # the spike raised it
    assert all(b <= a for a, b in zip(patient, patient[1:], strict=False))  # never raised


def test_smoothing_keeps_a_one_off_dip_from_lowering_the_rate():
    dip = [2.0, 2.0, 1.9, 2.0, 2.0]
    raw = feed(dd.ValLossAdaptive(0.2, threshold=0.01, patience=10), dip)
    smoothed_controller = dd.ValLossAdaptive(0.2, threshold=0.01, patience=10, ema=0.9)
    smoothed = feed(smoothed_controller, dip)
    assert min(raw) == pytest.approx(0.15)  # the dip alone lowered the raw rule's rate
    assert smoothed == [0.2] * len(dip)
    expected = 2.0
    for value in dip[1:]:
        expected = 0.9 * expected + 0.1 * value
    assert smoothed_controller.smoothed == pytest.approx(expected)


def test_a_steady_improvement_still_gets_through_the_guards():
    rng = np.random.default_rng(0)
    falling = list(np.linspace(2.0, 1.5, 20) + 0.03 * rng.standard_normal(20))
    steady = feed(dd.ValLossAdaptive(0.2, delta=0.02, ema=0.7, threshold=0.01, patience=4), falling)
    assert steady[-1] == 0.0


def test_rate_is_clamped_to_its_bounds():
    down = dd.ValLossAdaptive(0.1, delta=0.05, min_rate=0.02)
    assert feed(down, [3.0, 2.0, 1.0, 0.5])[-1] == pytest.approx(0.02)
    up = dd.ValLossAdaptive(0.1, delta=0.05, max_rate=0.18)
    assert feed(up, [1.0, 2.0, 3.0, 4.0])[-1] == pytest.approx(0.18)


def test_multiplicative_steps():
    controller = dd.ValLossAdaptive(0.2, factor=0.5)
    assert feed(controller, [2.0, 1.0, 1.5]) == pytest.approx([0.2, 0.1, 0.2])


def test_max_mode_treats_higher_as_better():
    controller = dd.ValLossAdaptive(0.2, mode="max", monitor="val_acc")
    assert feed(controller, [0.5, 0.6, 0.55]) == pytest.approx([0.2, 0.15, 0.2])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_metric_raises_by_default_and_names_it(bad):
    controller = dd.ValLossAdaptive(0.2)
    controller.observe(2.0)
    with pytest.raises(ValueError, match=f"val_loss is {bad!r}"):
        controller.observe(bad)


def test_non_finite_metric_can_be_skipped_with_a_warning():
    controller = dd.ValLossAdaptive(0.2, on_nonfinite="skip")
    controller.observe(2.0)
    with pytest.warns(RuntimeWarning, match="nan"):
        controller.observe(math.nan)
    assert controller.num_observed == 1
    controller.observe(1.5)
    assert controller.rate == pytest.approx(0.15)


def test_state_dict_round_trip_continues_identically():
    values = [2.0, 1.9, 1.95, 1.97, 1.8, 1.85, 1.7, 1.9, 1.91]
    reference = dd.ValLossAdaptive(0.2, patience=1, cooldown=1, ema=0.3)
    expected = feed(reference, values)
    first = dd.ValLossAdaptive(0.2, patience=1, cooldown=1, ema=0.3)
    feed(first, values[:4])
    resumed = dd.ValLossAdaptive(0.2, patience=1, cooldown=1, ema=0.3)
    resumed.load_state_dict(first.state_dict())
    assert feed(resumed, values[4:]) == expected[4:]


def test_spec_round_trip_keeps_options():
    controller = dd.parse_schedule("adaptive:0.3,delta=0.02,patience=3,threshold=0.01,ema=0.5,max=0.4")
    assert isinstance(controller, dd.ValLossAdaptive)
    assert (controller.delta, controller.patience, controller.ema, controller.max_rate) == (
        0.02, 3, 0.5, 0.4)
    assert dd.parse_schedule(str(controller)) == controller
    assert controller(123, 1000) == 0.3  # callable like a schedule: its current rate


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"initial": 1.2}, "1.2"),
        ({"initial": 0.6}, "0.6"),
        ({"delta": 0.0}, "delta"),
        ({"factor": 1.5}, "1.5"),
        ({"patience": -1}, "-1"),
        ({"ema": 1.0}, "1.0"),
        ({"mode": "up"}, "'up'"),
        ({"on_nonfinite": "ignore"}, "'ignore'"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, named):
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        dd.ValLossAdaptive(**kwargs)
