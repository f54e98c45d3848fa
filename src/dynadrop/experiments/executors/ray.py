"""Runs as Ray tasks on a cluster: one task per run with the resources asked for, no shared filesystem.

Each run executes on a worker under ``worker_dir/<comparison>/runs/<label>/seed-<s>`` (expanded
on the worker, so ``~`` is the worker's home); its checkpoint stays there, so a rerun that lands
on the same node resumes from it and one that lands elsewhere starts the run over. When the task
ends, the run's small files (:data:`~dynadrop.experiments.records.RESULT_FILES`) travel back to
the driver's run directory, ``record.json`` last. A task is never retried by Ray: a worker that
dies marks its run failed (the others go on) and the next ``compare`` retries it. Each task gets
a fresh worker process (``max_calls=1``), as a local run gets a fresh process.

Ray is optional: ``pip install 'dynadrop[ray]'``.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

from dynadrop.experiments.executors.attempt import attempt_run
from dynadrop.experiments.executors.base import Ended, Executor, ExecutorUnavailable, RunTask
from dynadrop.experiments.plan import RunKey, check_positive
from dynadrop.experiments.records import RESULT_FILES, last_step
from dynadrop.gpt.files import atomic_write_bytes

DEFAULT_WORKER_DIR = "~/.cache/dynadrop/ray-runs"
PROGRESS_SECONDS = 5.0
INSTALL_HINT = "the ray executor needs Ray, which is not installed: pip install 'dynadrop[ray]'"


class RayExecutor(Executor):
    """Every run a Ray task with ``cpus_per_run`` CPUs (its torch threads) and ``gpus_per_run`` GPUs.

    ``address`` is passed to ``ray.init`` (``None``: a running cluster found by Ray, else a new
    local one). A connection this executor opened is closed by :meth:`shutdown`.
    """

    def __init__(self, address: str | None = None, *, cpus_per_run: int = 1, gpus_per_run: float = 0.0,
                 worker_dir: str = DEFAULT_WORKER_DIR) -> None:
        try:
            import ray
        except ImportError as error:
            raise ExecutorUnavailable(INSTALL_HINT) from error
        if gpus_per_run < 0:
            raise ValueError(f"gpus per run must be 0 or more, got {gpus_per_run}")
        self._ray = ray
        self._remote = ray.remote(max_calls=1, max_retries=0)(run_remotely)
        self.address = address
        self.cpus_per_run = check_positive("cpus per run", cpus_per_run)
        self.gpus_per_run = gpus_per_run
        self.worker_dir = worker_dir
        self._tasks: dict[Any, RunTask] = {}
        self._board: Any = None
        self._owns_connection = False
        self._steps: dict[RunKey, int] = {}
        self._steps_read_at = float("-inf")

    def has_room(self) -> bool:
        return True  # Ray queues a task until a node has its resources

    def submit(self, task: RunTask) -> None:
        self._connect()
        remote = self._remote.options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
                                      name=f"dynadrop-run-{task.key.label}-{task.key.seed}")
        worker_run_dir = f"{self.worker_dir}/{comparison_name(task.out_dir)}/{task.key.relative_dir}"
        reference = remote.remote(task.workload, task.config, worker_run_dir, self.cpus_per_run, self._board,
                                  task.key.label, task.key.seed, task.options)
        self._tasks[reference] = task

    def running(self) -> list[RunKey]:
        return [task.key for task in self._tasks.values()]

    def poll(self, timeout: float) -> list[Ended]:
        if not self._tasks:
            return []
        references = list(self._tasks)
        ready, _ = self._ray.wait(references, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(references, num_returns=len(references), timeout=0)
        return [self._receive(reference) for reference in ready]

    def steps(self) -> dict[RunKey, int]:
        """Steps the workers reported (every few seconds), read at most every few seconds."""
        if self._board is not None and time.monotonic() - self._steps_read_at >= PROGRESS_SECONDS:
            self._steps_read_at = time.monotonic()
            try:
                reported = self._ray.get(self._board.read.remote(), timeout=PROGRESS_SECONDS)
            except self._ray.exceptions.RayError:  # progress is a display nicety, never a reason to stop
                reported = {}
            self._steps = {key: reported[(key.label, key.seed)] for key in self.running()
                           if (key.label, key.seed) in reported}
        return {key: step for key, step in self._steps.items() if key in self.running()}

    def shutdown(self) -> None:
        """Cancel the tasks still queued or running (their runs stay interrupted, to resume)."""
        for reference in self._tasks:
            self._ray.cancel(reference, force=True)
        self._tasks.clear()
        if self._board is not None:
            self._ray.kill(self._board)
            self._board = None
        if self._owns_connection:
            self._ray.shutdown()
            self._owns_connection = False

    def _connect(self) -> None:
        if not self._ray.is_initialized():
            self._ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
            self._owns_connection = True
        if self._board is None:
            self._board = self._ray.remote(ProgressBoard).options(num_cpus=0).remote()

    def _receive(self, reference: Any) -> Ended:
        """The ended task's files written into the driver's run directory, or why it died."""
        task = self._tasks.pop(reference)
        try:
            files = self._ray.get(reference)
        except self._ray.exceptions.RayError as error:
            cause = getattr(error, "cause", None) or error  # what the task raised, or why its worker died
            lines = str(cause).strip().splitlines()
            return Ended(task.key, f"Ray task failed ({type(cause).__name__}): {lines[0] if lines else ''}")
        write_results(task.run_dir, files)
        return Ended(task.key)


class ProgressBoard:
    """A Ray actor the tasks report their steps to, and the driver reads them from."""

    def __init__(self) -> None:
        self.steps: dict[tuple[str, int], int] = {}

    def report(self, label: str, seed: int, step: int) -> None:
        self.steps[(label, seed)] = step

    def read(self) -> dict[tuple[str, int], int]:
        return self.steps


def run_remotely(workload: str, config: dict[str, Any], worker_run_dir: str, threads: int, board: Any,
                 label: str, seed: int, options: dict[str, Any]) -> dict[str, bytes]:
    """Body of a run's Ray task: one attempt in the worker's directory; returns its result files."""
    run_dir = Path(worker_run_dir).expanduser()
    finished = threading.Event()
    threading.Thread(target=_report_steps, args=(run_dir, board, label, seed, finished), daemon=True).start()
    try:
        attempt_run(workload, config, run_dir, threads, options)
    finally:
        finished.set()
    return read_results(run_dir)


def _report_steps(run_dir: Path, board: Any, label: str, seed: int, finished: threading.Event) -> None:
    while not finished.wait(PROGRESS_SECONDS):
        board.report.remote(label, seed, last_step(run_dir))


def comparison_name(out_dir: Path) -> str:
    """A worker-side folder name for one comparison: its directory's name and a hash of host and path."""
    resolved = Path(out_dir).resolve()
    digest = hashlib.sha256(f"{socket.gethostname()}:{resolved}".encode()).hexdigest()[:10]
    return f"{resolved.name}-{digest}"


def read_results(run_dir: Path) -> dict[str, bytes]:
    """The run's result files that exist, by name."""
    return {name: (run_dir / name).read_bytes() for name in RESULT_FILES if (run_dir / name).is_file()}


def write_results(run_dir: Path, files: dict[str, bytes]) -> None:
    """Make ``run_dir``'s result files those of ``files`` (each atomically, ``record.json`` last)."""
    for name in RESULT_FILES:
        if name in files:
            atomic_write_bytes(run_dir / name, files[name])
        else:
            (run_dir / name).unlink(missing_ok=True)
