"""Plain loss, dropout criterion, dropout penalty and weight-decay penalty (float64).

Conventions (Helmbold & Long): quadratic loss summed over outputs and averaged over examples;
dropout keeps each unit of the chosen layers with probability q = 1 - p and, when inverted
(PyTorch's convention), scales kept units by 1/q; the output unit is never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dynadrop.theory.exact import exact_expected_loss
from dynadrop.theory.networks import (
    NetworkLike,
    as_data,
    as_weights,
    dropped_layers,
    forward,
    layer_widths,
)
from dynadrop.theory.sampling import mean_and_stderr, sampled_losses

METHODS = ("auto", "exact", "mc")
DEFAULT_SAMPLES = 10_000
AUTO_EXACT_WORK = 2**27
"""method='auto' enumerates when masks x examples is at most this (2^20 masks x 128 examples)."""


@dataclass(frozen=True)
class Estimate:
    """A computed quantity: ``value`` with its Monte Carlo standard error (0 when exact)."""

    value: float
    stderr: float = 0.0
    method: str = "exact"
    """'exact' (closed form or every mask enumerated) or 'mc' (sampled masks)."""
    draws: int = 0
    """Masks enumerated (exact) or sampled (mc); 0 when no mask is involved."""

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        if self.method == "mc":
            return f"{self.value:.6g} ± {self.stderr:.2g} (Monte Carlo, {self.draws} samples)"
        if self.draws:
            return f"{self.value:.10g} (exact, {self.draws} masks)"
        return f"{self.value:.10g}"


def plain_loss(weights: NetworkLike, X, y) -> Estimate:
    """Mean squared error of the network without dropout: E (f(x) - y)^2."""
    matrices = as_weights(weights)
    inputs, labels = as_data(matrices, X, y)
    with torch.no_grad():
        loss = ((forward(matrices, inputs) - labels) ** 2).sum(dim=-1).mean()
    return Estimate(float(loss))


def dropout_criterion(
    weights: NetworkLike,
    X,
    y,
    p: float,
    where: str | Sequence[int] = "all",
    method: str = "auto",
    samples: int | None = None,
    seed: int | None = None,
    inverted: bool = True,
) -> Estimate:
    """Dropout criterion J_D = E_(x,y) E_mask (f(x, mask) - y)^2 at drop probability ``p``.

    ``where``: 'all' (inputs and hidden), 'inputs', 'hidden', or layer indices (0 = inputs).
    ``method``: 'exact' enumerates all 2^m masks of the m dropped units (refused past
    ``MAX_EXACT_MASKS``), 'mc' samples ``samples`` masks per example (default 10,000) and
    reports a standard error, 'auto' enumerates when masks x examples <= ``AUTO_EXACT_WORK``.
    ``inverted=False`` gives non-inverted dropout (kept units are not scaled by 1/q).
    """
    matrices = as_weights(weights)
    inputs, labels = as_data(matrices, X, y)
    keep = 1.0 - _check_drop_probability(p)
    dropped = dropped_layers(where, matrices)
    dropped_units = sum(layer_widths(matrices)[layer] for layer in dropped)
    chosen = _choose_method(method, samples, dropped_units, inputs.shape[0])
    scale = 1.0 / keep if inverted else 1.0
    with torch.no_grad():
        if chosen == "exact":
            value = exact_expected_loss(matrices, inputs, labels, keep, dropped, scale)
            return Estimate(float(value), 0.0, "exact", 2**dropped_units)
        count = _check_samples(samples)
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        losses = sampled_losses(matrices, inputs, labels, keep, dropped, scale, count, generator)
    mean, stderr = mean_and_stderr(losses)
    return Estimate(mean, stderr, "mc", count)


def dropout_penalty(
    weights: NetworkLike,
    X,
    y,
    p: float,
    where: str | Sequence[int] = "all",
    method: str = "auto",
    samples: int | None = None,
    seed: int | None = None,
    inverted: bool = True,
) -> Estimate:
    """Dropout penalty J_D - J: what dropout adds to the plain loss (same arguments as
    ``dropout_criterion``; the plain loss is exact, so the standard error is the criterion's)."""
    criterion = dropout_criterion(weights, X, y, p, where, method, samples, seed, inverted)
    plain = plain_loss(weights, X, y)
    return Estimate(criterion.value - plain.value, criterion.stderr, criterion.method, criterion.draws)


def weight_decay_penalty(weights: NetworkLike, lam: float) -> Estimate:
    """Weight-decay penalty lam * ||w||^2 (sum of squared weights; no 1/2 factor)."""
    if not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite weight-decay strength >= 0; got {lam!r}")
    squared_norm = sum(float((matrix.detach() ** 2).sum()) for matrix in as_weights(weights))
    return Estimate(lam * squared_norm)


def _check_drop_probability(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a drop probability in [0, 1); got {p!r}")
    return float(p)


def _check_samples(samples: int | None) -> int:
    if samples is None:
        return DEFAULT_SAMPLES
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2 (a standard error needs two); got {samples!r}")
    return samples


def _choose_method(method: str, samples: int | None, dropped_units: int, examples: int) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    if method == "exact" and samples is not None:
        raise ValueError(
            f"samples={samples!r} only applies to method='mc' (or 'auto'); exact enumerates every mask"
        )
    if method != "auto":
        return method
    return "exact" if 2**dropped_units * examples <= AUTO_EXACT_WORK else "mc"
