"""The Ray executor against a real Ray started here (127.0.0.1, 2 CPUs): smoke comparison, killed worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from dynadrop.cli.main import main
from dynadrop.experiments.executors import LocalExecutor
from dynadrop.experiments.executors.ray import RayExecutor
from dynadrop.experiments.plan import ComparePlan, RunKey
from dynadrop.experiments.records import (
    CHECKPOINT,
    FAILURE,
    METRICS,
    RECORD,
    RESULT_FILES,
    TRAIN_SUMMARY,
    read_json,
    read_jsonl,
)
from dynadrop.experiments.runner import run_comparison
from tests.experiments.test_runner import WORKLOAD, make_plan, starts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray on 127.0.0.1 with 2 CPUs; its workers (any job's) import these sources, a private cache.

    Yields the address another driver joins it by.
    """
    ray = pytest.importorskip("ray")
    temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must stay under 108 characters
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "DYNADROP_CACHE": str(tmp_path_factory.mktemp("cache"))}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # inherited by Ray's processes, so by every worker
    try:
        context = ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False,
                           _temp_dir=temp_dir, logging_level="WARNING", log_to_driver=False)
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(temp_dir, ignore_errors=True)


def run_numbers(run_dir: Path) -> tuple[dict, list[dict]]:
    """A run's summary and its metrics by (type, step), without wall-clock fields."""
    clock = {"wall_time", "tokens_per_s", "train_time_s"}
    summary = {k: v for k, v in read_json(run_dir / TRAIN_SUMMARY).items() if k not in clock}
    by_step = {(line["type"], line["step"]): line for line in read_jsonl(run_dir / METRICS)}
    return summary, [{k: v for k, v in line.items() if k not in clock} for line in by_step.values()]


