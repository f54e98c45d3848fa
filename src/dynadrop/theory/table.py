"""Small result tables that print as aligned text and as markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Cell = float | int | str


@dataclass
class Table:
    """Rows of numbers with a header; ``formats`` gives each column's format spec."""

    title: str
    header: Sequence[str]
    formats: Sequence[str]
    rows: list[Sequence[Cell]] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        if len(cells) != len(self.header):
            raise ValueError(f"row has {len(cells)} cells; the table has {len(self.header)}")
        self.rows.append(cells)

    def column(self, name: str) -> list[Cell]:
        """The values of one column, by header name."""
        index = list(self.header).index(name)
        return [row[index] for row in self.rows]

    def _cells(self) -> list[list[str]]:
        return [
            [
                cell if isinstance(cell, str) else format(cell, spec)
                for cell, spec in zip(row, self.formats, strict=True)
            ]
            for row in self.rows
        ]

    def to_text(self) -> str:
        body = [list(self.header), *self._cells()]
        widths = [max(len(row[i]) for row in body) for i in range(len(self.header))]
        lines = [self.title]
        for position, row in enumerate(body):
            lines.append("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
            if position == 0:
                lines.append("  ".join("-" * width for width in widths))
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [
            f"**{self.title}**",
            "",
            "| " + " | ".join(self.header) + " |",
            "|" + "---:|" * len(self.header),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self._cells()]
        return "\n".join(lines)
