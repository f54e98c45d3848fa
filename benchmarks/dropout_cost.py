"""Where a compiled step's dropout time goes at the CPU recipe (4x128, context 64, batch 12).

Three views, each side by side in one process, medians over alternating rounds:

1. **Per site group**: the compiled (``whole``) step with dropout 0.2 in one group at a time
   (embedding, attention, residual, mlp), in none and in all, as % over none.
2. **Attention alone** (one layer's q, k, v -> output, forward + backward): PyTorch's fused CPU
   kernel (``scaled_dot_product_attention``, no dropout: the explicit path at rate 0), dynadrop's
   fused kernel without dropout and with the mask drawn inside (what the model runs at 0 and at
   0.2), the explicit path without dropout and with the hashed mask, the blocked path, and SDPA
   with ``dropout_p=0.2`` (what a plain model gets on CPU: the math fallback).
3. **Profile shares** of a compiled step at 0.0 and 0.2: matrix products, Inductor's fused
   kernels, the fused attention kernels (PyTorch's and dynadrop's), the AdamW step, the rest.

    PYTHONPATH=src python3 benchmarks/dropout_cost.py [--rounds 7] [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from machine_load import load_line
from torch.profiler import ProfilerActivity, profile
from train_throughput import SHAPES, Setup, make_step, time_steps

from dynadrop.core.attention import blocked_causal_attention, explicit_causal_attention
from dynadrop.core.fused_attention import fused_causal_attention
from dynadrop.core.hashed_masks import hashed_dropout

GROUPS = ("embedding", "attention", "residual", "mlp")
RATE = "0.2"
MATMULS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm")
SDPA_KERNEL = "PyTorch's fused SDPA kernel, no dropout"


def group_schedules(dropped: tuple[str, ...]) -> dict[str, str]:
    return {group: RATE if group in dropped else "0.0" for group in GROUPS}


def alternate(calls: dict[str, Callable[[], None]], rounds: int, repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each, timed in alternating rounds after a warm-up."""
    for call in calls.values():
        time_steps(call, 3)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(time_steps(call, repeats))
    return {name: statistics.median(values) for name, values in times.items()}


def per_site(args: argparse.Namespace) -> None:
    shape, batch = SHAPES["recipe"]
    variants = {"none": (), **{group: (group,) for group in GROUPS}, "all": GROUPS}
    steps = {name: make_step(Setup(RATE, True), shape, batch, total_steps=10_000,
                             group_schedules=group_schedules(dropped))
             for name, dropped in variants.items()}
    ms = alternate(steps, args.rounds, args.steps)
    print(f"1. compiled step, dropout {RATE} in one site group at a time:")
    for name, value in ms.items():
        print(f"   {name:10} {value:6.2f} ms  {value / ms['none'] - 1:+6.1%}")


def attention_alone(args: argparse.Namespace) -> None:
    shape, batch = SHAPES["recipe"]
    head_dim = shape.n_embd // shape.n_head
    torch.manual_seed(0)
    q, k, v = (torch.randn(batch, shape.n_head, shape.block_size, head_dim, requires_grad=True)
               for _ in range(3))
    grad = torch.randn(batch, shape.n_head, shape.block_size, head_dim)
    rate = torch.tensor(float(RATE))
    causal = torch.ones(shape.block_size, shape.block_size, dtype=torch.bool).tril()
    explicit = partial(explicit_causal_attention, causal=causal)
    paths: dict[str, Callable[..., torch.Tensor]] = {
        SDPA_KERNEL: partial(F.scaled_dot_product_attention, is_causal=True),
        "dynadrop fused kernel, no dropout (the model at 0)": fused_causal_attention,
        f"dynadrop fused kernel + mask {RATE} (the model at {RATE})": partial(fused_causal_attention,
                                                                              rate=rate),
        "explicit, no dropout, compiled": torch.compile(explicit),
        f"explicit + hashed mask {RATE}, compiled": torch.compile(
            partial(explicit, dropout=partial(hashed_dropout, rate=rate))),
        f"blocked + hashed mask {RATE}, compiled": torch.compile(
            partial(blocked_causal_attention, rate=rate)),
        f"SDPA dropout_p={RATE}, eager (plain model)": partial(
            F.scaled_dot_product_attention, dropout_p=float(RATE), is_causal=True),
    }

    def forward_backward(path: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            path(q, k, v).backward(grad)
        return call

    ms = alternate({name: forward_backward(path) for name, path in paths.items()}, args.rounds, 50)
    reference = ms[SDPA_KERNEL]
    print(f"2. one attention layer, forward + backward ({batch}x{shape.n_head} heads, context "
          f"{shape.block_size}, head dim {head_dim}); x{shape.n_layer} layers per step:")
    for name, value in ms.items():
        print(f"   {name:52} {value:6.3f} ms  {value / reference:5.2f}x  "
              f"({(value - reference) * shape.n_layer:+.2f} ms per step)")


def profile_shares(args: argparse.Namespace) -> None:
    shape, batch = SHAPES["recipe"]
    print("3. where a compiled step's time goes (torch.profiler, self time):")
    for rate in ("0.0", RATE):
        step = make_step(Setup(rate, True), shape, batch, total_steps=10_000)
        time_steps(step, 5)
        with profile(activities=[ProfilerActivity.CPU]) as profiled:
            time_steps(step, args.steps)
        events = profiled.key_averages()
        total = sum(event.self_cpu_time_total for event in events)
        matmul = sum(event.self_cpu_time_total for event in events if event.key in MATMULS)
        fused = sum(event.self_cpu_time_total for event in events if "CompiledFxGraph" in event.key)
        flash = sum(event.self_cpu_time_total for event in events
                    if "flash_attention" in event.key or event.key.startswith("dynadrop::fused_attention"))
        adamw = sum(event.cpu_time_total for event in events if event.key.startswith("Optimizer.step"))
        shares = {"matrix products": matmul, "Inductor kernels": fused, "fused attention kernels": flash,
                  "AdamW step": adamw, "the rest": total - matmul - fused - flash - adamw}
        line = ", ".join(f"{name} {value / total:.0%}" for name, value in shares.items())
        print(f"   rate {rate}: {total / args.steps / 1000:.1f} ms per profiled step; {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(load_line(), flush=True)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds, medians", flush=True)
    per_site(args)
    attention_alone(args)
    profile_shares(args)
    print(load_line(args.threads))


if __name__ == "__main__":
    main()
