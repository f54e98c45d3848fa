"""GapAdaptive and CompositeAdaptive: closed-loop behaviour, warm-up, state, specs, signals."""

from __future__ import annotations

import json
import math
import re
import socket

import pytest
import torch
import torch.multiprocessing as mp

import dynadrop as dd

TARGET, RATE_AT_TARGET = 0.2, 0.2


def plant_gap(rate: float) -> float:
    """The gap the synthetic plant settles at: it grows as the rate falls (0.2 at rate 0.2)."""
    return 0.6 - 2.0 * rate


def close_loop(controller: dd.GapAdaptive, steps: int, lag: float = 0.5) -> tuple[list, list]:
    """Run the controller against a plant whose gap moves ``lag`` of the way to its settling
    value per observation; return the rates and the gaps observed."""
    gap, rates, gaps = plant_gap(controller.rate), [], []
    for _ in range(steps):
        controller.observe(train_loss=2.0, val_loss=2.0 + gap)
        rates.append(controller.rate)
        gaps.append(gap)
        gap += lag * (plant_gap(controller.rate) - gap)
    return rates, gaps


def sign_changes(values: list[float]) -> int:
    signs = [v > 0 for v in values if abs(v) > 1e-9]
    return sum(a != b for a, b in zip(signs, signs[1:], strict=False))


@pytest.mark.parametrize(("kp", "ki", "overshoot"), [(0.25, 0.1, 0.02), (0.5, 0.25, 0.1)])
def test_closed_loop_settles_at_the_target_without_oscillating(kp, ki, overshoot):
    rates, gaps = close_loop(dd.GapAdaptive(0.05, target=TARGET, kp=kp, ki=ki), steps=40)
    assert abs(gaps[-1] - TARGET) < 2e-3 and rates[-1] == pytest.approx(RATE_AT_TARGET, abs=1e-3)
    # Stated bound: the rate overshoots the settling rate by at most `overshoot`, the gap
    # crosses the target at most twice, and from observation 20 on it stays within 0.01.
    assert max(rates) <= RATE_AT_TARGET + overshoot
    assert sign_changes([gap - TARGET for gap in gaps]) <= 2
    assert all(abs(gap - TARGET) <= 0.01 for gap in gaps[20:])


def test_proportional_only_leaves_an_offset_that_the_integral_removes():
    p_only, _ = close_loop(dd.GapAdaptive(0.05, target=TARGET, kp=0.25, ki=0.0), steps=40)
    assert abs(p_only[-1] - RATE_AT_TARGET) > 0.05


def test_anti_windup_leaves_saturation_as_soon_as_the_error_turns():
    controller = dd.GapAdaptive(0.2, target=0.1, kp=0.1, ki=0.5, max_rate=0.4)
    for _ in range(50):  # a gap the rate cannot close: saturate at max
        controller.observe(train_loss=1.0, val_loss=2.0)
    assert controller.rate == 0.4
    assert controller.integral == pytest.approx((0.4 - 0.2) / 0.5)  # clamped, not 50 * 0.9
    controller.observe(train_loss=1.0, val_loss=1.05)  # now below target
    assert controller.rate < 0.4


def test_warmup_holds_the_rate_and_keeps_those_observations_out():
    warm = dd.GapAdaptive(0.2, target=0.1, warmup=2, ema=0.5)
    for _ in range(2):
        warm.observe(train_loss=4.0, val_loss=4.0)
        assert warm.rate == 0.2 and warm.smoothed is None
    warm.observe(train_loss=1.0, val_loss=1.3)
    assert warm.smoothed == pytest.approx(0.3)
    assert warm.rate == pytest.approx(0.2 + 0.25 * 0.2 + 0.1 * 0.2)


def test_relative_target_reads_the_gap_as_a_fraction_of_val_loss():
    controller = dd.GapAdaptive(0.2, target=0.1, target_mode="rel", kp=1.0, ki=0.0)
    controller.observe(train_loss=1.6, val_loss=2.0)  # 20% gap, 10 points above target
    assert controller.rate == pytest.approx(0.3)
    with pytest.raises(ValueError, match="val_loss, which is 0.0"):
        controller.observe(train_loss=0.0, val_loss=0.0)


