"""`dynadrop theory` in-process: tables on stdout, valid PNGs, and the markdown report."""

from functools import partial

import pytest

from dynadrop.cli.main import main
from dynadrop.theory.claims import CLAIMS, depth, negative_weights, zero_network
from dynadrop.theory.claims.depth import uniform_penalty

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_depth_command_prints_the_table_and_writes_a_png(tmp_path, capsys):
    assert main(["theory", "depth", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "Claim 2: penalty vs depth" in printed
    for layers_deep in (1, 9, 20):  # exact at 1 and 9, formula only at 20
        assert format(uniform_penalty(layers_deep, 2, 2.0, 0.5), ".10g") in printed
    assert (tmp_path / "depth.png").read_bytes().startswith(PNG_SIGNATURE)


def test_all_writes_every_figure_and_one_report(tmp_path, capsys, monkeypatch):
    # Smaller settings keep this fast; the claim tests check the numbers themselves.
    monkeypatch.setitem(CLAIMS, "negative-weights", partial(negative_weights, seeds=2, steps=50))
    monkeypatch.setitem(CLAIMS, "depth", partial(depth, depths=range(1, 4)))
    monkeypatch.setitem(CLAIMS, "zero-network", partial(zero_network, layer_counts=range(3, 5)))
    assert main(["theory", "all", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    for name in CLAIMS:
        assert (tmp_path / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)
        assert f"]({name}.png)" in report
    assert "| 0.50 | 0.50 | 1.0000000000 | 1.0000000000 |" in report  # J_D = 4(1-q)^2 at q = 1/2
    assert "report.md" in capsys.readouterr().out


def test_unknown_claim_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["theory", "everything"])
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_help_lists_every_claim(capsys):
    with pytest.raises(SystemExit):
        main(["theory", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in CLAIMS) and "--out" in text
