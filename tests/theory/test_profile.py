"""penalty_profile on real modules: agrees with the exact theory, covers scopes and sweeps."""

import pytest
import torch
from torch import nn

from dynadrop.core.sites import find_dropout_sites
from dynadrop.theory import dropout_penalty, penalty_profile


def dropout_relu_net(generator):
    model = nn.Sequential(
        nn.Dropout(0.1),
        nn.Linear(3, 5, bias=False),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(5, 1, bias=False),
    ).double()
    with torch.no_grad():
        for layer in (model[1], model[4]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))
    return model


def test_all_sites_penalty_agrees_with_exact_theory_within_four_standard_errors():
    generator = torch.Generator().manual_seed(0)
    model = dropout_relu_net(generator)
    X = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(40, 1, generator=generator, dtype=torch.float64)
    weights = [model[1].weight.detach(), model[4].weight.detach()]
    profile = penalty_profile(
        model, [(X[:20], y[:20]), (X[20:], y[20:])], [0.2, 0.5], samples=200, by_depth=False
    )
    for row in profile.select("sites", "all"):
        exact = dropout_penalty(weights, X, y, row.rate, method="exact").value
        assert row.stderr > 0
        assert abs(row.penalty - exact) < 4 * row.stderr
    rates_after = [site.rate for site in find_dropout_sites(model)]
    assert rates_after == [0.1, 0.1] and model.training


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.0))
        self.mlp = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.0))
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.norm(x + self.mlp(x + self.attn(x)))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def classification_batches():
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randn(16, 4, generator=generator), torch.randint(3, (16,), generator=generator))
        for _ in range(2)
    ]


def test_scopes_cover_all_groups_and_depths_and_rate_zero_costs_nothing():
    torch.manual_seed(0)
    model = Tiny().eval()
    running_mean = model.blocks[0].norm.running_mean.clone()
    state = torch.random.get_rng_state()
    profile = penalty_profile(model, classification_batches(), [0.0, 0.3], samples=4)
    scopes = {row.scope for row in profile.rows}
    assert scopes == {"all", "group attention", "group mlp", "depth 0", "depth 1"}
    for row in profile.rows:
        if row.rate == 0.0:
            assert row.penalty == 0.0 and row.stderr == 0.0
        else:
            assert row.stderr > 0
    assert not model.training  # eval mode restored; batch norm statistics untouched
    assert torch.equal(model.blocks[0].norm.running_mean, running_mean)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert "group attention" in str(profile)


def test_input_scale_sweep_matches_linear_closed_form():
    # Linear model, input dropout: penalty = s^2 (p/q) sum_j w_j^2 E x_j^2, free of the labels.
    generator = torch.Generator().manual_seed(2)
    model = nn.Sequential(nn.Dropout(0.0), nn.Linear(4, 1, bias=False)).double()
    X = torch.randn(64, 4, generator=generator, dtype=torch.float64)
    y = torch.randn(64, 1, generator=generator, dtype=torch.float64)
    weight = model[1].weight.detach()[0]
    p = 0.3
    profile = penalty_profile(
        model, [(X, y)], [p], input_scales=[0.5, 2.0], label_noise=[1.0], samples=400, by_depth=False
    )
    base = (p / (1 - p)) * float((weight**2 * (X**2).mean(0)).sum())
    for sweep, setting, factor in (
        ("sites", 1.0, 1.0),
        ("input scale", 0.5, 0.25),
        ("input scale", 2.0, 4.0),
        ("label noise", 1.0, 1.0),
    ):
        (row,) = [r for r in profile.select(sweep) if r.setting == setting]
        assert abs(row.penalty - factor * base) < 4 * row.stderr


def test_label_noise_on_integer_labels_changes_the_plain_loss():
    torch.manual_seed(0)
    profile = penalty_profile(
        Tiny(), classification_batches(), [0.3], groups=[], by_depth=False, label_noise=[0.0, 0.9], samples=3
    )
    clean, noisy = profile.select("label noise")
    assert clean.plain_loss == pytest.approx(profile.select("sites")[0].plain_loss)
    assert noisy.plain_loss != clean.plain_loss


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"rates": [1.0]}, ValueError, r"rate in rates must lie in \[0, 1\)"),
        ({"groups": ["residual"]}, ValueError, "group 'residual' has no dropout sites"),
        ({"groups": ["heads"]}, ValueError, "unknown group 'heads'"),
        ({"samples": 1}, ValueError, "samples must be an integer >= 2"),
        ({"label_noise": [-0.1]}, ValueError, "label_noise levels must be finite and >= 0"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    arguments = {"rates": [0.2], **kwargs}
    with pytest.raises(error, match=message):
        penalty_profile(Tiny(), classification_batches(), **arguments)


def test_models_without_sites_and_integer_inputs_are_refused():
    with pytest.raises(ValueError, match="no dropout sites"):
        penalty_profile(nn.Linear(2, 1), [(torch.ones(1, 2), torch.ones(1))], [0.1])
    model = nn.Sequential(nn.Embedding(5, 3), nn.Dropout(0.1), nn.Linear(3, 5))
    tokens = [(torch.tensor([[1, 2]]), torch.tensor([[2, 3]]))]
    with pytest.raises(ValueError, match="input_scales needs real-valued inputs"):
        penalty_profile(model, tokens, [0.1], input_scales=[2.0])
