"""Small models with dropout in every form the core must handle (test fixtures)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NanoAttention(nn.Module):
    """nanoGPT-style attention: a float `dropout` feeds SDPA, modules drop the output."""

    def __init__(self, dim: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.resid_dropout = nn.Dropout(p)
        self.dropout = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(b, t, c)))


class ProbAttention(nn.Module):
    """Attention that drops probabilities through a module (compile-safe once swapped)."""

    def __init__(self, dim: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.attn_dropout = nn.Dropout(p)
        self.resid_dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / (c // self.heads) ** 0.5
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = self.attn_dropout(att.masked_fill(~causal, float("-inf")).softmax(-1))
        return self.resid_dropout(self.proj((att @ v).transpose(1, 2).reshape(b, t, c)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, p: float, attention: type[nn.Module]) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = attention(dim, heads, p)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim, bias=False), nn.GELU(), nn.Linear(4 * dim, dim, bias=False)
        )
        self.mlp_dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_dropout(self.mlp(self.ln_2(x)))


class TinyGPT(nn.Module):
    """A two-block nanoGPT-shaped language model."""

    def __init__(
        self, vocab: int = 32, dim: int = 32, heads: int = 4, layers: int = 2, context: int = 16,
        p: float = 0.1, attention: type[nn.Module] = NanoAttention,
    ) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(vocab, dim),
                wpe=nn.Embedding(context, dim),
                drop=nn.Dropout(p),
                h=nn.ModuleList(Block(dim, heads, p, attention) for _ in range(layers)),
                ln_f=nn.LayerNorm(dim),
            )
        )
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


class LSTMTagger(nn.Module):
    def __init__(self, p: float = 0.2) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.embed_dropout = nn.Dropout(p)
        self.lstm = nn.LSTM(16, 32, num_layers=3, dropout=p, batch_first=True)
        self.head = nn.Linear(32, 5)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed_dropout(self.embed(idx)))
        return self.head(out)


def encoder(p: float = 0.1) -> nn.Module:
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=p, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
