"""What a dropout mask costs per element, forward + backward, by how it is drawn and kept.

One float32 tensor of ``--elements`` elements goes through dropout 0.2 and back, each variant
timed in alternating rounds in one process (medians); the figure is nanoseconds per element, and
its excess over a compiled multiply by the same scale (the traffic any dropout pays):

- compiled hashed mask, regenerated in backward (``ScheduledDropout`` compiled: the fast path)
- compiled hashed mask, stored for backward (the same hash without the checkpoint: Inductor
  saves the mask as a tensor)
- compiled ``F.dropout`` (Inductor's own random numbers: a Philox call per element on CPU)
- eager ``F.dropout`` (``bernoulli_``; what ``ScheduledDropout`` runs uncompiled)

    PYTHONPATH=src python3 benchmarks/mask_cost.py [--elements 4194304] [--rounds 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from machine_load import load_line
from train_throughput import time_steps

from dynadrop.core.hashed_masks import draw_seeds, hashed_dropout, keep_mask

RATE = 0.2


def stored_hashed_dropout(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """The hashed mask as booleans without the checkpoint, so autograd keeps it for backward."""
    keep = keep_mask(draw_seeds(x.device), rate, x.shape, torch.bool)
    return x * keep * (1.0 / (1.0 - rate))


def scale_only(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    return x * (1.0 / (1.0 - rate))


def variants(rate: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    return {
        "compiled multiply by the scale (no mask)": torch.compile(partial(scale_only, rate=rate)),
        "compiled hashed mask, regenerated (fast path)": torch.compile(partial(hashed_dropout, rate=rate)),
        "compiled hashed mask, stored": torch.compile(partial(stored_hashed_dropout, rate=rate)),
        "compiled F.dropout (Inductor's rand)": torch.compile(partial(F.dropout, p=RATE, training=True)),
        "eager F.dropout (bernoulli_)": partial(F.dropout, p=RATE, training=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=4 * 2**20, help="elements of the dropped tensor")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    parser.add_argument("--repeats", type=int, default=10, help="calls per round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(load_line(), flush=True)
    torch.manual_seed(0)
    x = torch.randn(args.elements, requires_grad=True)
    grad = torch.randn(args.elements)
    calls = {name: partial(lambda path: path(x).backward(grad), path)
             for name, path in variants(torch.tensor(RATE)).items()}
    for call in calls.values():
        time_steps(call, 3)  # warm-up (and the compile)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            times[name].append(time_steps(call, args.repeats))
    ns = {name: statistics.median(values) * 1e6 / args.elements for name, values in times.items()}
    base = ns["compiled multiply by the scale (no mask)"]
    print(f"torch {torch.__version__}, {args.threads} threads, {args.elements} float32 elements, "
          f"rate {RATE}, forward + backward, {args.rounds} rounds x {args.repeats} calls, medians")
    print(f"{'variant':48} {'ns/element':>10} {'over no mask':>12}")
    for name, value in ns.items():
        print(f"{name:48} {value:10.2f} {value - base:+12.2f}")
    print(load_line(args.threads))


if __name__ == "__main__":
    main()
