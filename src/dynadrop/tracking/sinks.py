"""The metric-sink seam: what a sink receives, how a record becomes scalars, opening trackers by name."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Tracker:
    """A logger: its sink class (``module:Class``, built as ``Class(identity, params)``) and the
    library it needs."""

    sink: str
    package: str


TRACKERS = {
    "tensorboard": Tracker("dynadrop.tracking.tensorboard:TensorBoardSink", "tensorboard"),
    "mlflow": Tracker("dynadrop.tracking.mlflow:MlflowSink", "mlflow"),
    "wandb": Tracker("dynadrop.tracking.wandb:WandbSink", "wandb"),
}
DEFAULT_EXPERIMENT = "dynadrop"


class MetricSink(Protocol):
    """Receives the trainer's metric records, on rank 0 only."""

    def start(self, resumed_step: int | None) -> None:
        """Called once before any record; ``resumed_step`` is the checkpoint's step on resume."""

    def write(self, record: Mapping[str, Any]) -> None:
        """One record: ``{"type": "train" | "eval", "step": int, ...}`` as in ``metrics.jsonl``."""

    def close(self, failed: bool) -> None:
        """Flush and release; called once when the run ends, ``failed`` if it raised."""


@dataclass(frozen=True)
class RunIdentity:
    """Where and under which names a run is tracked.

    ``run_dir`` holds the trackers' local files (TensorBoard events, W&B's offline run);
    ``experiment`` groups runs (an MLflow experiment, a W&B project and group); ``name`` is the
    run's name there (``schedule/seed`` in a comparison, else the run directory's name).
    """

    run_dir: Path
    name: str
    experiment: str = DEFAULT_EXPERIMENT

    @classmethod
    def of(cls, run_dir: Path | str, name: str | None = None, experiment: str | None = None) -> RunIdentity:
        run_dir = Path(run_dir)
        return cls(run_dir, name or run_dir.resolve().name, experiment or DEFAULT_EXPERIMENT)


def check_loggers(names: Iterable[str]) -> list[str]:
    """``names`` as a list, each a known logger whose library imports (else a ValueError/ImportError)."""
    names = list(names)
    for name in names:
        _sink_class(name)
    return names


def open_trackers(names: Iterable[str], identity: RunIdentity, params: Mapping[str, Any]) -> list[MetricSink]:
    """One sink per logger name, not yet started; ``params`` (the run's config) is recorded with each."""
    return [_sink_class(name)(identity, params) for name in check_loggers(names)]


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """A record's numbers as ``<type>/<field>`` and ``<type>/<field>/<key>`` (nested dicts: the rates)."""
    prefix = record["type"]
    values: dict[str, float] = {}
    for field, value in record.items():
        if field in ("type", "step"):
            continue
        if isinstance(value, Mapping):
            values.update({f"{prefix}/{field}/{key}": float(inner) for key, inner in value.items()})
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[f"{prefix}/{field}"] = float(value)
    return values


def _sink_class(name: str) -> Any:
    """The sink class of logger ``name``, once its library imports (else an error naming the extra)."""
    if name not in TRACKERS:
        raise ValueError(f"unknown logger {name!r}; allowed: {', '.join(TRACKERS)}")
    tracker = TRACKERS[name]
    try:
        importlib.import_module(tracker.package)
    except ImportError as error:
        raise ImportError(f"the {name} logger needs {tracker.package}: pip install 'dynadrop[trackers]' "
                          f"(or pip install {tracker.package})") from error
    module, _, class_name = tracker.sink.partition(":")
    return getattr(importlib.import_module(module), class_name)
