"""Write a comparison's report: ``report.md``, ``report.html``, ``summary.json``, ``results.csv``,
``plots/*.png``.

Experiment trackers (``compare --logger``) receive each run's metrics while it trains.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dynadrop.experiments.analysis import Analysis, MetricResult, analyse
from dynadrop.experiments.html_report import write_html_report
from dynadrop.experiments.metrics import CONVERGENCE_KEYS, METRIC_TABLE, METRICS_BY_KEY
from dynadrop.experiments.plan import ComparePlan, RunKey
from dynadrop.experiments.plots import PLOT_FILES, write_plots
from dynadrop.experiments.records import write_text_atomic
from dynadrop.experiments.stats import BETTER, WORSE
from dynadrop.gpt.files import atomic_write_json

REPORT_FILES = ("report.md", "report.html", "summary.json", "results.csv")
OVERVIEW_KEYS = tuple(info.key for info in METRIC_TABLE if info.key != "best_val_step")

READING_NOTES = """\
- **Train loss**: the primary number is the *eval-mode* train loss (dropout off) at the last
  evaluation. The paper-style *last-minibatch* train loss (one minibatch, dropout on) is shown
  separately and labelled; a schedule that ends at rate 0 wins it mechanically.
- **Inference speed cannot be changed by a training-time dropout schedule**: inference runs in
  eval mode, where dropout is the identity. It is measured anyway; differences are noise.
- **Verdict**: paired t-test of (schedule - baseline) over seeds (same seed = same initial
  weights and batch order). Per metric, the tests of every schedule against the baseline are one
  family: their p-values are Holm-Bonferroni adjusted, and *better* / *worse* means adjusted
  p < alpha in that direction (lower loss and time, higher tokens/s are better); otherwise *no
  detectable difference* (the seeds could not tell them apart, not proof that they are equal).
  The tables show raw and adjusted p, the paired (1 - alpha) CI of the difference, and the effect size
  d = mean difference / sample std of the differences. With one seed there is no test.
