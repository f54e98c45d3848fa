"""One attempt at one run, in the process that executes it: the same body on every executor.

The output goes to the run's ``log.txt``; the process holds an exclusive lock on the run
directory; the workload's ``execute`` trains (resuming from the run's checkpoint) and the
outcome is recorded: ``record.json`` when it finished, ``failure.json`` + ``traceback.txt`` when
it raised. Ctrl-C is no failure: the run stays interrupted, to resume.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dynadrop.experiments.records import FAILURE, LOG, RECORD, TRACEBACK, write_text_atomic
from dynadrop.gpt.files import atomic_write_json


def attempt_run(workload: str, config: dict[str, Any], run_dir: Path, threads: int,
                options: dict[str, Any]) -> bool:
    """Execute the run with ``threads`` torch threads and the workload's extra ``options``;
    True when it finished, False when it raised."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _redirect_output(run_dir / LOG)
    import torch

    torch.set_num_threads(threads)
    with _exclusive_lock(run_dir / ".lock"):
        (run_dir / FAILURE).unlink(missing_ok=True)
        (run_dir / TRACEBACK).unlink(missing_ok=True)
        try:
            extras = importlib.import_module(workload).execute(config, run_dir, **options)
        except Exception as error:
            write_text_atomic(run_dir / TRACEBACK, traceback.format_exc())
            message = "".join(traceback.format_exception_only(type(error), error)).strip()
            atomic_write_json(run_dir / FAILURE, {"error": message, "failed_at": time.time()})
            traceback.print_exc()
            return False
        atomic_write_json(run_dir / RECORD, {**extras, "finished_at": time.time()})
        return True


def _redirect_output(log_path: Path) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to the end of ``log_path``."""
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
