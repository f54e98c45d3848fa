"""Does the GPU path work? Hashed masks, ScheduledDropout and the trainer on CUDA, eager and compiled.

Checks, each printed as PASS or FAIL (exit status 1 when one fails):

1. masks: the counter-hash mixer and whole keep masks on CUDA, eager and compiled (Triton),
   equal the CPU mixer and each other bit for bit; ScheduledDropout drops within 5 sigma of
   each of 5 rates and scales kept values by 1/(1-p), eager and compiled, fp32 and bf16.
2. recompiles: a compiled paper-shape GPT stepping under ``linear:0.2->0.0`` (a new rate every
   step) builds no new graph after its warm-up steps, fp32 and bf16.
3. losses: eager vs compiled training at the ``paper`` preset, ``--seeds`` paired seeds x
   ``--steps`` steps, judged as ``loss_equivalence.py`` judges the CPU recipe (paired t-tests
   and the seed-to-seed spread).
4. speed (figures, no verdict): training tokens/s at dropout 0.2 vs 0, compiled, fp32 and bf16
   autocast, with MFU against a bf16 matmul measured in this process.

Without CUDA it exits with status 2 and says so. Run from the repository root:

    PYTHONPATH=src python3 benchmarks/gpu_check.py [--data tinyshakespeare.txt] [--steps 300]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
import torch._dynamo
from loss_equivalence import equivalence_verdict, val_curve
from train_throughput import SHAPES, Setup, flops_per_token, make_step, matmul_peak_gflops, time_steps

import dynadrop as dd
from dynadrop.core.hashed_masks import _mix32, hashed_dropout
from dynadrop.gpt.config import preset

RATES = (0.05, 0.1, 0.2, 0.5, 0.9)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
CHECKS = ("masks", "recompiles", "losses", "speed")
MASK_ELEMENTS = 1 << 22


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", nargs="+", choices=CHECKS, default=list(CHECKS),
                        help="which checks to run (default all)")
    parser.add_argument("--data", default=None,
                        help="training text for the loss check (default: tinyshakespeare)")
    parser.add_argument("--seeds", type=int, default=3, help="paired seeds of the loss check")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run of the loss check")
    parser.add_argument("--eval-batches", type=int, default=20, help="batches per evaluation, loss check")
    parser.add_argument("--speed-steps", type=int, default=20, help="timed steps per round, speed check")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, speed check")
    args = parser.parse_args(argv)
    for name in ("seeds", "steps", "eval_batches", "speed_steps", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if "losses" in args.checks and (args.seeds < 2 or args.steps < 5):
        parser.error(f"the loss check needs --seeds >= 2 and --steps >= 5, got {args.seeds} and {args.steps}")
    return args


def within_sigmas(dropped: float, rate: float, units: int, sigmas: float = 5.0) -> bool:
    """Whether a dropped fraction of ``units`` Bernoulli(``rate``) draws is within ``sigmas`` std of it."""
    return abs(dropped - rate) <= sigmas * math.sqrt(rate * (1 - rate) / units) + 1e-9


def model_flops_utilisation(tokens_per_s: float, flops_per_token: int, peak_gflops: float) -> float:
    """Achieved model FLOP/s (tokens/s x FLOPs per token) over a measured peak."""
    return tokens_per_s * flops_per_token / (peak_gflops * 1e9)


def report(name: str, passed: bool, detail: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}", flush=True)
    return passed


def check_masks(device: str) -> bool:
    counters = torch.arange(-(2**20), 2**20 + 3, dtype=torch.int32)
    reference = _mix32(counters)
    eager = _mix32(counters.to(device)).cpu()
    compiled = torch.compile(_mix32, fullgraph=True)(counters.to(device)).cpu()
    passed = report("mixer", torch.equal(eager, reference) and torch.equal(compiled, reference),
                    f"int32 wrap-around on {device}, eager and compiled, equals CPU bit for bit")
    ones = torch.ones(MASK_ELEMENTS, device=device)
    rate = torch.tensor(0.2, device=device)
    masks = []
    for dropout in (hashed_dropout, torch.compile(hashed_dropout, fullgraph=True)):
        torch.manual_seed(0)
        masks.append(dropout(ones, rate) != 0)
    passed &= report("hashed mask", torch.equal(*masks),
                     "eager and compiled draw the same mask from one seed")
    for dtype_name, dtype in DTYPES.items():
        for compiled in (False, True):
            layer = dd.ScheduledDropout(RATES[0]).to(device).train()
            forward = torch.compile(layer, fullgraph=True) if compiled else layer
            x = torch.ones(MASK_ELEMENTS, device=device, dtype=dtype)
            for value in RATES:
                layer.p = value
                y = forward(x)
                dropped = (y == 0).float().mean().item()
                kept = y[y != 0].float()
                scaled = torch.allclose(kept, torch.full_like(kept, 1 / (1 - value)), rtol=1e-2)
                mode = "compiled" if compiled else "eager"
                passed &= report(f"drop fraction {dtype_name} {mode} p={value}",
                                 within_sigmas(dropped, value, MASK_ELEMENTS) and scaled,
                                 f"dropped {dropped:.5f}, kept values x1/(1-p): {scaled}")
    return passed


def check_recompiles(device: str, warmup: int = 3, steps: int = 20) -> bool:
    shape, batch = SHAPES["paper"]
    passed = True
    for dtype_name, dtype in DTYPES.items():
        torch._dynamo.reset()
        step = make_step(Setup("linear:0.2->0.0", compiled=True), shape, batch, warmup + steps + 1, device,
                         bf16=dtype is torch.bfloat16)
        time_steps(step, warmup, device)
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        time_steps(step, steps, device)
        added = torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs
        passed &= report(f"recompiles {dtype_name}", added == 0,
                         f"{added} new graphs over {steps} steps with a new rate each step")
    return passed


def check_losses(device: str, args: argparse.Namespace) -> bool:
    curves: dict[bool, list[list[float]]] = {False: [], True: []}
    steps = args.steps
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.seeds):
            for compiled in (False, True):
                config = preset("paper", data=args.data, seed=seed, compile=compiled, device=device,
                                schedule="linear:0.2->0.0", max_steps=steps, warmup_steps=max(steps // 10, 1),
                                eval_interval=max(steps // 5, 1), eval_batches=args.eval_batches,
                                checkpoint_interval=steps, log_interval=steps)
                curve = val_curve(config, Path(root) / f"{'compiled' if compiled else 'eager'}-{seed}")
                curves[compiled].append(curve)
                print(f"  seed {seed} {'compiled' if compiled else 'eager   '} val loss "
                      + " ".join(f"{loss:.4f}" for loss in curve), flush=True)
    passed, lines = equivalence_verdict(curves[False], curves[True])
    return report("losses", passed, "; ".join(lines))


def check_speed(device: str, args: argparse.Namespace) -> None:
    shape, batch = SHAPES["paper"]
    tokens = batch * shape.block_size
    peak = matmul_peak_gflops(8192, repeats=5, device=device, dtype=torch.bfloat16, calls=20)
    print(f"  measured bf16 matmul peak {peak / 1000:.0f} TFLOP/s; paper shape, batch {batch}, compiled")
    for dtype_name, dtype in DTYPES.items():
        total = 5 + args.rounds * args.speed_steps
        steps = {rate: make_step(Setup(rate, compiled=True), shape, batch, total, device,
                                 bf16=dtype is torch.bfloat16) for rate in ("0.2", "0.0")}
        for step in steps.values():
            time_steps(step, 5, device)  # warm-up and the compile
        timings: dict[str, list[float]] = {rate: [] for rate in steps}
        for _ in range(args.rounds):
            for rate, step in steps.items():
                timings[rate].append(time_steps(step, args.speed_steps, device))
        for rate, times in timings.items():
            tokens_per_s = tokens / statistics.median(times) * 1000
            utilisation = model_flops_utilisation(tokens_per_s, flops_per_token(shape), peak)
            print(f"  {dtype_name} dropout {rate}: {statistics.median(times):.1f} ms/step, "
                  f"{tokens_per_s:,.0f} tokens/s, MFU {utilisation:.1%} of the bf16 matmul")
        overhead = statistics.median(timings["0.2"]) / statistics.median(timings["0.0"]) - 1
        print(f"  {dtype_name}: step time at 0.2 is {overhead:+.0%} over 0.0", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device (torch {torch.__version__}); run this on a machine with an NVIDIA "
              "GPU and a CUDA build of torch", file=sys.stderr)
        return 2
    device = "cuda"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(device)}")
    passed = True
    if "masks" in args.checks:
        passed &= check_masks(device)
    if "recompiles" in args.checks:
        passed &= check_recompiles(device)
    if "losses" in args.checks:
        passed &= check_losses(device, args)
    if "speed" in args.checks:
        check_speed(device, args)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
