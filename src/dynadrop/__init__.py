"""dynadrop: schedule dropout rates while a PyTorch model trains, and study what dropout does."""

__version__ = "0.1.0"
