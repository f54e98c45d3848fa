"""Claim 3: the dropout criterion ignores three re-scalings that change weight decay.

Exactly, for every mask: scaling input feature i by s != 0 and first-layer column i by 1/s;
scaling labels and output weights by c (J_D times c^2); scaling a hidden unit's incoming weights
by t > 0 and its outgoing weights by 1/t. The last gives every minimiser a curve of equal J_D,
so dropout has no isolated minima.
"""

from __future__ import annotations

import numpy as np
import torch

from dynadrop.theory.claims.common import ClaimResult, new_figure
from dynadrop.theory.claims.training import random_weights, unbatch
from dynadrop.theory.criterion import dropout_criterion, plain_loss, weight_decay_penalty
from dynadrop.theory.networks import Weights
from dynadrop.theory.table import Table


def scale_input(weights: Weights, X: torch.Tensor, feature: int, factor: float):
    """Input feature ``feature`` times ``factor``, first-layer column times 1/``factor``."""
    scaled_X = X.clone()
    scaled_X[:, feature] *= factor
    first = weights[0].clone()
    first[:, feature] /= factor
    return [first, *weights[1:]], scaled_X


def scale_output(weights: Weights, y: torch.Tensor, factor: float):
    """Labels and output weights times ``factor``."""
    return [*weights[:-1], weights[-1] * factor], y * factor


def scale_unit(weights: Weights, layer: int, unit: int, factor: float) -> Weights:
    """Hidden unit ``unit`` of hidden layer ``layer`` (1-based): incoming weights times
    ``factor`` > 0, outgoing weights times 1/``factor``; relu(t z) = t relu(z) keeps f fixed."""
    scaled = [matrix.clone() for matrix in weights]
    scaled[layer - 1][unit, :] *= factor
    scaled[layer][:, unit] /= factor
    return scaled


def invariance(
    p: float = 0.3,
    weight_decay: float = 0.1,
    widths: tuple[int, ...] = (3, 4, 3, 1),
    examples: int = 10,
    seed: int = 0,
) -> ClaimResult:
    """Exact J_D and the weight-decay criterion before and after each re-scaling of a random
    network, and along a node-rescaling curve."""
    (weights,) = unbatch(random_weights(list(widths), 1, seed))
    generator = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(examples, widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(examples, widths[-1], generator=generator, dtype=torch.float64)

    def criteria(network: Weights, inputs, labels) -> tuple[float, float]:
        dropout = dropout_criterion(network, inputs, labels, p, method="exact").value
        decay = plain_loss(network, inputs, labels).value
        return dropout, decay + weight_decay_penalty(network, weight_decay).value

    label_factor, input_factor, unit_factor = 3.0, -2.5, 4.0
    input_network, scaled_X = scale_input(weights, X, 0, input_factor)
    output_network, scaled_y = scale_output(weights, y, label_factor)
    transformed = {
        f"input 0 x {input_factor}, column 0 / {input_factor}": (input_network, scaled_X, y, 1.0),
        f"labels, output weights x {label_factor}": (
            output_network,
            X,
            scaled_y,
            label_factor**2,
        ),
        f"hidden unit (1, 2): in x {unit_factor}, out / {unit_factor}": (
            scale_unit(weights, 1, 2, unit_factor),
            X,
            y,
            1.0,
        ),
    }
    dropout_before, decay_before = criteria(weights, X, y)
    table = Table(
        f"Random {'-'.join(map(str, widths))} ReLU net, {examples} examples, exact J_D at "
        f"p = {p}; weight-decay criterion J + {weight_decay}||w||^2",
        [
            "re-scaling",
            "J_D after / before",
            "expected",
            "|difference|",
            "L2 criterion before",
            "L2 criterion after",
        ],
        ["s", ".12f", ".12g", ".1e", ".6f", ".6f"],
    )
    for label, (network, inputs, labels, expected) in transformed.items():
        dropout_after, decay_after = criteria(network, inputs, labels)
        ratio = dropout_after / dropout_before
        table.add(label, ratio, expected, abs(ratio - expected), decay_before, decay_after)

    factors = np.geomspace(0.1, 10.0, 41)
    walk = np.array([criteria(scale_unit(weights, 1, 2, t), X, y) for t in factors])
    spread = float(np.max(np.abs(walk[:, 0] / dropout_before - 1)))
    walk_table = Table(
        "Walk along the node-rescaling curve of hidden unit (1, 2), t in [0.1, 10]",
        ["quantity", "min", "max", "max relative change"],
        ["s", ".10g", ".10g", ".1e"],
    )
    walk_table.add("J_D", walk[:, 0].min(), walk[:, 0].max(), spread)
    walk_table.add(
        "L2 criterion",
        walk[:, 1].min(),
        walk[:, 1].max(),
        float(walk[:, 1].max() / walk[:, 1].min() - 1),
    )
    finding = (
        f"Each re-scaling leaves J_D unchanged (labels: times c^2 = {label_factor**2:g}) to "
        f"{max(table.column('|difference|')):.1e}, while the weight-decay criterion moves. Along "
        f"the whole node-rescaling curve J_D varies by at most {spread:.1e} (relative) while "
        "weight decay has a single best point: dropout's minima are never isolated."
    )
    figure, (axes,) = new_figure(1)
    axes.semilogx(factors, walk[:, 0], label="dropout criterion J_D")
    axes.semilogx(factors, walk[:, 1], label=f"J + {weight_decay}||w||^2")
    axes.set(
        xlabel="node scale t (in x t, out / t)",
        ylabel="criterion",
        title="walk along a node-rescaling curve",
    )
    axes.legend()
    return ClaimResult(
        "invariance", "Claim 3: insensitivity to re-scaling", finding, [table, walk_table], figure
    )
