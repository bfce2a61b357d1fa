"""Tables and lines on a terminal, drawn by rich; the plain text everywhere else.

Pipes, scripts and tests read the plain text (render.py's lines, `--json`), which stays exactly as it is.
A person at a terminal gets rich's tables instead: headers set off, columns measured in display cells (a
CJK character or an emoji takes two, which padding by characters gets wrong), and the one long text column
cut with '…' to fit the screen instead of wrapping into the next row. Lines of the live tree are cut the same
way, so a wide character never wraps a line and throws off the redraw's count of lines to move up over.

rich is imported here only when the output is a terminal: `swarm --help`, a pipe, a node script never load it.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Sequence, TextIO


# Terminal control sequences, and every other control character but newline and tab:
# CSI (ESC [ or 8-bit 0x9b ... final byte); OSC, DCS, SOS, PM, APC strings up to their terminator
# (BEL or ST); other ESC sequences (ESC c, ESC ( B ...); lone C0 and C1 controls, DEL.
_CONTROL = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: Any) -> str:
    """`text` without terminal control sequences or control characters (newline and tab stay)."""
    text = text if isinstance(text, str) else str(text)
    # Every control sequence begins with a control character, which isprintable() refuses (quick, in C).
    return text if text.isprintable() else _CONTROL.sub("", text)


GAP = 2  # cells between two columns, as in the plain tables


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def print_table(head: Sequence[str], rows: Sequence[Sequence[Any]], plain: Sequence[str], *,
                right: Sequence[int] = (), fit: int | None = None, stream: TextIO | None = None) -> None:
    """`rows` under `head` on a terminal (columns in `right` right-aligned, column `fit` cut to the screen's
    width); anywhere else the `plain` lines, unchanged."""
    stream = sys.stdout if stream is None else stream
    if not is_terminal(stream):
        print("\n".join(plain), file=stream)
        return
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    cells = [[printable(c) for c in row] for row in rows]  # names and goals come from models and scripts
    widths = [max(cell_len(str(row[i])) for row in [head, *cells]) for i in range(len(head))]
    table = Table(box=None, pad_edge=False, padding=(0, GAP // 2), header_style="bold")
    for i, name in enumerate(head):
        room = None
        if i == fit:
            room = max(console.width - sum(w for j, w in enumerate(widths) if j != i) - GAP * (len(head) - 1), 8)
        table.add_column(name, justify="right" if i in right else "left", no_wrap=True, overflow="ellipsis",
                         max_width=room)
    for row in cells:
        table.add_row(*(Text(c) for c in row))  # Text, not markup: a '[' in a goal is a '['
    console.print(table)


def crop(text: str, width: int) -> str:
    """`text` cut to at most `width` display cells (a wide character takes two)."""
    from rich.cells import cell_len, set_cell_size

    return text if cell_len(text) <= width else set_cell_size(text, width)
