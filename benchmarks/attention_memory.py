"""Peak memory of a training step: explicit (O(T^2)) vs blocked (O(T * block)) attention dropout.

Each (context, path) pair runs in a fresh process: build the ``cpu`` preset's model (4x192) at that
context, then train a few steps at rate 0.2 and report the peak resident set size above the RSS
before the first step (``ru_maxrss``), and the median step time. ``--compiled`` runs the model
through ``torch.compile`` (one cold compile per process, not timed). The load average is printed
first and last: only an idle machine's timings are results (memory is steadier).

    PYTHONPATH=src python3 benchmarks/attention_memory.py [--contexts 256,1024] [--batch 4] [--compiled]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

import torch
from machine_load import load_line

import dynadrop as dd
from dynadrop.gpt.model import ATTENTION_PATHS, GPT, GPTConfig


def rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def measure(context: int, path: str, batch: int, steps: int, compiled: bool) -> str:
    """``peak_mib median_ms`` of ``steps`` forward+backward steps of a fresh model."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=context, n_layer=4, n_head=4, n_embd=192,
                          attention=path))
    dd.DropoutScheduler(model, "0.2", total_steps=steps)
    forward = torch.compile(model) if compiled else model
    x, y = torch.randint(0, 65, (2, batch, context)).unbind(0)
    if compiled:
        forward(x, y)[1].backward()  # the compile, outside the measurement
        model.zero_grad(set_to_none=True)
    before = current_rss_mib()
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        forward(x, y)[1].backward()
        model.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - began) * 1000)
    return f"{rss_mib() - before:.0f} {statistics.median(times):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="256,1024", help="comma-separated context lengths")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--compiled", action="store_true", help="through torch.compile")
    parser.add_argument("--one", nargs=2, metavar=("CONTEXT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(measure(int(args.one[0]), args.one[1], args.batch, args.steps, args.compiled))
        return
    print(load_line(), flush=True)
    print(f"torch {torch.__version__}, cpu preset model (4x192), batch {args.batch}, rate 0.2, "
          f"{'compiled' if args.compiled else 'eager'}, {args.steps} steps per process")
    print(f"{'context':>7} {'path':>8} {'peak RSS above start':>21} {'ms/step':>8}")
    for context in (int(value) for value in args.contexts.split(",")):
        for path in ATTENTION_PATHS:
            command = [sys.executable, __file__, "--one", str(context), path, "--batch", str(args.batch),
                       "--steps", str(args.steps), *(["--compiled"] if args.compiled else [])]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            peak, ms = output.split()[-2:]
            print(f"{context:>7} {path:>8} {peak:>17} MiB {ms:>8}", flush=True)
    print(load_line(torch.get_num_threads()))


if __name__ == "__main__":
    main()
