"""`dynadrop inspect` and `dynadrop demo` from the command line parser."""

from __future__ import annotations

import pytest

from dynadrop.cli.main import main


def test_inspect_lists_sites_after_a_schedule(capsys):
    assert main(["inspect", "lstm", "--schedule", "linear:0.2->0.0", "--step", "500"]) == 0
    out = capsys.readouterr().out
    assert "dropout  rnn" in out and "0.1" in out and out.strip().endswith("1 site(s)")


def test_inspect_imports_a_factory(capsys):
    assert main(["inspect", "dynadrop.examples:mlp"]) == 0
    assert "2 site(s)" in capsys.readouterr().out


def test_inspect_rejects_unknown_models(capsys):
    assert main(["inspect", "resnet"]) == 2
    assert "'resnet'" in capsys.readouterr().err


def test_demo_follows_the_schedule(capsys):
    assert main(["demo", "--steps", "40", "--evals", "4", "--schedule", "linear:0.4->0.0"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [float(row[1]) for row in rows] == pytest.approx([0.3, 0.2, 0.1, 0.0])


def test_help_explains_specs(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "early:0.1@0.25" in capsys.readouterr().out
