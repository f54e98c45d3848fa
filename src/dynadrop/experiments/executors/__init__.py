"""How a comparison's runs are executed: local processes (the default) or Ray tasks.

The runner plans, writes ``request.json``, skips finished runs and settles outcomes; an executor
only starts runs, reports when each ends, and cancels what is left. :mod:`.attempt` is the body
of one run, the same on every executor.
"""

from dynadrop.experiments.executors.base import Ended, Executor, ExecutorUnavailable, RunTask
from dynadrop.experiments.executors.local import LocalExecutor

__all__ = ["Ended", "Executor", "ExecutorUnavailable", "LocalExecutor", "RunTask"]
