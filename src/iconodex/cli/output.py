"""How the command line prints: rich on a terminal; plain, whole lines into a pipe or a file.

Piped output is read by scripts and by people through ``less``: it gets no colours, no bars and
no wrapping, and a table never cuts a name or a path to fit 80 columns.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def is_terminal(stderr: bool = False) -> bool:
    """Whether stdout (or stderr) is a terminal a person watches."""
    return Console(stderr=stderr).is_terminal


def console(stderr: bool = False) -> Console:
    """A console for messages: rich on a terminal; in a pipe, no markup colours and no line breaks added."""
    if is_terminal(stderr):
        return Console(stderr=stderr)
    return Console(stderr=stderr, file=sys.stderr if stderr else sys.stdout, soft_wrap=True, no_color=True,
                   highlight=False, emoji=False)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, stderr: bool = False,
                title: str | None = None) -> None:
    """A table: rich's on a terminal (long cells fold onto more lines, never cut), else aligned plain text
    with columns two spaces apart and each row on one line."""
    if is_terminal(stderr):
        table = Table(*headers, title=title, title_justify="left", box=None)
        for column in table.columns:
            column.overflow = "fold"
        for row in rows:
            table.add_row(*row)
        Console(stderr=stderr).print(table)
        return
    stream = sys.stderr if stderr else sys.stdout
    if title:
        print(title, file=stream)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=stream)


def tsv_line(cells: Sequence[str]) -> str:
    """One tab-separated line; a tab or line break inside a cell becomes a space."""
    return "\t".join(str(cell).translate(_BREAKS) for cell in cells)


_BREAKS = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
