"""Fair tuning on held-out seeds, and timing mode: one run at a time, every core, comparable times."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from dynadrop.core import parse_schedule
from dynadrop.experiments.executors import LocalExecutor
from dynadrop.experiments.executors.local import available_cores
from dynadrop.experiments.plan import ComparePlan, default_schedules, parse_schedule_args
from dynadrop.experiments.records import PLAN, RECORD, read_json
from dynadrop.experiments.study import run_study
from dynadrop.experiments.tuning import (
    CHOICE_FILE,
    TUNING_DIR,
    Choice,
    TuningPlan,
    default_candidates,
    evaluation_with_choices,
    family_of,
    tuning_plan_for,
)
from dynadrop.experiments.workload import warm_up_schedule

WORKLOAD = "tests.experiments.fake_workload"
# The fake workload's loss grows with the rate (0.1 * rate), so the lowest-rate candidate wins.
CANDIDATES = {"fixed": ("constant:0.2", "constant:0.1"), "linear": ("linear:0.2->0.0", "linear:0.4->0.0")}


def evaluation_plan(seeds=(0, 1), **overrides) -> ComparePlan:
    entries = tuple(parse_schedule_args(["0.2", "0", "linear:0.2->0.0"]))
    return ComparePlan("fake", entries, seeds, "fixed-0.2", overrides=overrides)


def study_on(jobs: int, plan: ComparePlan, out: Path, **options):
    """``run_study`` with the fake workload on ``jobs`` local processes, silently."""
    executor = LocalExecutor(jobs=jobs)
    return run_study(plan, out, executor=executor, workload=WORKLOAD, progress=None, **options)


def seeds_under(directory: Path) -> set[int]:
    return {int(path.name.removeprefix("seed-")) for path in directory.glob("runs/*/seed-*")}


def starts(directory: Path) -> int:
    return sum(len(path.read_text().splitlines()) for path in directory.rglob("starts.txt"))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    plan = evaluation_plan()
    tuning = tuning_plan_for(plan, CANDIDATES, seeds=(100,))
    study = study_on(2, plan, out, tuning=tuning)
    return out, plan, tuning, study


def test_default_candidates_give_every_family_the_same_budget_default_first():
    defaults = {family_of(entry): entry.spec for entry in default_schedules(0.2, 1500)}
    candidates = default_candidates(0.2, 1500)
    assert set(candidates) == set(defaults) - {"fixed-0"}
    for family, specs in candidates.items():
        assert len(specs) == 4 and len(set(specs)) == 4, family
        assert specs[0] == defaults[family], family
        for spec, step in itertools.product(specs, (0, 750, 1499)):
            assert 0.0 <= parse_schedule(spec)(step, 1500) < 1.0


def test_tuning_seeds_that_are_evaluation_seeds_are_refused():
    with pytest.raises(ValueError, match=r"tuning seeds \[1\] are also evaluation seeds"):
        tuning_plan_for(evaluation_plan(), CANDIDATES, seeds=(1, 2))
    with pytest.raises(ValueError, match="at least one tuning seed"):
        TuningPlan(families=dict(CANDIDATES), seeds=())


def test_no_evaluation_seed_is_ever_used_for_tuning(tuned):
    out, plan, tuning, _ = tuned
    assert seeds_under(out / TUNING_DIR) == {100}
    assert seeds_under(out) == {0, 1}
    assert read_json(out / TUNING_DIR / PLAN)["seeds"] == [100]


def test_each_family_gets_its_best_candidate_and_the_evaluation_uses_it(tuned):
    out, _, _, study = tuned
    choice = read_json(out / TUNING_DIR / CHOICE_FILE)
    assert choice["budget"] == 2 and choice["seeds"] == [100]
    chosen = {entry["family"]: entry["chosen"] for entry in choice["choices"]}
    assert chosen == {"fixed": "constant:0.1", "linear": "linear:0.2->0.0"}
    scores = {entry["family"]: entry["scores"] for entry in choice["choices"]}
    assert scores["fixed"][1] < scores["fixed"][0]
    assert scores["linear"][0] == scores["linear"][1]  # both end at rate 0: a tie goes to the default
    plan = study.analysis.plan
    assert [(entry.label, entry.spec) for entry in plan.schedules] == [
        ("fixed-0.1", "constant:0.1"), ("fixed-0.2", "0.2"), ("fixed-0", "0"), ("linear", "linear:0.2->0.0")]
    assert plan.baseline == "fixed-0.1"
    assert plan.tuning["choices"] == choice["choices"]


def test_the_given_fixed_rate_stays_as_a_reference_only_when_tuning_picks_another():
    plan = evaluation_plan()
    tuning = tuning_plan_for(plan, CANDIDATES, seeds=(100,))
    kept = [Choice("fixed", CANDIDATES["fixed"], (1.0, 2.0), "constant:0.2")]
    assert evaluation_with_choices(plan, kept, tuning).labels == ["fixed-0.2", "fixed-0", "linear"]
    moved = [Choice("fixed", CANDIDATES["fixed"], (2.0, 1.0), "constant:0.1")]
    tuned_plan = evaluation_with_choices(plan, moved, tuning)
    assert tuned_plan.labels == ["fixed-0.1", "fixed-0.2", "fixed-0", "linear"]
    assert tuned_plan.baseline == "fixed-0.1"


def test_the_report_states_the_budget_and_every_candidate(tuned):
    out, *_ = tuned
    report = (out / "report.md").read_text()
    assert "## Tuning" in report and "2 candidate settings" in report and "tuning seeds 100" in report
    assert "`constant:0.1`: " in report and "**(chosen)**" in report
    assert "evaluation seeds (0, 1)" in report
    assert (out / TUNING_DIR / "report.md").exists()


def test_rerun_trains_nothing_again(tuned):
    out, plan, tuning, _ = tuned
    before = starts(out)
    again = study_on(2, plan, out, tuning=tuning)
    assert starts(out) == before
    assert all(not outcome.finished for outcome in again.outcomes.values())
    assert again.analysis.plan == read_json_plan(out)


def read_json_plan(out: Path) -> ComparePlan:
    return ComparePlan.from_dict(read_json(out / PLAN))


def test_a_failed_tuning_run_stops_before_the_evaluation(tmp_path):
    plan = evaluation_plan(fail_schedules=["linear:0.4->0.0"])
    tuning = tuning_plan_for(plan, CANDIDATES, seeds=(100,))
    study = study_on(2, plan, tmp_path, tuning=tuning)
    assert study.analysis is None and [str(key) for key in study.failed] == ["linear.1 seed 100"]
    assert not (tmp_path / "runs").exists() and not (tmp_path / TUNING_DIR / CHOICE_FILE).exists()


def test_timing_mode_runs_one_run_at_a_time_on_every_core(tmp_path):
    plan = ComparePlan("fake", evaluation_plan().schedules, (0, 1), "fixed-0.2", timing=True,
                       overrides={"step_seconds": 0.01})
    study = study_on(1, plan, tmp_path)
    records = [read_json(path) for path in sorted(tmp_path.glob(f"runs/*/seed-*/{RECORD}"))]
    assert len(records) == 6
    intervals = sorted((record["timing"]["started"], record["timing"]["ended"]) for record in records)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(intervals))
    assert {record["timing"]["threads"] for record in records} == {available_cores()}
    requests = [read_json(path) for path in tmp_path.glob("runs/*/seed-*/request.json")]
    assert all(request["config"]["timing"] for request in requests)
    assert "timing mode: one run at a time" in (tmp_path / "report.md").read_text()
    assert study.analysis.plan.timing


def test_timing_mode_refuses_parallel_jobs_and_mixing_modes(tmp_path):
    timed = ComparePlan("fake", evaluation_plan().schedules, (0,), "fixed-0.2", timing=True)
    with pytest.raises(ValueError, match="timing mode runs one run at a time, so --jobs must be 1, got 2"):
        study_on(2, timed, tmp_path)
    study_on(1, evaluation_plan(seeds=(0,)), tmp_path)
    assert "runs may have shared the cores" in (tmp_path / "report.md").read_text()
    with pytest.raises(ValueError, match="holds a comparison run without --timing"):
        study_on(1, timed, tmp_path)


def test_the_warm_up_starts_at_the_runs_own_rates_then_switches_dropout_the_other_way():
    assert warm_up_schedule("0.2", 1500) == "step:0.2,0.0@1"
    assert warm_up_schedule("late:0.2@0.5", 1500) == "step:0.0,0.2@1"
    assert warm_up_schedule({"attention": "cosine:0.3->0", "default": "0"}, 100) == {
        "attention": "step:0.3,0.0@1", "default": "step:0.0,0.0@1"}
    rule = parse_schedule(warm_up_schedule("adaptive:0.1,delta=0.02", 100))
    assert (rule(0, 2), rule(1, 2)) == (0.1, 0.0)
