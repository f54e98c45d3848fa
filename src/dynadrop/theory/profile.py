"""Dropout penalty of a real model, measured by Monte Carlo through core's dropout sites.

penalty(p) = E_batch E_mask [loss with the chosen sites at rate p] - loss with dropout off, per
scope (all sites, each group, each block depth), with a standard error over the masks drawn.
Two sweeps redo the all-sites profile with the inputs rescaled and with label noise injected:
the theory predicts the penalty moves with both for ReLU networks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dynadrop.core.rates import check_rate
from dynadrop.core.sites import GROUPS, DropoutSite, find_dropout_sites
from dynadrop.theory.table import Table

Batch = tuple[torch.Tensor, torch.Tensor]
LossFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ProfileRow:
    """One measured penalty: which sites (``scope``) at which ``rate``, under which sweep."""

    sweep: str
    """'sites' (the base profile), 'input scale' or 'label noise'."""
    setting: float
    """The sweep's input scale or label-noise level (1.0 / 0.0 for the base profile)."""
    scope: str
    """'all', 'group <name>' or 'depth <k>'."""
    rate: float
    penalty: float
    stderr: float
    plain_loss: float


@dataclass(frozen=True)
class PenaltyProfile:
    """All measured rows; print it for a table."""

    rows: list[ProfileRow]

    def select(self, sweep: str = "sites", scope: str = "all") -> list[ProfileRow]:
        return [row for row in self.rows if row.sweep == sweep and row.scope == scope]

    def table(self) -> Table:
        table = Table(
            "Monte Carlo dropout penalty (loss with dropout - loss without)",
            ["sweep", "setting", "scope", "rate", "penalty", "stderr", "plain loss"],
            ["s", ".3g", "s", ".3g", ".6g", ".2g", ".6g"],
        )
        for row in self.rows:
            table.add(row.sweep, row.setting, row.scope, row.rate, row.penalty, row.stderr, row.plain_loss)
        return table

    def __str__(self) -> str:
        return self.table().to_text()


