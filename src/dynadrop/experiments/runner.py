"""Run every schedule x seed of a plan: one process per run, resumable, failures isolated.

- **Skip**: a run whose ``record.json`` exists finished; it is never run again.
- **Resume**: any other run is (re)started; the trainer resumes from its own checkpoint.
- **Safety**: ``request.json`` pins each run's full training config; a rerun that would change it
  is refused. A run's process holds an exclusive lock on its directory and dies with its parent.
- **Failures**: a run that raises (or dies) gets ``failure.json`` + ``traceback.txt`` and the
  others go on; a rerun retries it.
- **Parallelism**: ``jobs`` processes at a time (spawned, so nothing is shared), each with
  ``cores // jobs`` torch threads.

The workload (what a run is) is a module with ``build_config(preset, overrides, schedule, seed, *,
timing) -> dict``, ``total_steps(config) -> int`` and ``execute(config, run_dir) -> dict`` (extra fields
for ``record.json``, e.g. ``inference_tokens_per_s``); the default trains the GPT
(:mod:`dynadrop.experiments.workload`).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dynadrop.experiments.plan import ComparePlan, RunKey, check_positive
from dynadrop.experiments.progress import ProgressDisplay
from dynadrop.experiments.records import (
    FAILURE,
    LOG,
    PLAN,
    RECORD,
    REQUEST,
    TRACEBACK,
    RunState,
    last_step,
    read_json,
    run_state,
    write_text_atomic,
)
from dynadrop.gpt.files import atomic_write_json

DEFAULT_WORKLOAD = "dynadrop.experiments.workload"
PR_SET_PDEATHSIG = 1


@dataclass
class RunOutcome:
    """What one ``run_comparison`` call did."""

    finished: list[RunKey] = field(default_factory=list)
    skipped: list[RunKey] = field(default_factory=list)
    failed: list[RunKey] = field(default_factory=list)


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` parallel runs: the cores shared out, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // jobs)


def run_comparison(
    plan: ComparePlan,
    out_dir: Path,
    *,
    jobs: int = 1,
    workload: str = DEFAULT_WORKLOAD,
    progress: TextIO | None = sys.stderr,
    run_options: Callable[[RunKey], dict[str, Any]] | None = None,
) -> RunOutcome:
    """Run every unfinished run of ``plan`` under ``out_dir``, ``jobs`` at a time.

    ``run_options(key)`` gives keyword arguments for that run's ``execute`` beside its config
    (e.g. experiment trackers): they are not in ``request.json``, so a rerun may change them.
    """
    check_positive("jobs", jobs)
    out_dir = Path(out_dir)
    module = importlib.import_module(workload)
    configs = {
        key: module.build_config(plan.preset, plan.overrides, plan.spec_of(key.label), key.seed,
                                timing=plan.timing)
        for key in plan.run_keys()
    }
    requests = {key: {"label": key.label, "seed": key.seed, "workload": workload, "config": config}
                for key, config in configs.items()}
    for key, request in requests.items():
        _check_same_request(out_dir / key.relative_dir, request)
    atomic_write_json(out_dir / PLAN, plan.to_dict())

    outcome = RunOutcome()
    pending = []
    for key in plan.run_keys():
        if run_state(out_dir / key.relative_dir) is RunState.DONE:
            outcome.skipped.append(key)
        else:
            pending.append(key)
    display = ProgressDisplay(progress, {key: module.total_steps(configs[key]) for key in plan.run_keys()},
                              already_done=outcome.skipped)
    running: dict[RunKey, multiprocessing.process.BaseProcess] = {}
    context = multiprocessing.get_context("spawn")
    threads = threads_per_job(jobs)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                key = pending.pop(0)
                run_dir = out_dir / key.relative_dir
                atomic_write_json(run_dir / REQUEST, requests[key])
                process = context.Process(
                    target=run_in_child,
                    args=(workload, configs[key], str(run_dir), threads, os.getpid(),
                          run_options(key) if run_options else {}),
                    name=f"dynadrop-run-{key.label}-{key.seed}",
                )
                process.start()
                running[key] = process
            for key, process in list(running.items()):
                if process.is_alive():
                    continue
                process.join()
                del running[key]
                run_dir = out_dir / key.relative_dir
                if process.exitcode == 0 and run_state(run_dir) is RunState.DONE:
                    outcome.finished.append(key)
                    display.run_finished(key)
                else:
                    _record_death(run_dir, process.exitcode)
                    outcome.failed.append(key)
                    display.run_failed(key, read_json(run_dir / FAILURE)["error"])
            display.update({key: last_step(out_dir / key.relative_dir) for key in running})
            if running:
                time.sleep(0.5)
    finally:
        for process in running.values():
            process.terminate()
        for process in running.values():
            process.join()
        display.close()
    return outcome


def run_in_child(workload: str, config: dict[str, Any], run_dir: str, threads: int, parent_pid: int,
                 options: dict[str, Any]) -> None:
    """Body of a run's process: train via the workload, then record success or the failure."""
    _die_with_parent(parent_pid)
    directory = Path(run_dir)
    _redirect_output(directory / LOG)
    import torch

    torch.set_num_threads(threads)
    with _exclusive_lock(directory / ".lock"):
        (directory / FAILURE).unlink(missing_ok=True)
        (directory / TRACEBACK).unlink(missing_ok=True)
        try:
            extras = importlib.import_module(workload).execute(config, directory, **options)
        except Exception as error:  # Ctrl-C is no failure: the run stays interrupted, to resume
            write_text_atomic(directory / TRACEBACK, traceback.format_exc())
            message = "".join(traceback.format_exception_only(type(error), error)).strip()
            atomic_write_json(directory / FAILURE, {"error": message, "failed_at": time.time()})
            traceback.print_exc()
            sys.exit(1)
        atomic_write_json(directory / RECORD, {**extras, "finished_at": time.time()})


def _check_same_request(run_dir: Path, request: dict[str, Any]) -> None:
    path = run_dir / REQUEST
    if path.exists() and read_json(path) != json.loads(json.dumps(request)):
        raise ValueError(
            f"{run_dir} holds a run with a different training config; a comparison directory keeps "
            "one budget per run: use another --out, or delete that run directory to redo it"
        )


def _record_death(run_dir: Path, exit_code: int | None) -> None:
    """Write ``failure.json`` for a process that died without writing its own (signal, hard crash)."""
    if (run_dir / FAILURE).exists():
        return
    cause = (f"killed by signal {signal.Signals(-exit_code).name}" if exit_code is not None and exit_code < 0
             else f"exited with code {exit_code}")
    failure = {"error": f"run process {cause} (see {LOG})", "failed_at": time.time()}
    atomic_write_json(run_dir / FAILURE, failure)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when its parent dies, so a killed compare leaves no orphan."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def _redirect_output(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``: two processes never write one run directory at once."""
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
