"""Finding dropout sites: every kind, groups, depths, wrappers, and never clobbering modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dynadrop as dd
from tests.core.tiny_models import LSTMTagger, TinyGPT, encoder


def by_name(model: nn.Module) -> dict[str, dd.DropoutSite]:
    return {site.name: site for site in dd.find_dropout_sites(model)}


def test_nanogpt_style_sites_include_the_float_that_feeds_sdpa():
    sites = by_name(TinyGPT(p=0.1))
    assert {name: (s.kind, s.group, s.depth) for name, s in sites.items()} == {
        "transformer.drop": ("module", "embedding", None),
        "transformer.h.0.attn.resid_dropout": ("module", "residual", 0),
        "transformer.h.0.attn.dropout": ("attribute", "attention", 0),
        "transformer.h.0.mlp_dropout": ("module", "mlp", 0),
        "transformer.h.1.attn.resid_dropout": ("module", "residual", 1),
        "transformer.h.1.attn.dropout": ("attribute", "attention", 1),
        "transformer.h.1.mlp_dropout": ("module", "mlp", 1),
    }
    assert all(s.rate == pytest.approx(0.1) for s in sites.values())


def test_torch_transformer_and_lstm_sites():
    sites = by_name(encoder(0.1))
    assert sites["layers.0.self_attn.dropout"].kind == "mha"
    assert sites["layers.0.self_attn.dropout"].group == "attention"
    assert sites["layers.1.dropout"].group == "mlp"
    assert sites["layers.1.dropout1"].group == "residual"
    assert len(sites) == 8
    lstm = by_name(LSTMTagger(0.2))
    assert (lstm["lstm.dropout"].kind, lstm["embed_dropout"].group) == ("rnn", "embedding")


class DropPath(nn.Module):
    def __init__(self, drop_prob: float) -> None:
        super().__init__()
        self.drop_prob = drop_prob


class Mixed(nn.Module):
    """`dropout` is a Module here and a float in the child: neither may be clobbered."""

    def __init__(self) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.1)
        self.child = nn.Linear(2, 2)
        self.child.attention_dropout = 0.2
        self.identity_dropout = nn.Identity()
        self.path = DropPath(0.05)
        self.use_dropout = True  # a bool is not a rate
        self.num_dropout = 3  # neither is a count


def test_modules_are_never_overwritten_with_floats():
    model = Mixed()
    sites = by_name(model)
    assert set(sites) == {"dropout", "child.attention_dropout", "path.drop_prob"}
    assert sites["path.drop_prob"].kind == "drop_path"
    assert sites["path.drop_prob"].group == "path"
    for site in sites.values():
        site.set_rate(0.3)
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.3
    assert model.child.attention_dropout == 0.3 and model.path.drop_prob == 0.3
    assert isinstance(model.identity_dropout, nn.Identity)


def test_group_rules_override_the_defaults():
    sites = dd.find_dropout_sites(TinyGPT(), group_rules={r"mlp_dropout": "residual"})
    groups = {s.name: s.group for s in sites}
    assert groups["transformer.h.0.mlp_dropout"] == "residual"
    with pytest.raises(ValueError, match="'feedforward'"):
        dd.find_dropout_sites(TinyGPT(), group_rules={"mlp": "feedforward"})


def test_sites_are_found_through_compile_and_ddp_wrappers(tmp_path):
    model = TinyGPT()
    names = list(by_name(model))
    assert list(by_name(torch.compile(model))) == names
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        wrapped = nn.parallel.DistributedDataParallel(model)
        assert list(by_name(wrapped)) == names
        assert list(by_name(torch.compile(wrapped))) == names
    finally:
        torch.distributed.destroy_process_group()


def test_set_rate_rejects_bad_values_naming_site_and_value():
    site = by_name(TinyGPT())["transformer.h.0.mlp_dropout"]
    with pytest.raises(ValueError, match=r"transformer\.h\.0\.mlp_dropout.*1\.5"):
        site.set_rate(1.5)


def test_sites_table_lists_every_site():
    table = dd.sites_table(dd.find_dropout_sites(TinyGPT()))
    assert "transformer.h.1.attn.dropout" in table and "attribute" in table
    assert table.splitlines()[-1] == "7 site(s)"


def test_non_module_is_rejected():
    with pytest.raises(TypeError, match="dict"):
        dd.find_dropout_sites({"not": "a model"})


class FloatResidualLayer(nn.Module):
    """BART-style layer: a plain float `dropout` applied on the residual branches."""

    def __init__(self) -> None:
        super().__init__()
        self.self_attn = nn.Linear(4, 4)
        self.fc1 = nn.Linear(4, 4)
        self.dropout = 0.1


def test_float_dropout_in_a_block_with_attention_is_residual():
    layers = nn.ModuleList([FloatResidualLayer(), FloatResidualLayer()])
    assert {(s.name, s.group) for s in dd.find_dropout_sites(layers)} == {
        ("0.dropout", "residual"), ("1.dropout", "residual")}
