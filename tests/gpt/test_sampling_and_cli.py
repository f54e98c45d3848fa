"""Sampling, inference speed, and the train / sample / prepare commands."""

from __future__ import annotations

import json

import pytest
import torch

from dynadrop.cli.main import main
from dynadrop.experiments.workload import train_config
from dynadrop.gpt import trainer
from dynadrop.gpt.config import preset, schedule_from_args
from dynadrop.gpt.model import GPT, GPTConfig
from dynadrop.gpt.sampling import generate, measure_inference_speed


@pytest.fixture
def tiny_model() -> GPT:
    return GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=1, n_embd=16))


def test_generate_crops_to_context_and_top_1_is_greedy(tiny_model):
    start = torch.zeros(1, 1, dtype=torch.long)
    out = generate(tiny_model.eval(), start, 12, top_k=1)
    assert out.shape == (1, 13)
    greedy = start
    for _ in range(12):
        logits, _ = tiny_model(greedy[:, -8:])
        greedy = torch.cat([greedy, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, greedy)
    with pytest.raises(ValueError, match="temperature"):
        generate(tiny_model, start, 1, temperature=0)


def test_inference_speed_is_positive_and_leaves_the_mode(tiny_model):
    tiny_model.train()
    assert measure_inference_speed(tiny_model, samples=2, new_tokens=5) > 0
    assert tiny_model.training


def test_schedule_arguments():
    assert schedule_from_args(["linear:0.2->0.0"]) == "linear:0.2->0.0"
    assert schedule_from_args(["attention=cosine:0.2->0", "mlp=0.1", "adaptive:0.2,delta=0.05"]) == {
        "attention": "cosine:0.2->0", "mlp": "0.1", "default": "adaptive:0.2,delta=0.05"}
    with pytest.raises(ValueError, match="two schedules"):
        schedule_from_args(["mlp=0.1", "mlp=0.2"])


def test_presets_and_their_errors():
    paper = preset("paper")
    shape = (paper.n_layer, paper.n_head, paper.n_embd, paper.block_size, paper.batch_size)
    assert shape == (6, 6, 384, 256, 64)
    assert (paper.max_steps, paper.learning_rate, paper.min_lr, paper.warmup_steps) == (5000, 1e-3, 1e-4, 100)
    assert (paper.eval_interval, paper.eval_batches, paper.schedule) == (250, 200, "0.2")
    assert preset("cpu", seed=3).seed == 3
    assert paper.compile and preset("cpu").compile and not preset("smoke").compile
    assert not train_config("quick", {}, "0.2", 0).compile  # short runs: compiling costs more than it saves
    with pytest.raises(ValueError, match="'gpu'.*paper, cpu, smoke"):
        preset("gpu")
    with pytest.raises(ValueError, match="max_step.*did you mean max_steps"):
        preset("smoke", max_step=3)
    with pytest.raises(ValueError, match="'hidden'.*allowed"):
        preset("smoke", schedule={"hidden": "0.1"})
    with pytest.raises(ValueError, match="n_embd 30 must be divisible by n_head 4"):
        preset("smoke", n_embd=30, n_head=4)


def test_train_sample_and_prepare_commands(corpus, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--data", str(corpus), "--run-dir", str(run_dir),
                 "--max-steps", "6", "--eval-interval", "3", "--seed", "4", "--no-progress",
                 "--schedule", "attention=0.1", "--schedule", "0.0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 6 and summary["final_rates"]["attention"] == 0.1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 4 and config["schedule"] == {"attention": "0.1", "default": "0.0"}
    assert main(["sample", str(run_dir), "--prompt", "The", "--length", "20", "--num-samples", "1"]) == 0
    assert capsys.readouterr().out.startswith("The")
    assert main(["sample", str(run_dir), "--length", "5", "--num-samples", "1", "--speed"]) == 0
    assert "tokens/s" in capsys.readouterr().out
    assert main(["prepare", "--data", str(corpus)]) == 0
    assert "vocabulary:" in capsys.readouterr().out


def test_commands_report_bad_input_cleanly(tmp_path, capsys):
    assert main(["train", "--preset", "smoke", "--data", str(tmp_path / "missing.txt"),
                 "--run-dir", str(tmp_path / "run")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["sample", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_train_command_passes_the_compile_strategy(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(trainer, "train", lambda config, run_dir, **options: calls.append(options) or {})
    assert main(["train", "--preset", "smoke", "--out", str(tmp_path), "--compile",
                 "--compile-strategy", "regional"]) == 0
    assert main(["train", "--preset", "smoke", "--out", str(tmp_path)]) == 0
    assert [options["compile_strategy"] for options in calls] == ["regional", "whole"]
    with pytest.raises(SystemExit):
        main(["train", "--compile-strategy", "blocks"])
    assert "'blocks'" in capsys.readouterr().err


def test_an_unknown_attention_path_is_one_line_naming_the_choices(tmp_path, capsys):
    assert main(["train", "--preset", "smoke", "--attention", "flash", "--out", str(tmp_path / "run")]) == 2
    assert "attention 'flash' is not one of ('fused', 'explicit', 'blocked')" in capsys.readouterr().err