- **Convergence speed**: steps (and training seconds) until the validation loss first reaches the
  target; runs that never reach it are shown as *not reached (k/n seeds)* and left out of the mean."""


def write_report(out_dir: Path, analysis: Analysis | None = None, *, alpha: float = 0.05) -> Analysis:
    """Write every report file in ``out_dir``: of ``analysis`` if given, else of the comparison in
    ``out_dir`` analysed at level ``alpha``."""
    out_dir = Path(out_dir)
    analysis = analysis or analyse(out_dir, alpha=alpha)
    write_plots(analysis, out_dir / "plots")
    atomic_write_json(out_dir / "summary.json", summary_data(analysis))
    write_text_atomic(out_dir / "results.csv", results_csv(analysis))
    write_text_atomic(out_dir / "report.md", markdown(analysis))
    write_html_report(out_dir, analysis, *overview_rows(analysis), legend=verdict_legend(analysis))
    return analysis


def overview_table(analysis: Analysis) -> str:
    """Markdown table: one row per schedule, mean ± std of each metric marked (better)/(worse) where
    the paired test says so, and the verdict on the best validation loss spelled out."""
    return _table(*overview_rows(analysis))


def overview_rows(analysis: Analysis) -> tuple[list[str], list[list[str]]]:
    """The headers and rows of :func:`overview_table`."""
    headers = ["schedule", *(METRICS_BY_KEY[key].title for key in OVERVIEW_KEYS), "verdict (best val loss)"]
    rows = []
    for label in analysis.plan.labels:
        results = analysis.results[label]
        comparison = results["best_val_loss"].comparison
        rows.append([
            label,
            *(_overview_cell(results[key], key) for key in OVERVIEW_KEYS),
            comparison.verdict if comparison else "baseline",
        ])
    return headers, rows


def verdict_legend(analysis: Analysis) -> str:
    """What the marks of the results table mean (one sentence for the markdown and the HTML report)."""
    return (f"Mean ± sample std over seeds. (better) / (worse): a paired t-test against the baseline finds "
            f"a difference (Holm-adjusted p < {analysis.alpha:g} over the {len(analysis.plan.labels) - 1} "
            "schedules compared); no mark: no detectable difference.")


def timing_text(analysis: Analysis) -> str:
    """How the training times were measured, and whether they can be compared."""
    timings = [metrics.timing for metrics in analysis.runs.values() if metrics.timing]
    threads = sorted({timing["threads"] for timing in timings if "threads" in timing})
    loads = [timing[key] for timing in timings for key in ("load_average_before", "load_average_after")
             if timing.get(key) is not None]
    load = f"; 1-minute load average {min(loads):.2f}-{max(loads):.2f} around the runs" if loads else ""
    threads_text = f"{', '.join(map(str, threads))} torch threads" if threads else "threads not recorded"
    if analysis.plan.timing:
        return (f"timing mode: one run at a time, {threads_text}, compile warmed up before each run{load}. "
                "Times are comparable across schedules when the load stayed near the thread count.")
    return (f"runs may have shared the cores ({threads_text}{load}), so times and tokens/s are not "
            "comparable across schedules; `dynadrop compare --timing` measures them one run at a time.")


def tuning_section(plan: ComparePlan) -> list[str]:
    """Markdown lines on how tuned schedules were chosen (none for an untuned comparison)."""
    if not plan.tuning:
        return []
    tuning = plan.tuning
    seeds = ", ".join(map(str, tuning["seeds"]))
    evaluation = ", ".join(map(str, plan.seeds))
    rows = []
    for choice in tuning["choices"]:
        cells = [f"`{spec}`: {format_number(score)}" + (" **(chosen)**" if spec == choice["chosen"] else "")
                 for spec, score in zip(choice["candidates"], choice["scores"], strict=True)]
        rows.append([choice["family"], "<br>".join(cells)])
    return [
        "", "## Tuning", "",
        f"Every family with knobs got the same budget: {tuning['budget']} candidate settings, each "
        f"trained on tuning seeds {seeds}; the one with the lowest mean {tuning['metric']} was chosen. "
        f"The verdicts above use only the evaluation seeds ({evaluation}), which tuning never saw.",
        "", _table(["family", f"candidates: mean {tuning['metric']} on the tuning seeds"], rows),
    ]


def per_seed_table(analysis: Analysis, key: str = "best_val_loss") -> str:
    """Markdown table: one row per schedule, one column per seed, and the difference from the baseline."""
    plan = analysis.plan
    decimals = METRICS_BY_KEY[key].decimals
    rows = []
    for label in plan.labels:
        cells = []
        for seed in plan.seeds:
            value = analysis.values.get(RunKey(label, seed), {}).get(key)
            baseline = analysis.values.get(RunKey(plan.baseline, seed), {}).get(key)
            text = format_number(value, decimals)
            if label != plan.baseline and value is not None and baseline is not None:
                text += f" ({value - baseline:+.{decimals}f})"
            cells.append(text)
        rows.append([label, *cells])
    return _table(["schedule", *(f"seed {seed}" for seed in plan.seeds)], rows)


def markdown(analysis: Analysis) -> str:
    plan = analysis.plan
    done = len(analysis.runs)
    total = len(plan.run_keys())
    target = (f"{plan.target:g} (set on the command line)" if plan.target is not None
              else f"the baseline's best validation loss of the same seed ({_targets_text(analysis)})")
    lines = [
        "# Dynamic dropout comparison",
        "",
        f"Preset `{plan.preset}`; seeds {', '.join(map(str, plan.seeds))}; baseline `{plan.baseline}`; "
        f"convergence target: {target}. Runs finished: {done}/{total}.",
        "",
        "## Results",
        "",
        verdict_legend(analysis),
        "",
        overview_table(analysis),
        "",
        "Best validation loss per seed (the pairs behind the verdicts):",
        "",
        per_seed_table(analysis),
        "",
        "## How to read this",
        "",
        READING_NOTES,
        f"- **Training time**: {timing_text(analysis)}",
        "",
        "## Schedules",
        "",
        _table(["label", "spec"], [[entry.label, f"`{entry.spec}`"] for entry in plan.schedules]),
        *tuning_section(plan),
        "",
        "## Metric details",
    ]
    for info in METRIC_TABLE:
        better = {"lower": "lower is better", "higher": "higher is better", None: "no better direction"}
        lines += ["", f"### {info.title} ({better[info.direction]})", "", info.definition + ".", "",
                  _detail_table(analysis, info.key)]
    if analysis.problems:
        lines += ["", "## Runs without results", ""]
        lines += [f"- `{problem.key}`: {problem.message}" for problem in analysis.problems]
    lines += ["", "## Plots", ""]
    lines += [f"![{name}](plots/{name})" for name in PLOT_FILES]
    return "\n".join(lines) + "\n"


def summary_data(analysis: Analysis) -> dict[str, Any]:
    """The report as JSON: plan, metric definitions, per-schedule statistics, per-run values, problems."""
    return {
        "plan": analysis.plan.to_dict(),
        "metrics": [asdict(info) for info in METRIC_TABLE],
        "targets": {str(seed): target for seed, target in analysis.targets.items()},
        "results": {
            label: {key: asdict(result) for key, result in per_metric.items()}
            for label, per_metric in analysis.results.items()
        },
        "runs": {
            label: {str(key.seed): values for key, values in analysis.values.items() if key.label == label}
            for label in analysis.plan.labels
        },
        "problems": [
            {"schedule": p.key.label, "seed": p.key.seed, "state": p.state.value, "message": p.message}
            for p in analysis.problems
        ],
    }


def results_csv(analysis: Analysis) -> str:
    """One row per schedule x metric with the statistics and the paired comparison."""
    columns = ["schedule", "spec", "metric", "direction", "finished", "missing", "n", "mean", "std",
               "ci_low", "ci_high", "pairs", "mean_difference", "difference_ci_low", "difference_ci_high",
               "effect_size", "p_value", "p_holm", "verdict"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for entry in analysis.plan.schedules:
        for info in METRIC_TABLE:
            result = analysis.results[entry.label][info.key]
            s, c = result.summary, result.comparison
            writer.writerow([
                entry.label, entry.spec, info.key, info.direction or "", result.finished, result.missing,
                s.n, s.mean, s.std, s.ci_low, s.ci_high,
                *((c.n, c.mean_difference, c.ci_low, c.ci_high, c.effect_size, c.p_value, c.p_adjusted,
                   c.verdict) if c else [""] * 8),
            ])
    return buffer.getvalue()


def format_number(value: float | None, decimals: int = 4) -> str:
    """``value`` with ``decimals`` decimals; an em dash for a missing value."""
    return "—" if value is None else f"{value:.{decimals}f}"


def _overview_cell(result: MetricResult, key: str) -> str:
    summary = result.summary
    decimals = METRICS_BY_KEY[key].decimals
    missing = _missing_text(result, key)
    if summary.mean is None:
        return missing or "—"
    text = format_number(summary.mean, decimals)
    if summary.std is not None:
        text += f" ± {format_number(summary.std, decimals)}"
    if result.comparison is not None and result.comparison.verdict in (BETTER, WORSE):
        text += f" ({result.comparison.verdict})"
    return f"{text}; {missing}" if missing else text


def _missing_text(result: MetricResult, key: str) -> str:
    if not result.missing:
        return ""
    what = "not reached" if key in CONVERGENCE_KEYS else "not measured"
    return f"{what} ({result.missing}/{result.finished} seeds)"


def _detail_table(analysis: Analysis, key: str) -> str:
    level = f"{100 * (1 - analysis.alpha):g}%"
    headers = ["schedule", "n", "mean", "std", f"{level} CI", "diff vs baseline", f"{level} CI of diff",
               "effect size d", "p", "p (Holm)", "verdict"]
    rows = []
    for label in analysis.plan.labels:
        result = analysis.results[label][key]
        s, c = result.summary, result.comparison
        decimals = METRICS_BY_KEY[key].decimals
        row = [label, _n_text(result, key), format_number(s.mean, decimals), format_number(s.std, decimals),
               _interval(s.ci_low, s.ci_high, decimals)]
        if c is None:
            row += ["(baseline)", "", "", "", "", ""]
        else:
            row += [format_number(c.mean_difference, decimals), _interval(c.ci_low, c.ci_high, decimals),
                    format_number(c.effect_size, 2), _p_text(c.p_value), _p_text(c.p_adjusted), c.verdict]
        rows.append(row)
    return _table(headers, rows)


def _p_text(p_value: float | None) -> str:
    return "n<2: no test" if p_value is None else f"{p_value:.3g}"


def _n_text(result: MetricResult, key: str) -> str:
    missing = _missing_text(result, key)
    return f"{result.summary.n} ({missing})" if missing else str(result.summary.n)


def _interval(low: float | None, high: float | None, decimals: int) -> str:
    if low is None or high is None:
        return "—"
    return f"[{format_number(low, decimals)}, {format_number(high, decimals)}]"


def _targets_text(analysis: Analysis) -> str:
    return ", ".join(f"seed {seed}: {format_number(target)}" for seed, target in analysis.targets.items())


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def console_summary(analysis: Analysis, report_dir: Path | None = None) -> str:
    """What the commands print: the results table, the runs without results, where the files are
    (``report_dir``, default the comparison directory)."""
    lines = [overview_table(analysis), "", "best val loss per seed (difference from the baseline):",
             per_seed_table(analysis), ""]
    lines += [f"{problem.key}: {problem.message}" for problem in analysis.problems]
    report = Path(report_dir or analysis.out_dir) / "report.md"
    lines.append(f"report: {report} (plus summary.json, results.csv, plots/)")
    return "\n".join(lines)
