"""Runs as local processes: ``jobs`` at a time, spawned (nothing shared), ``threads`` torch threads each.

A run's process dies with the process that started it (Linux ``PR_SET_PDEATHSIG``), so a killed
compare leaves no orphan training on. ``LocalExecutor(jobs=1, threads=cores)`` runs one run at a
time on the whole machine, for timing.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from dynadrop.experiments.executors.attempt import attempt_run
from dynadrop.experiments.executors.base import Ended, Executor, RunTask
from dynadrop.experiments.plan import RunKey, check_positive
from dynadrop.experiments.records import FAILURE, LOG, last_step

PR_SET_PDEATHSIG = 1


def available_cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LocalExecutor(Executor):
    """``jobs`` runs at a time on this machine, each in its own process with ``threads`` torch threads.

    ``threads`` defaults to the cores shared out (``cores // jobs``, at least 1).
    """

    def __init__(self, jobs: int = 1, threads: int | None = None) -> None:
        self.jobs = check_positive("jobs", jobs)
        shared_out = max(1, available_cores() // jobs)
        self.threads = check_positive("threads", threads) if threads is not None else shared_out
        self._context = multiprocessing.get_context("spawn")
        self._processes: dict[RunKey, tuple[RunTask, multiprocessing.process.BaseProcess]] = {}

    def has_room(self) -> bool:
        return len(self._processes) < self.jobs

    def submit(self, task: RunTask) -> None:
        process = self._context.Process(
            target=run_in_child,
            args=(task.workload, task.config, str(task.run_dir), self.threads, os.getpid(), task.options),
            name=f"dynadrop-run-{task.key.label}-{task.key.seed}",
        )
        process.start()
        self._processes[task.key] = (task, process)

    def running(self) -> list[RunKey]:
        return list(self._processes)

    def poll(self, timeout: float) -> list[Ended]:
        ended = self._collect()
        if not ended and self._processes:
            time.sleep(timeout)
            ended = self._collect()
        return ended

    def steps(self) -> dict[RunKey, int]:
        return {key: last_step(task.run_dir) for key, (task, _) in self._processes.items()}

    def shutdown(self) -> None:
        for _, process in self._processes.values():
            process.terminate()
        for _, process in self._processes.values():
            process.join()
        self._processes.clear()

    def _collect(self) -> list[Ended]:
        ended = []
        for key, (task, process) in list(self._processes.items()):
            if process.is_alive():
                continue
            process.join()
            del self._processes[key]
            ended.append(Ended(key, _death_cause(task.run_dir, process.exitcode)))
        return ended


def run_in_child(workload: str, config: dict[str, Any], run_dir: str, threads: int, parent_pid: int,
                 options: dict[str, Any]) -> None:
    """Body of a run's process: one attempt; exit code 1 when the run raised."""
    _die_with_parent(parent_pid)
    if not attempt_run(workload, config, Path(run_dir), threads, options):
        sys.exit(1)


def _death_cause(run_dir: Path, exit_code: int | None) -> str | None:
    """Why a process failed without writing ``failure.json`` (a signal, a hard crash); else None."""
    if exit_code == 0 or (run_dir / FAILURE).exists():
        return None
    cause = (f"killed by signal {signal.Signals(-exit_code).name}" if exit_code is not None and exit_code < 0
             else f"exited with code {exit_code}")
    return f"run process {cause} (see {LOG})"


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when its parent dies, so a killed compare leaves no orphan."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
