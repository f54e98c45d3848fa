"""The CPU-testable parts of benchmarks/gpu_check.py: arguments, statistics, the verdict, no-CUDA exit."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import each other, as scripts do
    return importlib.import_module("gpu_check")


def test_arguments_default_to_every_check_and_are_validated(gpu_check, capsys):
    args = gpu_check.parse_args([])
    assert args.checks == list(gpu_check.CHECKS) and (args.seeds, args.steps) == (3, 300)
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--rounds", "0"])
    assert "--rounds must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--seeds", "1"])
    assert "the loss check needs --seeds >= 2" in capsys.readouterr().err
    assert gpu_check.parse_args(["--seeds", "1", "--checks", "masks"]).seeds == 1


def test_drop_fraction_tolerance_is_five_sigma(gpu_check):
    sigma = (0.2 * 0.8 / 10_000) ** 0.5
    assert gpu_check.within_sigmas(0.2 + 4.9 * sigma, 0.2, 10_000)
    assert not gpu_check.within_sigmas(0.2 - 5.1 * sigma, 0.2, 10_000)


def test_model_flops_utilisation(gpu_check):
    assert gpu_check.model_flops_utilisation(1000.0, 2_000_000, 4.0) == pytest.approx(0.5)


def test_equivalence_verdict_passes_noise_and_fails_a_shift(gpu_check):
    eager = [[2.0, 1.8], [2.1, 1.9], [1.9, 1.7]]
    noisy = [[2.0, 1.81], [2.1, 1.88], [1.9, 1.71]]
    shifted = [[2.5, 2.3], [2.6, 2.41], [2.4, 2.2]]
    assert gpu_check.equivalence_verdict(eager, noisy)[0]
    passed, lines = gpu_check.equivalence_verdict(eager, shifted)
    assert not passed and lines[0].startswith("final val loss: eager 1.8000, compiled 2.3033")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_exits_2(gpu_check, capsys):
    assert gpu_check.main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err
