"""MLflow: one run per training run in the experiment ``identity.experiment``, via ``MlflowClient``.

The tracking server is MLflow's own choice (``MLFLOW_TRACKING_URI``, e.g. ``file:/tmp/mlruns``
with ``MLFLOW_ALLOW_FILE_STORE=true``, or a server). A resumed run starts a new MLflow run
tagged ``dynadrop.resumed_from_step``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from dynadrop.tracking.sinks import RunIdentity, scalars

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value


class MlflowSink:
    """Metrics with ``log_batch`` (one call a record), the config as parameters."""

    def __init__(self, identity: RunIdentity, params: Mapping[str, Any]) -> None:
        self.identity = identity
        self.params = dict(params)
        self.client: Any = None
        self.run_id = ""

    def start(self, resumed_step: int | None) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        tags = {"dynadrop.run_dir": str(self.identity.run_dir.resolve())}
        if resumed_step is not None:
            tags["dynadrop.resumed_from_step"] = str(resumed_step)
        run = self.client.create_run(_experiment_id(self.client, self.identity.experiment),
                                     run_name=self.identity.name, tags=tags)
        self.run_id = run.info.run_id
        self.client.log_batch(self.run_id, params=[Param(key, _param_text(value))
                                                   for key, value in self.params.items()])

    def write(self, record: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        metrics = [Metric(key, value, timestamp, record["step"]) for key, value in scalars(record).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, failed: bool) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


def _experiment_id(client: Any, name: str) -> str:
    """The experiment called ``name``, created if missing (parallel runs may race to create it)."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        return client.get_experiment_by_name(name).experiment_id


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:MAX_PARAM_LENGTH]
