"""How the trainer compiles the GPT: the whole model as one graph, or region by region.

``whole`` is ``torch.compile`` of the forward (the model, or its DDP wrapper): one graph, the
most fusion, and a cold compile that grows with depth. ``regional`` compiles the embedding, the
head and the transformer block in place (:meth:`GPT.compile_regions`): the identical blocks share
one graph, so the cold compile is about one block's, and a DDP wrapper keeps working because its
own forward stays eager. Both draw the same hashed masks in the same order.
"""

from __future__ import annotations

import torch
from torch import nn

from dynadrop.gpt.model import GPT

COMPILE_STRATEGIES = ("whole", "regional")


def compile_gpt(forward: nn.Module, model: GPT, strategy: str = "whole") -> nn.Module:
    """``forward`` (``model`` or a wrapper of it) compiled by ``strategy``, one of COMPILE_STRATEGIES."""
    if strategy == "whole":
        return torch.compile(forward)
    if strategy == "regional":
        model.compile_regions()
        return forward
    raise ValueError(f"unknown compile strategy {strategy!r}; allowed: {', '.join(COMPILE_STRATEGIES)}")
