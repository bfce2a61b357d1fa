"""The live view of a foreground run: a redrawn tree on a terminal, one line per ended node elsewhere."""

from __future__ import annotations

import shutil
import sys
import time

from swarm.render import counters, tree_lines


class LiveTree:
    """An observer of a RunLoop: called after every commit of the loop."""

    def __init__(self, stream=None, interval_s: float = 0.1):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.interval_s = interval_s
        self.last = 0.0
        self.drawn = 0
        self.reported: set[str] = set()

    def __call__(self, loop) -> None:
        if self.tty:
            now = time.monotonic()
            if now - self.last >= self.interval_s:
                self.last = now
                self.draw(loop)
        else:
            self.report_ended(loop)

    def draw(self, loop) -> None:
        states = [n.state() for n in loop.nodes.values()]
        size = shutil.get_terminal_size((100, 30))
        run = {"prompt_tokens": loop.prompt_tokens, "completion_tokens": loop.completion_tokens, "cost_usd": loop.cost}
        lines = tree_lines(states, width=size.columns - 1)
        room = max(size.lines - 3, 5)
        if len(lines) > room:
            lines = [f"… {len(lines) - room + 1} more nodes above"] + lines[-room + 1:]
        lines.append(counters(states, run))
        out = ""
        if self.drawn:
            out += f"\x1b[{self.drawn}F\x1b[J"
        out += "\n".join(lines) + "\n"
        self.stream.write(out)
        self.stream.flush()
        self.drawn = len(lines)

    def report_ended(self, loop) -> None:
        for node in loop.nodes.values():
            if node.status.final and node.id not in self.reported:
                self.reported.add(node.id)
                self.stream.write(f"[{len(self.reported)}/{len(loop.nodes)}] {node.id} {node.script} {node.status}\n")
        self.stream.flush()

    def finish(self, loop) -> None:
        if self.tty:
            self.draw(loop)
