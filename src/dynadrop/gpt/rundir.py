"""Who owns a run directory: one training process at a time, and a restart that deletes nothing.

The lock is ``train.lock``: an ``flock`` held while a run trains, plus the owner's pid for the
message a second process gets. The kernel drops the ``flock`` when its process dies, so a lock
left by a killed run (its pid dead) is stale and simply taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

LOCK_FILE = "train.lock"


class RunDirectoryInUse(OSError):
    """Another live process is training in this run directory."""


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock, or raise :class:`RunDirectoryInUse` naming the process that has it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_pid(descriptor)
            raise RunDirectoryInUse(
                f"{run_dir} is in use by process {owner or 'unknown'} (lock file {path}); wait for it "
                "to finish or stop it, or give another --out"
            ) from None
        stale = _read_pid(descriptor)
        if stale and stale != os.getpid() and not _is_alive(stale):
            print(f"taking over the lock of process {stale}, which is no longer running ({path})",
                  file=sys.stderr)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)


def move_aside(run_dir: Path, names: Iterable[str]) -> Path | None:
    """Move the named files of ``run_dir`` into a fresh ``old-TIME`` folder there; None if none exist."""
    run_dir = Path(run_dir)
    present = [run_dir / name for name in names if (run_dir / name).exists()]
    if not present:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, suffix = run_dir / f"old-{stamp}", 1
    while folder.exists():
        suffix += 1
        folder = run_dir / f"old-{stamp}-{suffix}"
    folder.mkdir()
    for path in present:
        path.replace(folder / path.name)
    return folder


def _read_pid(descriptor: int) -> int | None:
    text = os.pread(descriptor, 64, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
