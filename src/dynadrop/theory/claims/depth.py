"""Claim 2: the dropout penalty grows exponentially with depth, weight decay about linearly.

Uniform net (one input equal to 1, d hidden layers of width n, label c so J = 0) with dropout on
the input and every hidden layer: penalty = c^2 [(1 + (1-q)/q)(1 + (1-q)/(nq))^d - 1]. The least
weight-decay cost of a bias-free ReLU net computing c*x with L = d + 1 layers is L |c|^(2/L).
Dropout on the input alone adds c^2 (1-q)/q at every depth.
"""

from __future__ import annotations

from dynadrop.theory.claims.common import ClaimResult, chain_network, new_figure, uniform_network
from dynadrop.theory.criterion import dropout_penalty, weight_decay_penalty
from dynadrop.theory.table import Table


def uniform_penalty(depth: int, width: int, scale: float, keep: float) -> float:
    """Closed-form dropout penalty of the uniform net (one input, dropout everywhere)."""
    boost = (1 - keep) / keep
    return scale**2 * ((1 + boost) * (1 + boost / width) ** depth - 1)


def depth(
    p: float = 0.5,
    width: int = 2,
    scale: float = 2.0,
    depths: range = range(1, 21),
    max_exact_units: int = 20,
) -> ClaimResult:
    """Dropout penalty of the uniform net vs depth (exact while 1 + width*d <= max_exact_units,
    closed form beyond) against the least weight-decay cost of the same function."""
    keep = 1 - p
    table = Table(
        f"Uniform net, width {width}, label c = {scale}, p = {p}: penalty vs depth",
        [
            "hidden d",
            "layers L",
            "dropout exact",
            "dropout formula",
            "inputs-only exact",
            "c^2(1-q)/q",
            "least L2 cost",
            "L c^(2/L)",
        ],
        ["d", "d", ".10g", ".10g", ".10g", ".10g", ".10g", ".10g"],
    )
    X, y = [[1.0]], [scale]
    for d in depths:
        network = uniform_network(d, width, scale)
        exact = (
            dropout_penalty(network, X, y, p, where="all", method="exact").value
            if 1 + width * d <= max_exact_units
            else "-"
        )
        layers = d + 1
        table.add(
            d,
            layers,
            exact,
            uniform_penalty(d, width, scale, keep),
            dropout_penalty(network, X, y, p, where="inputs", method="exact").value,
            scale**2 * (1 - keep) / keep,
            weight_decay_penalty(chain_network(layers, scale), 1.0).value,
            layers * abs(scale) ** (2 / layers),
        )

    first, last = table.rows[0], table.rows[-1]
    finding = (
        f"From L = {first[1]} to L = {last[1]} layers the dropout penalty grows from "
        f"{first[3]:.4g} to {last[3]:.4g} (x{last[3] / first[3]:.3g}, a factor "
        f"{1 + (1 - keep) / (keep * width):.3g} per layer), while the least weight-decay cost of "
        f"the same function goes from {first[7]:.4g} to {last[7]:.4g}. Dropout on the input "
        f"alone stays at {first[5]:.4g} at every depth: the growth comes from dropping many layers."
    )
    figure, (axes,) = new_figure(1)
    layers_axis = table.column("layers L")
    exact_rows = [row for row in table.rows if row[2] != "-"]
    axes.semilogy(layers_axis, table.column("dropout formula"), label="dropout penalty (formula)")
    axes.semilogy(
        [row[1] for row in exact_rows],
        [row[2] for row in exact_rows],
        "o",
        label="dropout penalty (exact, every mask)",
    )
    axes.semilogy(layers_axis, table.column("inputs-only exact"), "--", label="dropout on the input only")
    axes.semilogy(layers_axis, table.column("least L2 cost"), label="least weight-decay cost")
    axes.set(
        xlabel="layers L = d + 1",
        ylabel="penalty (log scale)",
        title=f"uniform net, width {width}, p = {p}",
    )
    axes.legend()
    return ClaimResult("depth", "Claim 2: penalty vs depth", finding, [table], figure)
