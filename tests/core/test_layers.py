"""ScheduledDropout and make_compile_safe: statistics, scaling, state_dict keys, no recompiles."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch import nn

import dynadrop as dd
from tests.conftest import assert_fraction_close
from tests.core.tiny_models import ProbAttention, TinyGPT


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.9])
def test_drops_the_scheduled_fraction_and_rescales_the_rest(rate):
    layer = dd.ScheduledDropout(rate)
    x = torch.ones(200_000)
    y = layer(x)
    assert_fraction_close((y == 0).float().mean().item(), rate, x.numel())
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - rate)))


def test_identity_in_eval_mode_and_at_rate_zero():
    x = torch.randn(1000)
    layer = dd.ScheduledDropout(0.5).eval()
    assert torch.equal(layer(x), x)
    layer.train()
    layer.p = 0.0
    assert torch.equal(layer(x), x)


def test_rate_lives_in_a_non_persistent_buffer():
    layer = dd.ScheduledDropout(0.3)
    layer.p = 0.25
    assert layer.rate.item() == pytest.approx(0.25) and layer.p == 0.25
    assert "rate" not in layer.state_dict()
    with pytest.raises(ValueError, match="1.0"):
        layer.p = 1.0


def test_rate_stays_float32_when_the_model_is_cast_to_bfloat16():
    model = nn.Sequential(nn.Linear(4, 4), dd.ScheduledDropout(0.2)).to(torch.bfloat16)
    assert model[0].weight.dtype == torch.bfloat16
    assert model[1].rate.dtype == torch.float32 and model[1].rate.item() == torch.tensor(0.2).item()
    model[1].p = 0.3
    assert model[1].rate.item() == torch.tensor(0.3).item()


def test_make_compile_safe_keeps_state_dict_keys_and_rates():
    model = TinyGPT(p=0.15)
    keys = list(model.state_dict())
    report = dd.make_compile_safe(model)
    assert list(model.state_dict()) == keys
    assert len(report.replaced) == 5
    assert [site.name for site in report.unsafe] == [
        "transformer.h.0.attn.dropout", "transformer.h.1.attn.dropout"]
    sites = dd.find_dropout_sites(model)
    assert {s.kind for s in sites if s.name not in {u.name for u in report.unsafe}} == {
        "compile_safe"}
    assert all(s.rate == pytest.approx(0.15) for s in sites)
    model.load_state_dict(TinyGPT(p=0.15).state_dict())


def test_make_compile_safe_warns_about_unsafe_sites_of_a_compiled_model():
    with pytest.warns(RuntimeWarning, match=r"transformer\.h\.0\.attn\.dropout"):
        dd.make_compile_safe(torch.compile(TinyGPT()))


@pytest.fixture
def dynamo_counters():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    previous = torch._dynamo.config.fail_on_recompile_limit_hit
    torch._dynamo.config.fail_on_recompile_limit_hit = True
    yield torch._dynamo.utils.counters
    torch._dynamo.config.fail_on_recompile_limit_hit = previous
    torch._dynamo.reset()


def test_hundred_rate_changes_compile_once(dynamo_counters):
    model = nn.Sequential(nn.Linear(64, 64), dd.ScheduledDropout(0.1))
    compiled = torch.compile(model, backend="aot_eager")
    x = torch.randn(512, 64)
    for i in range(120):
        rate = 0.05 + 0.8 * i / 120
        model[1].p = rate
        out = compiled(x)
        nonzero = model[0](x) != 0
        observed = ((out == 0) & nonzero).sum().item() / nonzero.sum().item()
        assert_fraction_close(observed, rate, int(nonzero.sum()))
    assert dynamo_counters["stats"]["unique_graphs"] == 1


def test_rate_zero_skips_dropout_with_at_most_one_extra_graph(dynamo_counters):
    layer = dd.ScheduledDropout(0.3)
    compiled = torch.compile(layer, backend="aot_eager")
    x = torch.ones(10_000)
    for rate in (0.3, 0.0, 0.2, 0.0, 0.1):
        layer.p = rate
        assert_fraction_close((compiled(x) == 0).float().mean().item(), rate, x.numel())
    assert dynamo_counters["stats"]["unique_graphs"] <= 2


def test_compiled_gpt_follows_a_changing_schedule_with_zero_recompiles(dynamo_counters):
    """The full path users take: surgery, scheduler, inductor; every site keeps its schedule."""
    model = TinyGPT(p=0.1, attention=ProbAttention)
    dd.make_compile_safe(model)
    schedules = {
        "attention": dd.Linear(0.1, 0.4),
        "mlp": dd.Linear(0.4, 0.05),
        "residual": dd.Cosine(0.3, 0.1),
        "embedding": dd.Constant(0.2),
    }
    total = 100
    scheduler = dd.DropoutScheduler(model, schedules, total_steps=total)
    compiled = torch.compile(model)
    tokens = torch.randint(0, 32, (16, 16))
    with dd.record_site_outputs(model) as drops:
        for _ in range(total):
            compiled(tokens)
            scheduler.step()
    assert dynamo_counters["stats"]["unique_graphs"] == 1
    assert len(drops) == 7
    for site in scheduler.sites:
        expected = sum(schedules[site.group](step, total) for step in range(total)) / total
        counted = drops[site.name]
        assert_fraction_close(counted.fraction, expected, counted.alive)
