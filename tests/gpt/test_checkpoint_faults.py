"""Faults with nothing lost: damaged checkpoints, a crash mid-write, a full disk, two processes."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from dynadrop.cli.main import main
from dynadrop.gpt import files
from dynadrop.gpt.trainer import train

SRC = Path(__file__).resolve().parents[2] / "src"


def smoke_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "smoke", "--data", str(corpus), "--out", str(out), "--no-progress", *extra]


def damage(path: Path) -> None:
    path.write_bytes(b"abc")  # what a copy cut short or a full disk leaves


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(smoke, tmp_path, capsys):
    run_dir = tmp_path / "run"
    expected = train(smoke, run_dir, progress=False)
    damage(run_dir / "checkpoint.pt")
    (run_dir / "summary.json").unlink()
    assert main(["train", "--preset", "smoke", "--data", smoke.data, "--out", str(run_dir), "--device", "cpu",
                 "--no-progress"]) == 0
    warning = capsys.readouterr().err
    assert f"{run_dir / 'checkpoint.pt'} is damaged" in warning
    assert f"using the previous checkpoint {run_dir / 'checkpoint.prev.pt'} (step 10)" in warning
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert resumed["final_val_loss"] == expected["final_val_loss"]
    assert (run_dir / "checkpoint.damaged.pt").read_bytes() == b"abc"  # kept, not deleted


def test_no_usable_checkpoint_is_one_line_naming_the_files_and_restart(smoke, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(smoke, run_dir, progress=False)
    damage(run_dir / "checkpoint.pt")
    damage(run_dir / "checkpoint.prev.pt")
    assert main(smoke_args(Path(smoke.data), run_dir)) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("dynadrop train: error: no usable checkpoint in")
    assert "checkpoint.pt is damaged" in error and "checkpoint.prev.pt is damaged" in error
    assert "--restart" in error
    for command in (["sample", str(run_dir)], ["penalty", str(run_dir)]):
        assert main(command) == 2
        assert capsys.readouterr().err.count("\n") == 1  # one line, no traceback
    assert main(smoke_args(Path(smoke.data), run_dir, "--restart")) == 0
    capsys.readouterr()
    (old,) = run_dir.glob("old-*")
    assert sorted(p.name for p in old.iterdir()) == [
        "checkpoint.prev.pt", "checkpoint.pt", "config.json", "metrics.jsonl", "summary.json"]
    assert (old / "checkpoint.pt").read_bytes() == b"abc"
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 20


@pytest.mark.parametrize("failing_rename", [0, 1], ids=["latest-to-previous", "temp-to-latest"])
def test_a_crash_between_write_and_rename_leaves_a_loadable_checkpoint(smoke, tmp_path, monkeypatch,
                                                                      failing_rename):
    """The second checkpoint write dies at one of its two renames; the rerun resumes from step 10."""
    run_dir = tmp_path / "run"
    expected = train(smoke, tmp_path / "whole", progress=False)
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def replace(source, target):
        checkpoint_renames = [r for r in renames if "checkpoint" in str(r[1])]
        renames.append((str(source), str(target)))
        if "checkpoint" in str(target) and len(checkpoint_renames) == 1 + failing_rename:
            raise KeyboardInterrupt("killed mid-write")  # a kill: no cleanup beyond the temp file
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        train(smoke, run_dir, progress=False)
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert (run_dir / "checkpoint.prev.pt").is_file() != (failing_rename == 0)
    assert not list(run_dir.glob(".*.tmp"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train(smoke, run_dir, progress=False)["final_val_loss"] == expected["final_val_loss"]
    fallbacks = [str(w.message) for w in caught if "previous checkpoint" in str(w.message)]
    if failing_rename:
        assert fallbacks == [f"{run_dir / 'checkpoint.pt'} is missing; using the previous checkpoint "
                             f"{run_dir / 'checkpoint.prev.pt'} (step 10)"]
    else:
        assert fallbacks == []


def test_a_full_disk_is_one_line_naming_the_file_and_loses_nothing(corpus, tmp_path, monkeypatch, capsys):
    """Checkpoints at steps 5 and 10 are written; the disk is full for the one at step 15."""
    run_dir = tmp_path / "run"
    real_save, before = torch.save, {}

    def save(state, file):
        if "progress" in state and state["progress"]["step"] == 15:
            before.update({p.name: p.read_bytes() for p in run_dir.glob("checkpoint*.pt")})
            file.write(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(state, file)

    monkeypatch.setattr(torch, "save", save)
    assert main(smoke_args(corpus, run_dir, "--checkpoint-interval", "5")) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (f"dynadrop train: error: could not write {run_dir / 'checkpoint.pt'}: "
                    "No space left on device; the files already there are intact")
    assert sorted(before) == ["checkpoint.prev.pt", "checkpoint.pt"]
    assert {p.name: p.read_bytes() for p in run_dir.glob("checkpoint*.pt")} == before
    assert not list(run_dir.glob(".*.tmp"))


def test_a_second_process_on_the_same_run_directory_refuses(corpus, tmp_path, capsys):
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "dynadrop", *smoke_args(corpus, run_dir, "--max-steps", "100000")],
        env={**os.environ, "PYTHONPATH": str(SRC)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = run_dir / "train.lock"
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            assert first.poll() is None, "the first run ended early"
            time.sleep(0.05)
        assert main(smoke_args(corpus, run_dir)) == 2
        assert f"{run_dir} is in use by process {first.pid}" in capsys.readouterr().err
    finally:
        first.kill()
        first.wait()
    # The killed owner's pid is still in the lock file: a stale lock, taken over.
    assert lock.read_text().strip() == str(first.pid)
    assert main(smoke_args(corpus, run_dir, "--restart")) == 0
    assert f"taking over the lock of process {first.pid}" in capsys.readouterr().err
