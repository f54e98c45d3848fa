"""Lightning callback: one step per optimizer step, validation-driven rates agreed through the
strategy, rates logged, and exact resume from a mid-run checkpoint."""

from __future__ import annotations

import csv
import sys

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import dynadrop as dd
from dynadrop.integrations.lightning import DropoutSchedulerCallback

BATCHES_PER_EPOCH = 4
VAL_LOSSES = [1.0, 0.8, 0.9, 0.7]  # per epoch: baseline, better, worse, better


class TinyModule(pl.LightningModule):
    """A regressor with an mlp dropout and an 'other' dropout; logs a scripted validation loss so
    validation-driven rates are predictable."""

    def __init__(self, val_key: str = "val_loss") -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 8))
        self.head_dropout = nn.Dropout(0.1)
        self.head = nn.Linear(8, 1)
        self.val_key = val_key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_dropout(self.mlp(x)))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.log(self.val_key, VAL_LOSSES[self.current_epoch])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader() -> DataLoader:
    data = TensorDataset(torch.randn(4 * BATCHES_PER_EPOCH, 8), torch.randn(4 * BATCHES_PER_EPOCH, 1))
    return DataLoader(data, batch_size=4)


class RateRecorder(pl.Callback):
    """The (global step, site rates) in effect when each training batch starts."""

    def __init__(self) -> None:
        self.records: list[tuple[int, dict[str, float]]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001
        rates = {site.name: site.rate for site in dd.find_dropout_sites(pl_module)}
        self.records.append((trainer.global_step, rates))


def make_trainer(tmp_path, callbacks, **overrides) -> pl.Trainer:  # noqa: ANN001
    options = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, enable_checkpointing=False,
                   default_root_dir=tmp_path, accumulate_grad_batches=2)
    options.update(overrides)
    return pl.Trainer(callbacks=callbacks, **options)


def mixed_schedule() -> dict[str, object]:
    return {"mlp": "linear:0.4->0.0", "other": dd.ValLossAdaptive(0.2, delta=0.05, patience=0)}


def test_steps_once_per_optimizer_step_under_gradient_accumulation(tmp_path):
    callback, recorder = DropoutSchedulerCallback("linear:0.4->0.0"), RateRecorder()
    trainer = make_trainer(tmp_path, [callback, recorder], max_epochs=1, limit_val_batches=0)
    trainer.fit(TinyModule(), loader())
    assert callback.scheduler.total_steps == trainer.estimated_stepping_batches == 2
    assert [step for step, _ in recorder.records] == [0, 0, 1, 1]
    assert [rates["mlp.2"] for _, rates in recorder.records] == pytest.approx([0.4, 0.4, 0.2, 0.2])
    assert callback.scheduler.last_step == trainer.global_step == 2
    assert callback.scheduler.rates == {"mlp": 0.0, "other": 0.0}


