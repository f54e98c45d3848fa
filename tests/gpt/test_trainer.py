"""The trainer: run directory contract, LR, optimizer groups, pairing by seed, accumulation, rates."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

import dynadrop as dd
from dynadrop.gpt import trainer
from dynadrop.gpt.config import TrainConfig, preset
from dynadrop.gpt.model import GPT, GPTConfig
from dynadrop.gpt.trainer import build_optimizer, learning_rate, train
from tests.conftest import assert_fraction_close


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_directory_contract(smoke, tmp_path):
    config = replace(smoke, schedule="linear:0.2->0.0")
    summary = train(config, tmp_path / "run", progress=False)
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "config.json").read_text()) == config.to_dict()
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    metrics = read_metrics(run_dir)
    evals = [m for m in metrics if m["type"] == "eval"]
    trains = [m for m in metrics if m["type"] == "train"]
    assert [m["step"] for m in evals] == [0, 10, 20]
    assert [m["step"] for m in trains] == [5, 10, 15, 20]
    assert set(evals[0]) == {"type", "step", "train_loss", "val_loss", "grad_norm", "lr", "rates",
                             "wall_time"}
    assert set(trains[0]) == {"type", "step", "loss", "lr", "rates", "wall_time", "tokens_per_s"}
    vocab = len(set((tmp_path / "corpus.txt").read_text()))
    assert evals[0]["val_loss"] == pytest.approx(math.log(vocab), abs=0.15)
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]
    # train lines carry the rates used for that step's minibatch: schedule(step - 1)
    for line in trains:
        assert set(line["rates"]) == {"embedding", "attention", "residual", "mlp"}
        assert line["rates"]["mlp"] == pytest.approx(0.2 * (1 - (line["step"] - 1) / 20))
    assert [m["wall_time"] for m in metrics] == sorted(m["wall_time"] for m in metrics)
    assert summary["steps"] == 20 and summary["best_val_loss"] == min(m["val_loss"] for m in evals)
    assert summary["final_val_loss"] == evals[-1]["val_loss"]
    assert summary["last_minibatch_loss"] == trains[-1]["loss"]
    for key in ("best_val_step", "final_train_loss", "train_time_s", "tokens_per_s"):
        assert key in summary
    assert (run_dir / "checkpoint.pt").is_file()


def test_finished_run_is_reported_not_retrained(smoke, tmp_path, monkeypatch):
    first = train(smoke, tmp_path / "run", progress=False)
    monkeypatch.setattr(trainer._Run, "_loop", lambda self: pytest.fail("retrained a finished run"))
    assert train(smoke, tmp_path / "run", progress=False) == first


def test_resuming_a_different_config_is_refused(smoke, tmp_path):
    train(replace(smoke, max_steps=10), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="learning_rate: 0.001 -> 0.002"):
        train(replace(smoke, max_steps=10, learning_rate=2e-3), tmp_path / "run", progress=False)


def test_a_checkpoint_from_before_the_attention_field_resumes(smoke, tmp_path):
    """Old configs read as attention=explicit, and the attention path may change on resume."""
    first = train(replace(smoke, max_steps=10), tmp_path / "run", progress=False)
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    del checkpoint["config"]["attention"]
    torch.save(checkpoint, tmp_path / "run" / "checkpoint.pt")
    assert TrainConfig.from_dict(checkpoint["config"]).attention == "explicit"
    assert train(replace(smoke, max_steps=10), tmp_path / "run", progress=False) == first
    with pytest.raises(ValueError, match="learning_rate: 0.001 -> 0.002"):
        train(replace(smoke, max_steps=10, learning_rate=2e-3), tmp_path / "run", progress=False)


def test_warmup_then_cosine_to_min_lr():
    config = preset("smoke", max_steps=100, warmup_steps=10, learning_rate=1e-3, min_lr=1e-4)
    lrs = [learning_rate(step, config) for step in range(101)]
    assert lrs[0] < lrs[5] < lrs[9] < 1e-3
    assert lrs[10] == pytest.approx(1e-3)
    assert lrs[55] == pytest.approx(5.5e-4)
    assert lrs[100] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_weight_decay_only_on_matrices():
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8, bias=True))
    decayed, plain = build_optimizer(model, preset("smoke")).param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"]) and all(p.dim() < 2 for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))
    assert decayed["betas"] == (0.9, 0.99)


def test_runs_with_the_same_seed_are_paired(smoke, tmp_path, monkeypatch):
    """Same seed, different schedules: identical initial weights and batch sequence."""
    batches = {}

    def recording(schedule):
        def draw(*args, **kwargs):
            x, y = real_draw(*args, **kwargs)
            batches.setdefault(schedule, []).append(x.clone())
            return x, y
        return draw

    real_draw = trainer.draw_batch
    first_evals = {}
    for schedule in ("0.0", "0.4"):
        monkeypatch.setattr(trainer, "draw_batch", recording(schedule))
        train(replace(smoke, schedule=schedule), tmp_path / schedule, progress=False)
        first_evals[schedule] = read_metrics(tmp_path / schedule)[0]
    assert first_evals["0.0"]["val_loss"] == first_evals["0.4"]["val_loss"]  # identical init
    assert len(batches["0.0"]) == len(batches["0.4"]) > 20
    assert all(torch.equal(a, b) for a, b in zip(batches["0.0"], batches["0.4"], strict=True))
    monkeypatch.setattr(trainer, "draw_batch", real_draw)
    train(replace(smoke, schedule="0.0", seed=1), tmp_path / "seed1", progress=False)
    assert read_metrics(tmp_path / "seed1")[0]["val_loss"] != first_evals["0.0"]["val_loss"]


def test_every_site_drops_at_the_scheduled_rate_during_training(smoke, tmp_path):
    """Eager masks recorded through a whole run follow the schedule step by step, site by site."""
    config = replace(smoke, schedule={"attention": "linear:0.4->0.1", "default": "cosine:0.3->0.05"},
                     grad_accum=2, max_steps=12, eval_interval=6)
    with dd.record_dropout_masks() as draws:
        train(config, tmp_path / "run", progress=False)
    sites_per_step = 1 + 3 * config.n_layer  # embedding + (attention, residual, mlp) per block
    assert len(draws) == config.max_steps * config.grad_accum * sites_per_step  # eval draws none
    attention = dd.parse_schedule("linear:0.4->0.1")
    default = dd.parse_schedule("cosine:0.3->0.05")
    per_forward = [draws[i:i + sites_per_step] for i in range(0, len(draws), sites_per_step)]
    for forward, masks in enumerate(per_forward):
        step = forward // config.grad_accum  # the scheduler steps once per optimizer step
        expected = [default(step, 12)] + [attention(step, 12), default(step, 12), default(step, 12)] * 2
        assert [m.requested_rate for m in masks] == pytest.approx(expected)
        for mask, rate in zip(masks, expected, strict=True):
            assert_fraction_close(mask.dropped_fraction, rate, mask.numel)


def test_validation_driven_schedule_is_fed_from_eval(smoke, tmp_path):
    config = replace(smoke, schedule="adaptive:0.3,delta=0.1,patience=0", max_steps=30, eval_interval=5)
    train(config, tmp_path / "run", progress=False)
    evals = [m for m in read_metrics(tmp_path / "run") if m["type"] == "eval"]
    rates = [m["rates"]["mlp"] for m in evals]
    val = [m["val_loss"] for m in evals]
    assert len(set(rates)) > 1  # the controller moved the rate
    for before, after, previous, current in zip(rates, rates[1:], val, val[1:], strict=False):
        expected = max(before - 0.1, 0.0) if current < previous else min(before + 0.1, 0.5)
        assert after == pytest.approx(expected)
