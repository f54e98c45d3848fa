"""Training throughput of the GPT: eager fp32 reference vs torch.compile, per dropout schedule.

Shapes: nanoGPT's CPU recipe (4 layers, 4 heads, 128-dim, context 64, batch 12), the ``cpu``
preset's model (4x192, context 64, batch 12) and the paper preset (6x384, context 256, batch 64;
pass ``--shape paper`` and few steps). Compiled configurations run per compile strategy
(``whole``: one graph; ``regional``: embedding, head and one block graph the blocks share).
Schedules: constant 0.2, constant 0.0, and ``linear:0.2->0.0`` over the timed steps (rates
change every step, so the compiled path must survive them without recompiling). Configurations
run alternately, several rounds, so drifting machine load hits them all alike; medians are
reported, and the ratios that matter (compiled/eager tokens/s, step time at 0.2 over 0.0) are
taken within one run.

Model FLOP utilisation uses nanoGPT's (PaLM's) count, per token 6*N + 12*L*C*T (N parameters
without the position embedding, L layers, C width, T context), against the measured rate of a
large matmul in the step's dtype in this process (2*n^3 / time; bf16 under ``--dtype bfloat16``),
not a datasheet peak. Random tokens stand in for data (speed does not depend on them).

    PYTHONPATH=src python3 benchmarks/train_throughput.py [--steps 20] [--rounds 5] [--threads 2]
    PYTHONPATH=src python3 benchmarks/train_throughput.py --shape paper --steps 3 --rounds 3
    PYTHONPATH=src python3 benchmarks/train_throughput.py --shape cpu --compile-time-only
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import torch
from machine_load import load_line

import dynadrop as dd
from dynadrop.gpt.compiling import COMPILE_STRATEGIES, compile_gpt
from dynadrop.gpt.config import DTYPES, preset
from dynadrop.gpt.model import ATTENTION_PATHS, GPT, GPTConfig
from dynadrop.gpt.trainer import build_optimizer

SHAPES = {
    "recipe": (GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128), 12),
    "cpu": (GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=192), 12),
    "paper": (GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384), 64),
}
SCHEDULES = ("0.2", "0.0", "linear:0.2->0.0")
OPTIMIZERS = ("for-loop", "fused")


@dataclass(frozen=True)
class Setup:
    schedule: str
    compiled: bool
    strategy: str = "whole"  # how, when compiled (dynadrop.gpt.compiling)

    @property
    def label(self) -> str:
        return f"{self.strategy if self.compiled else 'eager':8} {self.schedule:>15}"


def make_optimizer(model: torch.nn.Module, kind: str) -> torch.optim.AdamW:
    """The trainer's AdamW (``for-loop``: PyTorch's default on CPU, one parameter at a time) or the
    same groups ``fused``."""
    optimizer = build_optimizer(model, preset("smoke"))
    if kind == "for-loop":
        return optimizer
    if kind == "fused":
        return torch.optim.AdamW(optimizer.param_groups, fused=True)
    raise ValueError(f"unknown optimizer {kind!r}; allowed: {', '.join(OPTIMIZERS)}")


def make_step(setup: Setup, shape: GPTConfig, batch: int, total_steps: int, device: str = "cpu",
              bf16: bool = False, optimizer_kind: str = "for-loop",
              group_schedules: Mapping[str, str] | None = None) -> Callable[[], None]:
    """One optimizer step (forward, backward, clipping, AdamW, scheduler) of a fresh model.

    ``bf16`` runs forward and loss under bfloat16 autocast (the weights stay fp32), as the trainer does.
    ``group_schedules`` (site group -> spec) replaces ``setup.schedule`` with one schedule per group.
    """
    torch.manual_seed(0)
    model = GPT(shape).to(device)
    schedule = dict(group_schedules) if group_schedules is not None else setup.schedule
    scheduler = dd.DropoutScheduler(model, schedule, total_steps=total_steps)
    optimizer = make_optimizer(model, optimizer_kind)
    forward = compile_gpt(model, model, setup.strategy) if setup.compiled else model
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


def first_step_seconds(shape: GPTConfig, batch: int, strategy: str) -> float:
    """Seconds of the first (compiling) step of a fresh model in this process."""
    step = make_step(Setup("0.2", True, strategy), shape, batch, total_steps=1)
    return time_steps(step, 1) / 1000


def compile_seconds(args: argparse.Namespace, strategy: str) -> tuple[float, float]:
    """Cold and warm first-step seconds, each in a fresh process (cold: an empty Inductor cache)."""
    command = [sys.executable, __file__, "--shape", args.shape, "--threads", str(args.threads),
               "--attention", args.attention, "--first-step", strategy]
    with tempfile.TemporaryDirectory() as cache:
        environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        cold, warm = (float(subprocess.run(command, env=environment, check=True, capture_output=True,
                                           text=True).stdout.split()[-1]) for _ in range(2))
    return cold, warm


def print_compile_times(args: argparse.Namespace) -> None:
    for strategy in COMPILE_STRATEGIES:
        cold, warm = compile_seconds(args, strategy)
        print(f"compile time {strategy:8}: cold {cold:5.1f} s, warm {warm:5.1f} s (first step, "
              f"forward + backward, rate 0.2); {load_line(args.threads)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="recipe")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    parser.add_argument("--strategies", default=",".join(COMPILE_STRATEGIES),
                        help=f"compile strategies to time, comma-separated ({', '.join(COMPILE_STRATEGIES)})")
    parser.add_argument("--attention", choices=ATTENTION_PATHS, default=GPTConfig.attention,
                        help=f"the attention path (GPTConfig.attention, default {GPTConfig.attention})")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="for-loop",
                        help="AdamW implementation (the trainer's is PyTorch's CPU default, for-loop)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="bfloat16: forward and loss under bf16 autocast, weights fp32")
    parser.add_argument("--compile-time-only", action="store_true", help="only the cold/warm compile times")
    parser.add_argument("--no-compile-time", action="store_true", help="skip the cold/warm compile times")
    parser.add_argument("--first-step", choices=COMPILE_STRATEGIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape, batch = SHAPES[args.shape]
    shape = replace(shape, attention=args.attention)
    if args.first_step:
        print(first_step_seconds(shape, batch, args.first_step))
        return
    print(load_line(), flush=True)
    if not args.no_compile_time:
        print_compile_times(args)
    if args.compile_time_only:
        return
    strategies = [name.strip() for name in args.strategies.split(",") if name.strip()]
    for name in strategies:
        if name not in COMPILE_STRATEGIES:
            raise SystemExit(f"unknown strategy {name!r} in --strategies; "
                             f"allowed: {', '.join(COMPILE_STRATEGIES)}")
    modes = [(False, "whole"), *((True, strategy) for strategy in strategies)]
    setups = [Setup(schedule, compiled, strategy) for compiled, strategy in modes for schedule in SCHEDULES]
    total_steps = 3 + args.rounds * args.steps
    steps = {setup: make_step(setup, shape, batch, total_steps, bf16=args.dtype == "bfloat16",
                              optimizer_kind=args.optimizer)
             for setup in setups}
    for step in steps.values():
        time_steps(step, 3)  # warm-up (and the compile)
    timings: dict[Setup, list[float]] = {setup: [] for setup in setups}
    peaks = []
    for _ in range(args.rounds):
        peaks.append(matmul_peak_gflops(dtype=getattr(torch, args.dtype)))
        for setup in setups:
            timings[setup].append(time_steps(steps[setup], args.steps))
    median_ms = {setup: statistics.median(times) for setup, times in timings.items()}
    tokens = batch * shape.block_size
    peak = statistics.median(peaks)
    print(f"torch {torch.__version__}, {args.threads} threads, shape {args.shape}, {args.attention} "
          f"attention, {args.optimizer} AdamW, {args.dtype} ({shape.n_layer}x{shape.n_embd}, "
          f"context {shape.block_size}, batch {batch}), "
          f"{args.rounds} rounds x {args.steps} steps, medians")
    step_gflop = flops_per_token(shape) * tokens / 1e9
    print(f"measured {args.dtype} matmul peak {peak:.0f} GFLOP/s; {step_gflop:.2f} GFLOP per step")
    print(f"{'mode':8} {'schedule':>15} {'ms/step':>8} {'tokens/s':>9} {'vs eager':>8} {'MFU':>6}")
    for setup in setups:
        ms = median_ms[setup]
        speedup = median_ms[Setup(setup.schedule, False)] / ms
        utilisation = flops_per_token(shape) * tokens / (ms / 1000) / (peak * 1e9)
        print(f"{setup.label} {ms:>8.1f} {tokens / ms * 1000:>9.0f} {speedup:>7.2f}x {utilisation:>6.1%}")
    for compiled, strategy in modes:
        at_rate, at_zero = (median_ms[Setup(rate, compiled, strategy)] for rate in ("0.2", "0.0"))
        overhead = at_rate / at_zero - 1
        print(f"dropout overhead ({strategy if compiled else 'eager'}): step time at 0.2 is "
              f"{overhead:+.0%} over 0.0")
    print(load_line(args.threads))


if __name__ == "__main__":
    main()
