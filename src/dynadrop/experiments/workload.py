"""The GPT as the comparison's workload: compare presets, a run's config, training + inference speed.

A compare preset is a gpt preset plus a compare-level budget (``quick`` is the README's
~10-minute comparison on 2 CPU cores) and the inference-speed protocol (the paper's, smaller
for the smoke preset). This is the only module of the experiments that imports the GPT.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from dynadrop.core import Constant, parse_schedule
from dynadrop.experiments.plan import RunKey, ScheduleEntry, default_schedules
from dynadrop.experiments.tuning import default_candidates
from dynadrop.gpt.config import TrainConfig, preset
from dynadrop.gpt.distributed import resolve_device
from dynadrop.gpt.sampling import load_trained_model, measure_inference_speed
from dynadrop.gpt.trainer import train

PAPER_INFERENCE = {"samples": 10, "new_tokens": 500, "temperature": 0.8, "top_k": 200}


@dataclass(frozen=True)
class ComparePreset:
    """A gpt preset, the fields a comparison overrides in it, default seed count, inference protocol."""

    gpt_preset: str
    description: str
    budget: dict[str, Any] = field(default_factory=dict)
    seeds: int = 3
    inference: dict[str, Any] = field(default_factory=lambda: dict(PAPER_INFERENCE))


COMPARE_PRESETS: dict[str, ComparePreset] = {
    "paper": ComparePreset("paper", "nanoGPT shakespeare_char as the paper ran it (a GPU's job)", seeds=5),
    "cpu": ComparePreset("cpu", "a budget where dropout pays off (~3 min/run on 2 cores)", seeds=5),
    "quick": ComparePreset(
        "cpu", "the README's main job: every schedule x 4 seeds in under 10 minutes on 2 cores, "
        "on data small enough that training without dropout overfits",
        # 10,000 training characters and a high learning rate: without dropout the 2x128 model
        # reaches its best validation loss by step ~400 and then overfits, so dropout matters
        # within 600 steps. Eager: at this size a compiled run whose graphs are cached is only
        # ~1.1x faster and a cold compile costs ~25 s more (benchmarks/quick_compile.py).
        budget={"n_layer": 2, "n_head": 4, "n_embd": 128, "train_chars": 10_000, "max_steps": 600,
                "learning_rate": 3e-3, "min_lr": 3e-4, "warmup_steps": 50, "eval_interval": 50,
                "eval_batches": 10, "log_interval": 25, "checkpoint_interval": 100, "compile": False},
        seeds=4,
        inference={**PAPER_INFERENCE, "samples": 2, "new_tokens": 100},
    ),
    "smoke": ComparePreset("smoke", "seconds per run, for tests and trying the command", seeds=2,
                           inference={**PAPER_INFERENCE, "samples": 1, "new_tokens": 8}),
}


def compare_preset(name: str) -> ComparePreset:
    if name not in COMPARE_PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(COMPARE_PRESETS)}")
    return COMPARE_PRESETS[name]


def describe(preset_name: str) -> str:
    """One line on a compare preset: its model and budget (read from the config) and its purpose."""
    config = train_config(preset_name, {}, "0.0", 0)
    chars = f"{config.train_chars:,} training chars" if config.train_chars else "all training chars"
    return (f"{config.n_layer}x{config.n_embd} GPT, {config.max_steps} steps, {chars}, "
            f"{compare_preset(preset_name).seeds} seeds: {compare_preset(preset_name).description}")


def train_config(preset_name: str, overrides: dict[str, Any], schedule: str, seed: int) -> TrainConfig:
    """The training config of one run: the preset, its compare budget, the overrides, schedule and seed."""
    chosen = compare_preset(preset_name)
    return preset(chosen.gpt_preset, **{**chosen.budget, **overrides, "schedule": schedule, "seed": seed})


def build_config(preset_name: str, overrides: dict[str, Any], schedule: str, seed: int, *,
                 timing: bool = False) -> dict[str, Any]:
    """Everything one run needs, as JSON-ready data (recorded in the run's ``request.json``).

    ``timing``: the run warms the compiler up before training (see :func:`warm_up`), so its
    training time does not depend on whether it happened to be the first to compile.
    """
    config = {
        "train": train_config(preset_name, overrides, schedule, seed).to_dict(),
        "inference": compare_preset(preset_name).inference,
    }
    return {**config, "warm_up": True} if timing else config


def recorded_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run's recorded config as this version writes it: fields added since take the run's values."""
    return {**config, "train": TrainConfig.from_dict(config["train"]).to_dict()}


def total_steps(config: dict[str, Any]) -> int:
    return int(config["train"]["max_steps"])


def preset_schedules(preset_name: str, overrides: dict[str, Any]) -> list[ScheduleEntry]:
    """The default schedule set at the preset's base rate (its fixed dropout rate, e.g. 0.2)."""
    return default_schedules(*_base_rate_and_steps(preset_name, overrides))


def preset_candidates(preset_name: str, overrides: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The tuning candidates of the default schedule set at the preset's base rate and budget."""
    return default_candidates(*_base_rate_and_steps(preset_name, overrides))


def _base_rate_and_steps(preset_name: str, overrides: dict[str, Any]) -> tuple[float, int]:
    base = preset(compare_preset(preset_name).gpt_preset).schedule
    rule = parse_schedule(base) if isinstance(base, str) else None
    if not isinstance(rule, Constant):
        raise ValueError(f"preset {preset_name!r} has no single fixed dropout rate ({base!r}); "
                         "name the schedules with --schedules")
    return rule.rate, train_config(preset_name, overrides, base, 0).max_steps


def tracking_options(loggers: Sequence[str], experiment: str) -> Callable[[RunKey], dict[str, Any]]:
    """Each run's experiment trackers, for :func:`execute`: one experiment, runs named ``schedule/seed``."""
    def options(key: RunKey) -> dict[str, Any]:
        return {"loggers": list(loggers), "experiment": experiment, "run_name": f"{key.label}/{key.seed}"}
    return options


def execute(config: dict[str, Any], run_dir: Path, **tracking: Any) -> dict[str, Any]:
    """Train (resuming from the run's checkpoint if any), then measure inference speed in eval mode.

    ``tracking``: :func:`dynadrop.gpt.trainer.train`'s ``loggers``, ``experiment`` and ``run_name``.
    The record also says how the time was measured: torch threads, the 1-minute load average
    before and after, and the warm-up's duration when the run had one.
    """
    settings = TrainConfig.from_dict(config["train"])
    load_before = os.getloadavg()[0]
    warm_up_s = warm_up(settings, run_dir) if config.get("warm_up") else None
    summary = train(settings, run_dir, progress=False, **tracking)
    model, _, _ = load_trained_model(run_dir, device=str(resolve_device(settings.device)))
    speed = measure_inference_speed(model, seed=settings.seed, **config["inference"])
    return {"inference_tokens_per_s": speed, "inference_protocol": config["inference"], "summary": summary,
            "timing": {"threads": torch.get_num_threads(), "load_average_before": load_before,
                       "load_average_after": os.getloadavg()[0], "warm_up_s": warm_up_s}}


def warm_up(settings: TrainConfig, run_dir: Path) -> float:
    """Compile every graph a run can use before its timed training; returns the seconds it took.

    Two throwaway steps and two evaluations train in a scratch directory beside the run, in its
    process: the first step at the run's own starting rates (the compiled code is specialised on
    the rates a model is built with, so a warm-up at other rates would not be reused), the second
    with dropout switched the other way (off, or on for a run that starts at 0). The run's own
    model then reuses those graphs (no recompile in its training; ``TORCH_LOGS=recompiles``
    shows them all inside the warm-up). Measured on the smoke preset (20 compiled steps): training
    time 0.26 s at fixed 0.2, 0.11 s for linear 0.3->0, 0.12 s for curriculum, 0.13 s for late
    dropout after this warm-up, against 12.9 s after a warm-up at other rates and 66 s cold.
    Eager runs have nothing to warm up.
    """
    if not settings.compile:
        return 0.0
    started = time.perf_counter()
    scratch = replace(settings, max_steps=2, warmup_steps=0, eval_interval=2, eval_batches=1,
                      log_interval=1, checkpoint_interval=2,
                      schedule=warm_up_schedule(settings.schedule, settings.max_steps))
    with tempfile.TemporaryDirectory(prefix="warm-up-", dir=run_dir.parent) as directory:
        train(scratch, Path(directory), progress=False)
    return time.perf_counter() - started


def warm_up_schedule(schedule: str | dict[str, str], total: int) -> str | dict[str, str]:
    """Per group: the run's rate at step 0, then dropout the other way (0, or the run's first rate
    above 0 when it starts at 0)."""
    def flip(spec: str) -> str:
        rule = parse_schedule(spec)
        start = rule(0, total)
        rates = (rule(step, total) for step in range(total))
        then = 0.0 if start > 0 else next((rate for rate in rates if rate > 0), 0.0)
        return f"step:{start!r},{then!r}@1"
    if isinstance(schedule, str):
        return flip(schedule)
    return {group: flip(spec) for group, spec in schedule.items()}
