"""DropoutScheduler: rates really applied at every site, controllers, resume, bad input."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dynadrop as dd
from tests.conftest import assert_fraction_close
from tests.core.tiny_models import LSTMTagger, TinyGPT, encoder

GROUP_RATES = {"attention": 0.15, "residual": 0.3, "mlp": 0.45, "embedding": 0.6, "other": 0.25}


def forward_inputs(model: nn.Module) -> tuple[torch.Tensor, ...]:
    if isinstance(model, TinyGPT | LSTMTagger):
        return (torch.randint(0, 20, (32, 16)),)
    return (torch.randn(32, 16, 32),)


@pytest.mark.filterwarnings("ignore:.*has no dropout sites")  # each model lacks some groups
@pytest.mark.parametrize("make", [TinyGPT, encoder, LSTMTagger], ids=["nanogpt", "encoder", "lstm"])
def test_every_site_drops_at_its_scheduled_rate_in_eager_mode(make):
    model = make().train()
    scheduler = dd.DropoutScheduler(
        model, {group: dd.Linear(rate, rate / 3) for group, rate in GROUP_RATES.items()},
        total_steps=10,
    )
    for _ in range(4):
        scheduler.step()
    expected: Counter[float] = Counter()
    for site in scheduler.sites:  # an RNN draws one mask between each pair of layers
        masks = site.module.num_layers - 1 if site.kind == "rnn" else 1
        expected[round(scheduler.rates[site.group], 9)] += masks
    with dd.record_dropout_masks() as draws:
        model(*forward_inputs(model))
    assert Counter(round(draw.requested_rate, 9) for draw in draws) == expected
    for draw in draws:
        assert_fraction_close(draw.dropped_fraction, draw.requested_rate, draw.numel)


def test_one_schedule_drives_all_sites_and_rates_reports_each_group():
    model = TinyGPT()
    scheduler = dd.DropoutScheduler(model, "linear:0.3->0.0", total_steps=4)
    assert scheduler.rates == {"embedding": 0.3, "residual": 0.3, "attention": 0.3, "mlp": 0.3}
    scheduler.step()
    scheduler.step()
    assert all(site.rate == pytest.approx(0.15) for site in scheduler.sites)
    scheduler.step(4)
    assert all(site.rate == 0.0 for site in scheduler.sites)


def test_groups_without_a_schedule_keep_their_rate_and_default_covers_the_rest():
    model = TinyGPT(p=0.1)
    dd.DropoutScheduler(model, {"mlp": 0.3}, total_steps=10)
    rates = {s.name: s.rate for s in dd.find_dropout_sites(model)}
    assert rates["transformer.h.0.mlp_dropout"] == 0.3 and rates["transformer.drop"] == 0.1
    dd.DropoutScheduler(model, {"mlp": 0.3, "default": 0.05}, total_steps=10)
    rates = {s.name: s.rate for s in dd.find_dropout_sites(model)}
    assert rates["transformer.h.0.mlp_dropout"] == 0.3 and rates["transformer.drop"] == 0.05


def test_linear_depth_profile_scales_rates_like_stochastic_depth():
    model = TinyGPT(layers=3)
    dd.DropoutScheduler(model, {"mlp": 0.3}, total_steps=10, depth_profile="linear")
    mlp = {s.depth: s.rate for s in dd.find_dropout_sites(model) if s.group == "mlp"}
    assert mlp == pytest.approx({0: 0.0, 1: 0.15, 2: 0.3})
    dd.DropoutScheduler(model, {"mlp": 0.3}, total_steps=10, depth_profile=[1.0, 0.5, 0.0])
    mlp = {s.depth: s.rate for s in dd.find_dropout_sites(model) if s.group == "mlp"}
    assert mlp == pytest.approx({0: 0.3, 1: 0.15, 2: 0.0})


def test_observe_feeds_controllers_and_applies_the_new_rate_at_once():
    model = TinyGPT()
    controller = dd.ValLossAdaptive(0.2, delta=0.05)
    scheduler = dd.DropoutScheduler(model, {"attention": controller, "mlp": 0.1}, total_steps=100)
    scheduler.observe(val_loss=2.0)
    scheduler.observe(val_loss=1.5, train_loss=1.4)
    attention = [s.rate for s in scheduler.sites if s.group == "attention"]
    assert attention == [0.15, 0.15] and scheduler.rates["mlp"] == 0.1
    scheduler.observe(train_loss=9.9)  # not monitored: no change
    assert controller.num_observed == 2


class HalveOnRise(dd.Controller):
    """A user's controller, ``observe`` written with one plain argument."""

    def __init__(self, rate: float) -> None:
        self._rate, self.best = rate, float("inf")

    @property
    def rate(self) -> float:
        return self._rate

    def observe(self, value: float) -> None:
        if value > self.best:
            self._rate /= 2
        self.best = min(self.best, value)

    def state_dict(self) -> dict:
        return {"rate": self._rate, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self._rate, self.best = state["rate"], state["best"]


class KeywordRule(HalveOnRise):
    """The same rule, ``observe`` taking its signal by name."""

    def observe(self, val_loss: float) -> None:
        super().observe(val_loss)


@pytest.mark.parametrize("rule", [HalveOnRise, KeywordRule])
def test_a_users_controller_gets_its_signal_by_position_or_by_name(rule):
    model = TinyGPT()
    scheduler = dd.DropoutScheduler(model, {"attention": rule(0.4), "default": 0.0}, total_steps=10)
    for val_loss in (2.0, 1.8, 1.9):
        scheduler.observe(val_loss=val_loss, train_loss=1.0)
    assert scheduler.rates["attention"] == 0.2  # halved once, at the rise to 1.9


def train(model, scheduler, optimizer, steps, start=0):
    """A tiny training loop; returns (rates, controller state) after each step."""
    history = []
    generator = torch.Generator().manual_seed(start)
    for step in range(start, start + steps):
        tokens = torch.randint(0, 32, (8, 16), generator=generator)
        logits = model(tokens)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, 32), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 2 == 1:
            scheduler.observe(val_loss=3.0 + ((step * 7919) % 13) / 20)
        history.append(({s.name: s.rate for s in scheduler.sites},
                         scheduler.state_dict()["controllers"]))
        generator.manual_seed(step + 1)
    return history


