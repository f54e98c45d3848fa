"""Compile-safe dropout: the rate lives in a 0-dim tensor buffer, so changing it never recompiles.

``torch.compile`` guards on Python floats such as ``nn.Dropout.p``: every new rate recompiles,
and after a few recompiles Dynamo silently falls back to eager. Here the compiled graph reads the
rate from a buffer (a graph input), so one graph serves every rate. A Python bool ``active``
lets a rate of exactly 0 skip the dropout kernels; flipping it costs at most one extra graph.
Eager mode calls ``F.dropout``; compiled graphs draw masks with :func:`hashed_dropout`, which
Inductor fuses into the surrounding kernels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dynadrop.core.hashed_masks import hashed_dropout
from dynadrop.core.rates import check_rate


class ScheduledDropout(nn.Module):
    """Drop-in replacement for ``nn.Dropout`` whose rate can change freely under compile.

    ``p`` reads and writes the rate like ``nn.Dropout.p``. The buffer is not persistent, so a
    model's ``state_dict`` keys stay the same as with ``nn.Dropout``.
    """

    rate: torch.Tensor

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        p = check_rate(p)
        self.register_buffer("rate", torch.tensor(p), persistent=False)
        self._p = p
        self.active = p > 0.0

    @property
    def p(self) -> float:
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        value = check_rate(value)
        self._p = value
        with torch.no_grad():
            self.rate.fill_(value)
        self.active = value > 0.0

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> ScheduledDropout:
        """Keep the rate in float32 through ``model.to(torch.bfloat16)``: bf16 would turn 0.2 into 0.2002."""
        super()._apply(fn, recurse)
        if self.rate.dtype != torch.float32:
            self.rate = torch.tensor(self._p, dtype=torch.float32, device=self.rate.device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.active):
            return x
        if torch.compiler.is_compiling():
            return hashed_dropout(x, self.rate)
        return F.dropout(x, self._p, training=True)

    def extra_repr(self) -> str:
        return f"p={self._p}"
