"""Run every schedule x seed of a plan: resumable, failures isolated, on any executor.

- **Skip**: a run whose ``record.json`` exists finished; it is never run again.
- **Resume**: any other run is (re)started; the trainer resumes from its own checkpoint.
- **Safety**: ``request.json`` pins each run's full training config; a rerun that would change it
  is refused.
- **Failures**: a run that raises (or dies) gets ``failure.json`` (+ ``traceback.txt`` when it
  raised) and the others go on; a rerun retries it.
- **Execution**: an :class:`~dynadrop.experiments.executors.Executor` starts the runs; the
  default is one local process at a time (:class:`LocalExecutor`), the other Ray tasks
  (:mod:`dynadrop.experiments.executors.ray`). Planning, records and outcomes are the same for all.

The workload (what a run is) is a module with ``build_config(preset, overrides, schedule, seed, *,
timing) -> dict``, ``total_steps(config) -> int`` and ``execute(config, run_dir) -> dict`` (extra fields
for ``record.json``, e.g. ``inference_tokens_per_s``), and optionally ``recorded_config(config) -> dict``
(a config an older version recorded, as this one would write it, so new fields do not refuse
old runs); the default trains the GPT (:mod:`dynadrop.experiments.workload`).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dynadrop.experiments.executors import Ended, Executor, LocalExecutor, RunTask
from dynadrop.experiments.plan import ComparePlan, RunKey
from dynadrop.experiments.progress import ProgressDisplay
from dynadrop.experiments.records import FAILURE, LOG, PLAN, REQUEST, RunState, read_json, run_state
from dynadrop.gpt.files import atomic_write_json

DEFAULT_WORKLOAD = "dynadrop.experiments.workload"
POLL_SECONDS = 0.5


@dataclass
class RunOutcome:
    """What one ``run_comparison`` call did."""

    finished: list[RunKey] = field(default_factory=list)
    skipped: list[RunKey] = field(default_factory=list)
    failed: list[RunKey] = field(default_factory=list)


def run_comparison(
    plan: ComparePlan,
    out_dir: Path,
    *,
    executor: Executor | None = None,
    workload: str = DEFAULT_WORKLOAD,
    progress: TextIO | None = sys.stderr,
    run_options: Callable[[RunKey], dict[str, Any]] | None = None,
) -> RunOutcome:
    """Run every unfinished run of ``plan`` under ``out_dir`` on ``executor`` (default: one local process).

    ``run_options(key)`` gives keyword arguments for that run's ``execute`` beside its config
    (e.g. experiment trackers): they are not in ``request.json``, so a rerun may change them.
    """
    executor = executor if executor is not None else LocalExecutor()
    out_dir = Path(out_dir)
    module = importlib.import_module(workload)
    tasks = [RunTask(key, workload,
                     module.build_config(plan.preset, plan.overrides, plan.spec_of(key.label), key.seed,
                                         timing=plan.timing),
                     out_dir, options=run_options(key) if run_options else {})
             for key in plan.run_keys()]
    for task in tasks:
        _check_same_request(task.run_dir, _request(task), getattr(module, "recorded_config", None))
    atomic_write_json(out_dir / PLAN, plan.to_dict())

    outcome = RunOutcome()
    pending = []
    for task in tasks:
        if run_state(task.run_dir) is RunState.DONE:
            outcome.skipped.append(task.key)
        else:
            pending.append(task)
    display = ProgressDisplay(progress, {task.key: module.total_steps(task.config) for task in tasks},
                              already_done=outcome.skipped)
    try:
        while pending or executor.running():
            while pending and executor.has_room():
                task = pending.pop(0)
                atomic_write_json(task.run_dir / REQUEST, _request(task))
                executor.submit(task)
            for ended in executor.poll(POLL_SECONDS):
                _settle(ended, out_dir / ended.key.relative_dir, outcome, display)
            display.update(executor.steps())
    finally:
        executor.shutdown()
        display.close()
    return outcome


def _request(task: RunTask) -> dict[str, Any]:
    return {"label": task.key.label, "seed": task.key.seed, "workload": task.workload, "config": task.config}


def _settle(ended: Ended, run_dir: Path, outcome: RunOutcome, display: ProgressDisplay) -> None:
    """Count a run that stopped as finished or failed, recording a failure nobody recorded."""
    if ended.failure is not None:
        atomic_write_json(run_dir / FAILURE, {"error": ended.failure, "failed_at": time.time()})
    if run_state(run_dir) is RunState.DONE:
        outcome.finished.append(ended.key)
        display.run_finished(ended.key)
        return
    if not (run_dir / FAILURE).exists():
        message = f"the run stopped without recording an outcome (see {LOG})"
        atomic_write_json(run_dir / FAILURE, {"error": message, "failed_at": time.time()})
    outcome.failed.append(ended.key)
    display.run_failed(ended.key, read_json(run_dir / FAILURE)["error"])


def _check_same_request(run_dir: Path, request: dict[str, Any],
                        recorded_config: Callable[[dict[str, Any]], dict[str, Any]] | None) -> None:
    path = run_dir / REQUEST
    if not path.exists():
        return
    stored = read_json(path)
    if recorded_config is not None:
        stored = {**stored, "config": recorded_config(stored["config"])}
    request = json.loads(json.dumps(request))
    if stored != request:
        changes = "; ".join(_differences(stored, request))
        raise ValueError(
            f"{run_dir} holds a run with a different training config ({changes}); a comparison "
            "directory keeps one budget per run: use another --out, or delete that run directory to redo it"
        )


def _differences(stored: Any, requested: Any, path: str = "") -> list[str]:
    """``key: stored -> requested`` for every leaf where two JSON values differ."""
    if isinstance(stored, dict) and isinstance(requested, dict):
        return [change for key in sorted(stored.keys() | requested.keys(), key=str)
                for change in _differences(stored.get(key), requested.get(key), f"{path}{key}.")]
    return [] if stored == requested else [f"{path.removesuffix('.')}: {stored!r} -> {requested!r}"]
