"""Hugging Face Trainer callback: one step per optimizer step, eval_loss-driven rates, rates in
the logs, and resume from a checkpoint folder restoring the schedule state."""

from __future__ import annotations

import shutil
import sys

import pytest
import torch
from torch import nn
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

import dynadrop as dd
from dynadrop.integrations.transformers import STATE_FILE, DropoutSchedulerCallback
from tests.tracking.readers import tensorboard_scalars

MICRO_BATCH, ACCUMULATION, MAX_STEPS = 4, 2, 8


def tiny_classifier() -> nn.Module:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        vocab_size=100, num_labels=2,
    ))


def examples(count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(0, 100, (8,), generator=generator),
             "labels": torch.randint(0, 2, (), generator=generator)} for _ in range(count)]


def arguments(output_dir, **overrides) -> TrainingArguments:  # noqa: ANN001
    options = dict(output_dir=str(output_dir), use_cpu=True, report_to=[], disable_tqdm=True,
                   per_device_train_batch_size=MICRO_BATCH, per_device_eval_batch_size=8,
                   gradient_accumulation_steps=ACCUMULATION, max_steps=MAX_STEPS,
                   eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=4,
                   logging_steps=2, learning_rate=1e-3, seed=0)
    options.update(overrides)
    return TrainingArguments(**options)


class LogRecorder(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict[str, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        self.logs.append(dict(logs))


def train(output_dir, callback: DropoutSchedulerCallback, resume: str | None = None, **overrides):  # noqa: ANN001, ANN201
    """Train the tiny classifier; return (trainer, rates of each training forward, logs seen)."""
    model, recorder, forwards = tiny_classifier(), LogRecorder(), []

    def record_rates(module, inputs):  # noqa: ANN001, ANN202
        if module.training:
            forwards.append({site.name: site.rate for site in dd.find_dropout_sites(module)})

    model.register_forward_pre_hook(record_rates)
    trainer = Trainer(model=model, args=arguments(output_dir, **overrides), train_dataset=examples(32, 1),
                      eval_dataset=examples(16, 2), callbacks=[callback, recorder])
    trainer.train(resume_from_checkpoint=resume)
    return trainer, forwards, recorder.logs


def adaptive() -> dd.ValLossAdaptive:
    return dd.ValLossAdaptive(0.2, delta=0.05, patience=0)


def eval_losses(trainer: Trainer) -> list[float]:
    return [entry["eval_loss"] for entry in trainer.state.log_history if "eval_loss" in entry]


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):  # noqa: ANN001, ANN201
    """One run with evaluation every 2 steps: attention adaptive on eval_loss, residual linear."""
    callback = DropoutSchedulerCallback(
        {"attention": adaptive(), "residual": "linear:0.4->0.0", "default": 0.1})
    trainer, forwards, logs = train(tmp_path_factory.mktemp("run"), callback, save_strategy="no")
    return callback, trainer, forwards, logs


def test_steps_once_per_optimizer_step_and_total_steps_come_from_max_steps(evaluated_run):
    callback, trainer, forwards, _ = evaluated_run
    assert callback.scheduler.total_steps == trainer.state.max_steps == MAX_STEPS
    residual = [rates["bert.encoder.layer.0.output.dropout"] for rates in forwards]
    expected = [0.4 * (1 - step / MAX_STEPS) for step in range(MAX_STEPS) for _ in range(ACCUMULATION)]
    assert residual == pytest.approx(expected)
    assert {rates["bert.embeddings.dropout"] for rates in forwards} == {0.1}
    assert callback.scheduler.last_step == trainer.state.global_step == MAX_STEPS


def test_validation_driven_rate_reacts_to_eval_loss(evaluated_run):
    callback, trainer, forwards, _ = evaluated_run
    reference = adaptive()
    for loss in eval_losses(trainer):
        reference.observe(loss)
    assert len(eval_losses(trainer)) == MAX_STEPS // 2
    assert reference.state_dict() == callback.scheduler.controllers["attention"].state_dict()
    attention = [rates["bert.encoder.layer.1.attention.self.dropout"] for rates in forwards]
    # evaluations after steps 2 and 4: the first sets the baseline, the second moves the rate
    assert set(attention[:4 * ACCUMULATION]) == {0.2} and attention[4 * ACCUMULATION] != 0.2


def test_rates_are_added_to_the_logs(evaluated_run):
    callback, _, _, logs = evaluated_run
    training_logs = [entry for entry in logs if "loss" in entry]
    assert len(training_logs) == MAX_STEPS // 2
    assert all(entry["dropout/embedding"] == 0.1 and {"dropout/attention", "dropout/residual"} <= set(entry)
               for entry in training_logs)
    assert logs[-1]["dropout/attention"] == callback.scheduler.rates["attention"]


def test_resume_restores_the_schedule_state_from_the_checkpoint_folder(tmp_path):
    def schedule() -> dict[str, object]:
        return {"attention": adaptive(), "residual": "cosine:0.3->0.0"}

    full_callback = DropoutSchedulerCallback(schedule())
    full, full_forwards, _ = train(tmp_path / "full", full_callback)
    assert (tmp_path / "full" / "checkpoint-4" / STATE_FILE).is_file()

    moved = tmp_path / "elsewhere" / "checkpoint-4"  # found through args.resume_from_checkpoint
    shutil.copytree(tmp_path / "full" / "checkpoint-4", moved)
    callback = DropoutSchedulerCallback(schedule())
    resumed, resumed_forwards, _ = train(tmp_path / "resumed", callback, resume=str(moved),
                                         resume_from_checkpoint=str(moved))

    assert resumed_forwards == full_forwards[4 * ACCUMULATION:]
    assert resumed_forwards[0]["bert.encoder.layer.0.attention.self.dropout"] != 0.2  # not fresh
    assert eval_losses(resumed) == pytest.approx(eval_losses(full))  # 2 restored, 2 new
    assert callback.scheduler.state_dict() == full_callback.scheduler.state_dict()


def test_resume_without_saved_state_warns_naming_the_file_and_keeps_the_step(tmp_path):
    train(tmp_path, DropoutSchedulerCallback("linear:0.4->0.0"), eval_strategy="no")
    (tmp_path / "checkpoint-4" / STATE_FILE).unlink()
    callback = DropoutSchedulerCallback("linear:0.4->0.0")
    with pytest.warns(UserWarning, match=r"checkpoint-4/dropout_scheduler\.json does not exist"):
        _, forwards, _ = train(tmp_path, callback, resume=str(tmp_path / "checkpoint-4"),
                               eval_strategy="no")
    assert forwards[0]["bert.embeddings.dropout"] == pytest.approx(0.2)


def test_missing_monitored_metric_warns_once_naming_it(tmp_path):
    callback = DropoutSchedulerCallback(adaptive(), monitor="eval_accuracy")
    with pytest.warns(UserWarning, match=r"monitors 'eval_accuracy'.*'eval_loss'") as caught:
        train(tmp_path, callback, save_strategy="no")
    assert sum("eval_accuracy" in str(w.message) for w in caught) == 1
    assert callback.scheduler.rates["attention"] == 0.2


def test_non_positive_total_steps_is_rejected_naming_the_value():
    with pytest.raises(ValueError, match=r"total_steps .* got -3"):
        DropoutSchedulerCallback("0.1", total_steps=-3)


def test_import_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "dynadrop.integrations.transformers")
    with pytest.raises(ImportError, match=r"pip install 'dynadrop\[transformers\]'"):
        import dynadrop.integrations.transformers  # noqa: F401