def test_non_finite_losses_raise_or_are_skipped():
    with pytest.raises(ValueError, match="val_loss is nan"):
        dd.GapAdaptive(0.2).observe(train_loss=1.0, val_loss=math.nan)
    skipping = dd.GapAdaptive(0.2, on_nonfinite="skip")
    with pytest.warns(RuntimeWarning, match="train_loss is inf"):
        skipping.observe(train_loss=math.inf, val_loss=1.0)
    assert skipping.num_observed == 0


def observations(count: int) -> list[dict[str, float]]:
    """A noisy, drifting run of every signal the rules read."""
    return [{"train_loss": 2.0 - 0.05 * i, "val_loss": 2.1 - 0.02 * i + 0.03 * math.sin(i),
             "grad_norm": 1.0 + 0.3 * math.cos(i), "lr": 1e-3 * (1 - i / (2 * count))}
            for i in range(count)]


@pytest.mark.parametrize("spec", [
    "gap:0.2,target=0.1,kp=0.3,ki=0.2,ema=0.5,warmup=2",
    "composite:0.2,gap=0.5,trend=1.0,grad_norm=0.05,lr=0.1,target=0.05,ema=0.3",
])
def test_resume_mid_run_gives_the_identical_rate_sequence(spec):
    feed = observations(12)
    reference = dd.parse_schedule(spec)
    expected = []
    for metrics in feed:
        reference.observe(**metrics)
        expected.append(reference.rate)
    first = dd.parse_schedule(spec)
    for metrics in feed[:5]:
        first.observe(**metrics)
    resumed = dd.parse_schedule(spec)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))  # as a JSON checkpoint
    rest = []
    for metrics in feed[5:]:
        resumed.observe(**metrics)
        rest.append(resumed.rate)
    assert rest == expected[5:]
    assert len(set(expected)) > 3  # the rule did move


def test_composite_terms_add_up_with_their_weights():
    rule = dd.CompositeAdaptive(0.2, gap=0.5, trend=1.0, grad_norm=0.1, lr=0.2, target=0.1)
    rule.observe(train_loss=1.0, val_loss=1.2, grad_norm=2.0, lr=1e-3)
    assert rule.rate == pytest.approx(0.2 + 0.5 * 0.1)  # only the gap deviates at first
    rule.observe(train_loss=1.0, val_loss=1.32, grad_norm=4.0, lr=5e-4)
    expected = 0.2 + 0.5 * 0.22 + 1.0 * (1.32 / 1.2 - 1) + 0.1 * math.log(2) + 0.2 * (0.5 - 1)
    assert rule.rate == pytest.approx(expected)


def test_composite_reads_only_the_signals_of_its_weighted_terms():
    assert dd.CompositeAdaptive(0.2, lr=0.2).signals == ("lr",)
    assert dd.CompositeAdaptive(0.2, trend=1.0, gap=1.0).signals == ("train_loss", "val_loss")
    follows_lr = dd.CompositeAdaptive(0.2, lr=0.2)
    for lr in (1e-3, 5e-4, 0.0):
        follows_lr.observe(lr=lr)
    assert follows_lr.rate == 0.0


@pytest.mark.parametrize(("make", "message"), [
    (lambda: dd.GapAdaptive(0.2).observe(val_loss=1.0),
     "reads train_loss, val_loss but was not given train_loss (given: val_loss)"),
    (lambda: dd.CompositeAdaptive(0.2, grad_norm=0.1).observe(val_loss=1.0, lr=1e-3),
     "was not given grad_norm (given: lr, val_loss)"),
    (lambda: dd.ValLossAdaptive(0.2).observe(train_loss=1.0), "was not given val_loss"),
])
def test_a_missing_signal_is_named_with_what_was_given(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_scheduler_passes_declared_signals_and_rejects_a_partial_set():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1))
    scheduler = dd.DropoutScheduler(net, "gap:0.2,target=0.1,kp=1.0,ki=0.0", total_steps=10)
    scheduler.observe(lr=1e-3)  # none of its signals: skipped
    assert scheduler.controllers["default"].num_observed == 0
    scheduler.observe(train_loss=1.0, val_loss=1.3, grad_norm=None, lr=1e-3)
    assert net[1].p == pytest.approx(0.4)
    with pytest.raises(ValueError, match="not given train_loss"):
        scheduler.observe(val_loss=1.2)


