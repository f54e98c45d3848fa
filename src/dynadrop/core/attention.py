"""Causal attention with dropout on the probabilities, computed over blocks of keys.

The explicit path (scores -> softmax -> dropout -> matmul) materialises three (T x T) tensors per
head and keeps them for backward. Here forward runs an online softmax over key blocks (running
max and sum, FlashAttention's recurrence) and backward recomputes each block's probabilities from
the saved log-sum-exp, so memory is O(T * block) per head beyond the inputs. The dropout mask of a
block comes from the counter hash of :mod:`dynadrop.core.hashed_masks`, with the counters the
full (batch, head, query, key) probability tensor would have: the masks equal those
``hashed_dropout`` would draw on the explicit path's probabilities from the same seeds, and
backward regenerates exactly the forward's mask. The rate is a 0-dim tensor, so under
``torch.compile`` one graph serves every rate, and the hash fuses into each block's kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from dynadrop.core.hashed_masks import MAX_MASK_ELEMENTS, draw_seeds, keep_mask_at

DEFAULT_KEY_BLOCK = 64


def explicit_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: torch.Tensor,
                              dropout: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """``dropout(softmax(causal(q k^T / sqrt(d)))) @ v`` with the (T x T) probabilities materialised.

    ``causal`` is the boolean (T x T) lower triangle; ``dropout`` (none: no dropout) acts on the
    probabilities. The GPT's path while attention dropout is on, and the reference of the blocked one.
    """
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
    probabilities = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
    return (probabilities if dropout is None else dropout(probabilities)) @ v


def check_attention_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """One (batch, head, time, dim) shape for q, k, v, and few enough probabilities for int32 counters."""
    if q.shape != k.shape or q.shape != v.shape or q.dim() != 4:
        raise ValueError(f"q, k, v must share one (batch, head, time, dim) shape, got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    probabilities = q.shape[0] * q.shape[1] * q.shape[2] ** 2
    if probabilities >= MAX_MASK_ELEMENTS:
        raise ValueError(f"batch * heads * time**2 = {probabilities} probabilities; the mask counters "
                         f"allow fewer than {MAX_MASK_ELEMENTS}")


def _row_counters(q: torch.Tensor) -> torch.Tensor:
    """Counter of element (b, h, i, 0) of the (B, H, T, T) probabilities: ((b*H + h)*T + i)*T."""
    batch, heads, time, _ = q.shape
    rows = torch.arange(batch * heads * time, dtype=torch.int32, device=q.device)
    return (rows * time).view(batch, heads, time, 1)


def _block_scores(q: torch.Tensor, keys: torch.Tensor, start: int) -> torch.Tensor:
    """Scaled scores of every query against keys ``start..``, -inf above the causal diagonal."""
    scores = (q @ keys.transpose(-2, -1)) / math.sqrt(q.size(-1))
    queries = torch.arange(q.size(-2), device=q.device).view(-1, 1)
    columns = torch.arange(start, start + keys.size(-2), device=q.device).view(1, -1)
    return scores.masked_fill(columns > queries, float("-inf"))


def _block_keep(rows: torch.Tensor, start: int, width: int, seeds: torch.Tensor, rate: torch.Tensor,
                dtype: torch.dtype) -> torch.Tensor:
    """Keep mask (1 kept, 0 dropped) of key columns ``start..start+width`` for every query row."""
    columns = torch.arange(start, start + width, dtype=torch.int32, device=rows.device)
    return keep_mask_at(rows + columns, seeds, rate, dtype)


class _BlockedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rate: torch.Tensor,
                seeds: torch.Tensor, block: int) -> torch.Tensor:
        rows = _row_counters(q)
        running_max = torch.full_like(q[..., :1], float("-inf"))
        running_sum = torch.zeros_like(q[..., :1])
        accumulated = torch.zeros_like(q)
        for start in range(0, k.size(-2), block):
            keys, values = k[..., start:start + block, :], v[..., start:start + block, :]
            scores = _block_scores(q, keys, start)
            new_max = torch.maximum(running_max, scores.amax(dim=-1, keepdim=True))
            correction = torch.exp(running_max - new_max)
            weights = torch.exp(scores - new_max)
            running_sum = running_sum * correction + weights.sum(dim=-1, keepdim=True)
            keep = _block_keep(rows, start, keys.size(-2), seeds, rate, q.dtype)
            accumulated = accumulated * correction + (weights * keep) @ values
            running_max = new_max
        out = accumulated / running_sum * (1.0 / (1.0 - rate)).to(q.dtype)
        ctx.save_for_backward(q, k, v, out, running_max + torch.log(running_sum), rate, seeds)
        ctx.block = block
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, out, log_sum_exp, rate, seeds = ctx.saved_tensors
        rows = _row_counters(q)
        keep_scale = (1.0 / (1.0 - rate)).to(q.dtype)
        # sum_j P_ij * dP_ij = dO_i . O_i, with or without dropout (the mask is in both)
        row_dot = (grad_out * out).sum(dim=-1, keepdim=True)
        grad_q = torch.zeros_like(q)
        grad_k, grad_v = [], []
        for start in range(0, k.size(-2), ctx.block):
            keys, values = k[..., start:start + ctx.block, :], v[..., start:start + ctx.block, :]
            probabilities = torch.exp(_block_scores(q, keys, start) - log_sum_exp)
            keep = _block_keep(rows, start, keys.size(-2), seeds, rate, q.dtype) * keep_scale
            grad_v.append((probabilities * keep).transpose(-2, -1) @ grad_out)
            grad_scores = probabilities * ((grad_out @ values.transpose(-2, -1)) * keep - row_dot)
            grad_scores = grad_scores / math.sqrt(q.size(-1))
            grad_q = grad_q + grad_scores @ keys
            grad_k.append(grad_scores.transpose(-2, -1) @ q)
        return grad_q, torch.cat(grad_k, dim=-2), torch.cat(grad_v, dim=-2), None, None, None


def blocked_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rate: torch.Tensor,
                             block: int = DEFAULT_KEY_BLOCK, seeds: torch.Tensor | None = None
                             ) -> torch.Tensor:
    """``dropout(softmax(causal(q k^T / sqrt(d)))) @ v`` for (batch, head, time, dim) inputs.

    ``rate`` is a 0-dim tensor in [0, 1); ``block`` the number of keys per block. ``seeds`` (two
    int32) fix the mask, for tests; by default they are drawn from PyTorch's generator like
    :func:`~dynadrop.core.hashed_masks.hashed_dropout`'s, so ``torch.manual_seed`` reproduces them.
    """
    if block < 1:
        raise ValueError(f"block must be a positive number of keys, got {block}")
    check_attention_inputs(q, k, v)
    if seeds is None:
        seeds = draw_seeds(q.device)
    return _BlockedAttention.apply(q, k, v, rate, seeds, block)
