"""Experiment trackers: further sinks for the trainer's metric records.

The trainer writes every record (one per log step, one per evaluation) to ``metrics.jsonl``
and to each tracker named in ``loggers``: ``tensorboard``, ``mlflow`` or ``wandb``. A record
becomes scalars named ``<type>/<field>`` (``train/loss``, ``train/lr``, ``train/tokens_per_s``,
``eval/val_loss``, ...) and ``<type>/rates/<group>`` for the dropout rates, at the record's step.

Each tracker imports its library only when opened; a missing one names the extra to install
(``pip install 'dynadrop[trackers]'``). This package imports nothing above the core.
"""

from dynadrop.tracking.sinks import TRACKERS, MetricSink, RunIdentity, check_loggers, open_trackers, scalars

__all__ = ["TRACKERS", "MetricSink", "RunIdentity", "check_loggers", "open_trackers", "scalars"]
