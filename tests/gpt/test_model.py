"""The GPT: shapes, loss at initialisation, tied weights, dropout sites and their groups."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

import dynadrop as dd
from dynadrop.gpt.model import ATTENTION_PATHS, GPT, GPTConfig
from tests.conftest import assert_fraction_close

SMALL = GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)


def test_loss_at_init_is_about_ln_vocab():
    model = GPT(SMALL).eval()
    idx, targets = torch.randint(0, 40, (2, 8, 16)).unbind(0)
    logits, loss = model(idx, targets)
    assert logits.shape == (8, 16, 40)
    assert loss.item() == pytest.approx(math.log(40), abs=0.1)


def test_embeddings_are_tied_and_no_biases_by_default():
    model = GPT(SMALL)
    assert model.lm_head.weight is model.token_embedding.weight
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())
    biased = GPT(GPTConfig(40, 16, 1, 2, 32, bias=True))
    assert any(name.endswith("bias") for name, _ in biased.named_parameters())


def test_attention_is_causal():
    model = GPT(SMALL).eval()
    idx = torch.randint(0, 40, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 40
    assert torch.allclose(model(idx)[0][0, :10], model(changed)[0][0, :10], atol=1e-6)


@pytest.mark.parametrize("attention", ATTENTION_PATHS)
def test_dropout_attention_paths_match_sdpa(attention):
    """At a tiny rate the explicit (or blocked) path runs; with dropout a no-op it equals SDPA."""
    model = GPT(replace(SMALL, attention=attention))
    idx = torch.randint(0, 40, (2, 16))
    fused, _ = model(idx)
    for block in model.blocks:
        block.attn.attn_dropout.p = 1e-9  # active, so the dropout path runs; drops nothing in practice
    with_dropout_path, _ = model(idx)
    assert torch.allclose(fused, with_dropout_path, atol=1e-5)


def test_unknown_attention_path_is_named():
    with pytest.raises(ValueError, match="'flash'; allowed: fused, explicit, blocked"):
        GPTConfig(vocab_size=40, attention="flash")


def test_four_site_kinds_in_their_groups():
    sites = dd.find_dropout_sites(GPT(SMALL))
    assert {site.name: site.group for site in sites} == {
        "embedding_dropout": "embedding",
        "blocks.0.attn.attn_dropout": "attention", "blocks.0.attn.resid_dropout": "residual",
        "blocks.0.mlp.dropout": "mlp",
        "blocks.1.attn.attn_dropout": "attention", "blocks.1.attn.resid_dropout": "residual",
        "blocks.1.mlp.dropout": "mlp",
    }
    assert all(site.compile_safe for site in sites)


def test_too_long_input_is_an_error():
    with pytest.raises(ValueError, match="exceeds block_size 16"):
        GPT(SMALL)(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("group", ["embedding", "attention", "residual", "mlp"])
def test_each_site_drops_at_its_scheduled_rate(group):
    """Only the scheduled group drops, at its rate (eager masks, counted by the core's probe)."""
    model = GPT(SMALL)
    scheduler = dd.DropoutScheduler(model, {group: "linear:0.5->0.1", "default": 0.0}, total_steps=4)
    idx = torch.randint(0, 40, (8, 16))
    for _ in range(3):
        with dd.record_dropout_masks() as draws:
            model(idx)
        rate = scheduler.rates[group]
        sites = [site for site in dd.find_dropout_sites(model) if site.group == group]
        assert len(draws) == len(sites)
        for draw in draws:
            assert draw.requested_rate == pytest.approx(rate)
            assert_fraction_close(draw.dropped_fraction, rate, draw.numel)
        scheduler.step()


def test_eval_mode_draws_no_masks():
    model = GPT(GPTConfig(40, 16, 2, 2, 32, dropout=0.3)).eval()
    with dd.record_dropout_masks() as draws:
        model(torch.randint(0, 40, (2, 16)))
    assert draws == []
