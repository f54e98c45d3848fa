"""Training throughput of the GPT: eager fp32 reference vs torch.compile, per dropout schedule.

Shapes: nanoGPT's CPU recipe (4 layers, 4 heads, 128-dim, context 64, batch 12) and the paper
preset (6x384, context 256, batch 64; pass ``--shape paper`` and few steps). Schedules: constant
0.2, constant 0.0, and ``linear:0.2->0.0`` over the timed steps (rates change every step, so the
compiled path must survive them without recompiling). Configurations run alternately, several
rounds, so drifting machine load hits them all alike; medians are reported, and the ratios
that matter (compiled/eager tokens/s, step time at 0.2 over 0.0) are taken within one run.

Model FLOP utilisation uses nanoGPT's (PaLM's) count, per token 6*N + 12*L*C*T (N parameters
without the position embedding, L layers, C width, T context), against the measured rate of a
large fp32 matmul in this process (2*n^3 / time), not a datasheet peak. Random tokens stand in
for data (speed does not depend on them).

    PYTHONPATH=src python3 benchmarks/train_throughput.py [--steps 20] [--rounds 5] [--threads 2]
    PYTHONPATH=src python3 benchmarks/train_throughput.py --shape paper --steps 3 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import dynadrop as dd
from dynadrop.gpt.config import preset
from dynadrop.gpt.model import GPT, GPTConfig
from dynadrop.gpt.trainer import build_optimizer

SHAPES = {
    "recipe": (GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128), 12),
    "paper": (GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384), 64),
}
SCHEDULES = ("0.2", "0.0", "linear:0.2->0.0")


@dataclass(frozen=True)
class Setup:
    schedule: str
    compiled: bool

    @property
    def label(self) -> str:
        return f"{'compiled' if self.compiled else 'eager':8} {self.schedule:>15}"


def make_step(setup: Setup, shape: GPTConfig, batch: int, total_steps: int, device: str = "cpu",
              bf16: bool = False) -> Callable[[], None]:
    """One optimizer step (forward, backward, clipping, AdamW, scheduler) of a fresh model.

    ``bf16`` runs forward and loss under bfloat16 autocast (the weights stay fp32), as the trainer does.
    """
    torch.manual_seed(0)
    model = GPT(shape).to(device)
    scheduler = dd.DropoutScheduler(model, setup.schedule, total_steps=total_steps)
    optimizer = build_optimizer(model, preset("smoke"))
    forward = torch.compile(model) if setup.compiled else model
    x, y = torch.randint(0, shape.vocab_size, (2, batch, shape.block_size), device=device).unbind(0)

    def step() -> None:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            _, loss = forward(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()

    return step


def time_steps(step: Callable[[], None], steps: int, device: str = "cpu") -> float:
    """Mean milliseconds per step over ``steps`` steps (waiting for a GPU to finish them)."""
    synchronize(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - began) / steps * 1000


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(size: int = 2048, repeats: int = 5, device: str = "cpu",
                       dtype: torch.dtype = torch.float32, calls: int = 1) -> float:
    """Best GFLOP/s of a ``size``-square matmul (mean of ``calls`` back to back, best of ``repeats``).

    The ceiling the model's matmuls could reach; a GPU needs many calls to hide launch overhead.
    """
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b
    best = min(time_steps(lambda: a @ b, calls, device) for _ in range(repeats)) / 1000
    return 2 * size**3 / best / 1e9


def flops_per_token(shape: GPTConfig) -> int:
    """Training FLOPs per token: 6 * parameters (less position embedding) + attention's 12*L*C*T."""
    parameters = GPT(shape).num_parameters() - shape.block_size * shape.n_embd
    return 6 * parameters + 12 * shape.n_layer * shape.n_embd * shape.block_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="recipe")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape, batch = SHAPES[args.shape]
    setups = [Setup(schedule, compiled) for compiled in (False, True) for schedule in SCHEDULES]
    total_steps = 3 + args.rounds * args.steps
    steps = {setup: make_step(setup, shape, batch, total_steps) for setup in setups}
    for step in steps.values():
        time_steps(step, 3)  # warm-up (and the compile)
    timings: dict[Setup, list[float]] = {setup: [] for setup in setups}
    peaks = []
    for _ in range(args.rounds):
        peaks.append(matmul_peak_gflops())
        for setup in setups:
            timings[setup].append(time_steps(steps[setup], args.steps))
    median_ms = {setup: statistics.median(times) for setup, times in timings.items()}
    tokens = batch * shape.block_size
    peak = statistics.median(peaks)
    print(f"torch {torch.__version__}, {args.threads} threads, shape {args.shape} "
          f"({shape.n_layer}x{shape.n_embd}, context {shape.block_size}, batch {batch}), "
          f"{args.rounds} rounds x {args.steps} steps, medians")
    print(f"measured fp32 matmul peak {peak:.0f} GFLOP/s; {flops_per_token(shape) * tokens / 1e9:.2f} "
          "GFLOP per step")
    print(f"{'mode':8} {'schedule':>15} {'ms/step':>8} {'tokens/s':>9} {'vs eager':>8} {'MFU':>6}")
    for setup in setups:
        ms = median_ms[setup]
        speedup = median_ms[Setup(setup.schedule, False)] / ms
        utilisation = flops_per_token(shape) * tokens / (ms / 1000) / (peak * 1e9)
        print(f"{setup.label} {ms:>8.1f} {tokens / ms * 1000:>9.0f} {speedup:>7.2f}x {utilisation:>6.1%}")
    for compiled in (False, True):
        overhead = median_ms[Setup("0.2", compiled)] / median_ms[Setup("0.0", compiled)] - 1
        print(f"dropout overhead ({'compiled' if compiled else 'eager'}): step time at 0.2 is "
              f"{overhead:+.0%} over 0.0")


if __name__ == "__main__":
    main()
