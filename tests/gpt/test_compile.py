"""Under torch.compile, rate changes never recompile and every site drops at its rate.

The one compiled test of the suite (a cold compile costs tens of seconds).
"""

from __future__ import annotations

import torch
import torch._dynamo

import dynadrop as dd
from dynadrop.gpt.model import GPT, GPTConfig
from tests.conftest import assert_fraction_close


def test_compiled_gpt_follows_rate_changes_without_recompiling(monkeypatch):
    monkeypatch.setattr(torch._dynamo.config, "fail_on_recompile_limit_hit", True)
    torch._dynamo.reset()
    model = GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=0.3))
    scheduler = dd.DropoutScheduler(model, "linear:0.4->0.0", total_steps=4)
    compiled = torch.compile(model)
    idx = torch.randint(0, 30, (16, 16))
    graphs = []
    for _ in range(4):  # rates 0.4, 0.3, 0.2, 0.1: one graph serves them all
        rate = scheduler.rates["mlp"]
        with dd.record_site_outputs(model) as drops:
            compiled(idx)[0].sum().backward()
        graphs.append(torch._dynamo.utils.counters["stats"]["unique_graphs"])
        assert len(drops) == 4
        for site in drops.values():  # masked attention probabilities come in as 0: not counted
            assert_fraction_close(site.fraction, rate, site.alive)
        scheduler.step()
    assert graphs[1:] == [graphs[0]] * 3
    compiled(idx)  # rate 0: attention switches to fused SDPA, at most one extra graph
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] <= graphs[0] + 1
