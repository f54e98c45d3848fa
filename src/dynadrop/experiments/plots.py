"""PNG plots of a comparison (matplotlib, Agg backend: no display needed).

``val_loss.png``: validation loss vs step, mean over seeds with a +-1 sample-std band.
``rates.png``: dropout rate vs step per schedule (mean over seeds; one line per group if they differ).
``time_to_target.png``: steps to the convergence target, mean with a 95% CI bar; unreached runs noted.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dynadrop.experiments.analysis import Analysis  # noqa: E402
from dynadrop.experiments.plan import RunKey  # noqa: E402
from dynadrop.gpt.files import atomic_write  # noqa: E402

PLOT_FILES = ("val_loss.png", "rates.png", "time_to_target.png")


def write_plots(analysis: Analysis, plots_dir: Path) -> list[Path]:
    """Draw every plot of ``analysis`` into ``plots_dir``; returns the files written."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    drawers = (_val_loss, _rates, _time_to_target)
    paths = []
    for name, draw in zip(PLOT_FILES, drawers, strict=True):
        figure, axes = plt.subplots(figsize=(8, 5))
        try:
            draw(analysis, axes)
            figure.tight_layout()
            paths.append(_save_atomic(figure, plots_dir / name))
        finally:
            plt.close(figure)
    return paths


def _finished_keys(analysis: Analysis, label: str) -> list[RunKey]:
    return [RunKey(label, seed) for seed in analysis.plan.seeds if RunKey(label, seed) in analysis.runs]


def _val_loss(analysis: Analysis, axes: plt.Axes) -> None:
    for label in analysis.plan.labels:
        curves = [{point.step: point.val_loss for point in analysis.runs[key].evals}
                  for key in _finished_keys(analysis, label)]
        if not curves:
            continue
        steps = sorted(set.intersection(*(set(curve) for curve in curves)))
        values = np.array([[curve[step] for step in steps] for curve in curves])
        mean = values.mean(axis=0)
        line, = axes.plot(steps, mean, label=label)
        if len(curves) > 1:
            spread = values.std(axis=0, ddof=1)
            axes.fill_between(steps, mean - spread, mean + spread, color=line.get_color(), alpha=0.2)
    axes.set(xlabel="step", ylabel="validation loss (eval mode)",
             title="Validation loss: mean over seeds, band = ±1 sample std")
    _legend(axes)


def _rates(analysis: Analysis, axes: plt.Axes) -> None:
    for label in analysis.plan.labels:
        keys = _finished_keys(analysis, label)
        if not keys:
            continue
        curves = [dict(analysis.runs[key].rate_curve) for key in keys]
        steps = sorted(set.intersection(*(set(curve) for curve in curves)))
        groups = sorted(set.union(*(set(rates) for curve in curves for rates in curve.values())))
        per_group = {
            group: np.array([[curve[step].get(group, np.nan) for step in steps] for curve in curves])
            .mean(axis=0)
            for group in groups
        }
        distinct = [g for g in groups if not np.allclose(per_group[g], per_group[groups[0]], equal_nan=True)]
        if distinct:
            for group in groups:
                axes.plot(steps, per_group[group], label=f"{label} ({group})")
        else:
            axes.plot(steps, per_group[groups[0]], label=label)
    axes.set(xlabel="step", ylabel="dropout rate", title="Dropout rate (mean over seeds)")
    _legend(axes)


def _time_to_target(analysis: Analysis, axes: plt.Axes) -> None:
    labels = analysis.plan.labels
    positions = np.arange(len(labels))
    for position, label in zip(positions, labels, strict=True):
        result = analysis.results[label]["steps_to_target"]
        summary = result.summary
        if summary.mean is not None:
            error = None
            if summary.ci_low is not None:
                error = [[summary.mean - summary.ci_low], [summary.ci_high - summary.mean]]
            axes.barh(position, summary.mean, xerr=error, color="tab:blue", alpha=0.7, capsize=4)
        if result.missing:
            note = f"  not reached ({result.missing}/{result.finished} seeds)"
            axes.text(summary.mean or 0.0, position, note, va="center", color="tab:red")
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.set(xlabel="steps until val loss first reaches the target (mean, 95% CI)",
             title="Convergence speed")


def _legend(axes: plt.Axes) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")


def _save_atomic(figure: plt.Figure, path: Path) -> Path:
    atomic_write(path, lambda handle: figure.savefig(handle, dpi=100, format="png"))
    return path
