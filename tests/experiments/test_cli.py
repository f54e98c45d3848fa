"""`dynadrop compare` and `dynadrop report` end to end on the smoke preset, and their errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynadrop.cli.main import main
from dynadrop.experiments.metrics import METRIC_TABLE
from dynadrop.experiments.records import RECORD, read_jsonl

ROOT = Path(__file__).resolve().parents[2]


def compare_command(out: Path, corpus: Path) -> list[str]:
    return [sys.executable, "-m", "dynadrop", "compare", "--preset", "smoke", "--schedules", "0.2",
            "linear:0.2->0.0", "--seeds", "2", "--jobs", "2", "--quiet", "--out", str(out),
            "--set", f"data={corpus}", "device=cpu"]


def test_compare_survives_sigkill_and_reports_every_metric(tmp_path, corpus):
    out = tmp_path / "cmp"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DYNADROP_CACHE": str(tmp_path / "cache")}
    first = subprocess.Popen(compare_command(out, corpus), env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finished_first = out / "runs/fixed-0.2/seed-0" / RECORD
    deadline = time.monotonic() + 90
    while not finished_first.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert finished_first.exists(), first.stderr.read().decode() if first.poll() is not None else "too slow"
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stderr.close()
    done_before = {path.parent: path.stat().st_mtime_ns for path in out.glob("runs/*/*/record.json")}

    second = subprocess.run(compare_command(out, corpus), env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert f"{len(done_before)} already finished" in second.stdout
    for run_dir, mtime in done_before.items():
        assert (run_dir / RECORD).stat().st_mtime_ns == mtime, f"{run_dir} was run again"
    assert len(list(out.glob("runs/*/*/record.json"))) == 4

    report = (out / "report.md").read_text()
    for info in METRIC_TABLE:
        assert info.title in report
    summary = json.loads((out / "summary.json").read_text())
    for label in ("fixed-0.2", "linear"):
        for seed in ("0", "1"):
            values = summary["runs"][label][seed]
            assert values["inference_tokens_per_s"] > 0 and values["train_tokens_per_s"] > 0
            assert values["best_val_loss"] > 0
    assert (out / "plots/val_loss.png").read_bytes()[:4] == b"\x89PNG"

    # Pairing: the step-0 evaluation (eval mode, before any update) sees only the initial weights,
    # so it matches across schedules for one seed and differs between seeds.
    def initial_val_loss(label: str, seed: int) -> float:
        records = read_jsonl(out / f"runs/{label}/seed-{seed}/metrics.jsonl")
        return next(r["val_loss"] for r in records if r["type"] == "eval" and r["step"] == 0)

    assert initial_val_loss("fixed-0.2", 0) == initial_val_loss("linear", 0)
    assert initial_val_loss("fixed-0.2", 1) == initial_val_loss("linear", 1)
    assert initial_val_loss("fixed-0.2", 0) != initial_val_loss("fixed-0.2", 1)

    assert main(["report", str(out)]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "nope"], "unknown preset 'nope'; allowed: paper, cpu, quick, smoke"),
        (["--schedules", "wobbly:0.2"], "'wobbly:0.2'"),
        (["--seeds", "0"], "seeds must be at least 1, got 0"),
        (["--jobs", "0"], "jobs must be at least 1, got 0"),
        (["--set", "max_steps"], "expected FIELD=VALUE"),
        (["--set", "seed=3"], "seed cannot be overridden"),
        (["--set", "max_stepz=3"], "max_stepz"),
        (["--baseline", "other"], "baseline 'other' is not one of the schedules"),
        (["--timing", "--jobs", "2"], "timing mode runs one run at a time, so --jobs must be 1, got 2"),
        (["--tune-seeds", "1", "--schedules", "0.2"], "--tune-seeds tunes the default schedule set"),
        (["--tune-seeds", "-1"], "tune-seeds must be at least 1, got -1"),
        (["--tune-seeds", "1", "--first-tune-seed", "1"], "tuning seeds [1] are also evaluation seeds"),
        (["--alpha", "0.7"], "alpha must be between 0 and 0.5 (e.g. 0.05), got 0.7"),
    ],
)
def test_compare_rejects_bad_input(tmp_path, capsys, argv, message):
    assert main(["compare", "--preset", "smoke", "--out", str(tmp_path / "out"), "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err


def test_report_of_a_missing_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_compare_help_lists_presets_and_default_schedules(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for expected in ("quick", "smoke", "curriculum:p,gamma=5/max_steps", "LABEL=SPEC", "resume",
                     "--tune-seeds", "--timing", "--alpha", "Holm-Bonferroni"):
        assert expected in text