def test_monitor_mapping_reads_each_signal_from_the_evaluation_metrics():
    callback = DropoutSchedulerCallback(
        "gap:0.2,target=0.1,kp=1.0,ki=0.0",
        monitor={"val_loss": "eval_val_loss", "train_loss": "eval_train_loss"})
    state, control = TrainerState(max_steps=10), TrainerControl()
    callback.on_train_begin(None, state, control, model=tiny_classifier())
    callback.on_evaluate(None, state, control,
                         metrics={"eval_val_loss": 1.5, "eval_train_loss": 1.2, "epoch": 1.0})
    assert callback.scheduler.rates["attention"] == pytest.approx(0.2 + 1.0 * (0.3 - 0.1))


def test_monitor_must_be_a_name_or_a_mapping_of_names():
    with pytest.raises(TypeError, match=r"monitor must be a metric name or a mapping .* got 3"):
        DropoutSchedulerCallback("gap:0.2", monitor=3)


def test_added_first_its_rates_reach_the_report_to_tensorboard_callback(tmp_path):
    pytest.importorskip("tensorboard")
    trainer = Trainer(model=tiny_classifier(), args=arguments(tmp_path, report_to=["tensorboard"]),
                      train_dataset=examples(32, 1), eval_dataset=examples(16, 2))
    DropoutSchedulerCallback("linear:0.2->0.0").add_to(trainer)
    trainer.train()
    (log_dir,) = (tmp_path / "runs").iterdir()
    schedule = dd.parse_schedule("linear:0.2->0.0")
    expected = {step: schedule(step, MAX_STEPS) for step in (2, 4, 6, 8)}
    for group in ("attention", "residual", "embedding"):
        assert tensorboard_scalars(log_dir)[f"train/dropout/{group}"] == pytest.approx(expected), group


def test_add_to_moves_the_callback_first(tmp_path):
    callback = DropoutSchedulerCallback(0.1)
    trainer = Trainer(model=tiny_classifier(), args=arguments(tmp_path), train_dataset=examples(8, 1),
                      eval_dataset=examples(8, 2), callbacks=[callback])
    assert callback.add_to(trainer) is callback
    assert trainer.callback_handler.callbacks.index(callback) == 0
    assert trainer.callback_handler.callbacks.count(callback) == 1
