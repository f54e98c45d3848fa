"""Dropout theory for bias-free ReLU networks (Helmbold & Long, COLT 2017).

Exact (every mask) and Monte Carlo dropout criterion, dropout and weight-decay penalties, and
one reproducible check per claim of the paper (see ``dynadrop.theory.claims``), and the
Monte Carlo penalty profile of a real model through core's dropout sites.
"""

from dynadrop.theory.criterion import (
    Estimate,
    dropout_criterion,
    dropout_penalty,
    plain_loss,
    weight_decay_penalty,
)
from dynadrop.theory.exact import MAX_EXACT_MASKS
from dynadrop.theory.networks import as_weights
from dynadrop.theory.profile import PenaltyProfile, ProfileRow, penalty_profile

__all__ = [
    "MAX_EXACT_MASKS",
    "Estimate",
    "PenaltyProfile",
    "ProfileRow",
    "as_weights",
    "dropout_criterion",
    "dropout_penalty",
    "penalty_profile",
    "plain_loss",
    "weight_decay_penalty",
]
