"""Checkpoints: written atomically, loaded with ``weights_only=True`` (no pickled code runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dynadrop.gpt.files import atomic_write

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain Python only) to ``path`` via a temp file and rename."""
    atomic_write(Path(path), lambda file: torch.save(state, file))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU, refusing anything but tensors and plain Python."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or the one inside a run directory."""
    path = Path(path)
    candidate = path / CHECKPOINT_FILE if path.is_dir() else path
    if not candidate.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(candidate)!r} (give a run directory or a .pt file)")
    return candidate