def build(p=0.1):
    torch.manual_seed(1)
    model = TinyGPT(p=p)
    schedules = {
        "attention": dd.ValLossAdaptive(0.2, delta=0.03, patience=1, ema=0.3),
        "mlp": dd.Cosine(0.3, 0.0),
        "default": dd.parse_schedule("early:0.2@0.5"),
    }
    scheduler = dd.DropoutScheduler(model, schedules, total_steps=20)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return model, scheduler, optimizer


def test_resume_from_a_checkpoint_continues_the_same_rates_and_controller_state(tmp_path):
    model, scheduler, optimizer = build()
    uninterrupted = train(model, scheduler, optimizer, 20)

    model, scheduler, optimizer = build()
    train(model, scheduler, optimizer, 9)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "dropout": scheduler.state_dict()}, path)

    model, scheduler, optimizer = build(p=0.0)  # a fresh process would construct at another rate
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["dropout"])
    assert {s.name: s.rate for s in scheduler.sites} == uninterrupted[8][0]
    resumed = train(model, scheduler, optimizer, 11, start=9)
    assert resumed == uninterrupted[9:]
    assert len({rates["transformer.h.0.attn.dropout"] for rates, _ in uninterrupted}) > 2


def test_loading_state_from_other_schedules_warns():
    _, scheduler, _ = build()
    other = dd.DropoutScheduler(TinyGPT(), "linear:0.2->0.0", total_steps=20)
    with pytest.warns(UserWarning, match="linear:0.2->0.0"):
        scheduler.load_state_dict(other.state_dict())


def test_warns_when_a_non_zero_schedule_finds_no_sites():
    plain = nn.Sequential(nn.Linear(4, 4), nn.Identity())
    with pytest.warns(UserWarning, match="no dropout sites"):
        dd.DropoutScheduler(plain, "linear:0.2->0.0", total_steps=10)
    with pytest.warns(UserWarning, match="group 'path'"):
        dd.DropoutScheduler(TinyGPT(), {"path": 0.1, "mlp": 0.1}, total_steps=10)


@pytest.mark.parametrize(
    ("model", "schedule", "total", "error", "named"),
    [
        (TinyGPT(), "linear:0.2->0.0", 0, ValueError, "got 0"),
        (TinyGPT(), "linear:0.2->0.0", -3, ValueError, "got -3"),
        (TinyGPT(), "zigzag:0.2", 10, ValueError, "zigzag"),
        (TinyGPT(), 1.2, 10, ValueError, "1.2"),
        (TinyGPT(), {"feedforward": 0.1}, 10, ValueError, "'feedforward'"),
        (nn.Sequential(), 0.1, 10, ValueError, "empty"),
        ("model", 0.1, 10, TypeError, "str"),
    ],
)
def test_bad_input_names_the_value(model, schedule, total, error, named):
    with pytest.raises(error, match=named):
        dd.DropoutScheduler(model, schedule, total_steps=total)


def test_depth_profile_pushing_a_rate_to_one_names_site_and_value():
    with pytest.raises(ValueError, match=r"rate 1\.2 for site 'transformer\.h\.1\."):
        dd.DropoutScheduler(TinyGPT(), 0.6, total_steps=10, depth_profile=[1.0, 2.0])
