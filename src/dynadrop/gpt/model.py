"""A GPT equivalent to nanoGPT's, with all four dropout sites schedulable (eager and compiled).

Pre-LayerNorm blocks, causal self-attention, GELU MLP, tied input/output embeddings, no biases
by default. Dropout sites, each a :class:`~dynadrop.core.ScheduledDropout` (rate in a tensor
buffer, so a compiled graph survives rate changes), named so the core groups them:

- ``embedding_dropout``: on token + position embeddings (group ``embedding``)
- ``blocks.N.attn.attn_dropout``: on attention probabilities (group ``attention``)
- ``blocks.N.attn.resid_dropout``: on the attention output projection (group ``residual``)
- ``blocks.N.mlp.dropout``: on the MLP output (group ``mlp``)

Attention (``GPTConfig.attention``):

- ``"fused"`` (the default): :func:`~dynadrop.core.fused_attention.fused_causal_attention`, one
  CPU kernel with the dropout mask drawn inside its online softmax, at every rate and in eval
  mode, eager and compiled, for CPU float32 tensors. Elsewhere (CUDA, bf16 autocast), or where
  the kernel cannot be built (no C++ compiler; a warning says so), the ``"explicit"`` path runs.
- ``"explicit"``: fused SDPA while attention dropout is off (rate 0, or eval mode), and while it
  is on the softmax -> dropout -> matmul path (SDPA's own dropout takes a Python float, which
  ``torch.compile`` would recompile for at every new rate): eager ``F.dropout`` masks, hashed
  masks compiled.
- ``"blocked"``: as explicit, but with dropout on
  :func:`~dynadrop.core.attention.blocked_causal_attention` (online softmax over key blocks in
  PyTorch ops, O(T * block) memory instead of O(T^2)).

Compiled, the fused and explicit paths draw the same masks from the same seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dynadrop.core import ScheduledDropout
from dynadrop.core.attention import blocked_causal_attention, explicit_causal_attention
from dynadrop.core.fused_attention import fused_causal_attention, fused_kernel_available

ATTENTION_PATHS = ("fused", "explicit", "blocked")


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = False
    attention: str = "fused"

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_PATHS:
            raise ValueError(f"unknown attention path {self.attention!r}; "
                             f"allowed: {', '.join(ATTENTION_PATHS)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} must be divisible by n_head {self.n_head}")


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.blocked = config.attention == "blocked"
        self.fused = config.attention == "fused" and fused_kernel_available()
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = ScheduledDropout(config.dropout)
        self.resid_dropout = ScheduledDropout(config.dropout)
        causal = torch.ones(config.block_size, config.block_size, dtype=torch.bool).tril()
        self.register_buffer("causal_mask", causal, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, channels = x.shape
        q, k, v = (t.view(batch, time, self.n_head, -1).transpose(1, 2)
                   for t in self.qkv(x).split(channels, dim=2))
        dropout_on = self.training and self.attn_dropout.active
        if self.fused and q.device.type == "cpu" and q.dtype == torch.float32:
            y = fused_causal_attention(q, k, v, self.attn_dropout.rate if dropout_on else None)
        elif not dropout_on:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif self.blocked:
            y = blocked_causal_attention(q, k, v, self.attn_dropout.rate)
        else:
            y = explicit_causal_attention(q, k, v, self.causal_mask[:time, :time], self.attn_dropout)
        y = y.transpose(1, 2).reshape(batch, time, channels)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = ScheduledDropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_mlp = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_attn(x))
        return x + self.mlp(self.ln_mlp(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        self.embedding_dropout = ScheduledDropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_final = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight
        self.apply(self._init_weights)
        # GPT-2: scale the projections that write into the residual stream by depth.
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Distinct parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (batch, time, vocab) and, given targets, the mean cross-entropy loss."""
        time = idx.size(1)
        if time > self.config.block_size:
            raise ValueError(f"sequence of length {time} exceeds block_size {self.config.block_size}")
        x = self._embed(idx)
        for block in self.blocks:
            x = block(x)
        return self._head(x, targets)

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.size(1), device=idx.device)
        return self.embedding_dropout(self.token_embedding(idx) + self.position_embedding(positions))

    def _head(
        self, x: torch.Tensor, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.lm_head(self.ln_final(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))

    def compile_regions(self) -> None:
        """Compile the embedding, each block and the head in place, as separate graphs.

        The blocks are identical modules, so Dynamo traces one and every other block reuses its
        graph: the cold compile no longer grows with depth (``torch.compile`` of the whole model
        traces and optimizes every block anew). Masks are drawn in the same order as under a
        whole-model compile; only the kernel fusion at region boundaries differs.
        """
        for block in self.blocks:
            block.compile()
        self._embed = torch.compile(self._embed)  # type: ignore[method-assign]
        self._head = torch.compile(self._head)  # type: ignore[method-assign]
