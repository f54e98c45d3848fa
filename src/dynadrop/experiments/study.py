"""A whole comparison as ``dynadrop compare`` runs it: optional tuning, then the evaluation.

With a :class:`~dynadrop.experiments.tuning.TuningPlan`, the candidates are trained and reported
in ``OUT/tuning/`` first, each family's choice is written to ``OUT/tuning/choice.json`` and the
evaluation runs the chosen settings on its own seeds in ``OUT``. Without one, the evaluation runs
the plan as given. A timing comparison runs one run at a time on every core.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dynadrop.experiments.analysis import Analysis, load_plan
from dynadrop.experiments.executors import Executor, LocalExecutor
from dynadrop.experiments.plan import ComparePlan, RunKey
from dynadrop.experiments.records import PLAN
from dynadrop.experiments.report import write_report
from dynadrop.experiments.runner import DEFAULT_WORKLOAD, RunOutcome, run_comparison
from dynadrop.experiments.tuning import (
    CHOICE_FILE,
    TUNING_DIR,
    TuningPlan,
    choices_data,
    choose,
    evaluation_with_choices,
    tuning_comparison,
)
from dynadrop.gpt.files import atomic_write_json


@dataclass
class StudyOutcome:
    """The evaluation's analysis and what both phases did (runs trained, skipped, failed)."""

    analysis: Analysis | None
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)

    @property
    def failed(self) -> list[RunKey]:
        return [key for outcome in self.outcomes.values() for key in outcome.failed]


def run_study(
    plan: ComparePlan,
    out_dir: Path,
    *,
    tuning: TuningPlan | None = None,
    executor: Executor | None = None,
    alpha: float = 0.05,
    workload: str = DEFAULT_WORKLOAD,
    progress: TextIO | None = sys.stderr,
    run_options: Callable[[RunKey], dict[str, Any]] | None = None,
) -> StudyOutcome:
    """Tune (if asked), then run and report the evaluation; a failed tuning run stops before it.

    ``executor`` runs both phases (default: one local process at a time); ``run_options`` gives
    each run's extra ``execute`` arguments (e.g. experiment trackers).
    """
    out_dir = Path(out_dir)
    check_same_timing(plan, out_dir)
    executor = executor if executor is not None else LocalExecutor()
    if plan.timing:
        check_timing_executor(executor)
    study = StudyOutcome(analysis=None)
    if tuning is not None:
        tuning_dir = out_dir / TUNING_DIR
        candidates = tuning_comparison(plan, tuning)
        study.outcomes["tuning"] = run_comparison(candidates, tuning_dir, executor=executor,
                                                  workload=workload, progress=progress,
                                                  run_options=run_options)
        tuning_analysis = write_report(tuning_dir, alpha=alpha)
        if study.failed:
            return study
        choices = choose(tuning_analysis, tuning)
        atomic_write_json(tuning_dir / CHOICE_FILE, choices_data(choices, tuning))
        plan = evaluation_with_choices(plan, choices, tuning)
    study.outcomes["evaluation"] = run_comparison(plan, out_dir, executor=executor, workload=workload,
                                                  progress=progress, run_options=run_options)
    study.analysis = write_report(out_dir, alpha=alpha)
    return study


def check_timing_executor(executor: Executor) -> None:
    """Timing mode needs runs that never share the machine: local, one at a time."""
    if not isinstance(executor, LocalExecutor):
        raise ValueError(f"timing mode runs locally, one run at a time; got the {type(executor).__name__}")
    if executor.jobs != 1:
        raise ValueError(f"timing mode runs one run at a time, so --jobs must be 1, got {executor.jobs}")


def check_same_timing(plan: ComparePlan, out_dir: Path) -> None:
    """Refuse to add runs of the other mode to a comparison: timed and shared-core runs do not mix."""
    if not (out_dir / PLAN).exists():
        return
    existing = load_plan(out_dir)
    if existing.timing != plan.timing:
        mode = "with --timing" if existing.timing else "without --timing"
        raise ValueError(f"{out_dir} holds a comparison run {mode}; rerun it the same way, "
                         "or use another --out")
