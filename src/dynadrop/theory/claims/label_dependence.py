"""Claim 4: for ReLU networks the dropout penalty depends on the labels and can be negative.

penalty = E_mask f^2 - f^2 - 2 y (E_mask f - f). A linear network has E_mask f = f (inverted
dropout), so its penalty is label-free and >= 0. The max-like ReLU net of claim 1 at x = (1, 1)
has f = 2q and E_mask f = 2q(2 - q), so its penalty is 4q(1-q)(2 - y): zero at the label it was
built for, negative above it. The linear net x1 + x2 has penalty 2(1-q)/q for every label.
"""

from __future__ import annotations

import numpy as np
import torch

from dynadrop.theory.claims.common import ClaimResult, new_figure
from dynadrop.theory.claims.negative_weights import X, max_like_network
from dynadrop.theory.criterion import dropout_penalty
from dynadrop.theory.table import Table


def label_dependence(
    p: float = 0.3, shifts: tuple[float, ...] = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
) -> ClaimResult:
    """Exact input-dropout penalty of a fixed ReLU net and of a linear net as the label
    y = 2 + shift moves, next to their closed forms."""
    q = 1 - p
    relu_network = max_like_network(q)
    linear_network = [torch.ones((1, 2), dtype=torch.float64)]
    table = Table(
        f"Input-dropout penalty at x = (1, 1), p = {p}, label y = 2 + shift",
        ["shift", "y", "ReLU net penalty", "4q(1-q)(2-y)", "linear net penalty", "2(1-q)/q"],
        [".2f", ".2f", ".10f", ".10f", ".10f", ".10f"],
    )
    for shift in shifts:
        label = 2.0 + shift
        table.add(
            shift,
            label,
            dropout_penalty(relu_network, X, [label], p, where="inputs").value,
            4 * q * (1 - q) * (2 - label),
            dropout_penalty(linear_network, X, [label], p, where="inputs").value,
            2 * (1 - q) / q,
        )
    relu_penalties = np.array(table.column("ReLU net penalty"))
    finding = (
        f"As the label moves from {2 + shifts[0]:g} to {2 + shifts[-1]:g} the ReLU net's penalty "
        f"goes from {relu_penalties[0]:.4g} to {relu_penalties[-1]:.4g} (negative for y > 2), "
        f"while the linear net's stays at {table.rows[0][4]:.4g}: dropout's regulariser depends "
        "on the labels once units can switch off."
    )
    figure, (axes,) = new_figure(1)
    axes.plot(table.column("y"), relu_penalties, "o-", label="ReLU net [relu(x1-x2), relu(x2)]")
    axes.plot(table.column("y"), table.column("linear net penalty"), "s-", label="linear net x1+x2")
    axes.axhline(0.0, color="gray", linewidth=0.8)
    axes.set(xlabel="label y", ylabel="dropout penalty J_D - J", title=f"x = (1, 1), p = {p}")
    axes.legend()
    return ClaimResult(
        "label-dependence",
        "Claim 4: label-dependent, possibly negative penalty",
        finding,
        [table],
        figure,
    )
