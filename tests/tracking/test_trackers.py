"""Every tracker receives what metrics.jsonl holds (read back with the tracker's own reader), a
comparison groups its runs, and a bad or missing logger is named with what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynadrop.cli.main import main
from dynadrop.tracking import check_loggers
from tests.tracking.readers import Curves, mlflow_runs, tensorboard_scalars, wandb_run

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")
pytest.importorskip("wandb")

SRC = Path(__file__).resolve().parents[2] / "src"
FIELDS = {"train": ("loss", "lr", "tokens_per_s", "wall_time"),
          "eval": ("train_loss", "val_loss", "grad_norm", "lr", "wall_time")}


def expected_curves(run_dir: Path) -> Curves:
    """metrics.jsonl as curves: ``train/loss``, ``eval/val_loss``, ``train/rates/mlp``, ... (no nulls)"""
    curves: Curves = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        kind, step = record["type"], record["step"]
        for field in FIELDS[kind]:
            if record[field] is not None:  # grad_norm before the first step: nothing to track
                curves.setdefault(f"{kind}/{field}", {})[step] = record[field]
        for group, rate in record["rates"].items():
            curves.setdefault(f"{kind}/rates/{group}", {})[step] = rate
    return curves


def assert_same_curves(found: Curves, expected: Curves, rel: float) -> None:
    assert sorted(found) == sorted(expected)
    for tag, points in expected.items():
        assert found[tag] == pytest.approx(points, rel=rel), tag


def test_train_logs_every_record_to_each_tracker(corpus, tmp_path):
    run_dir = tmp_path / "run"
    code = main(["train", "--preset", "smoke", "--data", str(corpus), "--device", "cpu", "--no-progress",
                 "--run-dir", str(run_dir), "--logger", "tensorboard", "--logger", "mlflow",
                 "--logger", "wandb"])
    assert code == 0
    expected = expected_curves(run_dir)
    assert len(expected["train/loss"]) == 4 and len(expected["eval/val_loss"]) == 3
    assert_same_curves(tensorboard_scalars(run_dir / "tensorboard"), expected, rel=1e-6)  # float32 events
    assert_same_curves(mlflow_runs("dynadrop")["run"], expected, rel=1e-12)
    names, curves = wandb_run(run_dir)
    assert names == {"project": "dynadrop", "group": "dynadrop", "name": "run"}
    assert_same_curves(curves, expected, rel=1e-12)


def test_a_comparison_is_one_experiment_with_runs_named_schedule_and_seed(corpus, tmp_path, capsys):
    out = tmp_path / "cmp"
    command = ["compare", "--preset", "smoke", "--schedules", "a=0.2", "b=linear:0.2->0", "--seeds", "1",
               "--quiet", "--out", str(out), "--set", f"data={corpus}"]
    assert main([*command, "--logger", "mlflow", "--logger", "tensorboard"]) == 0
    assert main(command) == 0  # the loggers are not pinned in request.json: the rerun resumes
    assert "0 trained, 2 already finished" in capsys.readouterr().out
    runs = mlflow_runs("cmp")
    assert sorted(runs) == ["a/0", "b/0"]
    for label in ("a", "b"):
        run_dir = out / "runs" / label / "seed-0"
        assert_same_curves(runs[f"{label}/0"], expected_curves(run_dir), rel=1e-12)
        assert tensorboard_scalars(run_dir / "tensorboard")["train/loss"]


def test_unknown_logger_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown logger 'neptune'; allowed: tensorboard, mlflow, wandb"):
        check_loggers(["neptune"])


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"pip install 'dynadrop\[trackers\]'"):
        check_loggers(["wandb"])


def test_the_trainer_imports_a_tracker_library_only_when_it_is_asked_for():
    code = ("import sys, dynadrop.gpt.trainer; "
            "print(sorted(m for m in ('tensorboard', 'mlflow', 'wandb') if m in sys.modules), "
            "sorted(m for m in sys.modules if m.startswith(('dynadrop.experiments', 'dynadrop.cli'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.stdout.strip() == "[] []"
