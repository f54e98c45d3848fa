"""Every dropout site of real Hugging Face models, nn.Transformer and a DropPath model is found
through the core and drops at its scheduled rate (measured from the masks PyTorch draws)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import torch
from torch import nn
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)

import dynadrop as dd
from tests.conftest import assert_fraction_close

RATE_BY_GROUP = {"attention": 0.15, "residual": 0.3, "mlp": 0.45, "embedding": 0.6, "path": 0.35,
                 "other": 0.25}
TOKENS = torch.randint(0, 100, (8, 16))


def tiny_bert() -> nn.Module:
    return BertForMaskedLM(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64, vocab_size=100))


def tiny_gpt2() -> nn.Module:
    return GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=100, n_positions=32,
                                      bos_token_id=0, eos_token_id=0))


def tiny_bart() -> nn.Module:
    return BartForConditionalGeneration(BartConfig(
        d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=100,
        max_position_embeddings=32, dropout=0.1, attention_dropout=0.1, activation_dropout=0.1,
    ))


def tiny_llama(attn_implementation: str | None) -> nn.Module:
    return LlamaForCausalLM(LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, vocab_size=100, attention_dropout=0.1,
        attn_implementation=attn_implementation,
    ))


class DropPath(nn.Module):
    """timm-style stochastic depth: drops whole samples of a residual branch with `drop_prob`."""

    def __init__(self, drop_prob: float) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class DropPathBlock(nn.Module):
    def __init__(self, dim: int, drop_path: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(0.1),
                                 nn.Linear(2 * dim, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.mlp(self.norm(x)))


def drop_path_model() -> nn.Module:
    return nn.Sequential(*(DropPathBlock(16, 0.1) for _ in range(3)))


def torch_transformer() -> nn.Module:
    return nn.Transformer(d_model=32, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                          dim_feedforward=64, dropout=0.1, batch_first=True)


def bart_draws_per_site(site: dd.DropoutSite) -> int:
    """BART layers reuse their float `dropout` on every residual branch: 2 in an encoder layer
    (attention, feed-forward), 3 in a decoder layer (self-, cross-attention, feed-forward)."""
    if site.group == "residual":
        return 3 if site.name.startswith("model.decoder.") else 2
    return 1


def assert_every_site_drops_at_its_scheduled_rate(
    model: nn.Module, run: Callable[[nn.Module], object],
    draws_per_site: Callable[[dd.DropoutSite], int] = lambda site: 1,
) -> list[dd.DropoutSite]:
    model.train()
    groups = {site.group for site in dd.find_dropout_sites(model)}
    scheduler = dd.DropoutScheduler(
        model, {group: dd.Linear(RATE_BY_GROUP[group], RATE_BY_GROUP[group] / 3) for group in groups},
        total_steps=10,
    )
    scheduler.step(4)
    expected: Counter[float] = Counter()
    for site in scheduler.sites:
        assert site.rate == pytest.approx(scheduler.rates[site.group]) and site.rate > 0
        expected[round(site.rate, 9)] += draws_per_site(site)
    with dd.record_dropout_masks() as draws:
        run(model)
    assert Counter(round(draw.requested_rate, 9) for draw in draws) == expected
    for draw in draws:
        assert_fraction_close(draw.dropped_fraction, draw.requested_rate, draw.numel)
    return scheduler.sites


def kinds_and_groups(sites: list[dd.DropoutSite]) -> dict[str, tuple[str, str]]:
    return {site.name: (site.kind, site.group) for site in sites}


def test_bert_keeps_dropout_modules_for_embeddings_attention_and_residuals():
    sites = assert_every_site_drops_at_its_scheduled_rate(tiny_bert(), lambda m: m(input_ids=TOKENS))
    assert kinds_and_groups(sites) == {
        "bert.embeddings.dropout": ("module", "embedding"),
        **{f"bert.encoder.layer.{i}.{name}": ("module", group) for i in range(2) for name, group in
           [("attention.self.dropout", "attention"), ("attention.output.dropout", "residual"),
            ("output.dropout", "residual")]},
    }


def test_gpt2_keeps_dropout_modules_in_every_group():
    sites = assert_every_site_drops_at_its_scheduled_rate(tiny_gpt2(), lambda m: m(input_ids=TOKENS))
    assert kinds_and_groups(sites) == {
        "transformer.drop": ("module", "embedding"),
        **{f"transformer.h.{i}.{name}": ("module", group) for i in range(2) for name, group in
           [("attn.attn_dropout", "attention"), ("attn.resid_dropout", "residual"),
            ("mlp.dropout", "mlp")]},
    }


def test_bart_float_rates_are_scheduled_in_encoder_and_decoder():
    sites = assert_every_site_drops_at_its_scheduled_rate(
        tiny_bart(), lambda m: m(input_ids=TOKENS, decoder_input_ids=TOKENS),
        draws_per_site=bart_draws_per_site,
    )
    assert {site.kind for site in sites} == {"attribute"}
    found = kinds_and_groups(sites)
    assert found["model.encoder.dropout"] == ("attribute", "embedding")
    assert found["model.decoder.layers.1.encoder_attn.dropout"] == ("attribute", "attention")
    assert found["model.encoder.layers.0.activation_dropout"] == ("attribute", "mlp")
    assert found["model.decoder.layers.0.dropout"] == ("attribute", "residual")
    assert len(sites) == 2 + 2 * 3 + 2 * 4


def test_core_groups_bart_layer_dropout_as_residual_without_rules():
    groups = {site.name: site.group for site in dd.find_dropout_sites(tiny_bart())}
    assert groups["model.encoder.layers.0.dropout"] == "residual"


@pytest.mark.parametrize("attn_implementation", [None, "eager", "sdpa"])
def test_llama_attention_dropout_float_is_applied_in_training(attn_implementation):
    model = tiny_llama(attn_implementation)
    sites = assert_every_site_drops_at_its_scheduled_rate(model, lambda m: m(input_ids=TOKENS))
    assert model.config._attn_implementation == (attn_implementation or "sdpa")
    assert kinds_and_groups(sites) == {
        f"model.layers.{i}.self_attn.attention_dropout": ("attribute", "attention") for i in range(2)
    }
    model.eval()
    with dd.record_dropout_masks() as draws:
        model(input_ids=TOKENS)
    assert draws == []


def test_torch_transformer_schedules_attention_floats_and_dropout_modules():
    sites = assert_every_site_drops_at_its_scheduled_rate(
        torch_transformer(), lambda m: m(torch.randn(8, 12, 32), torch.randn(8, 10, 32))
    )
    assert Counter((site.kind, site.group) for site in sites) == {
        ("mha", "attention"): 2 + 2 * 2, ("module", "mlp"): 4, ("module", "residual"): 2 * 2 + 2 * 3,
    }


def test_timm_style_drop_path_is_scheduled_with_its_drop_prob():
    sites = assert_every_site_drops_at_its_scheduled_rate(
        drop_path_model(), lambda m: m(torch.randn(1024, 4, 16))
    )
    assert Counter((site.kind, site.group) for site in sites) == {
        ("drop_path", "path"): 3, ("module", "mlp"): 3,
    }


def test_real_timm_vision_transformer_drop_path_is_scheduled():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=10,
                              drop_rate=0.1, attn_drop_rate=0.1, proj_drop_rate=0.1,
                              drop_path_rate=0.1)
    sites = dd.find_dropout_sites(model)
    assert {site.group for site in sites if site.kind == "drop_path"} == {"path"}
    model.train()
    scheduler = dd.DropoutScheduler(model, {"path": 0.35, "default": 0.15}, total_steps=10)
    with dd.record_dropout_masks() as draws:
        model(torch.randn(64, 3, 32, 32))
    assert {round(draw.requested_rate, 9) for draw in draws} <= {0.35, 0.15}
    assert any(round(draw.requested_rate, 9) == 0.35 for draw in draws)
    assert scheduler.rates["path"] == 0.35
