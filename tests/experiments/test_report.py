"""Metrics, statistics and report files from run directories written in the trainer's format."""

from __future__ import annotations

import csv
import json

import matplotlib.image
import numpy as np
import pytest

import dynadrop as dd
from dynadrop.experiments.analysis import analyse, load_plan
from dynadrop.experiments.metrics import METRIC_TABLE
from dynadrop.experiments.plan import ComparePlan, ScheduleEntry
from dynadrop.experiments.plots import PLOT_FILES, control_signal, feedback_labels, seed_band, zoom_past_start
from dynadrop.experiments.records import FAILURE, PLAN
from dynadrop.experiments.report import console_summary, write_report
from dynadrop.experiments.stats import holm_adjust
from dynadrop.gpt.files import atomic_write_json
from tests.experiments.run_format import write_finished_run

SEEDS = (0, 1, 2)
# val loss at steps 10, 20, 30, 40 per schedule and seed
CURVES = {
    "fixed-0.2": {s: [2.0, 1.8, 1.70 + 0.01 * s, 1.75] for s in SEEDS},
    "fast": {s: [1.9, 1.60 + 0.02 * s, 1.62, 1.63] for s in SEEDS},
    "slow": {0: [2.2, 2.1, 2.0, 1.9], 1: [2.2, 2.1, 2.0, 1.9], 2: [2.2, 2.1, 2.0, 1.5]},
}


@pytest.fixture
def comparison(tmp_path):
    plan = ComparePlan(
        "fake",
        (ScheduleEntry("fixed-0.2", "0.2"), ScheduleEntry("fast", "linear:0.2->0"),
         ScheduleEntry("slow", "late:0.2@0.5"), ScheduleEntry("broken", "0.1")),
        SEEDS, "fixed-0.2",
    )
    atomic_write_json(tmp_path / PLAN, plan.to_dict())
    for label, per_seed in CURVES.items():
        for seed, losses in per_seed.items():
            write_finished_run(tmp_path / f"runs/{label}/seed-{seed}", losses,
                               inference_tokens_per_s=500.0 + seed, train_tokens_per_s=1000.0 + seed)
    write_finished_run(tmp_path / "runs/broken/seed-1", [2.0, 1.9, 1.8, 1.7])
    atomic_write_json(tmp_path / "runs/broken/seed-0/failure.json", {"error": "RuntimeError: boom"})
    return tmp_path


def test_per_run_metrics_and_targets(comparison):
    analysis = analyse(comparison)
    assert analysis.targets == {0: 1.70, 1: pytest.approx(1.71), 2: pytest.approx(1.72)}
    fast = analysis.values[next(k for k in analysis.values if k.label == "fast" and k.seed == 1)]
    assert fast["best_val_loss"] == pytest.approx(1.62)
    assert fast["best_val_step"] == 20
    assert fast["final_val_loss"] == pytest.approx(1.63)
    assert fast["final_train_loss"] == pytest.approx(1.53)
    assert fast["steps_to_target"] == 20 and fast["seconds_to_target"] == pytest.approx(2.0)
    assert fast["last_minibatch_loss"] == 1.5 and fast["inference_tokens_per_s"] == 501.0


def test_statistics_and_verdicts(comparison):
    results = analyse(comparison).results
    best = results["fast"]["best_val_loss"]
    fast_best = [min(CURVES["fast"][s]) for s in SEEDS]
    base_best = [min(CURVES["fixed-0.2"][s]) for s in SEEDS]
    assert best.summary.mean == pytest.approx(np.mean(fast_best))
    assert best.summary.std == pytest.approx(np.std(fast_best, ddof=1))
    assert best.comparison.mean_difference == pytest.approx(np.mean(np.subtract(fast_best, base_best)))
    assert best.comparison.verdict == "better"
    assert results["slow"]["best_val_loss"].comparison.verdict == "no detectable difference"
    assert results["fixed-0.2"]["best_val_loss"].comparison is None
    assert results["fast"]["steps_to_target"].comparison.verdict == "better"


