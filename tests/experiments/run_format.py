"""Write run directories in the trainer's documented format (config.json, metrics.jsonl, summary.json).

The format is the contract between dynadrop.gpt.trainer and the experiments: these helpers let
tests build runs with known numbers without training anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from dynadrop.experiments.records import METRICS, RECORD, REQUEST, TRAIN_SUMMARY
from dynadrop.gpt.files import atomic_write_json


def eval_line(step: int, train_loss: float, val_loss: float, rate: float, wall_time: float) -> dict:
    return {"type": "eval", "step": step, "train_loss": train_loss, "val_loss": val_loss,
            "rates": {"attention": rate, "mlp": rate}, "wall_time": wall_time}


def train_line(step: int, loss: float, rate: float, wall_time: float) -> dict:
    return {"type": "train", "step": step, "loss": loss, "lr": 1e-3,
            "rates": {"attention": rate, "mlp": rate}, "wall_time": wall_time, "tokens_per_s": 1000.0}


def append_lines(run_dir: Path, lines: list[dict]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / METRICS).open("a") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")


def write_finished_run(
    run_dir: Path,
    val_losses: list[float],
    *,
    eval_interval: int = 10,
    seconds_per_step: float = 0.1,
    rate: float = 0.2,
    last_minibatch_loss: float = 1.5,
    train_tokens_per_s: float = 1000.0,
    inference_tokens_per_s: float | None = 500.0,
) -> None:
    """A finished run whose eval at step ``(i + 1) * eval_interval`` has val loss ``val_losses[i]``.

    The eval-mode train loss is the val loss minus 0.1, so it is known to the test too.
    """
    lines = []
    for index, val_loss in enumerate(val_losses):
        step = (index + 1) * eval_interval
        lines.append(train_line(step, val_loss, rate, step * seconds_per_step))
        lines.append(eval_line(step, val_loss - 0.1, val_loss, rate, step * seconds_per_step))
    append_lines(run_dir, lines)
    steps = len(val_losses) * eval_interval
    atomic_write_json(run_dir / REQUEST, {"config": {"max_steps": steps}})
    best = min(range(len(val_losses)), key=val_losses.__getitem__)
    atomic_write_json(run_dir / TRAIN_SUMMARY, {
        "best_val_loss": val_losses[best], "best_val_step": (best + 1) * eval_interval,
        "final_train_loss": val_losses[-1] - 0.1, "final_val_loss": val_losses[-1],
        "last_minibatch_loss": last_minibatch_loss, "train_time_s": steps * seconds_per_step,
        "tokens_per_s": train_tokens_per_s, "steps": steps,
    })
    atomic_write_json(run_dir / RECORD, {"inference_tokens_per_s": inference_tokens_per_s})
