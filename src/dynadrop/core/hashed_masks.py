"""Dropout keep-masks from a counter-based hash, for compiled graphs.

Under ``torch.compile`` on CPU, ``rand_like`` becomes a Philox call per element and costs more than
eager ``bernoulli_``. A counter-based generator is cheaper: element ``i`` of a call keeps its value
when ``hash(hash(i + s0) ^ s1)``, read as a 24-bit uniform in [0, 1), is at least the rate. The hash
is a 32-bit integer mixer (xor-shift / multiply rounds), a bijection, written in plain integer tensor
ops, so Inductor fuses it with the multiply that applies the mask into one vectorized loop.

The two 32-bit seeds ``s0, s1`` are drawn per call from PyTorch's default generator by a custom op
that Inductor cannot inline, fold or merge, so ``torch.manual_seed`` and a restored RNG state
reproduce the masks, and two calls never share seeds. Integer arithmetic runs in int64 on values
below 2**32 with multipliers below 2**31, so no product overflows.
"""

from __future__ import annotations

import torch

_MASK_32 = 0xFFFFFFFF
_MULTIPLIERS = (0x21F0AAAD, 0x735A2D97)
_SHIFTS = (16, 15, 15)
_UNIFORM_BITS = 24
_MAX_ELEMENTS = 2**32

_SEED_DRAWS = torch.zeros((), dtype=torch.int64)


@torch.library.custom_op("dynadrop::draw_mask_seeds", mutates_args=("draws",))
def _draw_mask_seeds(draws: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Two seeds in [0, 2**32) from the default generator; counting in ``draws`` makes calls distinct."""
    draws += 1
    return torch.randint(0, 2**32, (2,), dtype=torch.int64, device=device)


@_draw_mask_seeds.register_fake
def _(draws: torch.Tensor, device: torch.device) -> torch.Tensor:
    return torch.empty(2, dtype=torch.int64, device=device)


def _mix32(bits: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit mixer on int64 tensors holding values in [0, 2**32)."""
    bits = bits ^ (bits >> _SHIFTS[0])
    bits = (bits * _MULTIPLIERS[0]) & _MASK_32
    bits = bits ^ (bits >> _SHIFTS[1])
    bits = (bits * _MULTIPLIERS[1]) & _MASK_32
    return bits ^ (bits >> _SHIFTS[2])


def hashed_keep_mask(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """A boolean mask shaped like ``x``: each element is False (dropped) with probability ``rate``.

    ``rate`` is a 0-dim tensor, so a compiled graph serves every rate. Tensors of 2**32 elements or
    more, whose counters would repeat, fall back to ``rand_like``.
    """
    if x.numel() >= _MAX_ELEMENTS:
        return torch.rand_like(x, dtype=torch.float32) >= rate
    seeds = _draw_mask_seeds(_SEED_DRAWS, x.device)
    counter = torch.arange(x.numel(), dtype=torch.int64, device=x.device).view(x.shape)
    bits = _mix32(_mix32((counter + seeds[0]) & _MASK_32) ^ seeds[1])
    uniform = (bits >> (32 - _UNIFORM_BITS)).to(torch.float32) * 2.0**-_UNIFORM_BITS
    return uniform >= rate
