"""A plain nanoGPT-style model at a fixed dropout rate vs dynadrop's compiled GPT with a schedule.

The peer is written here for the benchmark, the way users train today: ``nn.Dropout`` on the
embeddings, the residual branches and the MLP, and SDPA's own ``dropout_p`` on the attention
probabilities, all at one fixed rate (a Python float: changing it under ``torch.compile`` would
recompile). It runs eager and ``torch.compile``d. dynadrop's GPT (same shape, same batches from
the same text, same AdamW) runs compiled with a fixed rate and with a *changing* schedule,
``linear:0.2->0.0`` over the timed steps (a new rate every step). Configurations alternate over
rounds; medians; tokens/s ratios against the compiled peer at 0.2 (goal: the schedule >= 1.5x).
The load average is printed first and last: only an idle machine's figures are results.

    PYTHONPATH=src python3 benchmarks/peer_nanogpt.py --data /path/to/tinyshakespeare.txt \\
        [--shape cpu] [--steps 20] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from machine_load import load_line
from torch import nn
from train_throughput import SHAPES, time_steps

import dynadrop as dd
from dynadrop.gpt.compiling import COMPILE_STRATEGIES, compile_gpt
from dynadrop.gpt.config import preset
from dynadrop.gpt.data import encode_text
from dynadrop.gpt.model import GPT, GPTConfig
from dynadrop.gpt.trainer import build_optimizer

PEER_RATE = 0.2


class PeerAttention(nn.Module):
    def __init__(self, config: GPTConfig, rate: float) -> None:
        super().__init__()
        self.heads, self.rate = config.n_head, rate
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.out = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.drop = nn.Dropout(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = (part.reshape(batch, time, self.heads, width // self.heads).transpose(1, 2)
                   for part in self.qkv(x).chunk(3, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.rate if self.training else 0.0,
                                           is_causal=True)
        return self.drop(self.out(y.transpose(1, 2).reshape(batch, time, width)))


class PeerBlock(nn.Module):
    def __init__(self, config: GPTConfig, rate: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = (nn.LayerNorm(config.n_embd, bias=config.bias) for _ in range(2))
        self.attention = PeerAttention(config, rate)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias), nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias), nn.Dropout(rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


class PeerGPT(nn.Module):
    """Pre-LayerNorm decoder with tied embeddings and fixed-rate dropout: the usual way."""

    def __init__(self, config: GPTConfig, rate: float) -> None:
        super().__init__()
        self.tokens = nn.Embedding(config.vocab_size, config.n_embd)
        self.positions = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(rate)
        self.layers = nn.Sequential(*(PeerBlock(config, rate) for _ in range(config.n_layer)))
        self.norm = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tokens.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(idx.size(1), device=idx.device)
        logits = self.head(self.norm(self.layers(self.drop(self.tokens(idx) + self.positions(positions)))))
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def batches(text: str, shape: GPTConfig, batch: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` random (input, target) windows of the character-encoded text, seeded."""
    vocab = "".join(sorted(set(text)))
    if len(vocab) > shape.vocab_size:
        raise SystemExit(f"the text has {len(vocab)} distinct characters; "
                         f"the shape allows {shape.vocab_size}")
    data = torch.tensor(encode_text(vocab, text), dtype=torch.long)
    generator = torch.Generator().manual_seed(0)
    drawn = []
    for _ in range(count):
        starts = torch.randint(len(data) - shape.block_size - 1, (batch,), generator=generator)
        window = torch.stack([data[start:start + shape.block_size + 1] for start in starts.tolist()])
        drawn.append((window[:, :-1], window[:, 1:]))
    return drawn


def make_step(label: str, shape: GPTConfig, data: list[tuple[torch.Tensor, torch.Tensor]],
              total_steps: int) -> Callable[[], None]:
    """One optimizer step of a fresh model; ``label`` is ``peer-eager``, ``peer-compiled`` or
    ``dynadrop-STRATEGY SCHEDULE``."""
    torch.manual_seed(0)
    scheduler = None
    if label.startswith("peer"):
        model: nn.Module = PeerGPT(shape, PEER_RATE)
        forward = torch.compile(model) if label == "peer-compiled" else model
    else:
        strategy, schedule = label.removeprefix("dynadrop-").split(" ")
        model = GPT(shape)
        scheduler = dd.DropoutScheduler(model, schedule, total_steps=total_steps)
        forward = compile_gpt(model, model, strategy)
    optimizer = build_optimizer(model, preset("smoke"))
    position = iter(range(10**9))

    def step() -> None:
        x, y = data[next(position) % len(data)]
        _, loss = forward(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the training text (tinyshakespeare)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="cpu")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    parser.add_argument("--strategy", choices=COMPILE_STRATEGIES, default="whole",
                        help="how dynadrop's GPT is compiled")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(load_line(), flush=True)
    shape, batch = SHAPES[args.shape]
    total_steps = 3 + args.rounds * args.steps
    data = batches(Path(args.data).read_text(), shape, batch, count=64)
    labels = ["peer-eager", "peer-compiled", f"dynadrop-{args.strategy} {PEER_RATE}",
              f"dynadrop-{args.strategy} linear:{PEER_RATE}->0.0"]
    steps = {label: make_step(label, shape, data, total_steps) for label in labels}
    for step in steps.values():
        time_steps(step, 3)  # warm-up (and the compile)
    timings: dict[str, list[float]] = {label: [] for label in labels}
    for _ in range(args.rounds):
        for label in labels:
            timings[label].append(time_steps(steps[label], args.steps))
    tokens = batch * shape.block_size
    print(f"torch {torch.__version__}, {args.threads} threads, shape {args.shape} ({shape.n_layer}x"
          f"{shape.n_embd}, context {shape.block_size}, batch {batch}), {args.rounds} rounds x "
          f"{args.steps} steps, medians; peer at a fixed rate {PEER_RATE}")
    reference = statistics.median(timings["peer-compiled"])
    print(f"{'configuration':36} {'ms/step':>8} {'tokens/s':>9} {'vs peer-compiled':>16}")
    for label in labels:
        ms = statistics.median(timings[label])
        print(f"{label:36} {ms:>8.1f} {tokens / ms * 1000:>9.0f} {reference / ms:>15.2f}x")
    print(load_line(args.threads))


if __name__ == "__main__":
    main()
