"""Gradient training of many small networks at once (one per seed, batched weights)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dynadrop.theory.networks import Weights

Objective = Callable[[Weights], torch.Tensor]


def random_weights(widths: list[int], seeds: int, seed: int = 0) -> Weights:
    """``seeds`` He-initialised networks (std sqrt(2 / fan_in)) as batched matrices shaped
    (seeds, 1, out, in): the singleton broadcasts over the masks in ``forward``."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(seeds, 1, n_out, n_in, generator=generator, dtype=torch.float64) * (2.0 / n_in) ** 0.5
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
    ]


def unbatch(weights: Weights) -> list[Weights]:
    """Split batched weights into one plain network (list of matrices) per seed."""
    return [[matrix[index, 0] for matrix in weights] for index in range(weights[0].shape[0])]


def train(initial: Weights, objective: Objective, steps: int, learning_rate: float) -> Weights:
    """Full-batch Adam with a cosine-decayed learning rate, so runs settle on a stationary point
    instead of oscillating around it. ``objective`` sums the per-seed losses; Adam acts
    elementwise, so every seed trains independently."""
    weights = [matrix.clone().requires_grad_(True) for matrix in initial]
    optimizer = torch.optim.Adam(weights, lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    for _ in range(steps):
        optimizer.zero_grad()
        objective(weights).backward()
        optimizer.step()
        schedule.step()
    return [matrix.detach() for matrix in weights]
