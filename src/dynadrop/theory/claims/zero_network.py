"""Claim 5: weight decay zeroes a deep net at a finite strength; dropout only shrinks it.

Data x > 0 with s = E x^2 and r = E xy > 0. A depth-L ReLU chain computing a*x costs at least
L a^(2/L) in squared weights, so the zero network is optimal for J + lam ||w||^2 exactly when
lam >= lam*(L) = sup_a (2ra - s a^2) / (L a^(2/L))
          = (r^2/s) (s/r)^(2/L) ((L-2)/(L-1))^((L-2)/L) / (L-1)            (L >= 2),
which falls about like 1/L. Under dropout (input and every hidden layer, uniform net of width n)
the best output scale is a* = r / (s (1/q)(1 + (1-q)/(nq))^(L-1)) > 0 at every depth: shrunk,
never zero, and min J_D = E y^2 - r a* < J(0).
"""

from __future__ import annotations

import torch
from scipy.optimize import minimize_scalar

from dynadrop.theory.claims.common import ClaimResult, chain_network, new_figure, uniform_network
from dynadrop.theory.criterion import dropout_criterion, plain_loss, weight_decay_penalty
from dynadrop.theory.table import Table

INPUTS = (0.5, 1.0, 1.5, 2.0)
LABELS = (0.6, 0.9, 1.6, 1.9)


def zero_threshold_formula(layers: int, second_moment: float, correlation: float) -> float:
    """lam*(L): the least weight-decay strength at which the zero network is optimal."""
    s, r = second_moment, correlation
    shrink = (layers - 2) / (layers - 1)
    return (r**2 / s) * (s / r) ** (2 / layers) * shrink ** ((layers - 2) / layers) / (layers - 1)


def zero_threshold_numeric(layers: int, X, y) -> float:
    """sup over slopes a of (J(0) - J(chain_a)) / ||chain_a||^2, evaluated with the library's
    plain loss and weight-decay penalty on balanced chains, maximised numerically."""
    zero_loss = plain_loss(chain_network(layers, 0.0), X, y).value

    def negative_ratio(slope: float) -> float:
        chain = chain_network(layers, slope)
        gain = zero_loss - plain_loss(chain, X, y).value
        return -gain / weight_decay_penalty(chain, 1.0).value

    upper = 2 * float((X * y).sum() / (X**2).sum())
    result = minimize_scalar(
        negative_ratio, bounds=(1e-12, upper), method="bounded", options={"xatol": 1e-12}
    )
    return -float(result.fun)


def zero_network(p: float = 0.5, width: int = 2, layer_counts: range = range(3, 11)) -> ClaimResult:
    """Weight-decay strength that makes the zero net optimal vs depth, against dropout's optimal
    (shrunk, non-zero) output scale of the uniform net.

    Depths start at 3: at L = 2 the supremum lam* = r is reached only as a -> 0, where the
    numeric ratio is all cancellation; at L = 1 (ridge) the zero net is never optimal."""
    X = torch.tensor(INPUTS, dtype=torch.float64)[:, None]
    y = torch.tensor(LABELS, dtype=torch.float64)[:, None]
    s, r = float((X**2).mean()), float((X * y).mean())
    keep = 1 - p
    zero_loss = float((y**2).mean())
    table = Table(
        f"x = {INPUTS}, y = {LABELS} (E x^2 = {s:.4g}, E xy = {r:.4g}); dropout p = {p} on the "
        f"input and every hidden layer of a width-{width} uniform net",
        [
            "layers L",
            "lam* numeric",
            "lam* formula",
            "dropout a* exact",
            "a* formula",
            "min J_D",
            "J(zero net)",
        ],
        ["d", ".10g", ".10g", ".10g", ".10g", ".6f", ".6f"],
    )
    for layers in layer_counts:
        network = uniform_network(layers - 1, width, 1.0)
        # J_D(a) = A a^2 - 2 B a + E y^2 for output scale a; two exact evaluations give A, B.
        plus = dropout_criterion(network, X, y, p, method="exact").value
        negated = [*network[:-1], -network[-1]]
        minus = dropout_criterion(negated, X, y, p, method="exact").value
        quadratic, linear = (plus + minus) / 2 - zero_loss, (minus - plus) / 4
        boost = (1 - keep) / keep
        table.add(
            layers,
            zero_threshold_numeric(layers, X, y),
            zero_threshold_formula(layers, s, r),
            linear / quadratic,
            r / (s * (1 + boost) * (1 + boost / width) ** (layers - 1)),
            zero_loss - linear**2 / quadratic,
            zero_loss,
        )
    thresholds, scales = table.column("lam* formula"), table.column("a* formula")
    finding = (
        f"The weight-decay strength that makes the all-zero network optimal falls from "
        f"{thresholds[0]:.4g} at L = {layer_counts[0]} to {thresholds[-1]:.4g} at "
        f"L = {layer_counts[-1]} (at L = 2 it is E xy = {r:.4g}; at L = 1 it does not exist). "
        f"Dropout's best output scale shrinks from {scales[0]:.4g} to "
        f"{scales[-1]:.4g} but stays positive, and min J_D stays below J(zero net) = "
        f"{zero_loss:.4g} at every depth: dropout never makes the zero network optimal."
    )
    figure, (left, right) = new_figure(2)
    left.semilogy(table.column("layers L"), thresholds, "o-")
    left.set(
        xlabel="layers L",
        ylabel="lam* (zero net optimal for lam >= lam*)",
        title="weight decay: finite threshold",
    )
    right.semilogy(table.column("layers L"), scales, "o-")
    right.set(
        xlabel="layers L",
        ylabel="dropout-optimal output scale a*",
        title=f"dropout (p = {p}): shrinks, never zero",
    )
    return ClaimResult("zero-network", "Claim 5: when the zero network is optimal", finding, [table], figure)
