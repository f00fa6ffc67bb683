"""Markdown tables: the one helper every report, script and command that prints a table goes through."""

from __future__ import annotations

from typing import Sequence


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], align: str = "") -> str:
    """A Markdown table with padded columns, so it also reads well in a terminal.

    Args:
        header: the column titles.
        rows: the cells, converted with `str`; a `|` inside a cell is escaped.
        align: one letter per column, `l` or `r` (numbers read best right-aligned); default all `l`.

    Returns:
        The table's lines joined by newlines, without a trailing newline.
    """
    cells = [[_cell(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(3, *(len(row[i]) for row in cells)) for i in range(len(header))]
    align = align.ljust(len(header), "l")
    lines = ["| " + " | ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)) + " |"
             for row in cells]
    lines.insert(1, "|" + "|".join(" " + "-" * (w - 1) + ": " if a == "r" else " " + "-" * w + " "
                                   for w, a in zip(widths, align)) + "|")
    return "\n".join(lines)