def test_unreached_target_is_counted_not_zero(comparison):
    slow = analyse(comparison).results["slow"]["steps_to_target"]
    assert (slow.finished, slow.missing, slow.summary.n, slow.summary.mean) == (3, 2, 1, 40.0)
    report = write_report(comparison)
    assert report is not None
    text = (comparison / "report.md").read_text()
    assert "not reached (2/3 seeds)" in text


def test_explicit_target(comparison):
    plan = load_plan(comparison)
    plan = ComparePlan.from_dict({**plan.to_dict(), "target": 1.95})
    values = analyse(comparison, plan).values
    assert {key.seed: v["steps_to_target"] for key, v in values.items() if key.label == "slow"} == \
        {0: 40.0, 1: 40.0, 2: 40.0}
    assert all(v["steps_to_target"] == 20.0 for key, v in values.items() if key.label == "fixed-0.2")


def test_report_files(comparison):
    write_report(comparison)
    text = (comparison / "report.md").read_text()
    for info in METRIC_TABLE:
        assert info.title in text
    assert "cannot be changed by a training-time dropout schedule" in text
    assert "primary number is the *eval-mode* train loss" in text
    assert "`broken seed 0`: failed: RuntimeError: boom" in text
    assert "`broken seed 2`: not started" in text

    summary = json.loads((comparison / "summary.json").read_text())
    assert summary["results"]["fast"]["best_val_loss"]["comparison"]["verdict"] == "better"
    assert summary["runs"]["slow"]["0"]["steps_to_target"] is None
    assert len(summary["problems"]) == 2

    rows = list(csv.DictReader((comparison / "results.csv").open()))
    assert len(rows) == 4 * len(METRIC_TABLE)
    base = next(r for r in rows if r["schedule"] == "fixed-0.2" and r["metric"] == "best_val_loss")
    assert float(base["mean"]) == pytest.approx(np.mean([min(CURVES["fixed-0.2"][s]) for s in SEEDS]))
    assert base["verdict"] == ""


def test_plots_are_png(comparison):
    write_report(comparison)
    for name in PLOT_FILES:
        path = comparison / "plots" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(path).shape[2] in (3, 4)


