"""`dynadrop demo`: train a small MLP under a dropout schedule and print rate and losses."""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from dynadrop.cli.arguments import positive_int
from dynadrop.core import SPEC_HELP, DropoutScheduler, parse_schedule
from dynadrop.examples import mlp, noisy_classification


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    train_x, train_y = noisy_classification(args.train_samples, seed=args.seed)
    val_x, val_y = noisy_classification(4000, seed=args.seed + 1)
    model = mlp()
    scheduler = DropoutScheduler(model, parse_schedule(args.schedule), total_steps=args.steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    print(f"{scheduler}\n{'step':>6} {'rate':>7} {'train loss':>11} {'val loss':>9}")
    every = max(args.steps // args.evals, 1)
    for step in range(1, args.steps + 1):
        batch = torch.randint(0, len(train_x), (args.batch_size,))
        model.train()
        loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % every == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                train_loss = F.cross_entropy(model(train_x), train_y).item()
                val_loss = F.cross_entropy(model(val_x), val_y).item()
            scheduler.observe(val_loss=val_loss)
            rate = next(iter(scheduler.rates.values()))
            print(f"{step:>6} {rate:>7.4f} {train_loss:>11.4f} {val_loss:>9.4f}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train a small MLP under a dropout schedule (seconds, no data needed)",
        description="Train a small MLP on a synthetic, label-noisy classification task while a "
        "DropoutScheduler changes its dropout rate; print the rate and the eval-mode train and "
        "validation losses.",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--schedule", default="linear:0.5->0.0", help="schedule spec")
    parser.add_argument("--steps", type=positive_int, default=1500, help="optimizer steps (default 1500)")
    parser.add_argument("--evals", type=positive_int, default=10, help="evaluations (default 10)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--train-samples", type=positive_int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)
