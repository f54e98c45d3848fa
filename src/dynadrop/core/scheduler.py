"""DropoutScheduler: bind schedules and controllers to a model's dropout sites.

Call :meth:`DropoutScheduler.step` once per optimizer step (not per micro-batch), feed
metrics (validation and training loss, gradient norm, ...) with :meth:`DropoutScheduler.observe`,
and checkpoint :meth:`DropoutScheduler.state_dict` beside the optimizer's. Rates are not part of a model's
``state_dict``, so loading the scheduler's state re-applies them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from dynadrop.core.controllers import Controller, feed
from dynadrop.core.parse import RateRule, parse_schedule
from dynadrop.core.schedules import Constant, Schedule
from dynadrop.core.sites import GROUPS, DropoutSite, find_dropout_sites, unwrap_model

DEFAULT_KEY = "default"
DepthProfile = str | Sequence[float] | Callable[[int, int], float] | None


class DropoutScheduler:
    """Apply dropout schedules to every dropout site of a model.

    ``schedule`` is one schedule/controller (or spec string, or fixed rate) for all sites, or a
    dict from group name (attention, residual, embedding, mlp, path, other) to schedule; the key
    ``"default"`` covers groups not named. Sites of groups with no schedule keep their rate.

    ``depth_profile`` multiplies each site's rate by a factor of its block depth: ``"linear"``
    (stochastic-depth style, 0 at the first block rising to 1 at the last), a sequence of
    factors indexed by depth, or a callable ``(depth, num_blocks) -> factor``. Sites without a
    depth get factor 1.

    The scheduler applies the step-0 rates on construction; ``step()`` advances one optimizer
    step and applies the next rates (like ``torch.optim.lr_scheduler``).
    """

    def __init__(
        self,
        model: nn.Module,
        schedule: RateRule | str | float | Mapping[str, RateRule | str | float],
        total_steps: int,
        *,
        depth_profile: DepthProfile = None,
        group_rules: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        sync_metrics: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"DropoutScheduler needs a torch.nn.Module, got {type(model).__name__}")
        root = unwrap_model(model)
        if not list(root.children()) and not list(root.parameters()):
            raise ValueError(
                f"model {type(root).__name__} is empty (no submodules or parameters): "
                "nothing to schedule"
            )
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
        self.total_steps = total_steps
        self.last_step = 0
        self.sync_metrics = sync_metrics
        self.rules = _resolve_rules(schedule)
        self.sites = find_dropout_sites(root, group_rules)
        self._site_rules = [(site, self._rule_key(site.group)) for site in self.sites]
        self._factors = _depth_factors(self.sites, depth_profile)
        self._warn_unused_rules()
        self._apply()

    def _rule_key(self, group: str) -> str | None:
        if group in self.rules:
            return group
        return DEFAULT_KEY if DEFAULT_KEY in self.rules else None

    def _warn_unused_rules(self) -> None:
        used = {key for _, key in self._site_rules}
        for key, rule in self.rules.items():
            if key in used:
                continue
            can_drop = isinstance(rule, Controller) or any(
                rule(step, self.total_steps) > 0 for step in (0, self.total_steps // 2, self.total_steps)
            )
            if can_drop:
                where = "the model" if key == DEFAULT_KEY else f"group {key!r}"
                warnings.warn(
                    f"schedule {rule} has a non-zero rate but {where} has no dropout sites "
                    "(a model built with dropout 0 often holds nn.Identity instead); "
                    "nothing will be dropped",
                    UserWarning,
                    stacklevel=3,
                )

    @property
    def controllers(self) -> dict[str, Controller]:
        return {key: rule for key, rule in self.rules.items() if isinstance(rule, Controller)}

    @property
    def rates(self) -> dict[str, float]:
        """The current rate of each group that has sites and a schedule (before depth factors)."""
        rates: dict[str, float] = {}
        for site, key in self._site_rules:
            if key is not None and site.group not in rates:
                rates[site.group] = self.rules[key](self.last_step, self.total_steps)
        return rates

    def step(self, step: int | None = None) -> None:
        """Advance to the next optimizer step (or to ``step``) and apply its rates."""
        if step is None:
            step = self.last_step + 1
        elif isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        self.last_step = step
        self._apply()

    def observe(self, **metrics: float | None) -> None:
        """Feed metrics (e.g. ``val_loss=1.52, train_loss=1.31``) to the controllers; re-apply rates.

        Each controller gets the signals it declares (``controller.signals``). One given none of
        them is skipped (so metrics for different controllers may come in separate calls); one
        given only some raises a ValueError naming the missing ones. A value of ``None`` means
        "not available yet" (e.g. ``grad_norm`` before the first optimizer step): controllers
        reading it hold their rate this time.

        Under ``torch.distributed`` the values are averaged over ranks first (``sync_metrics``),
        so every rank takes the same decision.
        """
        known = {name: float(value) for name, value in metrics.items() if value is not None}
        if self.sync_metrics and dist.is_available() and dist.is_initialized():
            names = sorted(known)
            values = torch.tensor([known[n] for n in names], dtype=torch.float64)
            dist.all_reduce(values)
            known = dict(zip(names, (values / dist.get_world_size()).tolist(), strict=True))
        seen: set[int] = set()
        for controller in self.controllers.values():
            wanted = controller.signals
            if id(controller) in seen or not any(name in metrics for name in wanted):
                continue
            seen.add(id(controller))
            if all(name not in metrics or name in known for name in wanted):
                feed(controller, {name: known[name] for name in wanted if name in known})
        self._apply()

    def _apply(self) -> None:
        base: dict[str, float] = {}
        for (site, key), factor in zip(self._site_rules, self._factors, strict=True):
            if key is None:
                continue
            if key not in base:
                base[key] = self.rules[key](self.last_step, self.total_steps)
            rate = base[key] * factor
            if not (math.isfinite(rate) and 0.0 <= rate < 1.0):
                raise ValueError(
                    f"schedule {self.rules[key]} gives rate {rate!r} for site {site.name!r} at "
                    f"step {self.last_step} (depth factor {factor:g}); rates must lie in [0, 1)"
                )
            if site.rate != rate:
                site.set_rate(rate)

    def state_dict(self) -> dict[str, Any]:
        """Step, schedule specs and controller states (plain Python, safe for weights_only load)."""
        return {
            "last_step": self.last_step,
            "total_steps": self.total_steps,
            "schedules": {key: str(rule) for key, rule in self.rules.items()},
            "controllers": {key: c.state_dict() for key, c in self.controllers.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore step and controller states, then re-apply the rates to the model."""
        saved = dict(state["schedules"])
        current = {key: str(rule) for key, rule in self.rules.items()}
        if saved != current:
            warnings.warn(
                f"loading dropout scheduler state saved with schedules {saved} into one with "
                f"{current}",
                UserWarning,
                stacklevel=2,
            )
        self.total_steps = int(state["total_steps"])
        self.last_step = int(state["last_step"])
        for key, controller_state in state["controllers"].items():
            if key in self.controllers:
                self.controllers[key].load_state_dict(controller_state)
        self._apply()

    def __repr__(self) -> str:
        rules = ", ".join(f"{key}={rule}" for key, rule in self.rules.items())
        return (f"DropoutScheduler({len(self.sites)} sites, {rules}, step {self.last_step}/"
                f"{self.total_steps})")


