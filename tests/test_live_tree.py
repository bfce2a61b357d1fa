"""LiveTree, the live view of a foreground run: a tree redrawn in place on a terminal, one line per ended node elsewhere.

The terminal is a real pseudo-terminal; the run is a real run against the scripted model.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import threading

import pytest

from lifecycle_support import ask_model, make_engine, scaled, script  # noqa: F401  (make_engine is a fixture)
from swarm.live import LiveTree, last_in_tree_order
from swarm.node import TaskNode
from swarm.render import _order
from swarm.store import open_store

USAGE = {"prompt_tokens": 10, "completion_tokens": 5}
MODEL = [
    {"match": "first", "reply": "one", "usage": USAGE},
    {"match": "second", "reply": "two", "usage": USAGE},
]
LEAVES = [{"reply": "leaf", "usage": USAGE, "repeat": True}]
CURSOR_UP_AND_CLEAR = re.compile(r"\x1b\[(\d+)F\x1b\[J")


def two_steps(ctx):
    """Two children one after another, so each ends in a turn of its own."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_model", question=q) for q in ("first part", "second part")], policy="sequence")
    return [r.output for r in ctx.reports]


def drive(engine, live: LiveTree) -> str:
    run_id = engine.create_run("answer in two steps", script="two_steps")
    status = asyncio.run(engine.drive(run_id, observers=[live]))
    assert status == "done"
    return run_id


class PseudoTerminal:
    """A pty: `stream` writes to its slave side as a program's stdout would; `text()` is what the terminal received."""

    def __init__(self):
        self.master, slave = os.openpty()
        self.stream = open(slave, "w", encoding="utf-8")
        self.received = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)  # keeps the pty buffer from filling up
        self.reader.start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the slave side was closed: EIO
                return
            if not chunk:
                return
            self.received += chunk

    def text(self) -> str:
        self.stream.close()
        self.reader.join(timeout=5)
        return self.received.decode("utf-8").replace("\r\n", "\n")

    def close(self):
        if not self.stream.closed:
            self.stream.close()
        self.reader.join(timeout=5)
        os.close(self.master)


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")  # a known size, whatever terminal pytest itself runs in
    monkeypatch.setenv("LINES", "40")
    pty = PseudoTerminal()
    yield pty
    pty.close()


def frames(text: str) -> list[str]:
    """The successive drawings: the output split at each cursor-up-and-clear."""
    return CURSOR_UP_AND_CLEAR.split(text)[::2]


def test_on_a_terminal_the_tree_is_drawn_with_each_node_status_and_the_token_counter(make_engine, terminal):
    engine = make_engine(script("two_steps", two_steps), script("ask_model", ask_model), model=MODEL)
    live = LiveTree(terminal.stream, interval_s=0)
    assert live.tty

    drive(engine, live)

    last = frames(terminal.text())[-1].splitlines()
    assert last == [
        "✓ 1 two_steps done  — answer in two steps",  # the root made no model call of its own
        "  ✓ 1.1 ask_model done  15 tok",
        "  ✓ 1.2 ask_model done  15 tok",
        "3 nodes (3 done) · 30 tokens · $0.0000",
    ]


def test_on_a_terminal_each_drawing_replaces_the_previous_one_in_place(make_engine, terminal):
    engine = make_engine(script("two_steps", two_steps), script("ask_model", ask_model), model=MODEL)
    live = LiveTree(terminal.stream, interval_s=0)

    drive(engine, live)

    text = terminal.text()
    drawings = frames(text)
    moves = [int(n) for n in CURSOR_UP_AND_CLEAR.findall(text)]
    assert len(drawings) >= 2
    assert not CURSOR_UP_AND_CLEAR.match(text)  # the first drawing does not move the cursor
    # each redraw goes up exactly as many lines as the drawing before it took
    assert moves == [len(d.splitlines()) for d in drawings[:-1]]
    # the tree grew while it was redrawn: unfinished first, all done at the end
    assert "3 nodes (3 done)" not in drawings[0]
    assert "3 nodes (3 done)" in drawings[-1]


