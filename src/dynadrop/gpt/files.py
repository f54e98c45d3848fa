"""Atomic file writes: a temp file in the same folder, then ``os.replace``.

A run directory must never hold a half-written checkpoint, summary or dataset, even when the
process is killed mid-write.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any], *, keep: Path | None = None) -> None:
    """Call ``write`` on a temp file beside ``path``, then rename it onto ``path``.

    With ``keep``, the file being replaced is first renamed to ``keep``, so the last good version
    survives the new one; a crash between the two renames leaves ``keep`` and no ``path``, never a
    torn file. An OSError (a full disk, no permission) names ``path`` and leaves every file as it was.
    """
    path = Path(path)
    try:
        _write_then_rename(path, write, keep)
    except OSError as error:
        reason = f"could not write {path}: {error.strerror or error}; the files already there are intact"
        raise (OSError(error.errno, reason) if error.errno else OSError(reason)) from error


def _write_then_rename(path: Path, write: Callable[[IO[bytes]], Any], keep: Path | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp_name, 0o666 & ~_umask())
        if keep is not None and path.exists():
            os.replace(path, keep)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda file: file.write(data))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
