"""Monte Carlo dropout criterion: sample masks, report the mean and its standard error."""

from __future__ import annotations

import math

import torch

from dynadrop.theory.exact import BLOCK_ELEMENTS
from dynadrop.theory.networks import Weights


def sampled_losses(
    weights: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    keep: float,
    dropped: tuple[int, ...],
    scale: float,
    samples: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """One dropout loss per sample: masks drawn independently per example, loss averaged over X.

    The returned (samples,) losses are i.i.d. with mean equal to the dropout criterion.
    """
    n_examples = X.shape[0]
    widest = max(max(matrix.shape) for matrix in weights)
    batch = max(1, BLOCK_ELEMENTS // (n_examples * widest))
    losses = []
    for start in range(0, samples, batch):
        count = min(batch, samples - start)
        activations = X.expand(count, *X.shape)
        for layer, matrix in enumerate(weights):
            if layer in dropped:
                kept = torch.rand(activations.shape, generator=generator, dtype=torch.float64)
                activations = activations * (kept < keep) * scale
            activations = activations @ matrix.T
            if layer < len(weights) - 1:
                activations = torch.relu(activations)
        losses.append(((activations - y) ** 2).sum(dim=-1).mean(dim=-1))
    return torch.cat(losses)


def mean_and_stderr(losses: torch.Tensor) -> tuple[float, float]:
    """Sample mean and its standard error (sample standard deviation / sqrt(count))."""
    mean = float(losses.mean())
    stderr = float(losses.std(unbiased=True)) / math.sqrt(losses.numel())
    return mean, stderr
