"""Trackers run offline: W&B in offline mode, MLflow's file store under the test's temp dir."""

from __future__ import annotations

import pytest

from tests.gpt.conftest import corpus, private_cache, smoke  # noqa: F401  (the GPT fixtures)


@pytest.fixture(autouse=True)
def offline_trackers(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