def test_smoke_comparison_through_ray_brings_results_back_and_matches_local(cluster, corpus, tmp_path):
    out, worker = tmp_path / "ray", tmp_path / "worker"
    command = [sys.executable, "-m", "dynadrop", "compare", "--executor", "ray", "--address", cluster,
               "--worker-dir", str(worker), "--preset", "smoke", "--schedules", "0.2", "linear:0.2->0.0",
               "--seeds", "2", "--out", str(out), "--quiet", "--set", f"data={corpus}", "device=cpu"]
    done = subprocess.run(command, env=os.environ, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "runs: 4 trained, 0 already finished, 0 failed" in done.stdout
    plan = ComparePlan.from_dict(read_json(out / "plan.json"))
    for key in plan.run_keys():
        names = {path.name for path in (out / key.relative_dir).iterdir()}
        assert names == (set(RESULT_FILES) - {FAILURE, "traceback.txt"}) | {"request.json"}
    assert len(list(worker.glob(f"*/runs/*/*/{CHECKPOINT}"))) == 4, "checkpoints stay on the worker side"
    assert "linear" in (out / "report.md").read_text()

    local = run_comparison(plan, tmp_path / "local", executor=LocalExecutor(jobs=2), progress=None)
    assert set(local.finished) == set(plan.run_keys())
    for key in plan.run_keys():
        assert run_numbers(out / key.relative_dir) == run_numbers(tmp_path / "local" / key.relative_dir), key


def kill_when_running(worker: Path, victim: RunKey, killed: list[int]) -> None:
    """SIGKILL the worker process of ``victim`` once it is past its first checkpoint (step 10)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for run_dir in worker.glob(f"*/{victim.relative_dir}"):
            if len(read_jsonl(run_dir / METRICS)) >= 15:
                pid = int((run_dir / "starts.txt").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.05)


def test_a_killed_worker_fails_only_its_run_and_the_rerun_finishes_it_like_local(cluster, tmp_path):
    plan = make_plan(seeds=(0, 1), step_seconds=0.05)
    out, worker = tmp_path / "ray", tmp_path / "worker"
    victim = RunKey("linear", 0)
    others = [key for key in plan.run_keys() if key != victim]
    killed: list[int] = []
    killer = threading.Thread(target=kill_when_running, args=(worker, victim, killed))
    killer.start()
    first = run_comparison(plan, out, executor=RayExecutor(worker_dir=str(worker)), workload=WORKLOAD,
                           progress=None)
    killer.join()
    assert killed, "the victim's worker never got far enough to be killed"
    assert first.failed == [victim] and set(first.finished) == set(others)
    error = read_json(out / victim.relative_dir / FAILURE)["error"]
    assert error.startswith("Ray task failed (") and "died" in error, error

    second = run_comparison(plan, out, executor=RayExecutor(worker_dir=str(worker)), workload=WORKLOAD,
                            progress=None)
    assert second.skipped == others and second.finished == [victim] and second.failed == []
    assert not (out / victim.relative_dir / FAILURE).exists()
    [worker_root] = worker.iterdir()
    assert [starts(worker_root, key) for key in plan.run_keys()] == [1, 2, 1, 1]
    steps = [r["step"] for r in read_jsonl(out / victim.relative_dir / METRICS) if r["type"] == "train"]
    assert steps[-1] == 40 and steps.count(1) == 1, "the rerun did not resume from the worker's checkpoint"

    unhurried = make_plan(seeds=(0, 1))  # the same numbers, without the sleeps that let the test kill
    local = run_comparison(unhurried, tmp_path / "local", executor=LocalExecutor(jobs=2), workload=WORKLOAD,
                           progress=None)
    assert set(local.finished) == set(plan.run_keys())
    for key in plan.run_keys():
        assert run_numbers(out / key.relative_dir) == run_numbers(tmp_path / "local" / key.relative_dir), key
        record = read_json(out / key.relative_dir / RECORD)
        assert record.keys() == {"inference_tokens_per_s", "timing", "finished_at"}


def test_without_ray_the_executor_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["compare", "--preset", "smoke", "--executor", "ray", "--out", str(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        "dynadrop compare: error: the ray executor needs Ray, which is not installed: "
        "pip install 'dynadrop[ray]'")


@pytest.mark.parametrize(("argv", "message"), [
    (["--jobs", "2"], "--jobs 2 is for --executor local"),
    (["--cpus-per-run", "0"], "cpus per run must be at least 1, got 0"),
    (["--gpus-per-run", "-1"], "gpus per run must be 0 or more, got -1.0"),
])
def test_ray_options_are_checked(tmp_path, capsys, argv, message):
    pytest.importorskip("ray")
    command = ["compare", "--preset", "smoke", "--executor", "ray", "--out", str(tmp_path), "--quiet", *argv]
    assert main(command) == 2
    assert message in capsys.readouterr().err


class InterruptedOnceRunning(RayExecutor):
    """Raises KeyboardInterrupt (a Ctrl-C) in the runner's loop once the first run has started."""

    def steps(self) -> dict[RunKey, int]:
        if list(Path(self.worker_dir).glob("*/runs/*/*/starts.txt")):
            raise KeyboardInterrupt
        return super().steps()


def test_ctrl_c_cancels_the_running_and_queued_tasks(cluster, tmp_path):
    out, worker = tmp_path / "ray", tmp_path / "worker"
    with pytest.raises(KeyboardInterrupt):
        run_comparison(make_plan(seeds=(0, 1, 2), step_seconds=0.5), out, workload=WORKLOAD, progress=None,
                       executor=InterruptedOnceRunning(worker_dir=str(worker)))
    pids = [int(path.read_text().split()[0]) for path in worker.glob("*/runs/*/*/starts.txt")]
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids and not any(Path(f"/proc/{pid}").exists() for pid in pids), "a cancelled run kept training"
    assert not list(out.glob(f"runs/*/*/{FAILURE}")) and not list(out.glob(f"runs/*/*/{RECORD}"))
