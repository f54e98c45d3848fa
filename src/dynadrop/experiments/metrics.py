"""Per-run metrics, read from a finished run directory, and the one table that defines them.

Losses come from the trainer's eval records (eval mode: dropout off) and ``summary.json``;
inference speed from the run's ``record.json``. Convergence speed needs a target, which depends
on the baseline, so it is computed by :func:`time_to_target` when the comparison is analysed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynadrop.experiments.records import METRICS, RECORD, TRAIN_SUMMARY, read_json, read_jsonl
from dynadrop.experiments.stats import Direction


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is called, how it is measured, which direction is better (``None``: neither),
    and how many decimals the report shows."""

    key: str
    title: str
    direction: Direction | None
    definition: str
    decimals: int = 4


METRIC_TABLE: tuple[MetricInfo, ...] = (
    MetricInfo("best_val_loss", "best val loss", "lower",
               "lowest validation loss over all evaluations (eval mode, dropout off)"),
    MetricInfo("best_val_step", "step of best val loss", None,
               "optimizer step of the evaluation with the lowest validation loss", decimals=0),
    MetricInfo("final_train_loss", "final train loss (eval mode)", "lower",
               "training-set loss at the last evaluation, dropout off: the primary train loss"),
    MetricInfo("final_val_loss", "final val loss", "lower",
               "validation loss at the last evaluation (eval mode, dropout off)"),
    MetricInfo("last_minibatch_loss", "last-minibatch train loss (paper-style, dropout on)", "lower",
               "loss of the last training minibatch with dropout on, as in the paper; a schedule "
               "that ends at rate 0 wins it mechanically"),
    MetricInfo("steps_to_target", "steps to target", "lower",
               "first evaluated step whose validation loss is at or below the target", decimals=0),
    MetricInfo("seconds_to_target", "seconds to target", "lower",
               "training wall time (eval excluded) until that evaluation", decimals=1),
    MetricInfo("train_time_s", "training time (s)", "lower",
               "total training wall time, evaluation excluded", decimals=1),
    MetricInfo("train_tokens_per_s", "training tokens/s", "higher",
               "training tokens processed per second of training wall time", decimals=0),
    MetricInfo("inference_tokens_per_s", "inference tokens/s", "higher",
               "generation speed in eval mode after training; a training-time dropout schedule "
               "cannot change it (dropout is the identity in eval mode)", decimals=0),
)
METRICS_BY_KEY = {info.key: info for info in METRIC_TABLE}
CONVERGENCE_KEYS = ("steps_to_target", "seconds_to_target")


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation: losses in eval mode, the training wall time so far, and the rates in force."""

    step: int
    train_loss: float
    val_loss: float
    wall_time: float
    rates: dict[str, float]


@dataclass(frozen=True)
class RunMetrics:
    """Everything the report needs from one finished run."""

    values: dict[str, float | None]
    evals: list[EvalPoint]
    rate_curve: list[tuple[int, dict[str, float]]]
    timing: dict[str, Any] = field(default_factory=dict)

    def with_target(self, target: float | None) -> dict[str, float | None]:
        """All metric values, convergence speed included (``None`` where the target was not reached)."""
        reached = time_to_target(self.evals, target) if target is not None else None
        return {
            **self.values,
            "steps_to_target": float(reached.step) if reached else None,
            "seconds_to_target": reached.wall_time if reached else None,
        }


def read_run_metrics(run_dir: Path) -> RunMetrics:
    """Read a finished run's metrics from its ``metrics.jsonl``, ``summary.json`` and ``record.json``."""
    records = _latest_per_step(read_jsonl(run_dir / METRICS))
    evals = [
        EvalPoint(int(r["step"]), float(r["train_loss"]), float(r["val_loss"]), float(r["wall_time"]),
                  dict(r.get("rates", {})))
        for r in records if r.get("type") == "eval"
    ]
    if not evals:
        raise ValueError(f"run {run_dir} has no eval records in {METRICS}")
    summary = read_json(run_dir / TRAIN_SUMMARY)
    record = read_json(run_dir / RECORD)
    best = min(evals, key=lambda point: point.val_loss)
    values: dict[str, float | None] = {
        "best_val_loss": best.val_loss,
        "best_val_step": float(best.step),
        "final_train_loss": evals[-1].train_loss,
        "final_val_loss": evals[-1].val_loss,
        "last_minibatch_loss": _optional_float(summary.get("last_minibatch_loss")),
        "train_time_s": _optional_float(summary.get("train_time_s")),
        "train_tokens_per_s": _optional_float(summary.get("tokens_per_s")),
        "inference_tokens_per_s": _optional_float(record.get("inference_tokens_per_s")),
    }
    rate_curve = [(int(r["step"]), dict(r["rates"])) for r in records
                  if r.get("type") == "train" and "rates" in r]
    return RunMetrics(values=values, evals=evals, rate_curve=rate_curve or [(p.step, p.rates) for p in evals],
                      timing=dict(record.get("timing") or {}))


def time_to_target(evals: list[EvalPoint], target: float) -> EvalPoint | None:
    """The first evaluation whose validation loss is at or below ``target`` (``None``: never)."""
    return next((point for point in evals if point.val_loss <= target), None)


def _latest_per_step(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (type, step), the last written: a resumed run may repeat steps after its checkpoint."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        latest[(record.get("type", ""), int(record["step"]))] = record
    return sorted(latest.values(), key=lambda r: (int(r["step"]), r.get("type", "")))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
