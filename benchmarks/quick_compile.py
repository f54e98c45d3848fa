"""Does compiling pay off for the ``quick`` comparison? One of its runs, eager and compiled, side by side.

A comparison starts every run in a fresh process (``--jobs 2``: two at a time, one torch thread
each), so what a run costs is a fresh process's: imports, data, compile (cold on an empty
Inductor cache, warm when an earlier run left the graphs there) and 600 training steps. Each
mode here is one such process training the quick preset's fixed-0.2 run (seed 0), in rounds
that alternate the modes; cold runs get a new empty cache each time. ``eager explicit`` is the
eager run on the explicit attention path (what the quick preset ran before the fused kernel).
Printed: process seconds, the trainer's training time, steady tokens/s (median of the logged
ones) and, for each compile strategy, how many warm runs it takes to earn back one cold compile.

    PYTHONPATH=src python3 benchmarks/quick_compile.py --data PATH [--rounds 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from machine_load import load_line

from dynadrop.experiments.workload import train_config
from dynadrop.gpt.compiling import COMPILE_STRATEGIES
from dynadrop.gpt.trainer import METRICS_FILE, train

MODES = ("eager", "eager explicit",
         *(f"{strategy} {cache}" for strategy in COMPILE_STRATEGIES for cache in ("cold", "warm")))


def train_one(mode: str, data: str, run_dir: Path, threads: int) -> dict[str, float]:
    """In this process: the quick preset's fixed-0.2 run, eager or compiled by ``mode``'s strategy."""
    torch.set_num_threads(threads)
    strategy, _, variant = mode.partition(" ")
    attention = {"attention": "explicit"} if variant == "explicit" else {}
    config = replace(train_config("quick", {"data": data, **attention}, "constant:0.2", 0),
                     compile=strategy != "eager")
    summary = train(config, run_dir, progress=False,
                    compile_strategy=strategy if strategy != "eager" else "whole")
    logged = [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]
    rates = [record["tokens_per_s"] for record in logged if record["type"] == "train"][2:]
    return {"train_s": summary["train_time_s"], "tokens_per_s": statistics.median(rates),
            "best_val_loss": summary["best_val_loss"]}


def run_process(mode: str, args: argparse.Namespace, cache: str, scratch: Path) -> dict[str, float]:
    """``mode`` in a fresh process with Inductor cache ``cache``; adds its wall seconds."""
    run_dir = Path(tempfile.mkdtemp(dir=scratch))
    command = [sys.executable, __file__, "--data", args.data, "--threads", str(args.threads),
               "--one", mode, "--run-dir", str(run_dir)]
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}, check=True,
                          capture_output=True, text=True)
    return {"process_s": time.perf_counter() - started, **json.loads(done.stdout.splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the training text (tinyshakespeare)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of every mode")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (1: what each of compare --jobs 2 gets here)")
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(train_one(args.one, args.data, args.run_dir, args.threads)))
        return
    print(load_line(), flush=True)
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    caches: dict[str, str] = {}  # strategy -> the cache its last cold run filled
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.rounds):
            for mode in MODES:
                strategy, _, cache = mode.partition(" ")
                if cache != "warm":
                    caches[strategy] = tempfile.mkdtemp(dir=scratch)
                results[mode].append(run_process(mode, args, caches[strategy], Path(scratch)))
                print(f"  {mode:14} {results[mode][-1]['process_s']:5.1f} s", flush=True)
    medians = {mode: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
               for mode, runs in results.items()}
    eager = medians["eager"]
    print(f"quick preset, fixed 0.2, seed 0, 600 steps, {args.threads} thread(s), "
          f"{args.rounds} rounds, medians (a warm run follows a cold one of its strategy)")
    print(f"{'mode':14} {'process s':>9} {'train s':>8} {'tokens/s':>9} {'vs eager':>8} {'best val':>8}")
    for mode, values in medians.items():
        print(f"{mode:14} {values['process_s']:>9.1f} {values['train_s']:>8.1f} "
              f"{values['tokens_per_s']:>9.0f} {eager['process_s'] / values['process_s']:>7.2f}x "
              f"{values['best_val_loss']:>8.4f}")
    explicit = medians["eager explicit"]
    print(f"eager: the fused attention kernel trains {explicit['train_s'] / eager['train_s']:.2f}x as fast "
          f"as the explicit path ({eager['train_s']:.1f} vs {explicit['train_s']:.1f} s of training)")
    for strategy in COMPILE_STRATEGIES:
        cold, warm = medians[f"{strategy} cold"]["process_s"], medians[f"{strategy} warm"]["process_s"]
        saved = eager["process_s"] - warm
        runs = (cold - eager["process_s"]) / saved if saved > 0 else None
        verdict = (f"one cold compile is earned back after {runs:.0f} warm runs" if runs is not None
                   else "a warm run is not faster than an eager one: compiling never pays off")
        print(f"{strategy}: a warm run saves {saved:+.1f} s of {eager['process_s']:.1f} s; {verdict}")
    print(load_line(args.threads))


if __name__ == "__main__":
    main()
