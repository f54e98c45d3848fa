"""Swap compile-safe dropout into a model in place of ``nn.Dropout`` modules."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from torch import nn

from dynadrop.core.layers import ScheduledDropout
from dynadrop.core.sites import DropoutSite, find_dropout_sites, unwrap_model


@dataclass
class CompileSafeReport:
    """What :func:`make_compile_safe` changed, and the sites it could not make safe."""

    replaced: list[str]
    unsafe: list[DropoutSite]

    def __str__(self) -> str:
        lines = [f"replaced {len(self.replaced)} nn.Dropout module(s) with ScheduledDropout"]
        if self.unsafe:
            lines.append(
                f"{len(self.unsafe)} site(s) keep a Python float; changing them under torch.compile "
                "recompiles:"
            )
            lines += [f"  {site.name} ({site.kind}, rate {site.rate:g})" for site in self.unsafe]
        return "\n".join(lines)


def make_compile_safe(model: nn.Module) -> CompileSafeReport:
    """Replace every ``nn.Dropout`` in ``model`` with :class:`ScheduledDropout`, in place.

    The model's ``state_dict`` keys do not change. Sites that are not modules (floats feeding
    ``F.dropout``/SDPA, ``nn.MultiheadAttention``, RNNs) and channel-wise dropout modules stay as
    they are and are listed in the report; if ``model`` is already compiled, a warning names them.
    """
    root = unwrap_model(model)
    replaced = []
    for parent_name, parent in list(root.named_modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                safe = ScheduledDropout(child.p)
                safe.train(child.training)
                setattr(parent, child_name, safe)
                replaced.append(f"{parent_name}.{child_name}" if parent_name else child_name)
    device = next((t.device for t in root.parameters()), None)
    if device is not None:
        for module in root.modules():
            if isinstance(module, ScheduledDropout):
                module.to(device)
    unsafe = [site for site in find_dropout_sites(root) if not site.compile_safe]
    report = CompileSafeReport(replaced, unsafe)
    if unsafe and model is not root and hasattr(model, "_orig_mod"):
        warnings.warn(
            "model is compiled and has dropout sites that will recompile when their rate "
            "changes:\n" + str(report),
            RuntimeWarning,
            stacklevel=2,
        )
    return report
