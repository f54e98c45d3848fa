"""PNG plots of a comparison (matplotlib, Agg backend: no display needed).

``val_loss.png``: validation loss vs step, mean over seeds with a +-1 sample-std band.
``rates.png``: dropout rate vs step per schedule (mean over seeds; one line per group if they differ).
``schedules.png``: one panel per schedule: its validation loss (seed band) against the baseline's,
and its dropout rate (seed band: a validation-driven rule differs by seed) on a second axis.
``control.png``: for each feedback-driven schedule and seed, the signal its rule reacts to (the
generalisation gap, or the validation loss) and the rate it set, so a reader sees it react or oscillate.
``time_to_target.png``: steps to the convergence target, mean with a 95% CI bar; unreached runs noted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dynadrop.core import Controller, parse_schedule  # noqa: E402
from dynadrop.experiments.analysis import Analysis  # noqa: E402
from dynadrop.experiments.metrics import EvalPoint  # noqa: E402
from dynadrop.experiments.plan import RunKey  # noqa: E402
from dynadrop.gpt.files import atomic_write  # noqa: E402

PLOT_FILES = ("val_loss.png", "rates.png", "schedules.png", "control.png", "time_to_target.png")
PANEL_COLUMNS = 3
PANEL_SIZE = (4.2, 3.2)


@dataclass(frozen=True)
class SeedBand:
    """A curve over the steps every seed has: mean and ±1 sample std (zero spread for one seed)."""

    steps: list[int]
    mean: np.ndarray
    std: np.ndarray


def seed_band(curves: list[dict[int, float]]) -> SeedBand:
    """Mean and sample std across seeds of per-seed curves {step: value}, on their common steps."""
    steps = sorted(set.intersection(*(set(curve) for curve in curves)))
    values = np.array([[curve[step] for step in steps] for curve in curves], dtype=float)
    std = values.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(len(steps))
    return SeedBand(steps, values.mean(axis=0), std)


def write_plots(analysis: Analysis, plots_dir: Path) -> list[Path]:
    """Draw every plot of ``analysis`` into ``plots_dir``; returns the files written.

    A single-axes plot gets one 8x5 figure; a panelled one a grid of small panels, its size
    from the analysis (one panel per schedule; one row per feedback rule, a column per seed).
    """
    plots_dir.mkdir(parents=True, exist_ok=True)
    schedules = max(1, len(analysis.plan.labels))
    schedule_grid = (-(-schedules // min(schedules, PANEL_COLUMNS)), min(schedules, PANEL_COLUMNS))
    control_grid = (max(1, len(feedback_labels(analysis))), len(analysis.plan.seeds))
    plots = ((_val_loss, None), (_rates, None), (_schedule_panels, schedule_grid), (_control, control_grid),
             (_time_to_target, None))
    paths = []
    for name, (draw, grid) in zip(PLOT_FILES, plots, strict=True):
        size = (8, 5) if grid is None else (PANEL_SIZE[0] * grid[1], PANEL_SIZE[1] * grid[0])
        figure, axes = plt.subplots(*(grid or (1, 1)), figsize=size, squeeze=False)
        try:
            draw(analysis, axes[0, 0] if grid is None else axes)
            figure.tight_layout()
            paths.append(_save_atomic(figure, plots_dir / name))
        finally:
            plt.close(figure)
    return paths


def feedback_labels(analysis: Analysis) -> list[str]:
    """The schedules driven by a feedback rule (a controller), which the control plot shows."""
    return [entry.label for entry in analysis.plan.schedules
            if isinstance(parse_schedule(entry.spec), Controller)]


def control_signal(controller: Controller, point: EvalPoint) -> tuple[str, float]:
    """What the rule reacts to, from an evaluation: the gap when it reads both losses, else val loss."""
    if {"train_loss", "val_loss"} <= set(controller.signals):
        return "gap (val - train loss)", point.val_loss - point.train_loss
    return "val loss", point.val_loss


def _finished_keys(analysis: Analysis, label: str) -> list[RunKey]:
    return [RunKey(label, seed) for seed in analysis.plan.seeds if RunKey(label, seed) in analysis.runs]


def _val_loss_curves(analysis: Analysis, label: str) -> list[dict[int, float]]:
    return [{point.step: point.val_loss for point in analysis.runs[key].evals}
            for key in _finished_keys(analysis, label)]


def _rate_curves(analysis: Analysis, label: str) -> list[dict[int, float]]:
    """Per seed, the mean rate over groups at each logged step."""
    return [{step: float(np.mean(list(rates.values()))) for step, rates in analysis.runs[key].rate_curve}
            for key in _finished_keys(analysis, label)]


def _draw_band(axes: plt.Axes, band: SeedBand, **style) -> None:
    line, = axes.plot(band.steps, band.mean, **style)
    if band.std.any():
        axes.fill_between(band.steps, band.mean - band.std, band.mean + band.std, color=line.get_color(),
                          alpha=0.2)


def zoom_past_start(axes: plt.Axes, curves: list[dict[int, float]]) -> None:
    """Fit the y range to the curves after their first point: the untrained model's loss at step 0
    would otherwise squeeze the part where schedules differ into a few pixels."""
    later = [value for curve in curves for step, value in curve.items() if step > min(curve)]
    if later:
        low, high = min(later), max(later)
        margin = 0.05 * (high - low) or 0.01
        axes.set_ylim(low - margin, high + margin)


def _val_loss(analysis: Analysis, axes: plt.Axes) -> None:
    shown = []
    for label in analysis.plan.labels:
        curves = _val_loss_curves(analysis, label)
        if curves:
            _draw_band(axes, seed_band(curves), label=label)
            shown += curves
    zoom_past_start(axes, shown)
    axes.set(xlabel="step", ylabel="validation loss (eval mode)",
             title="Validation loss: mean over seeds, band = ±1 sample std")
    _legend(axes)


def _schedule_panels(analysis: Analysis, grid: np.ndarray) -> None:
    panels = grid.ravel()
    baseline = _val_loss_curves(analysis, analysis.plan.baseline)
    for label, axes in zip(analysis.plan.labels, panels, strict=False):
        curves = _val_loss_curves(analysis, label)
        axes.set(title=label, xlabel="step", ylabel="val loss")
        if not curves:
            axes.text(0.5, 0.5, "no finished runs", transform=axes.transAxes, ha="center")
            continue
        if baseline and label != analysis.plan.baseline:
            _draw_band(axes, seed_band(baseline), color="0.6", linestyle="--", label="baseline")
        _draw_band(axes, seed_band(curves), color="tab:blue", label="val loss")
        zoom_past_start(axes, curves + baseline)
        rate_axes = axes.twinx()
        _draw_band(rate_axes, seed_band(_rate_curves(analysis, label)), color="tab:red", label="rate")
        rate_axes.set_ylabel("dropout rate", color="tab:red")
        rate_axes.set_ylim(bottom=0.0)
    for axes in panels[len(analysis.plan.labels):]:
        axes.set_visible(False)


def _control(analysis: Analysis, grid: np.ndarray) -> None:
    labels = feedback_labels(analysis)
    if not labels:
        grid[0, 0].text(0.5, 0.5, "no feedback-driven schedule in this comparison",
                        transform=grid[0, 0].transAxes, ha="center")
        for axes in grid.ravel():
            axes.set_axis_off()
        return
    for row, label in zip(grid, labels, strict=True):
        controller = parse_schedule(analysis.plan.spec_of(label))
        for axes, seed in zip(row, analysis.plan.seeds, strict=True):
            axes.set(title=f"{label}, seed {seed}", xlabel="step")
            run = analysis.runs.get(RunKey(label, seed))
            if run is None:
                axes.text(0.5, 0.5, "not finished", transform=axes.transAxes, ha="center")
                continue
            steps = [point.step for point in run.evals]
            name = control_signal(controller, run.evals[0])[0]
            signal = [control_signal(controller, point)[1] for point in run.evals]
            axes.plot(steps, signal, color="tab:blue", marker=".")
            zoom_past_start(axes, [dict(zip(steps, signal, strict=True))])
            axes.set_ylabel(name, color="tab:blue")
            rate_axes = axes.twinx()
            rate_axes.step(steps, [float(np.mean(list(point.rates.values()))) for point in run.evals],
                           where="post", color="tab:red")
            rate_axes.set_ylabel("rate after the evaluation", color="tab:red")
            rate_axes.set_ylim(bottom=0.0)


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
