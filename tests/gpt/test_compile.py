"""Under torch.compile, rate changes never recompile and every site drops at its rate.

The compiled tests of the suite (a cold compile costs seconds to tens of seconds), for both
compile strategies of :mod:`dynadrop.gpt.compiling`.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch._dynamo

import dynadrop as dd
from dynadrop.gpt.compiling import compile_gpt
from dynadrop.gpt.model import GPT, GPTConfig
from tests.conftest import assert_fraction_close

CONFIG = GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.3)


def unique_graphs() -> int:
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def fresh_compiler() -> None:
    """Forget compiled graphs and the counters that count them."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()


@pytest.mark.parametrize(("strategy", "attention"), [("whole", "fused"), ("regional", "fused"),
                                                   ("whole", "explicit")])
def test_compiled_gpt_follows_rate_changes_without_recompiling(monkeypatch, strategy, attention):
    monkeypatch.setattr(torch._dynamo.config, "fail_on_recompile_limit_hit", True)
    fresh_compiler()
    model = GPT(replace(CONFIG, attention=attention))
    scheduler = dd.DropoutScheduler(model, "linear:0.4->0.0", total_steps=4)
    compiled = compile_gpt(model, model, strategy)
    idx = torch.randint(0, 30, (16, 16))
    graphs = []
    for _ in range(4):  # rates 0.4, 0.3, 0.2, 0.1: one graph (per region) serves them all
        rate = scheduler.rates["mlp"]
        with dd.record_site_outputs(model) as drops:
            compiled(idx)[0].sum().backward()
        graphs.append(unique_graphs())
        assert len(drops) == 7
        for name, site in drops.items():
            if attention == "fused" and name.endswith("attn_dropout"):
                assert site.alive == 0  # applied inside the kernel: see the test below
                continue
            # masked attention probabilities come in as 0: not counted
            assert_fraction_close(site.fraction, rate, site.alive)
        scheduler.step()
    assert graphs[1:] == [graphs[0]] * 3  # recording hooks may add graphs, rate changes never
    compiled(idx)  # rate 0: dropout skipped, one extra graph per region at most
    assert unique_graphs() <= graphs[0] * 2


@pytest.mark.parametrize("rate", [0.3, 0.0])
def test_compiled_fused_attention_draws_the_explicit_paths_masks(rate):
    """Same seed -> same masks (the fused kernel's counters are the explicit path's): same loss and grads."""
    results = []
    for attention in ("fused", "explicit"):
        fresh_compiler()
        torch.manual_seed(5)
        model = GPT(replace(CONFIG, attention=attention, dropout=rate))
        idx, targets = torch.randint(0, 30, (2, 8, 16)).unbind(0)
        _, loss = compile_gpt(model, model, "whole")(idx, targets)
        loss.backward()
        results.append((loss.detach(), [p.grad for p in model.parameters()]))
    (fused_loss, fused_grads), (explicit_loss, explicit_grads) = results
    torch.testing.assert_close(fused_loss, explicit_loss)
    for fused, explicit in zip(fused_grads, explicit_grads, strict=True):
        torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("strategy", "graphs"), [("whole", 1), ("regional", 3)])
def test_regional_compile_shares_one_graph_between_the_blocks(strategy, graphs):
    """Regional: embedding, head and one block graph that both blocks reuse."""
    fresh_compiler()
    model = GPT(CONFIG)
    compile_gpt(model, model, strategy)(torch.randint(0, 30, (4, 16)))[0].sum().backward()
    assert unique_graphs() == graphs


def test_regional_and_whole_compiles_draw_the_same_masks():
    """Seeds are drawn in the same order, so one seed gives the same loss and gradients."""
    results = []
    for strategy in ("whole", "regional"):
        fresh_compiler()
        torch.manual_seed(3)
        model = GPT(CONFIG)
        compiled = compile_gpt(model, model, strategy)
        idx, targets = torch.randint(0, 30, (2, 8, 16)).unbind(0)
        _, loss = compiled(idx, targets)
        loss.backward()
        results.append((loss.detach(), model.lm_head.weight.grad))
    (whole_loss, whole_grad), (regional_loss, regional_grad) = results
    torch.testing.assert_close(regional_loss, whole_loss)
    torch.testing.assert_close(regional_grad, whole_grad)


def test_compiled_blocked_attention_draws_the_explicit_paths_masks():
    """Compiled, both attention paths hash the same counters from the same seeds: same numbers."""
    losses = []
    for attention in ("explicit", "blocked"):
        fresh_compiler()
        torch.manual_seed(5)
        model = GPT(replace(CONFIG, n_layer=1, attention=attention))
        idx, targets = torch.randint(0, 30, (2, 8, 16)).unbind(0)
        loss = torch.compile(model)(idx, targets)[1]
        loss.backward()
        losses.append((loss.detach(), model.blocks[0].attn.qkv.weight.grad))
    torch.testing.assert_close(losses[1], losses[0])


def test_unknown_compile_strategy_is_named():
    model = GPT(CONFIG)
    with pytest.raises(ValueError, match="'blocks'.*whole, regional"):
        compile_gpt(model, model, "blocks")
