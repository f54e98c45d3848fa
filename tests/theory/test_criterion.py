"""Dropout criterion against closed forms, Monte Carlo against exact, and the public results."""

import numpy as np
import pytest
import torch
from torch import nn

from dynadrop.theory import (
    dropout_criterion,
    dropout_penalty,
    plain_loss,
    weight_decay_penalty,
)
from dynadrop.theory.exact import exact_expected_loss


def random_network(generator, widths, non_negative=False):
    weights = [
        torch.randn(n_out, n_in, generator=generator, dtype=torch.float64)
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
    ]
    return [matrix.abs() for matrix in weights] if non_negative else weights


def second_moment_criterion(weights, X, y, keep, dropped):
    """Deep linear net: propagate E[h h^T] through the layers (reference closed form)."""
    boost = (1 - keep) / keep
    total = 0.0
    for x, label in zip(X, y, strict=True):
        moment = np.outer(x, x)
        mean = x
        for layer, matrix in enumerate(weights):
            if layer in dropped:
                moment = moment + boost * np.diag(np.diag(moment))
            moment = matrix @ moment @ matrix.T
            mean = matrix @ mean
        total += np.trace(moment) - 2 * label @ mean + label @ label
    return total / len(X)


@pytest.mark.parametrize(
    ("widths", "dropped", "where"),
    [
        ([3, 4, 2], (0, 1), "all"),
        ([2, 3, 3, 1], (1, 2), "hidden"),
        ([4, 2, 3, 2], (0, 2), [0, 2]),
        ([3, 1], (0,), "inputs"),
    ],
)
def test_exact_matches_deep_linear_second_moment_recursion(widths, dropped, where):
    # Non-negative weights and inputs keep every ReLU active under every mask: a linear net.
    generator = torch.Generator().manual_seed(len(widths) + sum(widths))
    weights = random_network(generator, widths, non_negative=True)
    X = torch.rand(5, widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(5, widths[-1], generator=generator, dtype=torch.float64)
    keep = 0.65
    exact = dropout_criterion(weights, X, y, 1 - keep, where=where, method="exact")
    reference = second_moment_criterion([w.numpy() for w in weights], X.numpy(), y.numpy(), keep, dropped)
    assert exact.value == pytest.approx(reference, rel=1e-10, abs=1e-10)
    assert exact.stderr == 0.0


def test_exact_matches_linear_regression_closed_forms():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 6))
    y = rng.normal(size=30)
    w = rng.normal(size=6)
    p = 0.3
    keep = 1 - p
    residual = np.mean((X @ w - y) ** 2)
    inverted = residual + (p / keep) * w @ np.diag(np.mean(X**2, axis=0)) @ w
    non_inverted = np.mean((y - keep * X @ w) ** 2 + keep * p * (X**2) @ (w**2))
    weights = [w[None, :]]
    assert dropout_criterion(weights, X, y, p, method="exact").value == pytest.approx(inverted, rel=1e-10)
    assert dropout_criterion(weights, X, y, p, method="exact", inverted=False).value == pytest.approx(
        non_inverted, rel=1e-10
    )


def test_linear_regression_minimiser_is_stationary_for_exact_criterion():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(size=40)
    p = 0.4
    gram = X.T @ X
    minimiser = np.linalg.solve(gram + (p / (1 - p)) * np.diag(np.diag(gram)), X.T @ y)
    weights = torch.tensor(minimiser[None, :], requires_grad=True)

    loss = exact_expected_loss([weights], torch.tensor(X), torch.tensor(y[:, None]), 1 - p, (0,), 1 / (1 - p))
    loss.backward()
    assert weights.grad.abs().max().item() < 1e-10


