"""The runner: run once, skip finished, resume interrupted, isolate failures, refuse a changed budget."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dynadrop.experiments.executors import LocalExecutor
from dynadrop.experiments.plan import ComparePlan, RunKey, parse_schedule_args
from dynadrop.experiments.progress import ProgressDisplay
from dynadrop.experiments.records import FAILURE, RECORD, TRACEBACK, read_json, read_jsonl
from dynadrop.experiments.runner import run_comparison

WORKLOAD = "tests.experiments.fake_workload"
ROOT = Path(__file__).resolve().parents[2]


def make_plan(seeds: tuple[int, ...] = (0,), **overrides) -> ComparePlan:
    entries = tuple(parse_schedule_args(["0.2", "linear:0.2->0.0"]))
    return ComparePlan("fake", entries, seeds, "fixed-0.2", overrides=overrides)


def starts(out: Path, key: RunKey) -> int:
    return len((out / key.relative_dir / "starts.txt").read_text().splitlines())


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """One schedule that works and one that raises, run twice (each spawn costs a torch import)."""
    out = tmp_path_factory.mktemp("comparison")
    plan = make_plan(fail_schedules=["linear:0.2->0.0"])
    stream = io.StringIO()
    first = run_comparison(plan, out, executor=LocalExecutor(jobs=2), workload=WORKLOAD, progress=stream)
    second = run_comparison(plan, out, executor=LocalExecutor(jobs=2), workload=WORKLOAD, progress=None)
    return out, plan, first, second, stream.getvalue()


def test_runs_are_recorded_and_a_failing_run_does_not_stop_the_others(comparison):
    out, _, first, _, progress = comparison
    working, failing = RunKey("fixed-0.2", 0), RunKey("linear", 0)
    assert first.finished == [working] and first.failed == [failing] and first.skipped == []
    assert read_json(out / working.relative_dir / RECORD)["inference_tokens_per_s"] == 500.0
    assert read_json(out / working.relative_dir / "request.json")["config"]["schedule"] == "0.2"
    run_dir = out / failing.relative_dir
    assert read_json(run_dir / FAILURE)["error"] == "RuntimeError: injected failure for linear:0.2->0.0"
    assert "Traceback" in (run_dir / TRACEBACK).read_text()
    assert not (run_dir / RECORD).exists()
    assert "run linear seed 0 failed: RuntimeError: injected failure" in progress
    assert "runs 1/2 done, 1 failed" in progress


def test_rerun_skips_finished_runs_and_retries_failed_ones(comparison):
    out, _, _, second, _ = comparison
    working, failing = RunKey("fixed-0.2", 0), RunKey("linear", 0)
    assert second.skipped == [working] and second.failed == [failing] and second.finished == []
    assert starts(out, working) == 1 and starts(out, failing) == 2


def test_a_changed_budget_is_refused(comparison):
    out, plan, *_ = comparison
    changed = ComparePlan.from_dict({**plan.to_dict(), "overrides": {**plan.overrides, "max_steps": 80}})
    with pytest.raises(ValueError, match=r"different training config \(config.max_steps: 40 -> 80\)"):
        run_comparison(changed, out, workload=WORKLOAD, progress=None)


def test_a_run_recorded_before_a_config_field_existed_resumes_at_its_old_value(tmp_path):
    """The workload's recorded_config fills the field in: the same value resumes, another is refused."""
    plan = make_plan()
    run_comparison(plan, tmp_path, workload=WORKLOAD, progress=None)
    for request_file in tmp_path.glob("**/request.json"):
        request = read_json(request_file)
        del request["config"]["kernel"]
        request_file.write_text(json.dumps(request))
    with pytest.raises(ValueError, match=r"config.kernel: 'old' -> 'new'"):
        run_comparison(plan, tmp_path, workload=WORKLOAD, progress=None)
    old = ComparePlan.from_dict({**plan.to_dict(), "overrides": {"kernel": "old"}})
    rerun = run_comparison(old, tmp_path, workload=WORKLOAD, progress=None)
    assert rerun.skipped == [RunKey("fixed-0.2", 0), RunKey("linear", 0)] and rerun.finished == []


def test_jobs_and_threads_must_be_positive():
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        LocalExecutor(jobs=0)
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        LocalExecutor(jobs=1, threads=0)
    assert LocalExecutor(jobs=1, threads=3).threads == 3


def test_sigkill_then_rerun_resumes_without_redoing_finished_runs(tmp_path):
    script = textwrap.dedent(f"""
        from pathlib import Path
        from tests.experiments.test_runner import make_plan
        from dynadrop.experiments.runner import run_comparison
        run_comparison(make_plan(step_seconds=0.05), Path({str(tmp_path)!r}), workload={WORKLOAD!r},
                       progress=None)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT)
    first, second = RunKey("fixed-0.2", 0), RunKey("linear", 0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = read_jsonl(tmp_path / second.relative_dir / "metrics.jsonl")
        if (tmp_path / first.relative_dir / RECORD).exists() and len(records) >= 25:
            break
        time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the comparison did not reach the second run in time")
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(1.0)
    killed_at = len(read_jsonl(tmp_path / second.relative_dir / "metrics.jsonl"))
    time.sleep(0.5)
    assert len(read_jsonl(tmp_path / second.relative_dir / "metrics.jsonl")) == killed_at, \
        "the run's process outlived the killed compare"
    assert not (tmp_path / second.relative_dir / RECORD).exists()

    outcome = run_comparison(make_plan(step_seconds=0.05), tmp_path, workload=WORKLOAD, progress=None)
    assert outcome.skipped == [first] and outcome.failed == []
    assert starts(tmp_path, first) == 1 and starts(tmp_path, second) == 2
    steps = [r["step"] for r in read_jsonl(tmp_path / second.relative_dir / "metrics.jsonl")
             if r["type"] == "train"]
    assert steps[-1] == 40 and steps.count(1) == 1, "the resumed run restarted from scratch"
    written = json.loads((tmp_path / "plan.json").read_text())
    assert ComparePlan.from_dict(written) == make_plan(step_seconds=0.05)


def test_progress_line_and_eta():
    keys = [RunKey("a", 0), RunKey("b", 0), RunKey("c", 0)]
    stream = io.StringIO()
    display = ProgressDisplay(stream, dict.fromkeys(keys, 100), already_done=[keys[0]], quiet_seconds=0.0)
    display.started -= 10.0
    display.update({keys[1]: 20})
    display.update({keys[1]: 70})
    # 50 steps trained in ~10 s here (the 20 it resumed at do not count); 30 + 100 steps left
    assert display.eta_seconds() == pytest.approx(130 / 5.0, rel=0.05)
    assert "runs 1/3 done | b seed 0: step 70/100 | ETA 0m2" in display.line()
    display.run_finished(keys[1])
    assert "runs 2/3 done" in stream.getvalue().splitlines()[-1]