def test_on_a_terminal_drawings_are_no_more_frequent_than_the_interval_but_the_last_turn_is_always_drawn(
        make_engine, terminal):
    engine = make_engine(script("two_steps", two_steps), script("ask_model", ask_model), model=MODEL)
    live = LiveTree(terminal.stream, interval_s=60, clock=lambda: 0.0)  # a clock that never reaches the interval

    drive(engine, live)

    drawings = frames(terminal.text())
    # the first turn, then the run's last one, though the interval has not passed (the first may have been
    # replaced before it was written, never anything in between)
    assert len(drawings) in (1, 2)
    assert drawings[-1].splitlines()[-1] == "3 nodes (3 done) · 30 tokens · $0.0000"


def fan(ctx):
    """`width` children under each node down to `levels`; each leaf asks the model."""
    if ctx.depth < ctx.data["levels"]:
        if ctx.reports is None:
            return ctx.spawn([ctx.child("fan", levels=ctx.data["levels"], width=ctx.data["width"])
                              for _ in range(ctx.data["width"])])
        return sum(r.output for r in ctx.reports)
    ctx.llm("a leaf")
    return 1


def drawn_statuses(drawing: str) -> dict[str, int]:
    """How many lines of a drawing show each status (the word after the node id and script)."""
    counts: dict[str, int] = {}
    for line in drawing.splitlines()[:-1]:
        status = line.split()[3]
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_on_a_terminal_every_drawing_counts_exactly_the_statuses_it_shows(make_engine, terminal):
    # The counter line is kept up to date from each turn's changes, not by reading every node:
    # each drawing (one per turn here) must still agree with the tree it shows.
    engine = make_engine(script("fan", fan), model=LEAVES, concurrency=3)
    live = LiveTree(terminal.stream, interval_s=0)
    run_id = engine.create_run("a small tree", script="fan", data={"levels": 2, "width": 3})

    assert asyncio.run(engine.drive(run_id, observers=[live])) == "done"

    drawings = frames(terminal.text())
    assert len(drawings) >= 2
    for drawing in drawings:
        counter = drawing.splitlines()[-1]
        shown = drawn_statuses(drawing)
        total = sum(shown.values())
        expected = ", ".join(f"{v} {k}" for k, v in sorted(shown.items()))
        assert counter.startswith(f"{total} node{'' if total == 1 else 's'} ({expected}) · "), (counter, drawing)
    assert drawings[-1].splitlines()[-1].startswith("13 nodes (13 done) · ")


def test_on_a_terminal_a_tree_taller_than_the_screen_shows_its_last_lines_in_tree_order(
        make_engine, terminal, monkeypatch):
    monkeypatch.setenv("LINES", "12")  # room for 9 lines: "… N more nodes above" and the last 8 nodes
    engine = make_engine(script("fan", fan), model=LEAVES, concurrency=4)
    live = LiveTree(terminal.stream, interval_s=60)
    run_id = engine.create_run("a tree of 40 nodes", script="fan", data={"levels": 3, "width": 3})

    assert asyncio.run(engine.drive(run_id, observers=[live])) == "done"

    last = frames(terminal.text())[-1].splitlines()
    assert last[0] == "… 32 more nodes above"
    assert last[1:3] == ["    ✓ 1.3.2 fan done", "      ✓ 1.3.2.1 fan done  15 tok"]
    assert [line.split()[1] for line in last[1:-1]] == [
        "1.3.2", "1.3.2.1", "1.3.2.2", "1.3.2.3", "1.3.3", "1.3.3.1", "1.3.3.2", "1.3.3.3"]
    assert last[-1].startswith("40 nodes (40 done) · ")


# The drawings come from the run's loop, not from its store: only the test that reads the store is run on both.
@pytest.mark.usefixtures("store_url")  # on SQLite and on PostgreSQL
def test_a_terminal_that_stops_reading_does_not_stop_the_run(make_engine, monkeypatch, tmp_path):
    # A pty nobody reads (a paused terminal, a stalled ssh): its buffer is full and writes block. The loop never
    # writes itself, so the run is carried out and recorded to its end; its last frame follows once the
    # terminal reads again.
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("LINES", "40")
    master, slave = os.openpty()
    filler = os.open(os.ttyname(slave), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        while True:
            os.write(filler, b"x" * 1024)
    except BlockingIOError:
        pass  # full
    os.close(filler)
    stream = open(slave, "w", encoding="utf-8")
    engine = make_engine(script("fan", fan), model=LEAVES, concurrency=3)
    live = LiveTree(stream, interval_s=0)
    run_id = engine.create_run("a small tree", script="fan", data={"levels": 2, "width": 3})
    done = []
    driving = threading.Thread(target=lambda: done.append(asyncio.run(engine.drive(run_id, observers=[live]))),
                               daemon=True)
    driving.start()
    store = open_store(engine.config)  # another connection to the store, as another process would read it
    recorded = None
    for _ in range(int(scaled(60) / 0.05)):  # nobody reads the terminal meanwhile
        recorded = store.run(run_id)["status"]
        if recorded == "done":
            break
        driving.join(0.05)
    store.close()
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(master, received), daemon=True)
    reader.start()
    driving.join(scaled(60))
    stream.close()
    reader.join(scaled(10))
    os.close(master)

    assert recorded == "done"
    assert done == ["done"]
    text = received.decode("utf-8", errors="replace").replace("\r\n", "\n").rstrip("\n")
    assert text.endswith("13 nodes (13 done) · 135 tokens · $0.0000")


