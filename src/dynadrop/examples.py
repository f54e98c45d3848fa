"""Small example models and data for the demo and `dynadrop inspect` (no downloads needed)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def mlp(p: float = 0.2, width: int = 256, inputs: int = 20) -> nn.Module:
    """A two-hidden-layer MLP classifier with dropout after each hidden layer."""
    return nn.Sequential(
        nn.Linear(inputs, width), nn.ReLU(), nn.Dropout(p),
        nn.Linear(width, width), nn.ReLU(), nn.Dropout(p),
        nn.Linear(width, 2),
    )


def transformer(p: float = 0.1) -> nn.Module:
    """A two-layer ``nn.TransformerEncoder`` (module and MultiheadAttention sites)."""
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=p, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


def lstm(p: float = 0.2) -> nn.Module:
    """A three-layer LSTM (dropout between layers is a float attribute)."""
    return nn.LSTM(32, 64, num_layers=3, dropout=p, batch_first=True)


MODELS: dict[str, Callable[[], nn.Module]] = {"mlp": mlp, "transformer": transformer, "lstm": lstm}


def noisy_classification(
    samples: int, inputs: int = 20, informative: int = 5, label_noise: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points whose class is the sign of a sum of a few features, with flipped labels.

    Few samples and many noisy labels make an MLP overfit, the regime where dropout helps.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, inputs, generator=generator)
    y = (x[:, :informative].sum(dim=1) > 0).long()
    flip = torch.rand(samples, generator=generator) < label_noise
    return x, torch.where(flip, 1 - y, y)
