"""dynadrop: schedule dropout rates while a PyTorch model trains, and study what dropout does.

    import dynadrop as dd
    scheduler = dd.DropoutScheduler(model, "linear:0.2->0.0", total_steps=5000)
    ...  # after each optimizer.step(): scheduler.step()
"""

from dynadrop.core import *  # noqa: F403
from dynadrop.core import __all__ as _core_all

__version__ = "0.1.0"
__all__ = [*_core_all, "__version__"]
