"""The trainer feeds controllers train_loss, val_loss, grad_norm and lr, and records them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import dynadrop as dd
from dynadrop.gpt.trainer import learning_rate, train


def eval_records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["type"] == "eval"]


def test_gap_rule_moves_the_rate_from_the_recorded_losses(smoke, tmp_path):
    spec = "gap:0.2,target=0.0,kp=2.0,ki=0.5"
    config = replace(smoke, schedule=spec)
    train(config, tmp_path / "run", progress=False)
    evals = eval_records(tmp_path / "run")
    assert [e["step"] for e in evals] == [0, 10, 20]
    assert evals[0]["grad_norm"] is None  # no optimizer step yet
    assert all(e["grad_norm"] > 0 for e in evals[1:])
    assert [e["lr"] for e in evals] == [learning_rate(e["step"], config) for e in evals]
    replay = dd.parse_schedule(spec)
    for record in evals:
        replay.observe(train_loss=record["train_loss"], val_loss=record["val_loss"])
        assert list(record["rates"].values()) == pytest.approx([replay.rate] * 4)
    assert evals[-1]["rates"]["mlp"] != 0.2


def test_composite_rule_reading_grad_norm_holds_until_the_first_step(smoke, tmp_path):
    spec = "composite:0.2,grad_norm=0.1,lr=0.2"
    config = replace(smoke, schedule=spec, grad_clip=0.0)  # the unclipped path measures it too
    train(config, tmp_path / "run", progress=False)
    evals = eval_records(tmp_path / "run")
    replay = dd.parse_schedule(spec)
    assert evals[0]["rates"]["mlp"] == 0.2
    for record in evals[1:]:
        replay.observe(grad_norm=record["grad_norm"], lr=record["lr"])
        assert record["rates"]["mlp"] == pytest.approx(replay.rate)
    assert evals[-1]["rates"]["mlp"] != 0.2
