"""Measure the dropout a model really applies, to check that scheduled rates take effect.

Two probes:

- :func:`record_dropout_masks` sees every random mask drawn by eager PyTorch (``nn.Dropout``,
  ``F.dropout``, SDPA, ``nn.MultiheadAttention``, LSTM/GRU between layers), whatever object
  holds the rate, by watching the ``bernoulli_`` calls below autograd, and the masks of
  dynadrop's fused attention kernel (regenerated from the seeds it was called with).
- :func:`record_site_outputs` hooks module sites and measures the fraction of non-zero inputs
  they zero; it also works inside ``torch.compile``d models, where no mask call is visible. A
  site whose rate a fused kernel applies (the GPT's attention dropout under
  ``attention="fused"``) is never called as a module, so it counts nothing there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from dynadrop.core.fused_attention import fused_attention_keep_mask
from dynadrop.core.sites import find_dropout_sites


@dataclass
class MaskDraw:
    """One dropout mask: the drop probability asked for and the fraction actually dropped."""

    requested_rate: float
    dropped_fraction: float
    numel: int


class _MaskRecorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.draws: list[MaskDraw] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        if func is torch.ops.aten.bernoulli_.float:
            keep = float(args[1]) if len(args) > 1 else float((kwargs or {}).get("p", 0.5))
            dropped = (out == 0).sum().item()
            self.draws.append(MaskDraw(1.0 - keep, dropped / max(out.numel(), 1), out.numel()))
        elif func is torch.ops.dynadrop.fused_attention.default and float(args[3]) > 0:
            keep = fused_attention_keep_mask(args[0].shape, args[3], args[4])
            dropped = keep.numel() - keep.sum().item()
            self.draws.append(MaskDraw(float(args[3]), dropped / keep.numel(), keep.numel()))
        return out


@contextmanager
def record_dropout_masks() -> Iterator[list[MaskDraw]]:
    """Collect a :class:`MaskDraw` for every dropout mask drawn in eager mode inside the block."""
    recorder = _MaskRecorder()
    with recorder:
        yield recorder.draws


@dataclass
class SiteDrops:
    """What one module site did over the calls seen: units that came in non-zero, and dropped."""

    alive: int = 0
    dropped: int = 0

    @property
    def fraction(self) -> float:
        return self.dropped / self.alive if self.alive else float("nan")


@contextmanager
def record_site_outputs(model: nn.Module) -> Iterator[dict[str, SiteDrops]]:
    """Per module site, how many non-zero inputs came out zero, summed over calls in the block.

    The dict is filled when the block exits. The hooks add into fixed tensors (no ``.item()``,
    no growing lists), so a compiled model runs them inside its graph without graph breaks or
    recompiles.
    """
    totals: dict[str, torch.Tensor] = {}
    results: dict[str, SiteDrops] = {}
    handles = []
    for site in find_dropout_sites(model):
        if site.kind not in ("module", "compile_safe"):
            continue
        total = torch.zeros(2, dtype=torch.float64, device=site.module_device)
        totals[site.name] = total

        def hook(module, inputs, output, total=total):  # noqa: ANN001
            alive = inputs[0] != 0
            dropped = (output == 0) & alive
            total.add_(torch.stack([alive.sum(), dropped.sum()]).to(total.dtype))

        handles.append(site.module.register_forward_hook(hook))
    try:
        yield results
    finally:
        for handle in handles:
            handle.remove()
        for name, total in totals.items():
            alive, dropped = (int(v) for v in total.tolist())
            results[name] = SiteDrops(alive, dropped)
