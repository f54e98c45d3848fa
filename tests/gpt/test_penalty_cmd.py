"""`dynadrop penalty` on a trained GPT run: every scope measured, plain loss matches the model's."""

from __future__ import annotations

import re

import pytest
import torch

from dynadrop.cli.main import main
from dynadrop.gpt.data import draw_batch, prepare_dataset
from dynadrop.gpt.sampling import load_trained_model
from dynadrop.gpt.trainer import train


def test_penalty_command_profiles_a_trained_run(smoke, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(smoke, run_dir, progress=False)
    assert main(["penalty", str(run_dir), "--rates", "0.1", "0.3", "--label-noise", "0.5",
                 "--batches", "2", "--batch-size", "4", "--samples", "3", "--seed", "7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines
            if line.strip().startswith(("sites", "label"))]
    measured = {(row[0], row[2], float(row[3])) for row in rows}
    scopes = ["all", "group attention", "group residual", "group embedding", "group mlp",
              "depth 0", "depth 1"]
    assert measured == {("sites", scope, rate) for scope in scopes for rate in (0.1, 0.3)} | {
        ("label noise", "all", 0.1), ("label noise", "all", 0.3)}
    plain = {float(row[-1]) for row in rows if row[0] == "sites"}
    model, _, config = load_trained_model(run_dir)
    dataset = prepare_dataset(config["data"])
    generator = torch.Generator().manual_seed(7)
    batches = [draw_batch(dataset.val, model.config.block_size, 4, generator) for _ in range(2)]
    with torch.no_grad():
        expected = sum(float(model(x, y)[1]) for x, y in batches) / 2
    assert len(plain) == 1 and plain.pop() == pytest.approx(expected, rel=1e-4)


def test_penalty_command_reports_a_missing_run(tmp_path, capsys):
    assert main(["penalty", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
