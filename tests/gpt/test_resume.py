"""Exact resume: a run killed with SIGKILL at an arbitrary step and resumed matches an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
# Per-group schedules, one of them validation-driven, so controller state must survive too.
ARGS = ["--preset", "smoke", "--max-steps", "60", "--eval-interval", "10", "--log-interval", "3",
        "--checkpoint-interval", "7", "--device", "cpu", "--no-progress",
        "--schedule", "attention=adaptive:0.2,delta=0.05,patience=0", "--schedule", "linear:0.3->0.0"]


def start(run_dir: Path, corpus: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-m", "dynadrop", "train", *ARGS, "--data", str(corpus),
                             "--run-dir", str(run_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def trajectory(run_dir: Path) -> list[dict]:
    """Metrics lines without the timing fields, which legitimately differ."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in ("wall_time", "tokens_per_s")} for line in lines]


def test_sigkill_then_resume_continues_the_identical_trajectory(tmp_path, corpus):
    uninterrupted = start(tmp_path / "whole", corpus)
    interrupted = start(tmp_path / "killed", corpus)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    interrupted.send_signal(signal.SIGKILL)
    assert interrupted.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    resumed = start(tmp_path / "killed", corpus)
    assert resumed.wait() == 0, resumed.stderr.read().decode()
    assert uninterrupted.wait() == 0, uninterrupted.stderr.read().decode()
    expected = trajectory(tmp_path / "whole")
    assert trajectory(tmp_path / "killed") == expected
    assert {line["rates"]["attention"] for line in expected if line["type"] == "eval"} != {0.2}
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert summary["steps"] == 60
    assert not list((tmp_path / "killed").glob("*.tmp"))
