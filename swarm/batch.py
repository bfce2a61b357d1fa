"""What every store backend writes and reads the same way, with no SQL: the lifecycle's `Batch` of one turn's
writes (and the `WriteLine` of batches it belongs to), JSON in and out of the store (`dumps`/`loads`), and
`collector_paused` for rebuilding the states of a big run."""

from __future__ import annotations

import gc
import json
import time
from contextlib import contextmanager
from typing import Any, Iterator

import orjson

from swarm import deltas


def dumps(value: Any) -> str:
    """JSON for the store; values a script returned that JSON can't hold are kept as their repr."""
    try:
        return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):  # e.g. integers past 64 bits: the slow encoder takes them
        return json.dumps(value, default=repr, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


class WriteLine:
    """The batches of one drive of a run, in the order the store must write them.

    Once one of them failed to write, the later ones are not written either: they record effects
    (a child's end, a parent woken) whose causes (the spawn) were in the batch that was lost, so the
    store keeps the last good turn and a resume rebuilds from it.
    """

    __slots__ = ("failed", "recorder")

    def __init__(self) -> None:
        self.failed: str | None = None  # why a batch of this line could not be written
        self.recorder = deltas.Recorder()  # each node's last recorded values: an event records what changed


class Batch:
    """The writes of one turn of the lifecycle loop, committed together.

    `Batch()` starts a new line of writes; `batch.next()` is the batch of the following turn on the same line.
    """

    __slots__ = ("events", "nodes", "run", "approvals", "decisions", "handled", "calls", "line")

    def __init__(self, line: WriteLine | None = None) -> None:
        self.line = line or WriteLine()
        self.events: list[tuple] = []  # (run_id, node_id, kind, at, state, patch, detail)
        # id -> its nodes-table row as of its last event; last, its state: JSON, or its values (deltas.capture)
        self.nodes: dict[str, tuple] = {}
        self.run: dict[str, Any] = {}
        self.approvals: list[tuple] = []  # (run_id, node_id, kind, question, proposal, created_at, key)
        # (node_id, status, answer, reason, by): the loop decided the pending request of that node itself
        # (an answer given inline, a timeout, a cancel)
        self.decisions: list[tuple] = []
        self.handled: list[int] = []  # approvals decided elsewhere (`swarm approve`) that the loop has acted on
        self.calls: list[dict] = []  # model calls completed since the last commit

    def event(self, run_id: str, kind: str, node=None, detail: dict | None = None) -> None:
        """Record an event; `node` is a TaskNode whose state after the event is kept with it (as what changed
        since its previous event of this line: swarm/deltas.py)."""
        if node is not None:
            values = deltas.capture(node)
            patch = self.line.recorder.patch(node.id, values, run_id, dumps)
            self.nodes[node.id] = (node.run_id, node.id, node.parent, node.script, str(node.status), values)
            self.events.append((run_id, node.id, kind, time.time(), None, patch, dumps(detail) if detail else None))
        else:
            self.events.append((run_id, None, kind, time.time(), None, None, dumps(detail) if detail else None))

    def next(self) -> Batch:
        """The batch of the next turn: written only if this one (and every earlier one of its line) was."""
        return Batch(self.line)

    def __bool__(self) -> bool:
        return bool(self.events or self.nodes or self.run or self.approvals or self.decisions or self.handled or self.calls)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Rebuilding the states of a big run makes hundreds of thousands of small dicts and lists, none of them in a
    cycle; left on, the garbage collector would walk all of them again and again (half of the time at 100,000 nodes)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()