def test_scheduler_holds_a_controller_whose_signal_is_not_measured_yet():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1))
    scheduler = dd.DropoutScheduler(net, "composite:0.2,grad_norm=0.1", total_steps=10)
    scheduler.observe(train_loss=1.0, val_loss=1.3, grad_norm=None, lr=1e-3)
    assert scheduler.controllers["default"].num_observed == 0 and net[1].p == 0.2


@pytest.mark.parametrize(("spec", "named"), [
    ("gap:0.2,kp=-1", "gap kp and ki must be >= 0"),
    ("gap:0.2,kp=0,ki=0", "not both 0"),
    ("gap:0.2,target_mode=pct", "gap target_mode must be 'abs' or 'rel', got 'pct'"),
    ("gap:0.2,warmup=1.5", "warmup='1.5' is not an int"),
    ("gap:0.2,warmup=-1", "gap warmup must be an int >= 0, got -1"),
    ("gap:0.2,target=nan", "option target must be finite"),
    ("gap:0.2,ema=1", "gap ema must lie in [0, 1), got 1.0"),
    ("gap:0.6", "gap initial rate 0.6 must lie within [min_rate, max_rate]"),
    ("gap:0.2,gain=1", "unknown option 'gain' (allowed: target, target_mode, kp, ki, ema, warmup"),
    ("gap:0.2,on_nonfinite=ignore", "on_nonfinite must be 'raise' or 'skip', got 'ignore'"),
    ("composite:0.2", "needs a non-zero weight for at least one of gap, trend, grad_norm, lr"),
    ("composite:0.2,lr=x", "option lr='x' is not a number"),
    ("composite:0.2,loss=1", "unknown option 'loss' (allowed: gap, trend, grad_norm, lr, target"),
])
def test_bad_specs_name_the_field_and_what_is_allowed(spec, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        dd.parse_schedule(spec)


def test_specs_print_the_control_law():
    assert str(dd.GapAdaptive(0.2)) == "gap:0.2,target=0.1,kp=0.25,ki=0.1"
    rule = dd.parse_schedule("gap:0.15,target=0.05,target_mode=rel,kp=0.5,ki=0.2,warmup=1,max=0.4")
    assert str(rule) == "gap:0.15,target=0.05,target_mode=rel,kp=0.5,ki=0.2,warmup=1,max=0.4"
    assert dd.parse_schedule(str(rule)) == rule
    assert str(dd.CompositeAdaptive(0.1, gap=0.5, lr=0.1)) == "composite:0.1,gap=0.5,lr=0.1"


def _rank_worker(rank: int, port: int, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                         world_size=2)
    try:
        net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1))
        scheduler = dd.DropoutScheduler(net, "gap:0.2,target=0.1,kp=0.5,ki=0.2", total_steps=10)
        rates = []
        for metrics in observations(6):  # each rank sees its own local losses
            local = {"train_loss": metrics["train_loss"] + 0.1 * rank,
                     "val_loss": metrics["val_loss"] + 0.3 * rank}
            scheduler.observe(**local)
            rates.append(net[1].p)
        with open(f"{out}/rank{rank}.json", "w") as file:
            json.dump(rates, file)
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_ranks_fed_different_values_take_the_same_averaged_decision(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_rank_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0 == rank1
    averaged = dd.GapAdaptive(0.2, target=0.1, kp=0.5, ki=0.2)
    expected = []
    for metrics in observations(6):
        averaged.observe(train_loss=metrics["train_loss"] + 0.05, val_loss=metrics["val_loss"] + 0.15)
        expected.append(averaged.rate)
    assert rank0 == pytest.approx(expected)