def default_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for integer targets (logits in the last dimension), else mean squared error.

    A model returning a tuple (like nanoGPT's ``(logits, loss)``) contributes its first element.
    """
    output = model(inputs)
    if isinstance(output, tuple):
        output = output[0]
    if targets.is_floating_point():
        return F.mse_loss(output.reshape(targets.shape), targets)
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), targets.reshape(-1))


def penalty_profile(
    model: nn.Module,
    batches: Iterable[Batch],
    rates: Sequence[float],
    groups: Sequence[str] | None = None,
    by_depth: bool = True,
    input_scales: Sequence[float] = (),
    label_noise: Sequence[float] = (),
    samples: int = 8,
    loss_fn: LossFunction = default_loss,
    seed: int = 0,
) -> PenaltyProfile:
    """Monte Carlo dropout penalty of ``model`` on ``batches`` ((inputs, targets) pairs).

    For each rate: all sites at that rate (others at 0), then each group in ``groups`` (default:
    every group present), then each block depth. ``samples`` dropout passes per batch give the
    standard error. ``input_scales`` multiplies real-valued inputs; ``label_noise`` replaces that
    fraction of integer labels by uniform random classes, or adds Gaussian noise of that many
    standard deviations to real labels. Batch norm stays in eval mode; the model's rates and
    train/eval flags are restored afterwards, and the global RNG is left untouched.
    """
    sites = find_dropout_sites(model)
    if not sites:
        raise ValueError("the model has no dropout sites (core.find_dropout_sites found none)")
    data = [(inputs, targets) for inputs, targets in batches]
    if not data:
        raise ValueError("batches is empty; give at least one (inputs, targets) pair")
    checked_rates = [check_rate(rate, "rate in rates") for rate in rates]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2 (for a standard error); got {samples!r}")
    scopes = _scopes(sites, groups, by_depth)
    if input_scales and not all(inputs.is_floating_point() for inputs, _ in data):
        raise ValueError(
            "input_scales needs real-valued inputs; this model's inputs are "
            f"{data[0][0].dtype} (token ids cannot be rescaled)"
        )
    for level in label_noise:
        if not (math.isfinite(level) and level >= 0):
            raise ValueError(f"label_noise levels must be finite and >= 0; got {level!r}")

    settings = [("sites", 1.0, scopes)]
    settings += [("input scale", float(scale), {"all": sites}) for scale in input_scales]
    settings += [("label noise", float(level), {"all": sites}) for level in label_noise]
    generator = torch.Generator().manual_seed(seed)
    rows = []
    with _dropout_mode(model, sites), torch.no_grad():
        torch.manual_seed(seed)
        for sweep, setting, sweep_scopes in settings:
            swept = _apply_sweep(model, data, sweep, setting, loss_fn, generator)
            for site in sites:
                site.set_rate(0.0)
            plain = [float(loss_fn(model, inputs, targets)) for inputs, targets in swept]
            plain_mean = _weighted_mean(plain, swept)
            for scope, members in sweep_scopes.items():
                for rate in checked_rates:
                    penalty, stderr = _penalty(model, swept, members, rate, plain, samples, loss_fn)
                    rows.append(ProfileRow(sweep, setting, scope, rate, penalty, stderr, plain_mean))
    return PenaltyProfile(rows)


def _scopes(
    sites: list[DropoutSite], groups: Sequence[str] | None, by_depth: bool
) -> dict[str, list[DropoutSite]]:
    present = sorted({site.group for site in sites}, key=GROUPS.index)
    chosen = present if groups is None else list(groups)
    scopes = {"all": sites}
    for group in chosen:
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; groups are {', '.join(GROUPS)}")
        members = [site for site in sites if site.group == group]
        if not members:
            raise ValueError(
                f"group {group!r} has no dropout sites in this model; present: {', '.join(present)}"
            )
        scopes[f"group {group}"] = members
    if by_depth:
        for depth in sorted({site.depth for site in sites if site.depth is not None}):
            scopes[f"depth {depth}"] = [site for site in sites if site.depth == depth]
    return scopes


def _penalty(model, data, members, rate, plain, samples, loss_fn) -> tuple[float, float]:
    """Weighted mean over batches of (dropout loss - plain loss) and its Monte Carlo stderr."""
    for site in members:
        site.set_rate(rate)
    means, variances = [], []
    for (inputs, targets), plain_loss in zip(data, plain, strict=True):
        losses = torch.tensor(
            [float(loss_fn(model, inputs, targets)) for _ in range(samples)], dtype=torch.float64
        )
        means.append(float(losses.mean()) - plain_loss)
        variances.append(float(losses.var(unbiased=True)) / samples)
    for site in members:
        site.set_rate(0.0)
    sizes = torch.tensor([len(targets) for _, targets in data], dtype=torch.float64)
    weights = sizes / sizes.sum()
    penalty = float((weights * torch.tensor(means, dtype=torch.float64)).sum())
    stderr = float((weights**2 * torch.tensor(variances, dtype=torch.float64)).sum().sqrt())
    return penalty, stderr


def _weighted_mean(values: list[float], data: list[Batch]) -> float:
    sizes = [len(targets) for _, targets in data]
    return sum(value * size for value, size in zip(values, sizes, strict=True)) / sum(sizes)


def _apply_sweep(model, data, sweep, setting, loss_fn, generator) -> list[Batch]:
    if sweep == "input scale":
        return [(inputs * setting, targets) for inputs, targets in data]
    if sweep != "label noise" or setting == 0.0:
        return data
    noisy = []
    for inputs, targets in data:
        if targets.is_floating_point():
            noise = torch.randn(targets.shape, generator=generator, dtype=targets.dtype)
            noisy.append((inputs, targets + setting * targets.std() * noise.to(targets.device)))
            continue
        output = model(inputs)
        classes = (output[0] if isinstance(output, tuple) else output).shape[-1]
        replace = torch.rand(targets.shape, generator=generator) < setting
        random_labels = torch.randint(classes, targets.shape, generator=generator)
        noisy.append((inputs, torch.where(replace.to(targets.device), random_labels.to(targets), targets)))
    return noisy


@contextmanager
def _dropout_mode(model: nn.Module, sites: list[DropoutSite]) -> Iterator[None]:
    """Train mode for dropout (batch norm kept in eval); restores rates and train/eval flags,
    and forks the RNG of the model's device so the caller's random stream is untouched."""
    flags = [(module, module.training) for module in model.modules()]
    rates = [(site, site.rate) for site in sites]
    devices = {tensor.device for tensor in model.parameters() if tensor.device.type == "cuda"}
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    try:
        with torch.random.fork_rng(devices=[device.index or 0 for device in devices]):
            yield
    finally:
        for module, training in flags:
            module.training = training
        for site, rate in rates:
            site.set_rate(rate)
