"""Cost of `DropoutScheduler.step()` as a fraction of one training step of a small GPT (target < 1%).

    python benchmarks/scheduler_overhead.py [--schedule 'cosine:0.2->0.0']
"""

from __future__ import annotations

import argparse
import time

import torch

import dynadrop as dd
from dynadrop.gpt.config import preset
from dynadrop.gpt.model import GPT, GPTConfig
from dynadrop.gpt.trainer import build_optimizer

MODEL = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
BATCH = 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", default="cosine:0.2->0.0", help="schedule spec")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--scheduler-steps", type=int, default=20_000)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = GPT(MODEL)
    optimizer = build_optimizer(model, preset("smoke"))
    x, y = torch.randint(0, MODEL.vocab_size, (2, BATCH, MODEL.block_size)).unbind(0)

    def train_step() -> None:
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    train_step()
    began = time.perf_counter()
    for _ in range(args.train_steps):
        train_step()
    train_s = (time.perf_counter() - began) / args.train_steps

    scheduler = dd.DropoutScheduler(model, args.schedule, total_steps=args.scheduler_steps)
    began = time.perf_counter()
    for _ in range(args.scheduler_steps):
        scheduler.step()
    scheduler_s = (time.perf_counter() - began) / args.scheduler_steps
    print(f"{len(scheduler.sites)} sites, schedule {args.schedule}")
    print(f"training step: {train_s * 1000:.2f} ms; DropoutScheduler.step(): {scheduler_s * 1e6:.1f} us "
          f"= {100 * scheduler_s / train_s:.3f}% of a step")


if __name__ == "__main__":
    main()