def _drain(fd, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            return
        if not chunk:
            return
        into += chunk


def test_elsewhere_one_line_is_printed_per_ended_node(make_engine):
    engine = make_engine(script("two_steps", two_steps), script("ask_model", ask_model), model=MODEL)
    out = io.StringIO()
    live = LiveTree(out)
    assert not live.tty

    drive(engine, live)

    assert out.getvalue().splitlines() == [
        "[1/3] 1.1 ask_model done",
        "[2/3] 1.2 ask_model done",
        "[3/3] 1 two_steps done",
    ]
    assert "\x1b" not in out.getvalue()


def fan_out(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_model", question=q) for q in ("first part", "slow one", "slow two")])
    return [r.output for r in ctx.reports]


def test_elsewhere_the_count_goes_up_by_one_a_line_even_when_several_nodes_end_in_the_same_turn(make_engine):
    # The first answer spends past max_tokens: the run stops and every other node is cancelled in that same turn.
    model = [MODEL[0], {"match": "slow", "reply": "late", "delay_s": 3, "repeat": True}]
    engine = make_engine(script("fan_out", fan_out), script("ask_model", ask_model), model=model)
    out = io.StringIO()
    run_id = engine.create_run("stop early", script="fan_out", budgets={"max_tokens": 10})

    status = asyncio.run(engine.drive(run_id, observers=[LiveTree(out)]))

    assert status == "stopped"
    lines = out.getvalue().splitlines()
    assert sorted(line.split(" ", 1)[1] for line in lines) == [
        "1 fan_out cancelled", "1.1 ask_model done", "1.2 ask_model cancelled", "1.3 ask_model cancelled",
    ]
    assert [line.split(" ", 1)[0] for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]


def test_the_last_nodes_in_tree_order_are_found_without_sorting_the_tree():
    # A tree with more than nine children under a node (1.10 comes after 1.9), grown unevenly.
    nodes = {"1": TaskNode(id="1", run_id="r", parent=None, script="s", data={})}

    def grow(parent_id, width):
        parent = nodes[parent_id]
        for _ in range(width):
            child = TaskNode(id=parent.child_id(), run_id="r", parent=parent_id, script="s", data={},
                             depth=parent.depth + 1)
            parent.children.append(child.id)
            nodes[child.id] = child

    grow("1", 12)
    grow("1.2", 3)
    grow("1.10", 11)
    grow("1.10.11", 2)
    grow("1.12", 1)
    in_order = sorted(nodes, key=_order)

    for count in (0, 1, 2, 5, 17, len(nodes), len(nodes) + 5):
        assert list(last_in_tree_order(nodes, "1", count))[::-1] == in_order[max(len(in_order) - count, 0):]


def test_on_a_terminal_every_line_is_cut_to_the_screen_in_cells_so_none_wraps(make_engine, terminal, monkeypatch):
    # A CJK character takes two cells, and a narrow screen is narrower than the counter line: a line cut by
    # characters, or not at all, would wrap, and the next drawing would move up over one line too few.
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", "40")
    engine = make_engine(script("two_steps", two_steps), script("ask_model", ask_model), model=MODEL)
    live = LiveTree(terminal.stream, interval_s=0)
    run_id = engine.create_run("把这份报告翻译成英文并检查每一个数字" * 2, script="two_steps")

    assert asyncio.run(engine.drive(run_id, observers=[live])) == "done"

    drawings = frames(terminal.text())
    assert all(cell_len(line) <= 39 for drawing in drawings for line in drawing.splitlines()), drawings
    assert drawings[-1].splitlines()[0].startswith("✓ 1 two_steps done  — 把这份")
