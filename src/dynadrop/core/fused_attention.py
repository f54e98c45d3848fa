"""Causal attention with dropout on the probabilities in one fused CPU kernel (float32).

PyTorch's fused CPU attention kernel takes no dropout, and the explicit path (scores -> softmax ->
dropout -> matmul) makes three extra passes over (T x T) tensors per head. The kernel of
``csrc/fused_attention.cpp`` runs FlashAttention's online softmax per (batch, head) with the
dropout mask drawn inside its loop, and backward recomputes the probabilities from the saved
log-sum-exp: at rate 0.2 it costs about what it costs at 0, and it stores no (T x T) tensor.

Masks come from the counter hash of :mod:`dynadrop.core.hashed_masks` with the counter each
element has in the full (batch, head, query, key) probability tensor, so from the same seeds they
equal the masks of ``hashed_dropout`` on the explicit path's probabilities. Seeds are drawn per
call from PyTorch's generator (``torch.manual_seed`` and a restored RNG state reproduce them), the
rate is a 0-dim tensor (one compiled graph serves every rate), and both directions are PyTorch
operators with fake implementations, so ``torch.compile`` calls them as opaque kernels.
"""

from __future__ import annotations

import ctypes
import functools
import warnings
from typing import Any

import torch

from dynadrop.core.attention import check_attention_inputs
from dynadrop.core.hashed_masks import draw_seeds, keep_mask
from dynadrop.core.native import KernelUnavailable, load_kernel

_LIBRARY = torch.library.Library("dynadrop", "FRAGMENT")
_LIBRARY.define("fused_attention(Tensor q, Tensor k, Tensor v, Tensor rate, Tensor seeds) "
                "-> (Tensor, Tensor)")
_LIBRARY.define("fused_attention_backward(Tensor grad_out, Tensor q, Tensor k, Tensor v, Tensor out, "
                "Tensor log_sum_exp, Tensor rate, Tensor seeds) -> (Tensor, Tensor, Tensor)")

_NO_DROPOUT = torch.zeros(())
_NO_SEEDS = torch.zeros(2, dtype=torch.int32)


@functools.cache
def _kernel() -> ctypes.CDLL:
    library = load_kernel("fused_attention")
    pointer, strides, count = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_int
    library.dynadrop_attention_forward.argtypes = [
        pointer, strides, pointer, strides, pointer, strides, pointer, strides, pointer,
        count, count, count, count, pointer, pointer, count]
    library.dynadrop_attention_backward.argtypes = [
        pointer, strides, pointer, strides, pointer, strides, pointer, strides, pointer, strides, pointer,
        pointer, pointer, pointer, strides, count, count, count, count, pointer, pointer, count]
    return library


@functools.cache
def fused_kernel_available() -> bool:
    """Whether the kernel builds and loads here; warns once, with the reason, when it does not."""
    try:
        _kernel()
    except KernelUnavailable as error:
        warnings.warn(f"the fused attention kernel is unavailable, so attention dropout takes the slower "
                      f"explicit path: {error}", RuntimeWarning, stacklevel=2)
        return False
    return True


def _head_major(q: torch.Tensor) -> torch.Tensor:
    """An empty (batch, head, time, dim) tensor stored as (batch, time, head, dim), the GPT's layout."""
    batch, heads, time, dim = q.shape
    return torch.empty(batch, time, heads, dim, dtype=q.dtype, device=q.device).transpose(1, 2)


def _strides(t: torch.Tensor) -> Any:
    return (ctypes.c_int64 * 3)(*t.stride()[:3])


