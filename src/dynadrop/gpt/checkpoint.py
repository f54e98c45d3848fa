"""Checkpoints: written atomically, the previous good one kept, loaded with ``weights_only=True``.

A run directory holds ``checkpoint.pt`` (the latest) and ``checkpoint.prev.pt`` (the one before).
A latest that is damaged (a copy cut short, a full disk) or missing (a crash between the two
renames of a write) falls back to the previous one with a warning; with neither usable the error
names the files and the way out. A checkpoint is a dict; ``progress.step`` is the step it was
taken at.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dynadrop.gpt.files import atomic_write

CHECKPOINT_FILE = "checkpoint.pt"
PREVIOUS_FILE = "checkpoint.prev.pt"
DAMAGED_FILE = "checkpoint.damaged.pt"
RESTART_HINT = ("to start the run over, rerun `dynadrop train` with --restart (the old files are moved "
                "aside, never deleted), or move the run directory away")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: not a torch file, cut short, or missing entries."""


@dataclass(frozen=True)
class Loaded:
    """A checkpoint read from a run directory, and the file it came from."""

    state: dict[str, Any]
    path: Path


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain Python only) to ``path``, keeping the file it replaces."""
    path = Path(path)
    atomic_write(path, lambda file: torch.save(state, file), keep=path.with_name(PREVIOUS_FILE))


def load_checkpoint(path: Path, required: Iterable[str] = ()) -> dict[str, Any]:
    """Load a checkpoint onto the CPU, refusing anything but tensors and plain Python.

    Raises :class:`CheckpointError` naming the file when it does not load or lacks a ``required``
    entry; a missing or unreadable file raises the OSError as usual.
    """
    path = Path(path)
    with path.open("rb") as file, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as error:  # torch.load raises a different type for each kind of damage
            raise CheckpointError(f"{path} is damaged ({_first_line(error)})") from error
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a checkpoint")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"{path} is not a complete checkpoint: no {', '.join(missing)}")
    return state


def load_run_checkpoint(run_dir: Path, required: Iterable[str] = ()) -> Loaded | None:
    """The newest usable checkpoint of ``run_dir``: the latest, else the previous (with a warning).

    None when the directory holds neither file; :class:`CheckpointError` when none of them loads.
    """
    run_dir = Path(run_dir)
    required = tuple(required)
    latest, previous = run_dir / CHECKPOINT_FILE, run_dir / PREVIOUS_FILE
    problems = []
    for path in (latest, previous):
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        try:
            state = load_checkpoint(path, required)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        if path == previous:
            step = state.get("progress", {}).get("step", "unknown")
            warnings.warn(f"{problems[0]}; using the previous checkpoint {previous} (step {step})",
                          stacklevel=2)
        return Loaded(state, path)
    if not latest.exists() and not previous.exists():
        return None
    raise CheckpointError(f"no usable checkpoint in {run_dir}: {'; '.join(problems)}; {RESTART_HINT}")


def read_checkpoint(path: Path, required: Iterable[str] = ()) -> dict[str, Any]:
    """The checkpoint of a run directory (latest, else previous) or of a checkpoint file."""
    path = Path(path)
    if path.is_dir():
        loaded = load_run_checkpoint(path, required)
        if loaded is None:
            raise FileNotFoundError(f"no checkpoint in {str(path)!r} (give a run directory or a .pt file)")
        return loaded.state
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r} (give a run directory or a .pt file)")
    return load_checkpoint(path, required)


def set_aside_damaged(run_dir: Path) -> Path | None:
    """Rename a damaged latest checkpoint to ``checkpoint.damaged.pt`` (kept for a look, not deleted).

    Called after resuming from the previous one, so that the next write keeps that good one.
    """
    latest = Path(run_dir) / CHECKPOINT_FILE
    if not latest.exists():
        return None
    damaged = latest.with_name(DAMAGED_FILE)
    latest.replace(damaged)
    return damaged


def _first_line(error: BaseException) -> str:
    """The error's type and first sentence: torch's longer advice is about files we never write."""
    lines = str(error).strip().splitlines()
    sentence = lines[0].split(". ")[0].rstrip(".") if lines else "no details"
    return f"{type(error).__name__}: {sentence[:120]}"
