"""Exact dropout criterion by enumerating every mask of the dropped units.

Masks are enumerated layer by layer: the activations reached under each mask of the earlier
layers are shared by every mask of the later ones, so each layer is one batched matmul over
(mask prefix x mask of this layer x example). Blocks of that product are bounded in size so
2^20 masks x 100 examples runs in bounded memory, depth first.
"""

from __future__ import annotations

import torch

from dynadrop.theory.networks import Weights

MAX_EXACT_MASKS = 2**24
"""Exact enumeration refuses networks with more masks than this (24 dropped units)."""

BLOCK_ELEMENTS = 2**22
"""Upper bound on the float64 elements of one block of (mask, example, unit) activations."""


def check_mask_budget(dropped_units: int) -> None:
    """Refuse exact enumeration past ``MAX_EXACT_MASKS``, naming the count and the way out."""
    if 2**dropped_units > MAX_EXACT_MASKS:
        raise ValueError(
            f"exact enumeration needs 2^{dropped_units} masks ({dropped_units} dropped units); "
            f"the limit is 2^{MAX_EXACT_MASKS.bit_length() - 1} masks. Use method='mc', or "
            "drop fewer layers with where=..."
        )


def mask_block(n_units: int, start: int, stop: int, keep: float, scale: float):
    """Masks number start..stop-1 of n_units (bit i = unit i kept), scaled, with probabilities."""
    index = torch.arange(start, stop, dtype=torch.int64)
    bits = (index[:, None] >> torch.arange(n_units)) & 1
    kept = bits.sum(dim=1).to(torch.float64)
    probability = torch.tensor(keep, dtype=torch.float64) ** kept * torch.tensor(
        1.0 - keep, dtype=torch.float64
    ) ** (n_units - kept)
    return bits.to(torch.float64) * scale, probability


def exact_expected_loss(
    weights: Weights,
    X: torch.Tensor,
    y: torch.Tensor,
    keep: float,
    dropped: tuple[int, ...],
    scale: float,
) -> torch.Tensor:
    """E_(x,y) E_mask ||f(x, mask) - y||^2 as a differentiable 0-dim tensor.

    ``dropped`` lists the layers whose units are kept with probability ``keep`` and multiplied
    by ``scale`` when kept (1/keep for inverted dropout, 1 otherwise).
    """
    check_mask_budget(sum(weights[layer].shape[1] for layer in dropped))
    last = len(weights) - 1
    n_examples = X.shape[0]

    def after_layer(layer: int, pre_activation: torch.Tensor, probability: torch.Tensor):
        if layer == last:
            squared_error = ((pre_activation - y) ** 2).sum(dim=-1).mean(dim=-1)
            return (probability * squared_error).sum()
        return through_layer(layer + 1, torch.relu(pre_activation), probability)

    def through_layer(layer: int, activations: torch.Tensor, probability: torch.Tensor):
        """activations: (prefixes, N, units of this layer); probability: (prefixes,)."""
        matrix = weights[layer]
        if layer not in dropped:
            return after_layer(layer, activations @ matrix.T, probability)
        n_units, n_next = matrix.shape[1], matrix.shape[0]
        n_masks = 2**n_units
        pairs = max(1, BLOCK_ELEMENTS // (n_examples * n_next))
        mask_chunk = min(n_masks, pairs)
        prefix_chunk = max(1, pairs // mask_chunk)
        total = torch.zeros((), dtype=torch.float64)
        for prefix_start in range(0, activations.shape[0], prefix_chunk):
            prefix = activations[prefix_start : prefix_start + prefix_chunk]
            prefix_probability = probability[prefix_start : prefix_start + prefix_chunk]
            # contribution[i, (p, n, j)] = activation of unit i times its weight into unit j
            contribution = (prefix[..., None] * matrix.T).permute(2, 0, 1, 3)
            contribution = contribution.reshape(n_units, -1)
            for mask_start in range(0, n_masks, mask_chunk):
                masks, mask_probability = mask_block(
                    n_units, mask_start, min(mask_start + mask_chunk, n_masks), keep, scale
                )
                pre_activation = (masks @ contribution).reshape(-1, n_examples, n_next)
                block_probability = (mask_probability[:, None] * prefix_probability).reshape(-1)
                total = total + after_layer(layer, pre_activation, block_probability)
        return total

    return through_layer(0, X[None], torch.ones(1, dtype=torch.float64))
