"""A stand-in workload for runner tests: trains nothing, writes the trainer's files in milliseconds.

It resumes from its own checkpoint (the last eval step), writes a line per start (its pid) to
``starts.txt``, can sleep per step (``step_seconds``) so a test can interrupt it, and raises for
any schedule listed in ``fail_schedules`` (an injected failure). Its record holds its torch threads
and when it started and ended, so tests can see which runs overlapped.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from dynadrop.core import parse_schedule
from dynadrop.experiments.records import CHECKPOINT, TRAIN_SUMMARY, read_json
from dynadrop.gpt.files import atomic_write_json
from tests.experiments.run_format import append_lines, eval_line, train_line

PRESETS = {"fake": {"max_steps": 40, "eval_interval": 10, "step_seconds": 0.0, "fail_schedules": [],
                    "kernel": "new"}}


def build_config(preset: str, overrides: dict[str, Any], schedule: str, seed: int, *,
                 timing: bool = False) -> dict[str, Any]:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
    return {**PRESETS[preset], **overrides, "schedule": schedule, "seed": seed, "timing": timing}


def recorded_config(config: dict[str, Any]) -> dict[str, Any]:
    """Records from before ``kernel`` existed ran the "old" one."""
    return {"kernel": "old", **config}


def total_steps(config: dict[str, Any]) -> int:
    return config["max_steps"]


def execute(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    started = time.time()
    with (run_dir / "starts.txt").open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    if config["schedule"] in config["fail_schedules"]:
        raise RuntimeError(f"injected failure for {config['schedule']}")
    schedule = parse_schedule(config["schedule"])
    checkpoint = run_dir / CHECKPOINT
    start = read_json(checkpoint)["step"] if checkpoint.exists() else 0
    total = config["max_steps"]
    for step in range(start + 1, total + 1):
        time.sleep(config["step_seconds"])
        rate = schedule(step, total)
        loss = 1.5 + math.exp(-step / 10) + 0.01 * config["seed"] + 0.1 * rate
        lines = [train_line(step, loss, rate, step * 0.01)]
        if step % config["eval_interval"] == 0:
            lines.append(eval_line(step, loss - 0.1, loss, rate, step * 0.01))
        append_lines(run_dir, lines)
        if step % config["eval_interval"] == 0:
            atomic_write_json(checkpoint, {"step": step})
    atomic_write_json(run_dir / TRAIN_SUMMARY, {
        "last_minibatch_loss": loss, "train_time_s": total * 0.01, "tokens_per_s": 1000.0, "steps": total,
    })
    return {"inference_tokens_per_s": 500.0,
            "timing": {"threads": torch.get_num_threads(), "started": started, "ended": time.time()}}
