"""Claim 1: dropout's optimum uses negative weights although the target is x1 + x2.

One example x = (1, 1), y = 2, dropout on the inputs. With all weights >= 0 every ReLU is active,
so the net is linear in the dropped inputs and J_D >= 4(1-q)/(1+q). The max-like net
[relu(x1 - x2), relu(x2)] with output weights [2q, 2q] fits every pattern except "both dropped"
and reaches the best possible J_D = 4(1-q)^2.
"""

from __future__ import annotations

import numpy as np
import torch

from dynadrop.theory.claims.common import ClaimResult, new_figure
from dynadrop.theory.claims.training import random_weights, train, unbatch
from dynadrop.theory.criterion import dropout_criterion
from dynadrop.theory.exact import mask_block
from dynadrop.theory.networks import Weights, forward
from dynadrop.theory.table import Table

X = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
Y = torch.tensor([[2.0]], dtype=torch.float64)
NEGATIVE = -0.01
"""A trained weight below this counts as negative (weight decay leaves dead units at ~1e-3)."""


def max_like_network(keep: float) -> Weights:
    """hidden = [relu(x1 - x2), relu(x2)], output 2q * (h1 + h2): the optimal dropout network."""
    first = torch.tensor([[1.0, -1.0], [0.0, 1.0]], dtype=torch.float64)
    return [first, torch.full((1, 2), 2.0 * keep, dtype=torch.float64)]


def best_non_negative_network(keep: float) -> Weights:
    """Identity hidden layer and the input-dropout ridge solution as output weights.

    The ridge minimiser (X'X + (1-q)/q diag(X'X))^-1 X'y is non-negative here, so it is also
    the best network with non-negative weights (those are linear in the dropped inputs)."""
    gram = (X.T @ X).numpy()
    ridge = np.linalg.solve(gram + (1 - keep) / keep * np.diag(np.diag(gram)), (X.T @ Y).numpy())
    return [torch.eye(2, dtype=torch.float64), torch.tensor(ridge.T)]


def negative_weights(
    drop_probabilities: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9),
    train_p: float = 0.5,
    seeds: int = 20,
    steps: int = 2000,
    width: int = 4,
    weight_decay: float = 0.05,
) -> ClaimResult:
    """Exact optimum vs best non-negative net across q, and what training from random
    initialisations finds with the dropout criterion and with weight decay."""
    optimum = Table(
        "Exact dropout criterion at x = (1, 1), y = 2 (input dropout)",
        ["p", "q", "J_D max-like net", "4(1-q)^2", "J_D best >= 0 net", "4(1-q)/(1+q)"],
        [".2f", ".2f", ".10f", ".10f", ".10f", ".10f"],
    )
    for p in drop_probabilities:
        q = 1 - p
        optimum.add(
            p,
            q,
            dropout_criterion(max_like_network(q), X, Y, p, where="inputs").value,
            4 * (1 - q) ** 2,
            dropout_criterion(best_non_negative_network(q), X, Y, p, where="inputs").value,
            4 * (1 - q) / (1 + q),
        )

    q = 1 - train_p
    masks, probability = mask_block(2, 0, 4, q, 1 / q)
    masked_inputs = X * masks[:, None, :]

    def dropout_objective(weights: Weights) -> torch.Tensor:
        squared_error = ((forward(weights, masked_inputs) - Y) ** 2).sum(-1).mean(-1)
        return (probability * squared_error).sum()

    def decay_objective(weights: Weights) -> torch.Tensor:
        plain = ((forward(weights, X) - Y) ** 2).sum()
        return plain + weight_decay * sum((matrix**2).sum() for matrix in weights)

    initial = random_weights([2, width, 1], seeds)
    best, bound = 4 * (1 - q) ** 2, 4 * (1 - q) / (1 + q)
    training = Table(
        f"Training a 2-{width}-1 ReLU net from {seeds} random initialisations "
        f"({steps} Adam steps; J_D at p = {train_p}; best {best:.4f}, best >= 0 {bound:.4f})",
        [
            "trained on",
            "mean J_D",
            "J_D < best >= 0",
            "J_D = best",
            "has weight < -0.01",
            "median min weight",
        ],
        ["s", ".4f", "s", "s", "s", ".4f"],
    )
    outcomes = {}
    for label, objective in (
        (f"dropout criterion (p = {train_p})", dropout_objective),
        (f"weight decay (lambda = {weight_decay})", decay_objective),
    ):
        networks = unbatch(train(initial, objective, steps, learning_rate=0.05))
        criteria = np.array([dropout_criterion(net, X, Y, train_p, where="inputs").value for net in networks])
        minima = np.array([min(float(matrix.min()) for matrix in net) for net in networks])
        outcomes[label] = (criteria, minima)
        training.add(
            label,
            float(criteria.mean()),
            f"{int((criteria < bound - 1e-9).sum())}/{seeds}",
            f"{int((np.abs(criteria - best) < 1e-6).sum())}/{seeds}",
            f"{int((minima < NEGATIVE).sum())}/{seeds}",
            float(np.median(minima)),
        )

    dropout_label, decay_label = list(outcomes)
    finding = (
        f"Every non-negative network has J_D >= 4(1-q)/(1+q) (here {bound:.4f} at q = {q}); the "
        f"max-like network with a -1 weight reaches 4(1-q)^2 = {best:.4f}. Trained on the dropout "
        f"criterion, {int((outcomes[dropout_label][0] < bound - 1e-9).sum())}/{seeds} runs beat "
        "every non-negative network, which needs a negative weight; trained with weight decay, "
        f"{int((outcomes[decay_label][1] < NEGATIVE).sum())}/{seeds} runs keep a weight below "
        f"{NEGATIVE}."
    )
    figure, (left, right) = new_figure(2)
    keeps = np.linspace(0.02, 1.0, 200)
    left.plot(keeps, 4 * (1 - keeps) ** 2, label="best possible 4(1-q)^2")
    left.plot(keeps, 4 * (1 - keeps) / (1 + keeps), label="best non-negative 4(1-q)/(1+q)")
    left.plot(optimum.column("q"), optimum.column("J_D max-like net"), "o", label="max-like net")
    left.plot(optimum.column("q"), optimum.column("J_D best >= 0 net"), "s", label="ridge net")
    left.set(xlabel="keep probability q", ylabel="dropout criterion J_D", title="x=(1,1), y=2")
    left.legend()
    for label, (criteria, minima) in outcomes.items():
        right.scatter(minima, criteria, label=label, alpha=0.7)
    right.axhline(best, linestyle=":", color="gray")
    right.axhline(bound, linestyle="--", color="gray")
    right.set(
        xlabel="most negative weight",
        ylabel=f"J_D at p = {train_p}",
        title="trained from random initialisations",
    )
    right.legend()
    return ClaimResult("negative-weights", "Claim 1: negative weights", finding, [optimum, training], figure)