def test_rates_are_logged_through_the_modules_logger(tmp_path):
    logger = CSVLogger(tmp_path, name="run")
    callback = DropoutSchedulerCallback({"mlp": "linear:0.4->0.0", "other": 0.1}, total_steps=4)
    trainer = make_trainer(tmp_path, [callback], max_epochs=2, limit_val_batches=0, logger=logger,
                           log_every_n_steps=1)
    trainer.fit(TinyModule(), loader())
    with open(f"{logger.log_dir}/metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row.get("dropout/mlp")]
    assert {int(row["step"]): float(row["dropout/mlp"]) for row in rows} == pytest.approx(
        {0: 0.4, 1: 0.3, 2: 0.2, 3: 0.1})
    assert [float(row["dropout/other"]) for row in rows] == pytest.approx([0.1] * 4)


def test_validation_driven_rate_follows_val_loss_and_ignores_the_sanity_check(tmp_path):
    callback, recorder = DropoutSchedulerCallback(mixed_schedule()), RateRecorder()
    trainer = make_trainer(tmp_path, [callback, recorder], max_epochs=4, num_sanity_val_steps=1)
    trainer.fit(TinyModule(), loader(), loader())
    per_epoch = [rates["head_dropout"] for _, rates in recorder.records[::BATCHES_PER_EPOCH]]
    assert per_epoch == pytest.approx([0.2, 0.2, 0.15, 0.2])
    assert callback.scheduler.rates["other"] == pytest.approx(0.15)


def test_monitored_metric_is_averaged_by_the_strategy(tmp_path, monkeypatch):
    """Under DDP the strategy's reduce makes ranks agree; here it pretends a second rank saw 3.0."""
    monkeypatch.setattr(SingleDeviceStrategy, "reduce",
                        lambda self, value, reduce_op=None, group=None: (value + 3.0) / 2)
    callback = DropoutSchedulerCallback(dd.ValLossAdaptive(0.2), monitor="val_loss")
    trainer = make_trainer(tmp_path, [callback], max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(TinyModule(), loader(), loader())
    assert callback.scheduler.controllers["default"].state_dict()["best"] == pytest.approx(2.0)


def test_missing_monitored_metric_warns_once_naming_it(tmp_path):
    callback = DropoutSchedulerCallback(dd.ValLossAdaptive(0.2))
    trainer = make_trainer(tmp_path, [callback], max_epochs=2, num_sanity_val_steps=0)
    with pytest.warns(UserWarning, match=r"monitors 'val_loss'.*'loss_val'") as caught:
        trainer.fit(TinyModule(val_key="loss_val"), loader(), loader())
    assert sum("monitors 'val_loss'" in str(w.message) for w in caught) == 1
    assert callback.scheduler.rates == {"mlp": 0.2, "other": 0.2}


@pytest.mark.parametrize("restore_after_setup", [False, True], ids=["restore-first", "fit-start-first"])
def test_resume_from_a_mid_run_checkpoint_continues_the_same_rate_sequence(
    tmp_path, monkeypatch, restore_after_setup
):
    """Strategies such as FSDP restore callbacks after on_fit_start; others before it."""
    monkeypatch.setattr(SingleDeviceStrategy, "restore_checkpoint_after_setup",
                        property(lambda self: restore_after_setup))
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    full_run = RateRecorder()
    make_trainer(tmp_path, [DropoutSchedulerCallback(mixed_schedule()), full_run, checkpoints],
                 max_epochs=4, num_sanity_val_steps=0, enable_checkpointing=True,
                 ).fit(TinyModule(), loader(), loader())

    resumed_callback, resumed_run = DropoutSchedulerCallback(mixed_schedule()), RateRecorder()
    make_trainer(tmp_path, [resumed_callback, resumed_run], max_epochs=4, num_sanity_val_steps=0
                 ).fit(TinyModule(), loader(), loader(), ckpt_path=tmp_path / "ckpt/epoch=1-step=4.ckpt")

    assert resumed_run.records == full_run.records[2 * BATCHES_PER_EPOCH:]
    assert resumed_run.records[0] == (4, {"mlp.2": 0.2, "head_dropout": 0.15})  # not the fresh 0.2
    assert resumed_callback.scheduler.state_dict()["last_step"] == 8


def test_total_steps_must_be_positive_and_inferable(tmp_path):
    with pytest.raises(ValueError, match=r"total_steps .* got 0"):
        DropoutSchedulerCallback("0.1", total_steps=0)

    class Endless(IterableDataset):
        def __iter__(self):  # noqa: ANN204
            while True:
                yield torch.randn(8), torch.randn(1)

    trainer = make_trainer(tmp_path, [DropoutSchedulerCallback("0.1")], max_epochs=1,
                           limit_val_batches=0)
    with pytest.raises(ValueError, match=r"trainer.estimated_stepping_batches .* got -1"):
        trainer.fit(TinyModule(), DataLoader(Endless(), batch_size=4))


def test_import_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "dynadrop.integrations.lightning")
    with pytest.raises(ImportError, match=r"pip install 'dynadrop\[lightning\]'"):
        import dynadrop.integrations.lightning  # noqa: F401


GAPS = [(1.0, 1.1), (0.8, 1.2), (0.7, 1.3), (0.6, 1.2)]  # per epoch: (train_eval, val)


class GapModule(TinyModule):
    """Logs a scripted eval-mode training loss and validation loss under its own names."""

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        train_loss, val_loss = GAPS[self.current_epoch]
        self.log("loss/train_eval", train_loss)
        self.log("loss/val", val_loss)


def test_monitor_mapping_feeds_the_gap_rule_its_two_signals(tmp_path):
    spec = "gap:0.2,target=0.2,kp=0.5,ki=0.2"
    callback, recorder = DropoutSchedulerCallback(
        spec, monitor={"val_loss": "loss/val", "train_loss": "loss/train_eval"}), RateRecorder()
    trainer = make_trainer(tmp_path, [callback, recorder], max_epochs=4, num_sanity_val_steps=0)
    trainer.fit(GapModule(), loader(), loader())
    reference, expected = dd.parse_schedule(spec), [0.2]
    for train_loss, val_loss in GAPS[:3]:
        reference.observe(train_loss=train_loss, val_loss=val_loss)
        expected.append(reference.rate)
    per_epoch = [rates["head_dropout"] for _, rates in recorder.records[::BATCHES_PER_EPOCH]]
    assert per_epoch == pytest.approx(expected)
    assert len(set(per_epoch)) == 4


def test_a_mapped_signal_that_is_not_logged_holds_the_rate_and_warns(tmp_path):
    callback = DropoutSchedulerCallback("gap:0.2", monitor={"val_loss": "loss/val"})
    trainer = make_trainer(tmp_path, [callback], max_epochs=2, num_sanity_val_steps=0)
    with pytest.warns(UserWarning, match=r"monitors 'train_loss' \(its train_loss\)"):
        trainer.fit(GapModule(), loader(), loader())
    assert callback.scheduler.rates == {"mlp": 0.2, "other": 0.2}
    assert callback.scheduler.controllers["default"].num_observed == 0
