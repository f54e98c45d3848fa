"""Dropout sites: every place in a model where a dropout rate lives, found by walking modules.

Most dropout in real models is not an ``nn.Dropout`` module: ``nn.MultiheadAttention`` and the
RNNs keep a float ``dropout``, many attention layers keep a float that feeds ``F.dropout`` or
SDPA, and DropPath layers keep ``drop_prob``. A site knows where its rate lives and reads and
writes it; a Module is never overwritten with a float.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from dynadrop.core.layers import ScheduledDropout
from dynadrop.core.rates import check_rate

GROUPS = ("attention", "residual", "embedding", "mlp", "path", "other")

# Names of float attributes that hold a dropout rate (searched as a suffix of the attribute name).
_RATE_ATTRIBUTE = re.compile(
    r"^(?:\w*_)?(?:dropout|pdrop|drop_prob|drop_rate|dropout_p|dropout_rate|dropout_prob)$"
)
_DROP_PATH_ATTRIBUTE = re.compile(r"^drop_prob$")

# (pattern searched in the lower-cased qualified name, group); the first match wins.
DEFAULT_GROUP_RULES: tuple[tuple[str, str], ...] = (
    (r"drop_?path|stochastic_depth", "path"),
    (r"resid|hidden_dropout|proj_drop|(^|\.)output\.dropout$", "residual"),
    (r"act(ivation)?_dropout|mlp|ffn|feed_?forward|intermediate", "mlp"),
    (r"attn|attention", "attention"),
    (r"emb|(^|\.)pos_drop$", "embedding"),
)

_ATTENTION_CHILD = re.compile(r"attn|attention", re.IGNORECASE)

_DROPOUT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                    nn.FeatureAlphaDropout)
_TORCH_TRANSFORMER_LAYERS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


@dataclass
class DropoutSite:
    """One place where a dropout rate lives.

    ``kind`` is one of ``module`` (an ``nn.Dropout``-family module's ``p``), ``compile_safe``
    (a :class:`ScheduledDropout`), ``mha`` (``nn.MultiheadAttention.dropout``), ``rnn``
    (``nn.RNN/LSTM/GRU.dropout``), ``attribute`` (a float that feeds ``F.dropout`` or SDPA) or
    ``drop_path`` (a DropPath-style ``drop_prob``).
    """

    name: str
    kind: str
    group: str
    depth: int | None
    module: nn.Module = field(repr=False)
    attribute: str

    @property
    def rate(self) -> float:
        return float(getattr(self.module, self.attribute))

    def set_rate(self, value: float) -> None:
        setattr(self.module, self.attribute, check_rate(value, f"rate for site {self.name!r}"))

    @property
    def module_device(self) -> torch.device:
        """Where the site's module lives (its first parameter or buffer; CPU if it has none)."""
        tensors = [*self.module.parameters(recurse=False), *self.module.buffers(recurse=False)]
        return tensors[0].device if tensors else torch.device("cpu")

    @property
    def compile_safe(self) -> bool:
        """Whether changing this rate leaves a compiled graph valid (no recompile)."""
        return self.kind == "compile_safe"


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside ``DistributedDataParallel``/``DataParallel`` and ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def find_dropout_sites(
    model: nn.Module, group_rules: Mapping[str, str] | Sequence[tuple[str, str]] | None = None
) -> list[DropoutSite]:
    """Every dropout site of ``model``, in module order.

    ``group_rules`` maps regular expressions (searched in the lower-cased qualified name) to a
    group; they are tried before the built-in rules. Wrappers (DDP, ``torch.compile``) are seen
    through, and names are those of the unwrapped model.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    rules = _compile_rules(group_rules)
    root = unwrap_model(model)
    parents = {id(child): parent for parent in root.modules() for child in parent.children()}
    sites = []
    for qualified, module in root.named_modules():
        for kind, attribute, name in _rate_locations(qualified, module):
            group = _group_for(name, kind, module, parents.get(id(module)), rules)
            sites.append(DropoutSite(name, kind, group, _depth_of(name), module, attribute))
    return sites


def _rate_locations(qualified: str, module: nn.Module) -> Iterable[tuple[str, str, str]]:
    """(kind, attribute, site name) for each rate held directly by ``module``."""
    if isinstance(module, ScheduledDropout):
        yield "compile_safe", "p", qualified
        return
    if isinstance(module, _DROPOUT_MODULES):
        yield "module", "p", qualified
        return
    prefix = f"{qualified}." if qualified else ""
    for attribute, value in vars(module).items():
        if not _RATE_ATTRIBUTE.match(attribute) or not _is_rate_value(value):
            continue
        if isinstance(module, nn.MultiheadAttention):
            kind = "mha"
        elif isinstance(module, nn.RNNBase):
            kind = "rnn"
        elif _DROP_PATH_ATTRIBUTE.match(attribute):
            kind = "drop_path"
        else:
            kind = "attribute"
        yield kind, attribute, prefix + attribute


def _is_rate_value(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _compile_rules(
    group_rules: Mapping[str, str] | Sequence[tuple[str, str]] | None,
) -> list[tuple[re.Pattern[str], str]]:
    user = list(group_rules.items()) if isinstance(group_rules, Mapping) else list(group_rules or [])
    for pattern, group in user:
        if group not in GROUPS:
            raise ValueError(f"group rule {pattern!r} -> {group!r}: group must be one of {GROUPS}")
    return [(re.compile(pattern), group) for pattern, group in [*user, *DEFAULT_GROUP_RULES]]


def _group_for(
    name: str,
    kind: str,
    module: nn.Module,
    parent: nn.Module | None,
    rules: list[tuple[re.Pattern[str], str]],
) -> str:
    lowered = name.lower()
    user_rule_count = len(rules) - len(DEFAULT_GROUP_RULES)
    for pattern, group in rules[:user_rule_count]:
        if pattern.search(lowered):
            return group
    if kind == "drop_path":
        return "path"
    if kind == "mha":
        return "attention"
    if isinstance(parent, _TORCH_TRANSFORMER_LAYERS):
        # torch's layers: `dropout` sits inside the feed-forward, dropout1/2/3 on residual branches.
        return "mlp" if name.rsplit(".", 1)[-1] == "dropout" else "residual"
    for pattern, group in rules[user_rule_count:]:
        if pattern.search(lowered):
            return group
    holder = module if kind in ("attribute", "rnn") else parent
    if holder is None:
        return "other"
    if any(isinstance(child, nn.Embedding) for child in holder.children()):
        return "embedding"  # a dropout beside an embedding table acts on the embedding output
    if kind == "attribute" and any(_ATTENTION_CHILD.search(n) for n, _ in holder.named_children()):
        return "residual"  # a plain float in a block that holds attention (e.g. BART's layers)
    return "other"


def _depth_of(name: str) -> int | None:
    """The first list index in a qualified name (``transformer.h.3.attn`` -> 3)."""
    match = re.search(r"(?:^|\.)(\d+)(?:\.|$)", name)
    return int(match.group(1)) if match else None


def sites_table(sites: Sequence[DropoutSite]) -> str:
    """A plain-text table of sites: name, kind, group, depth, rate, compile-safe."""
    header = ("site", "kind", "group", "depth", "rate", "compile-safe")
    rows = [
        (s.name, s.kind, s.group, "-" if s.depth is None else str(s.depth), f"{s.rate:.4g}",
         "yes" if s.compile_safe else "no")
        for s in sites
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{len(sites)} site(s)")
    return "\n".join(lines)
