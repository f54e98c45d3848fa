"""The files of a comparison directory and of each run directory, written atomically.

Layout::

    OUT/plan.json                   the comparison (schedules, seeds, preset, baseline, target)
    OUT/runs/<label>/seed-<s>/      one run:
        config.json metrics.jsonl summary.json checkpoint.pt   written by the trainer
        request.json                what this comparison asked the run to be (its full config)
        record.json                 written last, atomically: the run finished (its presence = done)
        failure.json traceback.txt  the last attempt raised or died
        log.txt                     the run's stdout and stderr
    A run executed elsewhere (a Ray worker) sends back its RESULT_FILES; its checkpoint stays there.
    OUT/report.md summary.json results.csv plots/*.png   the report
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

from dynadrop.gpt.files import atomic_write_bytes

PLAN = "plan.json"
REQUEST = "request.json"
RECORD = "record.json"
FAILURE = "failure.json"
TRACEBACK = "traceback.txt"
LOG = "log.txt"
METRICS = "metrics.jsonl"
TRAIN_SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
# Everything the report and a rerun need from a run directory (the checkpoint is not needed);
# RECORD comes last, so a run whose results were written back is only then done.
RESULT_FILES = (CONFIG, METRICS, TRAIN_SUMMARY, LOG, FAILURE, TRACEBACK, RECORD)


class RunState(str, Enum):
    """Where a run stands, read from its directory alone."""

    NEW = "new"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    DONE = "done"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``: never half a file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of ``path``; a torn last line (a killed writer) is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def run_state(run_dir: Path) -> RunState:
    if (run_dir / RECORD).exists():
        return RunState.DONE
    if (run_dir / FAILURE).exists():
        return RunState.FAILED
    if (run_dir / REQUEST).exists():
        return RunState.INTERRUPTED
    return RunState.NEW


def last_step(run_dir: Path) -> int:
    """The step of the newest record in the run's ``metrics.jsonl`` (0 before the first one)."""
    path = run_dir / METRICS
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(handle.tell() - 4096, 0))
        tail = handle.read().decode("utf-8", errors="replace").splitlines()
    for line in reversed(tail):
        try:
            return int(json.loads(line)["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return 0
