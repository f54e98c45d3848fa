"""The core of dynadrop: schedules, controllers, dropout sites, compile-safe layers, scheduler.

The core imports nothing else from dynadrop, and nothing beyond torch and the standard library.
"""

from dynadrop.core.controllers import Controller, ValLossAdaptive
from dynadrop.core.layers import ScheduledDropout
from dynadrop.core.parse import SPEC_HELP, RateRule, parse_schedule
from dynadrop.core.probe import MaskDraw, SiteDrops, record_dropout_masks, record_site_outputs
from dynadrop.core.scheduler import DropoutScheduler
from dynadrop.core.schedules import (
    Chain,
    Constant,
    Cosine,
    Curriculum,
    Early,
    Exponential,
    Late,
    Linear,
    NamedSchedule,
    Schedule,
    Step,
)
from dynadrop.core.signal_controllers import CompositeAdaptive, GapAdaptive
from dynadrop.core.sites import GROUPS, DropoutSite, find_dropout_sites, sites_table, unwrap_model
from dynadrop.core.surgery import CompileSafeReport, make_compile_safe

__all__ = [
    "GROUPS",
    "SPEC_HELP",
    "Chain",
    "CompileSafeReport",
    "CompositeAdaptive",
    "Constant",
    "Controller",
    "Cosine",
    "Curriculum",
    "DropoutScheduler",
    "DropoutSite",
    "Early",
    "Exponential",
    "GapAdaptive",
    "Late",
    "Linear",
    "MaskDraw",
    "NamedSchedule",
    "RateRule",
    "Schedule",
    "ScheduledDropout",
    "SiteDrops",
    "Step",
    "ValLossAdaptive",
    "find_dropout_sites",
    "make_compile_safe",
    "parse_schedule",
    "record_dropout_masks",
    "record_site_outputs",
    "sites_table",
    "unwrap_model",
]
