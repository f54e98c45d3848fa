"""Schedules: closed forms, bounds, endpoints, monotonicity, continuity, spec round trip."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynadrop as dd

rates = st.floats(min_value=0.0, max_value=0.95, allow_nan=False)
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
totals = st.integers(min_value=1, max_value=100_000)
times = st.one_of(fractions, st.integers(min_value=0, max_value=100_000))

interpolated = st.one_of(
    st.builds(dd.Linear, rates, rates),
    st.builds(dd.Cosine, rates, rates),
    st.builds(dd.Exponential, rates, rates, st.floats(min_value=0.1, max_value=20.0)),
)
named = st.one_of(
    st.builds(dd.Constant, rates),
    interpolated,
    st.builds(dd.Early, rates, times),
    st.builds(dd.Late, rates, times),
    st.builds(dd.Curriculum, rates, st.floats(min_value=1e-6, max_value=1.0)),
    st.builds(dd.Step, rates, st.lists(st.tuples(times, rates), max_size=4).map(tuple)),
)
chains = st.builds(
    lambda phases, last: dd.Chain((*phases, (last, None))),
    st.lists(st.tuples(named, times), min_size=1, max_size=3),
    named,
)
any_schedule = st.one_of(named, chains)
gains = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
weights = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False)
emas = st.floats(min_value=0.0, max_value=0.99, allow_nan=False)
gap_rules = st.builds(
    dd.GapAdaptive, st.floats(min_value=0.0, max_value=0.5), target=st.floats(-1.0, 1.0),
    target_mode=st.sampled_from(["abs", "rel"]), kp=gains, ki=gains.map(lambda g: g or 0.1),
    ema=emas, warmup=st.integers(min_value=0, max_value=5),
)
composite_rules = st.builds(
    dd.CompositeAdaptive, st.floats(min_value=0.0, max_value=0.5), gap=weights, trend=weights,
    grad_norm=weights, lr=st.just(0.25), target=st.floats(-1.0, 1.0), ema=emas,
)


@st.composite
def adaptive_controllers(draw) -> dd.ValLossAdaptive:
    """The validation-driven family: every option, additive or multiplicative steps."""
    low, high = sorted((draw(rates), draw(rates)))
    initial = draw(st.floats(min_value=low, max_value=high))
    options = {
        "min_rate": low, "max_rate": high, "mode": draw(st.sampled_from(["min", "max"])),
        "threshold": draw(st.floats(min_value=0.0, max_value=10.0)),
        "threshold_mode": draw(st.sampled_from(["rel", "abs"])),
        "patience": draw(st.integers(0, 50)), "cooldown": draw(st.integers(0, 50)),
        "ema": draw(st.floats(min_value=0.0, max_value=0.99)),
        "monitor": draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_./-]{0,12}", fullmatch=True)),
        "on_nonfinite": draw(st.sampled_from(["raise", "skip"])),
    }
    if initial > 0 and draw(st.booleans()):
        options["factor"] = draw(st.floats(min_value=0.01, max_value=0.99))
    else:
        options["delta"] = draw(st.floats(min_value=0.001, max_value=0.99))
    return dd.ValLossAdaptive(initial, **options)


# Pieces of the spec grammar, so that generated strings come near the valid ones.
SPEC_PIECES = ["linear:", "cos:", "exp:", "step:", "early:", "late:", "curriculum:", "adaptive:", "fixed:",
               "0.2", "0", "1", "-1", "1e400", "nan", "inf", "500", "->", ",", "@", "=", "k=", "gamma=",
               "delta=", "factor=", "patience=", "ema=", "min=", "max=", "monitor=", "mode=", " for ",
               " then ", " ", ":", "1_0", "\x00", "gap:", "composite:", "target=", "kp=", "ki=",
               "warmup=", "target_mode=", "rel", "grad_norm=", "lr=", "trend="]


@given(any_schedule, totals, st.data())
def test_every_schedule_stays_a_valid_rate(schedule, total, data):
    step = data.draw(st.integers(min_value=0, max_value=2 * total))
    rate = schedule(step, total)
    assert 0.0 <= rate < 1.0


@given(any_schedule)
def test_spec_round_trip(schedule):
    spec = str(schedule)
    rebuilt = dd.parse_schedule(spec)
    assert rebuilt == schedule
    assert str(rebuilt) == spec
    for step in (0, 7, 500, 1000):
        assert rebuilt(step, 1000) == schedule(step, 1000)


@given(st.one_of(adaptive_controllers(), gap_rules, composite_rules))
def test_controller_spec_round_trip(controller):
    spec = str(controller)
    rebuilt = dd.parse_schedule(spec)
    assert rebuilt == controller
    assert str(rebuilt) == spec


@settings(max_examples=500)
@given(st.one_of(st.text(), st.lists(st.sampled_from(SPEC_PIECES), max_size=8).map("".join)))
def test_any_string_parses_or_raises_value_error(spec):
    try:
        rule = dd.parse_schedule(spec)
    except ValueError:
        return
    assert dd.parse_schedule(str(rule)) == rule
    for step in (0, 50, 100, 200):
        assert 0.0 <= rule(step, 100) < 1.0


@given(interpolated, totals)
def test_interpolated_endpoints_and_bounds(schedule, total):
    assert schedule(0, total) == pytest.approx(schedule.start, abs=1e-12)
    assert schedule(total, total) == pytest.approx(schedule.end, abs=1e-12)
    low, high = sorted((schedule.start, schedule.end))
    for step in np.linspace(0, total, 17).astype(int):
        assert low - 1e-12 <= schedule(int(step), total) <= high + 1e-12


@given(interpolated, totals)
def test_interpolated_are_monotone_from_start_to_end(schedule, total):
    values = [schedule(int(s), total) for s in np.linspace(0, total, 33).astype(int)]
    direction = np.sign(schedule.end - schedule.start)
    assert all(direction * (b - a) >= -1e-12 for a, b in zip(values, values[1:], strict=False))


def test_closed_forms_at_known_points():
    total = 1000
    assert dd.Linear(0.2, 0.0)(250, total) == pytest.approx(0.15)
    assert dd.Cosine(0.2, 0.0)(500, total) == pytest.approx(0.1)
    assert dd.Cosine(0.2, 0.0)(250, total) == pytest.approx(0.1 * (1 + math.cos(math.pi / 4)))
    k = 5.0
    expected = 0.3 * (math.exp(-k * 0.4) - math.exp(-k)) / (1 - math.exp(-k))
    assert dd.Exponential(0.3, 0.0, k)(400, total) == pytest.approx(expected)
    assert dd.Exponential(0.0, 0.3)(0, total) == 0.0  # may start at 0
    assert dd.Curriculum(0.2, 1e-3)(700, total) == pytest.approx(0.2 * (1 - math.exp(-0.7)))
    assert dd.Early(0.1, 0.25)(100, total) == pytest.approx(0.1 * (1 - 100 / 250))
    assert dd.Early(0.1, 0.25)(250, total) == 0.0
    assert dd.Late(0.1, 0.5)(499, total) == 0.0
    assert dd.Late(0.1, 0.5)(500, total) == 0.1
    step = dd.Step(0.2, ((0.5, 0.1), (800, 0.0)))
    assert [step(s, total) for s in (0, 499, 500, 799, 800)] == [0.2, 0.2, 0.1, 0.1, 0.0]


def test_int_times_are_steps_and_float_times_are_fractions():
    assert dd.Early(0.1, 500)(499, 10_000) > 0 and dd.Early(0.1, 500)(500, 10_000) == 0
    assert dd.Early(0.1, 0.5)(4999, 10_000) > 0 and dd.Early(0.1, 0.5)(5000, 10_000) == 0
    assert dd.Late(0.2, 1)(1, 10) == 0.2 and dd.Late(0.2, 1.0)(9, 10) == 0.0


@given(rates, totals)
def test_curriculum_rises_and_early_falls(rate, total):
    curriculum = [dd.Curriculum(rate, 0.01)(s, total) for s in range(0, total + 1, max(total // 20, 1))]
    assert all(b >= a for a, b in zip(curriculum, curriculum[1:], strict=False))
    early = dd.Early(rate, 0.5)
    falling = [early(s, total) for s in range(0, total + 1, max(total // 20, 1))]
    assert all(b <= a for a, b in zip(falling, falling[1:], strict=False))


@settings(max_examples=50)
@given(rates, rates, fractions.filter(lambda f: 0.05 < f < 0.95))
def test_chain_is_continuous_at_its_boundary_when_phases_meet(start, middle, boundary):
    chain = dd.Chain(((dd.Linear(start, middle), boundary), (dd.Cosine(middle, 0.0), None)))
    total = 10_000
    at = boundary * total
    assert chain.rate_at(at - 1e-6, total) == pytest.approx(chain.rate_at(at, total), abs=1e-7)


@given(rates, fractions.filter(lambda f: f > 0.01))
def test_early_is_continuous_at_its_cutoff(rate, cutoff):
    total = 10_000
    at = cutoff * total
    schedule = dd.Early(rate, cutoff)
    assert schedule.rate_at(at - 1e-6, total) == pytest.approx(0.0, abs=1e-7)


def test_chain_runs_phases_on_their_own_clock():
    chain = dd.parse_schedule("constant:0.3 for 100 then linear:0.3->0.0")
    assert chain(99, 300) == 0.3
    assert chain(200, 300) == pytest.approx(0.15)
    assert chain(300, 300) == 0.0


def test_steps_past_the_end_hold_the_final_rate():
    assert dd.Linear(0.2, 0.05)(5000, 1000) == pytest.approx(0.05)


def test_schedules_print_their_parameters():
    assert repr(dd.Linear(0.2, 0.0)) == "Linear(start=0.2, end=0.0)"
    assert str(dd.Early(0.1, 0.25)) == "early:0.1@0.25"
    assert str(dd.parse_schedule("exp:0.2->0")) == "exponential:0.2->0.0,k=5.0"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: dd.Constant(1.0), "1.0"),
        (lambda: dd.Constant(-0.1), "-0.1"),
        (lambda: dd.Linear(0.2, float("nan")), "nan"),
        (lambda: dd.Early(0.1, 1.5), "1.5"),
        (lambda: dd.Late(0.1, -3), "-3"),
        (lambda: dd.Exponential(0.2, 0.0, k=0.0), "0.0"),
        (lambda: dd.Curriculum(0.2, gamma=-1.0), "-1.0"),
    ],
)
def test_bad_parameters_name_the_value(make, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        make()


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("linear:0.2", "START->END"),
        ("warp:0.2", "'warp:0.2'"),
        ("linear:0.2->1.2", "1.2"),
        ("early:0.1", "RATE@TIME"),
        ("constant:x", "'x'"),
        ("exp:0.2->0,q=1", "'q'"),
        ("step:", "step:INITIAL"),
        ("linear:0.3->0.1 then constant:0.1", "needs a duration"),
        ("adaptive:0.2 for 0.5 then constant:0.1", "'adaptive:0.2' is a controller"),
        ("adaptive:0.2,monitor=", "monitor must be a metric name"),
        ("adaptive:0.2,monitor=val loss", "'val loss'"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        dd.parse_schedule(spec)


@pytest.mark.parametrize("total", [0, -5, 2.5, True])
def test_total_steps_must_be_positive_int(total):
    with pytest.raises(ValueError, match=f"total_steps must be a positive int, got {total!r}"):
        dd.Linear(0.2, 0.0)(0, total)
