"""Training throughput of the GPT on nanoGPT's CPU recipe: dropout 0.2 vs 0.0, eager vs compiled.

4 layers, 4 heads, 128-dim, context 64, batch 12 (nanoGPT's `train_shakespeare_char` CPU line).
Configurations run alternately, several rounds, so drifting machine load hits them all alike;
the median ms/step is reported. Random tokens stand in for data (speed does not depend on them).

    python benchmarks/train_throughput.py [--steps 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import dynadrop as dd
from dynadrop.gpt.config import preset
from dynadrop.gpt.model import GPT, GPTConfig
from dynadrop.gpt.trainer import build_optimizer

RECIPE = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
BATCH = 12


def make_step(rate: float, compiled: bool):
    torch.manual_seed(0)
    model = GPT(RECIPE)
    scheduler = dd.DropoutScheduler(model, rate, total_steps=10**6)
    optimizer = build_optimizer(model, preset("smoke"))
    forward = torch.compile(model) if compiled else model
    x, y = torch.randint(0, RECIPE.vocab_size, (2, BATCH, RECIPE.block_size)).unbind(0)

    def step() -> None:
        _, loss = forward(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()

    return step


def time_steps(step, steps: int) -> float:
    began = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - began) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    configs = [(rate, compiled) for compiled in (False, True) for rate in (0.2, 0.0)]
    steps = {}
    for config in configs:
        steps[config] = make_step(*config)
        time_steps(steps[config], 3)  # warm-up (and the compile)
    timings = {config: [] for config in configs}
    for _ in range(args.rounds):
        for config in configs:
            timings[config].append(time_steps(steps[config], args.steps))
    tokens = BATCH * RECIPE.block_size
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds x {args.steps} steps, median")
    print(f"{'mode':9} {'dropout':>7} {'ms/step':>8} {'tokens/s':>9}")
    for rate, compiled in configs:
        ms = statistics.median(timings[(rate, compiled)])
        print(f"{'compiled' if compiled else 'eager':9} {rate:>7.1f} {ms:>8.1f} {tokens / ms * 1000:>9.0f}")


if __name__ == "__main__":
    main()