def test_broken_state_with_one_seed_only(comparison):
    broken = analyse(comparison).results["broken"]["best_val_loss"]
    assert broken.summary.n == 1 and broken.summary.std is None
    assert broken.comparison.p_value is None
    assert (comparison / "runs/broken/seed-0" / FAILURE).exists()


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        analyse(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no plan.json"):
        analyse(tmp_path)


def test_schedule_panels_have_one_panel_per_schedule(comparison):
    write_report(comparison)
    height, width = matplotlib.image.imread(comparison / "plots" / "schedules.png").shape[:2]
    assert (width, height) == (3 * 420, 2 * 320)  # 4 schedules: 3 columns x 2 rows at 100 dpi


def test_seed_band_is_the_mean_and_sample_std_on_common_steps():
    band = seed_band([{0: 1.0, 10: 2.0, 20: 4.0}, {0: 3.0, 10: 4.0}])
    assert band.steps == [0, 10]
    assert band.mean == pytest.approx([2.0, 3.0]) and band.std == pytest.approx([np.sqrt(2)] * 2)
    assert seed_band([{0: 1.0}]).std == pytest.approx([0.0])


def test_report_shows_raw_and_holm_p_effect_size_and_pairs_per_seed(comparison):
    analysis = write_report(comparison, alpha=0.1)
    text = (comparison / "report.md").read_text()
    assert "| effect size d | p | p (Holm) | verdict |" in text and "90% CI of diff" in text
    assert "Holm-adjusted p < 0.1 over the 3 schedules compared" in text
    fast = analysis.results["fast"]["best_val_loss"].comparison
    slow = analysis.results["slow"]["best_val_loss"].comparison
    broken = analysis.results["broken"]["best_val_loss"].comparison
    assert broken.p_value is None  # one seed: not a member of the family
    assert [fast.p_adjusted, slow.p_adjusted] == pytest.approx(holm_adjust([fast.p_value, slow.p_value]))
    assert fast.p_adjusted > fast.p_value
    fast_best = [min(CURVES["fast"][s]) for s in SEEDS]
    base_best = [min(CURVES["fixed-0.2"][s]) for s in SEEDS]
    cell = f"{fast_best[1]:.4f} ({fast_best[1] - base_best[1]:+.4f})"
    assert cell in text and cell in console_summary(analysis)
    rows = list(csv.DictReader((comparison / "results.csv").open()))
    row = next(r for r in rows if r["schedule"] == "fast" and r["metric"] == "best_val_loss")
    assert float(row["p_holm"]) == pytest.approx(fast.p_adjusted)
    assert float(row["effect_size"]) == pytest.approx(fast.effect_size)


def test_control_plot_shows_each_feedback_rule_per_seed(tmp_path):
    plan = ComparePlan("fake", (ScheduleEntry("fixed-0.2", "0.2"), ScheduleEntry("gap", "gap:0.2,target=0.1"),
                                ScheduleEntry("adaptive", "adaptive:0.2,delta=0.05")), (0, 1), "fixed-0.2")
    atomic_write_json(tmp_path / PLAN, plan.to_dict())
    for label in plan.labels:
        for seed in plan.seeds:
            write_finished_run(tmp_path / f"runs/{label}/seed-{seed}", [2.0, 1.9, 1.85])
    analysis = write_report(tmp_path)
    assert feedback_labels(analysis) == ["gap", "adaptive"]
    point = analysis.runs[next(iter(analysis.runs))].evals[0]
    gap, adaptive = (dd.parse_schedule(plan.spec_of(label)) for label in ("gap", "adaptive"))
    assert control_signal(gap, point) == ("gap (val - train loss)", pytest.approx(0.1))
    assert control_signal(adaptive, point) == ("val loss", 2.0)
    height, width = matplotlib.image.imread(tmp_path / "plots" / "control.png").shape[:2]
    assert (width, height) == (2 * 420, 2 * 320)  # a row per rule, a column per seed


def test_plots_zoom_past_the_untrained_start():
    figure, axes = matplotlib.pyplot.subplots()
    zoom_past_start(axes, [{0: 4.2, 10: 2.0, 20: 1.8}, {0: 4.1, 10: 2.1, 20: 1.9}])
    assert axes.get_ylim() == pytest.approx((1.8 - 0.015, 2.1 + 0.015))
    matplotlib.pyplot.close(figure)


def test_report_against_another_baseline_rereads_the_runs_and_leaves_the_report(comparison, capsys):
    from dynadrop.cli.main import main

    write_report(comparison)
    before = (comparison / "report.md").read_text()
    assert main(["report", str(comparison), "--baseline", "slow", "--schedules", "fast"]) == 0
    assert (comparison / "report.md").read_text() == before
    report_dir = comparison / "against-slow-fast"
    assert str(report_dir / "report.md") in capsys.readouterr().out
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["plan"]["baseline"] == "slow"
    assert [entry["label"] for entry in summary["plan"]["schedules"]] == ["slow", "fast"]
    reread = analyse(comparison, ComparePlan.from_dict(summary["plan"]))
    fast = reread.results["fast"]["best_val_loss"].comparison
    assert fast.p_adjusted == pytest.approx(fast.p_value)  # a family of one: Holm changes nothing
    fast_best = [min(CURVES["fast"][s]) for s in SEEDS]
    slow_best = [min(CURVES["slow"][s]) for s in SEEDS]
    cell = f"{fast_best[2]:.4f} ({fast_best[2] - slow_best[2]:+.4f})"
    assert cell in (report_dir / "report.md").read_text()


def test_report_against_an_unknown_label_names_it_and_the_allowed_ones(comparison, capsys):
    from dynadrop.cli.main import main

    assert main(["report", str(comparison), "--baseline", "fixed-0.2", "--schedules", "fsat"]) == 2
    err = capsys.readouterr().err
    assert "'fsat'" in err and "fixed-0.2, fast, slow, broken" in err
    assert not list(comparison.glob("against-*"))
