"""Turn a comparison directory into results: per-run metrics, per-schedule statistics, verdicts.

Pairing: a schedule is compared with the baseline only on seeds where both have a value.
Multiple comparisons: per metric, the comparisons of every schedule with the baseline form one
family, and their verdicts use Holm-adjusted p-values at the analysis' ``alpha``.
Convergence targets are per seed (the baseline's best validation loss of that seed) unless the
plan sets one target for all. A run that did not reach its target has no value for the
convergence metrics; it is counted (``missing``), never averaged in as 0.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from dynadrop.experiments.metrics import METRIC_TABLE, RunMetrics, read_run_metrics
from dynadrop.experiments.plan import ComparePlan, RunKey
from dynadrop.experiments.records import FAILURE, PLAN, TRACEBACK, RunState, read_json, run_state
from dynadrop.experiments.stats import (
    Direction,
    PairedComparison,
    Summary,
    adjust_family,
    check_alpha,
    compare_paired,
    summarize,
)


@dataclass(frozen=True)
class MetricResult:
    """One metric of one schedule across seeds, and its paired comparison with the baseline."""

    summary: Summary
    comparison: PairedComparison | None
    finished: int
    missing: int


@dataclass(frozen=True)
class RunProblem:
    """A run with no results: failed (with its error line) or not finished yet."""

    key: RunKey
    state: RunState
    message: str
    run_dir: Path


@dataclass
class Analysis:
    """Everything the report shows."""

    plan: ComparePlan
    out_dir: Path
    alpha: float = 0.05
    runs: dict[RunKey, RunMetrics] = field(default_factory=dict)
    values: dict[RunKey, dict[str, float | None]] = field(default_factory=dict)
    targets: dict[int, float | None] = field(default_factory=dict)
    results: dict[str, dict[str, MetricResult]] = field(default_factory=dict)
    problems: list[RunProblem] = field(default_factory=list)


def load_plan(out_dir: Path) -> ComparePlan:
    """The plan of the comparison in ``out_dir``; a clear error when there is none."""
    path = Path(out_dir) / PLAN
    if not Path(out_dir).is_dir():
        raise FileNotFoundError(f"comparison directory {str(out_dir)!r} does not exist")
    if not path.exists():
        raise FileNotFoundError(
            f"{str(out_dir)!r} is not a comparison directory: it has no {PLAN} (made by dynadrop compare)"
        )
    return ComparePlan.from_dict(read_json(path))


def against(plan: ComparePlan, baseline: str, labels: Sequence[str] = ()) -> ComparePlan:
    """``plan`` re-read against another ``baseline``, keeping only ``labels`` (default: all) beside it.

    For a question asked of finished runs after the fact (e.g. a schedule against the untuned
    fixed rate): the Holm family is then the schedules kept, so keep only the pre-stated ones.
    """
    unknown = [label for label in (baseline, *labels) if label not in plan.labels]
    if unknown:
        raise ValueError(f"unknown schedule label(s) {', '.join(map(repr, unknown))}; "
                         f"this comparison has: {', '.join(plan.labels)}")
    kept = {baseline, *labels} if labels else set(plan.labels)
    schedules = tuple(entry for entry in plan.schedules if entry.label in kept)
    schedules = tuple(sorted(schedules, key=lambda entry: entry.label != baseline))
    return replace(plan, schedules=schedules, baseline=baseline)


def analyse(out_dir: Path, plan: ComparePlan | None = None, *, alpha: float = 0.05) -> Analysis:
    """Read every run of the comparison in ``out_dir`` and compute the statistics at level ``alpha``."""
    out_dir = Path(out_dir)
    plan = plan or load_plan(out_dir)
    analysis = Analysis(plan=plan, out_dir=out_dir, alpha=check_alpha(alpha))
    for key in plan.run_keys():
        run_dir = out_dir / key.relative_dir
        state = run_state(run_dir)
        if state is RunState.DONE:
            try:
                analysis.runs[key] = read_run_metrics(run_dir)
            except (OSError, ValueError, KeyError) as error:
                message = "".join(traceback.format_exception_only(type(error), error)).strip()
                analysis.problems.append(RunProblem(key, RunState.FAILED, f"unreadable results: {message}",
                                                    run_dir))
        else:
            analysis.problems.append(RunProblem(key, state, _problem_message(run_dir, state), run_dir))
    for seed in plan.seeds:
        analysis.targets[seed] = _target(analysis, seed)
    for key, metrics in analysis.runs.items():
        analysis.values[key] = metrics.with_target(analysis.targets[key.seed])
    for label in plan.labels:
        analysis.results[label] = {info.key: _metric_result(analysis, label, info.key, info.direction)
                                   for info in METRIC_TABLE}
    for info in METRIC_TABLE:
        family = {label: analysis.results[label][info.key].comparison for label in plan.labels}
        for label, comparison in adjust_family(family, info.direction, analysis.alpha).items():
            result = analysis.results[label]
            result[info.key] = replace(result[info.key], comparison=comparison)
    return analysis


def _target(analysis: Analysis, seed: int) -> float | None:
    if analysis.plan.target is not None:
        return analysis.plan.target
    baseline = analysis.runs.get(RunKey(analysis.plan.baseline, seed))
    return baseline.values["best_val_loss"] if baseline else None


def _metric_result(analysis: Analysis, label: str, metric: str, direction: Direction | None) -> MetricResult:
    plan = analysis.plan
    per_seed = {seed: analysis.values[RunKey(label, seed)][metric]
                for seed in plan.seeds if RunKey(label, seed) in analysis.values}
    present = {seed: value for seed, value in per_seed.items() if value is not None}
    comparison = None
    if label != plan.baseline:
        baseline = {seed: analysis.values[RunKey(plan.baseline, seed)][metric]
                    for seed in plan.seeds if RunKey(plan.baseline, seed) in analysis.values}
        paired = [seed for seed in present if baseline.get(seed) is not None]
        comparison = compare_paired([present[s] for s in paired], [baseline[s] for s in paired], direction,
                                    alpha=analysis.alpha)
    return MetricResult(
        summary=summarize(list(present.values())),
        comparison=comparison,
        finished=len(per_seed),
        missing=len(per_seed) - len(present),
    )


def _problem_message(run_dir: Path, state: RunState) -> str:
    if state is RunState.FAILED:
        failure = read_json(run_dir / FAILURE)
        return f"failed: {failure.get('error', 'unknown error')} (traceback: {run_dir / TRACEBACK})"
    if state is RunState.INTERRUPTED:
        return "interrupted: rerun the compare command to resume it"
    return "not started: rerun the compare command to run it"
