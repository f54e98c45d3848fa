"""One reproducible check per claim of Helmbold & Long; each returns a ``ClaimResult``."""

from collections.abc import Callable

from dynadrop.theory.claims.common import ClaimResult
from dynadrop.theory.claims.depth import depth
from dynadrop.theory.claims.invariance import invariance
from dynadrop.theory.claims.label_dependence import label_dependence
from dynadrop.theory.claims.negative_weights import negative_weights
from dynadrop.theory.claims.zero_network import zero_network

CLAIMS: dict[str, Callable[[], ClaimResult]] = {
    "negative-weights": negative_weights,
    "depth": depth,
    "invariance": invariance,
    "label-dependence": label_dependence,
    "zero-network": zero_network,
}

__all__ = [
    "CLAIMS",
    "ClaimResult",
    "depth",
    "invariance",
    "label_dependence",
    "negative_weights",
    "zero_network",
]
