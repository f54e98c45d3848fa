"""What every claim check returns, and the networks several of them share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from dynadrop.theory.table import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class ClaimResult:
    """One reproduced claim: a one-paragraph finding, its tables and its figure."""

    name: str
    title: str
    finding: str
    tables: list[Table]
    figure: Figure

    def to_text(self) -> str:
        parts = [f"== {self.title} ==", *(table.to_text() for table in self.tables), self.finding]
        return "\n\n".join(parts)


def new_figure(columns: int) -> tuple[Figure, list]:
    """A non-interactive (Agg) figure with ``columns`` side-by-side axes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2 * columns, 4.0), layout="constrained")
    return figure, list(figure.subplots(1, columns, squeeze=False)[0])


def uniform_network(depth: int, width: int, scale: float, n_inputs: int = 1) -> list[torch.Tensor]:
    """Helmbold & Long's uniform net: first layer 1/n_inputs, hidden 1/width, output scale/width.

    On inputs that are all 1 every unit equals 1 and the output is ``scale``.
    """
    widths = [n_inputs] + [width] * depth
    weights = [torch.full((width, n_in), 1.0 / n_in, dtype=torch.float64) for n_in in widths[:-1]]
    weights.append(torch.full((1, widths[-1]), scale / widths[-1], dtype=torch.float64))
    return weights


def chain_network(layers: int, slope: float) -> list[torch.Tensor]:
    """Width-1 ReLU chain with equal weights slope^(1/layers): computes slope * relu(x) with the
    least squared weight norm, layers * slope^(2/layers) (AM-GM)."""
    weight = slope ** (1.0 / layers)
    return [torch.full((1, 1), weight, dtype=torch.float64) for _ in range(layers)]
