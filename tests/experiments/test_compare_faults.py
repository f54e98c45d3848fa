"""`dynadrop compare` with a damaged run: that run fails with the reason, the others go on."""

from __future__ import annotations

import argparse
import json

import pytest

from dynadrop.cli.compare_cmd import build_plan, register
from dynadrop.cli.main import main
from tests.gpt.conftest import generated_text


def test_a_run_with_no_usable_checkpoint_fails_with_the_reason_and_the_others_go_on(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(generated_text(20_000))
    out = tmp_path / "cmp"
    damaged = out / "runs" / "bad" / "seed-0"
    damaged.mkdir(parents=True)
    (damaged / "checkpoint.pt").write_bytes(b"abc")
    argv = ["compare", "--preset", "smoke", "--schedules", "good=0.0", "bad=0.1", "--seeds", "1", "--quiet",
            "--data", str(corpus), "--set", "device=cpu", "--out", str(out)]
    assert main(argv) == 1
    error = json.loads((damaged / "failure.json").read_text())["error"]
    assert f"no usable checkpoint in {damaged}" in error and "checkpoint.pt is damaged" in error
    assert "--restart" in error
    assert (out / "runs" / "good" / "seed-0" / "record.json").is_file()
    assert "1 trained, 0 already finished, 1 failed" in capsys.readouterr().out


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["compare", *argv])


def test_data_is_the_spelling_of_set_data(tmp_path):
    assert build_plan(_args("--preset", "smoke", "--data", "x.txt")).overrides["data"] == "x.txt"
    assert build_plan(_args("--preset", "smoke", "--set", "data=x.txt")).overrides["data"] == "x.txt"
    assert build_plan(_args("--preset", "smoke", "--data", "x.txt", "--set", "data=x.txt")).overrides == {
        "data": "x.txt"}
    with pytest.raises(ValueError, match="--data 'x.txt' and --set data='y.txt' disagree"):
        build_plan(_args("--preset", "smoke", "--data", "x.txt", "--set", "data=y.txt"))
