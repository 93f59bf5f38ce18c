"""Plain-text tables the commands print: each column as wide as its widest cell, two spaces apart."""

from __future__ import annotations

from collections.abc import Container, Sequence


def render_table(rows: Sequence[Sequence[str]], right: Container[int] = ()) -> str:
    """``rows`` (the header first) as lines: the columns numbered in ``right`` right-aligned
    (counts), the others left-aligned (names); no trailing spaces."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )
