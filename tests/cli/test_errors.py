"""User mistakes are one line and exit 2 on every command; a traceback only with --debug."""

from __future__ import annotations

import argparse

import pytest

from dynadrop.cli.main import build_parser, main


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["inspect", "nosuchmod:thing"], "no module named 'nosuchmod'"),
        (["inspect", "dynadrop.examples:nothing"], "module 'dynadrop.examples' has no 'nothing'"),
        (["inspect", "os:getcwd"], "gave a str, not a torch.nn.Module"),
        (["inspect", "mlp", "--schedule", "warp:0.2"], "unknown schedule spec 'warp:0.2'"),
        (["demo", "--schedule", "linear:0.2->1.5"], "1.5"),
        (["report"], "dynadrop report DIR, or --out DIR"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith(f"dynadrop {argv[0]}: error: ") and named in first
    assert "Traceback" not in err


def test_inspect_names_the_accepted_forms(capsys):
    assert main(["inspect", "nosuchmod:thing"]) == 2
    forms = "give a built-in example (mlp, transformer, lstm) or package.module:factory"
    assert forms in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["demo", "--evals", "0"], ["sample", "x", "--num-samples", "0"], ["penalty", "x", "--batches", "-1"],
    ["inspect", "mlp", "--total-steps", "0"],
])
def test_counts_below_one_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "must be >= " in capsys.readouterr().err


def test_debug_shows_the_traceback(monkeypatch):
    with pytest.raises(ValueError, match="nosuchmod"):
        main(["--debug", "inspect", "nosuchmod:thing"])
    monkeypatch.setenv("DYNADROP_DEBUG", "1")
    with pytest.raises(ValueError, match="nosuchmod"):
        main(["inspect", "nosuchmod:thing"])


def test_a_file_where_a_directory_should_be_names_it(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["theory", "invariance", "--out", str(taken)]) == 2
    assert str(taken) in capsys.readouterr().err.splitlines()[-1]


def _options(command: str) -> dict[str, argparse.Action]:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = subparsers.choices[command]._actions
    return {option: action for action in actions for option in action.option_strings}


@pytest.mark.parametrize("command", ["prepare", "train", "compare", "penalty"])
def test_every_command_reading_the_corpus_takes_data(command):
    assert _options(command)["--data"].metavar == "PATH"


@pytest.mark.parametrize("command", ["train", "compare", "report", "theory"])
def test_every_command_writing_results_takes_out(command):
    assert "--out" in _options(command)


def test_train_keeps_run_dir_as_an_alias_of_out():
    options = _options("train")
    assert options["--run-dir"] is options["--out"]