def _resolve_rules(
    schedule: RateRule | str | float | Mapping[str, RateRule | str | float],
) -> dict[str, RateRule]:
    if isinstance(schedule, Mapping):
        if not schedule:
            raise ValueError("the schedule dict is empty: give at least one group -> schedule")
        allowed = (*GROUPS, DEFAULT_KEY)
        for key in schedule:
            if key not in allowed:
                raise ValueError(f"unknown dropout group {key!r}; allowed: {', '.join(allowed)}")
        return {key: _as_rule(rule) for key, rule in schedule.items()}
    return {DEFAULT_KEY: _as_rule(schedule)}


def _as_rule(rule: RateRule | str | float) -> RateRule:
    if isinstance(rule, str):
        return parse_schedule(rule)
    if isinstance(rule, int | float) and not isinstance(rule, bool):
        return Constant(rule)
    if not isinstance(rule, Schedule | Controller):
        raise TypeError(
            f"expected a Schedule, a Controller, a spec string or a rate, got {rule!r}"
        )
    return rule


def _depth_factors(sites: list[DropoutSite], profile: DepthProfile) -> list[float]:
    if profile is None:
        return [1.0] * len(sites)
    depths = [site.depth for site in sites if site.depth is not None]
    num_blocks = max(depths) + 1 if depths else 0
    if profile == "linear":
        def factor(depth: int, blocks: int) -> float:
            return depth / (blocks - 1) if blocks > 1 else 1.0
    elif isinstance(profile, str):
        raise ValueError(f"unknown depth profile {profile!r}; allowed: 'linear', a sequence, "
                         "or a callable (depth, num_blocks) -> factor")
    elif callable(profile):
        factor = profile
    else:
        table = [float(v) for v in profile]
        if len(table) < num_blocks:
            raise ValueError(f"depth profile has {len(table)} factors but the model has "
                             f"{num_blocks} blocks")

        def factor(depth: int, blocks: int) -> float:
            return table[depth]
    factors = []
    for site in sites:
        value = 1.0 if site.depth is None else float(factor(site.depth, num_blocks))
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"depth factor for {site.name} is {value!r}; must be finite, >= 0")
        factors.append(value)
    return factors