def _last_dim_contiguous(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def _forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rate: torch.Tensor,
             seeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q, k, v = (_last_dim_contiguous(t) for t in (q, k, v))
    out = _head_major(q)
    log_sum_exp = torch.empty(q.shape[:3], dtype=torch.float32)
    rate, seeds = rate.to(torch.float32).contiguous(), seeds.contiguous()
    _kernel().dynadrop_attention_forward(
        q.data_ptr(), _strides(q), k.data_ptr(), _strides(k), v.data_ptr(), _strides(v),
        out.data_ptr(), _strides(out), log_sum_exp.data_ptr(), *q.shape,
        rate.data_ptr(), seeds.data_ptr(), torch.get_num_threads())
    return out, log_sum_exp


def _backward(grad_out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor,
              log_sum_exp: torch.Tensor, rate: torch.Tensor, seeds: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    grad_out, q, k, v, out = (_last_dim_contiguous(t) for t in (grad_out, q, k, v, out))
    grad_q, grad_k, grad_v = _head_major(q), _head_major(q), _head_major(q)
    rate, seeds = rate.to(torch.float32).contiguous(), seeds.contiguous()
    log_sum_exp = log_sum_exp.contiguous()
    _kernel().dynadrop_attention_backward(
        q.data_ptr(), _strides(q), k.data_ptr(), _strides(k), v.data_ptr(), _strides(v),
        out.data_ptr(), _strides(out), grad_out.data_ptr(), _strides(grad_out), log_sum_exp.data_ptr(),
        grad_q.data_ptr(), grad_k.data_ptr(), grad_v.data_ptr(), _strides(grad_q), *q.shape,
        rate.data_ptr(), seeds.data_ptr(), torch.get_num_threads())
    return grad_q, grad_k, grad_v


_LIBRARY.impl("fused_attention", _forward, "CPU")
_LIBRARY.impl("fused_attention_backward", _backward, "CPU")


@torch.library.register_fake("dynadrop::fused_attention")
def _(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rate: torch.Tensor,
      seeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _head_major(q), q.new_empty(q.shape[:3])


@torch.library.register_fake("dynadrop::fused_attention_backward")
def _(grad_out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor,
      log_sum_exp: torch.Tensor, rate: torch.Tensor, seeds: torch.Tensor
      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _head_major(q), _head_major(q), _head_major(q)


def fused_attention_keep_mask(shape: torch.Size, rate: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Which probabilities a kernel call on (batch, head, time, dim) inputs keeps: the causal
    (query >= key) entries, flattened, as the kernel draws them from ``seeds`` (for probes and tests)."""
    batch, heads, time, _ = shape
    keep = keep_mask(seeds, rate, torch.Size((batch, heads, time, time)), torch.bool)
    return keep[..., torch.ones(time, time, dtype=torch.bool).tril()]


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rate: torch.Tensor,
                seeds: torch.Tensor) -> torch.Tensor:
        out, log_sum_exp = torch.ops.dynadrop.fused_attention(q, k, v, rate, seeds)
        ctx.save_for_backward(q, k, v, out, log_sum_exp, rate, seeds)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grads = torch.ops.dynadrop.fused_attention_backward(grad_out, *ctx.saved_tensors)
        return (*grads, None, None)


def fused_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           rate: torch.Tensor | None = None,
                           seeds: torch.Tensor | None = None) -> torch.Tensor:
    """``dropout(softmax(causal(q k^T / sqrt(d)))) @ v`` for (batch, head, time, dim) CPU float32 inputs.

    ``rate`` is a 0-dim tensor in [0, 1) (none: no dropout). ``seeds`` (two int32) fix the mask,
    for tests; by default they are drawn from PyTorch's generator like ``hashed_dropout``'s. The
    output is stored (batch, time, head, dim), so ``y.transpose(1, 2)`` is contiguous.
    """
    check_attention_inputs(q, k, v)
    for t in (q, k, v):
        if t.device.type != "cpu" or t.dtype != torch.float32:
            raise ValueError(f"the fused attention kernel takes CPU float32 tensors, "
                             f"got {t.dtype} on {t.device}")
    if rate is None:
        rate, seeds = _NO_DROPOUT, _NO_SEEDS
    elif seeds is None:
        seeds = draw_seeds(q.device)
    return _FusedAttention.apply(q, k, v, rate, seeds)
