"""Bias-free ReLU networks with a linear output, as the theory needs them.

A network is a list of float64 weight matrices shaped (out, in) like ``nn.Linear.weight``;
ReLU sits between consecutive matrices and the last one is the linear output. Layer index k
names the units that feed ``weights[k]``: 0 = the inputs, 1..depth = the hidden layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

Weights = list[torch.Tensor]
NetworkLike = nn.Sequential | Sequence[torch.Tensor | np.ndarray]

WHERE_NAMES = ("all", "inputs", "hidden")


def as_weights(network: NetworkLike) -> Weights:
    """Validate a network and return its weight matrices as float64 tensors.

    Accepts a list of (out, in) matrices or an ``nn.Sequential`` alternating bias-free
    ``nn.Linear`` and ``nn.ReLU`` and ending with a ``Linear``. Tensors that require grad keep
    their autograd history so the criterion can be trained on.
    """
    if isinstance(network, nn.Sequential):
        return _weights_from_sequential(network)
    if isinstance(network, nn.Module):
        raise TypeError(
            f"expected an nn.Sequential or a list of weight matrices, got {type(network).__name__}"
        )
    matrices = list(network)
    if not matrices:
        raise ValueError("a network needs at least one weight matrix; got an empty list")
    weights = []
    for index, matrix in enumerate(matrices):
        tensor = torch.as_tensor(matrix, dtype=torch.float64)
        if tensor.dim() != 2:
            raise ValueError(
                f"weights[{index}] must be a 2-D matrix shaped (out, in); got shape {tuple(tensor.shape)}"
            )
        if index > 0 and tensor.shape[1] != weights[-1].shape[0]:
            raise ValueError(
                f"weights[{index}] has shape {tuple(tensor.shape)}: its {tensor.shape[1]} inputs "
                f"do not match the {weights[-1].shape[0]} outputs of weights[{index - 1}] "
                f"(shape {tuple(weights[-1].shape)})"
            )
        if not torch.isfinite(tensor).all():
            raise ValueError(f"weights[{index}] contains NaN or infinite entries")
        weights.append(tensor)
    return weights


def _weights_from_sequential(model: nn.Sequential) -> Weights:
    modules = list(model)
    matrices = []
    for position, module in enumerate(modules):
        expect_linear = position % 2 == 0
        name = type(module).__name__
        if expect_linear and not isinstance(module, nn.Linear):
            raise ValueError(
                f"module {position} is {name}; expected nn.Linear (the network must alternate "
                "bias-free Linear and ReLU, starting and ending with Linear)"
            )
        if not expect_linear and not isinstance(module, nn.ReLU):
            raise ValueError(
                f"module {position} is {name}; expected nn.ReLU between Linear layers "
                "(only bias-free Linear and ReLU are supported)"
            )
        if isinstance(module, nn.Linear):
            if module.bias is not None:
                raise ValueError(
                    f"module {position} (Linear {module.in_features}->{module.out_features}) has "
                    "a bias; the theory covers bias-free networks: build it with bias=False"
                )
            matrices.append(module.weight.detach())
    if not modules or not isinstance(modules[-1], nn.Linear):
        raise ValueError("the network must end with an nn.Linear output layer")
    return as_weights(matrices)


def layer_widths(weights: Weights) -> list[int]:
    """Number of units in layers 0 (inputs) .. depth (last hidden layer)."""
    return [matrix.shape[1] for matrix in weights]


def dropped_layers(where: str | Sequence[int], weights: Weights) -> tuple[int, ...]:
    """Resolve ``where`` to the sorted layer indices whose units dropout acts on."""
    depth = len(weights) - 1
    allowed = f"'all', 'inputs', 'hidden' or a list of layer indices in 0..{depth} (0 = inputs)"
    if isinstance(where, str):
        if where == "all":
            return tuple(range(depth + 1))
        if where == "inputs":
            return (0,)
        if where == "hidden":
            if depth == 0:
                raise ValueError("where='hidden' selects no units: the network has no hidden layers")
            return tuple(range(1, depth + 1))
        raise ValueError(f"where must be {allowed}; got {where!r}")
    indices = list(where)
    if not indices:
        raise ValueError(f"where selects no layers; it must be {allowed}")
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ValueError(f"where must be {allowed}; got the entry {index!r}")
        if not 0 <= index <= depth:
            raise ValueError(f"where names layer {index}; it must be {allowed}")
    if len(set(indices)) != len(indices):
        raise ValueError(f"where names a layer twice: {indices}")
    return tuple(sorted(int(index) for index in indices))


def as_data(weights: Weights, X, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate inputs X (N, n_inputs) and labels y ((N,) or (N, n_outputs)); return float64.

    Labels come back shaped (N, n_outputs) so losses can sum over outputs uniformly.
    """
    inputs = torch.as_tensor(X, dtype=torch.float64)
    labels = torch.as_tensor(y, dtype=torch.float64)
    n_inputs, n_outputs = weights[0].shape[1], weights[-1].shape[0]
    if inputs.dim() != 2 or inputs.shape[0] == 0:
        raise ValueError(
            f"X must be a non-empty 2-D array (examples, inputs); got shape {tuple(inputs.shape)}"
        )
    if inputs.shape[1] != n_inputs:
        raise ValueError(
            f"X has {inputs.shape[1]} features but the first weight matrix expects {n_inputs} "
            f"(shape out x in = {tuple(weights[0].shape)})"
        )
    if labels.dim() == 1 and n_outputs == 1:
        labels = labels[:, None]
    if labels.dim() != 2 or labels.shape[1] != n_outputs:
        expected = "(N,) or (N, 1)" if n_outputs == 1 else f"(N, {n_outputs})"
        raise ValueError(
            f"y has shape {tuple(labels.shape)}; the network has {n_outputs} output(s), "
            f"so y must be shaped {expected}"
        )
    if labels.shape[0] != inputs.shape[0]:
        raise ValueError(f"y has {labels.shape[0]} rows but X has {inputs.shape[0]}")
    if not (torch.isfinite(inputs).all() and torch.isfinite(labels).all()):
        raise ValueError("X and y must be finite (no NaN or infinite entries)")
    return inputs, labels


def forward(weights: Weights, X: torch.Tensor) -> torch.Tensor:
    """Network output without dropout: (..., N, n_inputs) -> (..., N, n_outputs).

    Weight matrices may carry leading batch dimensions (..., out, in) that broadcast with
    the inputs', which trains many networks at once.
    """
    activations = X
    for matrix in weights[:-1]:
        activations = torch.relu(activations @ matrix.mT)
    return activations @ weights[-1].mT
