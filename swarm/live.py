"""The live view of a foreground run: a redrawn tree on a terminal, one line per ended node elsewhere.

Its cost follows what changed, not how big the run is: after each turn it reads only the nodes whose
state that turn recorded (`loop.turn_nodes`), keeps the counts by status up to date from them, and
on a terminal redraws at most once per `interval_s` only the lines that fit the screen (the last ones
in tree order, found by walking the tree backwards from its end). The run's last turn is always drawn,
and that final frame is counted over every node, so it is exact whatever the view missed.

The loop never writes to the terminal itself: a write is a system call that hands the interpreter to
the worker threads and waits to get it back, and a terminal that is slow or paused (Ctrl-S, a lagging
ssh) would stop the run. A painter thread writes instead; on a terminal a frame it has not written yet
is replaced by the newer one, elsewhere every line is written, in order. The last turn waits until all
is written, so nothing comes after the run's summary. (rich's Live is not used for this: its refresh
thread writes holding the lock that `update` takes, so a terminal that stops reading would stop the loop.)
Lines are cut to the screen in display cells (swarm.terminal.crop): a wide character would otherwise wrap
a line, and the next frame would move up over one line too few.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import Iterator

from swarm.render import counters_line, tree_lines


class LiveTree:
    """An observer of a RunLoop: called after every commit of the loop."""

    def __init__(self, stream=None, interval_s: float = 0.1, clock=time.monotonic):
        self.stream = stream or sys.stdout
        self.clock = clock  # when to redraw: a test gives a clock of its own, never the wall's
        self.tty = self.stream.isatty()
        self.interval_s = interval_s
        self.last = float("-inf")
        self.painter = Painter(self.stream)
        self.reported: set[str] = set()
        self.status: dict[str, str] = {}  # node id -> its status as this view last counted it
        self.by_status: dict[str, int] = {}
        self.started = False
        self.complete = False  # the run's last turn was seen: `status` holds every node exactly

    def __call__(self, loop) -> None:
        if not self.started:
            self.started = True
            self._count(loop, loop.nodes)  # the run as it stands (a resumed run has history): read once
        else:
            changed = getattr(loop, "turn_nodes", None)
            self._count(loop, loop.nodes if changed is None else changed)
        final = getattr(loop, "closed", False)  # the run's last turn: counted over every node, always drawn
        if final:
            self._recount(loop)
            self.complete = True
        if self.tty:
            now = self.clock()
            if final or now - self.last >= self.interval_s:
                self.last = now
                self.draw(loop)
        if final:
            self.painter.wait()

    def _count(self, loop, node_ids) -> None:
        nodes = loop.nodes
        for node_id in node_ids:
            node = nodes.get(node_id)
            if node is None:
                continue
            status = str(node.status)
            before = self.status.get(node_id)
            if before != status:
                if before is not None:
                    self.by_status[before] -= 1
                self.by_status[status] = self.by_status.get(status, 0) + 1
                self.status[node_id] = status
            if not self.tty and node.status.final and node_id not in self.reported:
                self.reported.add(node_id)
                self.painter.line(f"[{len(self.reported)}/{len(nodes)}] {node.id} {node.script} {node.status}\n")

    def _recount(self, loop) -> None:
        """Counts over every node (the final frame): exact even if a change reached no turn's list."""
        self.status = {i: str(n.status) for i, n in loop.nodes.items()}
        self.by_status = {}
        for status in self.status.values():
            self.by_status[status] = self.by_status.get(status, 0) + 1

    def draw(self, loop) -> None:
        size = shutil.get_terminal_size((100, 30))
        room = max(size.lines - 3, 5)
        total = len(loop.nodes)
        shown = room if total <= room else room - 1  # one line says how many are above
        last = list(last_in_tree_order(loop.nodes, loop.root_id, shown))
        last.reverse()
        from swarm.terminal import crop  # rich's measure of display cells: drawn only on a terminal

        lines = tree_lines([loop.nodes[i].state() for i in last], width=size.columns - 1, ordered=True, crop=crop)
        if total > room:
            lines = [crop(f"… {total - shown} more nodes above", size.columns - 1)] + lines
        run = loop.usage.totals()  # tokens and cost so far
        lines.append(crop(counters_line(self.by_status, run), size.columns - 1))  # a narrow screen wraps none
        self.painter.frame(lines)

    @property
    def drawn(self) -> int:
        """How many lines the frame on the screen takes (0: the next frame does not replace it)."""
        return self.painter.drawn

    @drawn.setter
    def drawn(self, value: int) -> None:
        self.painter.wait()
        self.painter.drawn = value

    def statuses(self) -> list[dict[str, str]]:
        """Every node as {"id", "status"} as this view last counted it (exact once `complete`)."""
        return [{"id": node_id, "status": status} for node_id, status in self.status.items()]

    def report_ended(self, loop) -> None:
        """One line for each node that ended since the last report (every node on the first)."""
        self._count(loop, loop.nodes)

    def finish(self, loop) -> None:
        if self.tty:
            self._recount(loop)
            self.draw(loop)
        self.painter.wait()


class Painter:
    """Writes a live view's output on a thread of its own: `frame(lines)` replaces the frame on the screen
    (one not yet written is dropped for the newer), `line(text)` is written as it is, in order; `wait()`
    returns once everything given is written."""

    def __init__(self, stream):
        self.stream = stream
        self.drawn = 0  # lines of the frame on the screen, which the next one moves up over
        self.lines: list[str] = []
        self.pending_frame: list[str] | None = None
        self.busy = False
        self.changed = threading.Condition()
        self.thread: threading.Thread | None = None

    def frame(self, lines: list[str]) -> None:
        with self.changed:
            self.pending_frame = lines
            self._wake()

    def line(self, text: str) -> None:
        with self.changed:
            self.lines.append(text)
            self._wake()

    def wait(self) -> None:
        with self.changed:
            while self.busy or self.lines or self.pending_frame is not None:
                self.changed.wait()

    def _wake(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._paint, name="swarm-live-view", daemon=True)
            self.thread.start()
        self.changed.notify_all()

    def _paint(self) -> None:
        while True:
            with self.changed:
                while not (self.lines or self.pending_frame is not None):
                    self.changed.wait()
                lines, self.lines = self.lines, []
                frame, self.pending_frame = self.pending_frame, None
                self.busy = True
            try:
                out = "".join(lines)
                if frame is not None:
                    if self.drawn:
                        out += f"\x1b[{self.drawn}F\x1b[J"
                    out += "\n".join(frame) + "\n"
                    self.drawn = len(frame)
                self.stream.write(out)
                self.stream.flush()
            except (OSError, ValueError):  # the terminal went away: the run goes on without its view
                pass
            finally:
                with self.changed:
                    self.busy = False
                    self.changed.notify_all()


def last_in_tree_order(nodes: dict, root_id: str, count: int) -> Iterator[str]:
    """The ids of the last `count` nodes in tree order (a parent before its children, children in order),
    last first: the tree walked backwards from its end, touching only those nodes and their ancestors."""
    if count <= 0 or root_id not in nodes:
        return
    stack = [(root_id, None)]  # (node id, iterator over its children, last first; None until opened)
    given = 0
    while stack:
        node_id, children = stack[-1]
        if children is None:
            children = reversed(nodes[node_id].children)
            stack[-1] = (node_id, children)
        child = next(children, None)
        if child is not None:
            if child in nodes:
                stack.append((child, None))
            continue
        stack.pop()
        yield node_id
        given += 1
        if given >= count:
            return