def test_hidden_dropout_matches_one_hidden_layer_linear_formula():
    # Mianjy, Arora, Vidal 2018: J_D = J + (1-q)/q * sum_i ||u_i||^2 v_i^T E[x x^T] v_i.
    generator = torch.Generator().manual_seed(3)
    V, U = random_network(generator, [3, 4, 2], non_negative=True)
    X = torch.rand(7, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(7, 2, generator=generator, dtype=torch.float64)
    p = 0.25
    covariance = X.T @ X / len(X)
    extra = sum((U[:, i] @ U[:, i]) * (V[i] @ covariance @ V[i]) for i in range(V.shape[0])) * (p / (1 - p))
    expected = plain_loss([V, U], X, y).value + float(extra)
    assert dropout_criterion([V, U], X, y, p, where="hidden").value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("case", range(4))
def test_monte_carlo_agrees_with_exact_within_four_standard_errors(case):
    generator = torch.Generator().manual_seed(100 + case)
    widths = [[3, 5, 1], [4, 3, 3, 2], [2, 6, 1], [5, 4, 1]][case]
    weights = random_network(generator, widths)
    X = torch.randn(12, widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(12, widths[-1], generator=generator, dtype=torch.float64)
    p = [0.1, 0.3, 0.5, 0.7][case]
    exact = dropout_criterion(weights, X, y, p, method="exact")
    sampled = dropout_criterion(weights, X, y, p, method="mc", samples=4000, seed=case)
    assert sampled.stderr > 0
    assert abs(sampled.value - exact.value) < 4 * sampled.stderr


def test_monte_carlo_standard_error_matches_spread_of_repeated_estimates():
    generator = torch.Generator().manual_seed(7)
    weights = random_network(generator, [3, 4, 1])
    X = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(6, generator=generator, dtype=torch.float64)
    estimates = [
        dropout_criterion(weights, X, y, 0.4, method="mc", samples=500, seed=seed) for seed in range(40)
    ]
    spread = np.std([e.value for e in estimates], ddof=1)
    reported = np.mean([e.stderr for e in estimates])
    # The sample sd of 40 estimates is within ~25% of the truth with high probability.
    assert 0.7 < spread / reported < 1.4


def test_monte_carlo_is_reproducible_with_a_seed():
    weights = [np.ones((2, 2)), np.ones((1, 2))]
    X, y = np.ones((3, 2)), np.zeros(3)
    first = dropout_criterion(weights, X, y, 0.5, method="mc", samples=100, seed=5)
    second = dropout_criterion(weights, X, y, 0.5, method="mc", samples=100, seed=5)
    assert first == second


def test_non_inverted_equals_inverted_at_keep_scaled_weights():
    generator = torch.Generator().manual_seed(9)
    weights = random_network(generator, [3, 4, 3, 1])
    X = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(8, generator=generator, dtype=torch.float64)
    p, dropped = 0.35, [0, 2]
    scaled = [w * (1 - p) if layer in dropped else w for layer, w in enumerate(weights)]
    non_inverted = dropout_criterion(weights, X, y, p, where=dropped, inverted=False)
    inverted = dropout_criterion(scaled, X, y, p, where=dropped)
    assert non_inverted.value == pytest.approx(inverted.value, rel=1e-12)


def test_zero_drop_probability_gives_plain_loss_and_zero_penalty():
    generator = torch.Generator().manual_seed(11)
    weights = random_network(generator, [3, 4, 2])
    X = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    plain = plain_loss(weights, X, y).value
    manual = float(((torch.relu(X @ weights[0].T) @ weights[1].T - y) ** 2).sum(1).mean())
    assert plain == pytest.approx(manual, rel=1e-14)
    assert dropout_criterion(weights, X, y, 0.0).value == pytest.approx(plain, rel=1e-12)
    assert dropout_penalty(weights, X, y, 0.0).value == pytest.approx(0.0, abs=1e-12)


def test_penalty_is_criterion_minus_plain_loss_with_the_criterion_stderr():
    generator = torch.Generator().manual_seed(12)
    weights = random_network(generator, [2, 3, 1])
    X = torch.randn(4, 2, generator=generator, dtype=torch.float64)
    y = torch.randn(4, generator=generator, dtype=torch.float64)
    for method in ("exact", "mc"):
        criterion = dropout_criterion(weights, X, y, 0.2, method=method, seed=0)
        penalty = dropout_penalty(weights, X, y, 0.2, method=method, seed=0)
        assert penalty.value == pytest.approx(criterion.value - plain_loss(weights, X, y).value, rel=1e-12)
        assert penalty.stderr == criterion.stderr
        assert penalty.method == method


def test_auto_enumerates_small_networks_and_samples_large_ones():
    small = dropout_criterion([np.ones((1, 3))], np.ones((2, 3)), np.ones(2), 0.5)
    assert (small.method, small.draws) == ("exact", 8)
    wide = [np.ones((1, 30))]
    large = dropout_criterion(wide, np.ones((2, 30)), np.ones(2), 0.5, samples=50, seed=0)
    assert (large.method, large.draws) == ("mc", 50)


def test_sequential_and_weight_list_give_the_same_results():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False)).double()
    weights = [model[0].weight.detach().clone(), model[2].weight.detach().clone()]
    X = torch.randn(6, 3, dtype=torch.float64)
    y = torch.randn(6, dtype=torch.float64)
    with torch.no_grad():
        assert plain_loss(model, X, y).value == pytest.approx(
            float(((model(X).squeeze(1) - y) ** 2).mean()), rel=1e-12
        )
    assert dropout_criterion(model, X, y, 0.3) == dropout_criterion(weights, X, y, 0.3)


def test_weight_decay_penalty_is_lambda_times_squared_norm():
    weights = [np.array([[1.0, -2.0]]), np.array([[3.0]])]
    assert weight_decay_penalty(weights, 0.5).value == pytest.approx(0.5 * (1 + 4 + 9))


def test_results_print_readably():
    # f = (m1 + m2) / q with q = 1/2 takes 0, 2, 2, 4: squared errors to 1 average to 3.
    weights = [np.ones((1, 2))]
    X, y = np.ones((1, 2)), np.array([1.0])
    assert str(dropout_criterion(weights, X, y, 0.5, method="exact")) == "3 (exact, 4 masks)"
    sampled = str(dropout_criterion(weights, X, y, 0.5, method="mc", samples=64, seed=0))
    assert "±" in sampled and "Monte Carlo, 64 samples" in sampled
    assert float(plain_loss(weights, X, y)) == 1.0
