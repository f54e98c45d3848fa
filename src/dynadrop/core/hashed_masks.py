"""Dropout for compiled graphs with masks from a counter-based hash.

Under ``torch.compile`` on CPU, ``rand_like`` becomes a Philox call per element and costs more than
eager ``bernoulli_``. A counter-based generator is cheaper: element ``i`` of a call is kept when
``hash(hash(i + s0) ^ s1)``, read as a 24-bit uniform in [0, 1), is at least the rate. The hash is
a 32-bit integer mixer (xor-shift / multiply rounds, a bijection) in plain int32 tensor ops, so
Inductor fuses it into the vectorized loop that applies the mask. Products wrap modulo 2**32 (the
tests check this against exact arithmetic, eager and compiled).

The two seeds ``s0, s1`` are drawn per call from PyTorch's default generator by an operator that
Inductor cannot inline, fold or merge (it counts its calls in a tensor it mutates), so
``torch.manual_seed`` and a restored RNG state reproduce the masks, and two calls never share seeds.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

_MULTIPLIERS = (0x21F0AAAD, 0x735A2D97)
_SHIFTS = (16, 15, 15)
_UNIFORM_BITS = 24
MAX_MASK_ELEMENTS = 2**31  # counters are int32: larger tensors would repeat them

_SEED_DRAWS = torch.zeros((), dtype=torch.int64)


# A plain operator definition: ``torch.library.custom_op`` would add ~12 us of Python per call.
_LIBRARY = torch.library.Library("dynadrop", "DEF")
_LIBRARY.define("draw_mask_seeds(Tensor(a!) draws, Device device) -> Tensor")


def _draw_mask_seeds(draws: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Two 32-bit seeds from the default generator; counting in ``draws`` makes calls distinct."""
    draws += 1
    return torch.randint(-(2**31), 2**31, (2,), dtype=torch.int32, device=device)


_LIBRARY.impl("draw_mask_seeds", _draw_mask_seeds, "CompositeExplicitAutograd")


@torch.library.register_fake("dynadrop::draw_mask_seeds")
def _(draws: torch.Tensor, device: torch.device) -> torch.Tensor:
    return torch.empty(2, dtype=torch.int32, device=device)


def _shift_right(bits: torch.Tensor, shift: int) -> torch.Tensor:
    """Logical (zero-filling) right shift of int32 bit patterns; ``>>`` alone copies the sign bit."""
    return (bits >> shift) & ((1 << (32 - shift)) - 1)


def _mix32(bits: torch.Tensor) -> torch.Tensor:
    """A bijective mixer of int32 bit patterns; products wrap modulo 2**32."""
    bits = bits ^ _shift_right(bits, _SHIFTS[0])
    bits = bits * _MULTIPLIERS[0]
    bits = bits ^ _shift_right(bits, _SHIFTS[1])
    bits = bits * _MULTIPLIERS[1]
    return bits ^ _shift_right(bits, _SHIFTS[2])


def keep_mask_at(counter: torch.Tensor, seeds: torch.Tensor, rate: torch.Tensor,
                 dtype: torch.dtype) -> torch.Tensor:
    """1 where the element numbered ``counter`` (int32) is kept, 0 where dropped.

    Element ``i`` of a tensor dropped by :func:`hashed_dropout` has counter ``i`` (row-major), so a
    kernel that visits a tensor block by block reproduces its mask from the block's counters.
    """
    bits = _mix32(_mix32(counter + seeds[0]) ^ seeds[1])
    # uniform k / 2**24 >= rate  <=>  k >= ceil(rate * 2**24): one integer compare per element
    threshold = torch.ceil(rate.to(torch.float32) * 2**_UNIFORM_BITS).to(torch.int32)
    return (_shift_right(bits, 32 - _UNIFORM_BITS) >= threshold).to(dtype)


def draw_seeds(device: torch.device) -> torch.Tensor:
    """The two int32 seeds of one mask, from the default generator (compiled: an opaque op)."""
    return torch.ops.dynadrop.draw_mask_seeds(_SEED_DRAWS, device)


def keep_mask(seeds: torch.Tensor, rate: torch.Tensor, shape: torch.Size,
              dtype: torch.dtype) -> torch.Tensor:
    """1 where an element of a ``shape`` tensor is kept, 0 where dropped (counters in row-major
    order, as :func:`hashed_dropout` draws them), on the seeds' device."""
    counter = torch.arange(shape.numel(), dtype=torch.int32, device=seeds.device).view(shape)
    return keep_mask_at(counter, seeds, rate, dtype)


def hashed_dropout(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Inverted dropout of ``x`` at ``rate`` (a 0-dim tensor, so one compiled graph serves every rate).

    Backward regenerates the mask from the two seeds instead of saving it: compiled CPU kernels
    store boolean masks slowly, and the hash is cheaper than the memory. Tensors of 2**31
    elements or more, whose counters would repeat, fall back to ``rand_like``.
    """
    scale = (1.0 / (1.0 - rate)).to(x.dtype)
    if x.numel() >= MAX_MASK_ELEMENTS:
        return x * (torch.rand_like(x, dtype=torch.float32) >= rate).to(x.dtype) * scale
    seeds = draw_seeds(x.device)
    keep = checkpoint(keep_mask, seeds, rate, x.shape, x.dtype, use_reentrant=False)
    return x * keep * scale
