"""Live events for the page: one thread tails the store's event history and fans it out to every subscriber.

However many pages are open, the store is read by this one thread: it asks the store's event tail
(the EventTail port, swarm/ports.py) whether anything was committed every `interval_s`, and only
then reads the new events by sequence number. Each subscriber (one server-sent-events
stream, served on the server's asyncio loop) gets the batches of the runs it watches; one
that falls too far behind is told to reload instead of holding memory.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any, Callable

import orjson

from swarm.errors import StoreError
from swarm.ports import EventTail
from swarm.statuses import EventKind
from swarm.ui.graph import node_view

MAX_QUEUED = 200  # batches a subscriber may have waiting before it is told to reload
EVERYONE = frozenset({EventKind.AWAITING_APPROVAL, EventKind.APPROVAL_DECIDED})  # node events every page hears of (its inbox)
READ_LIMIT = 5000  # events read per look; more waiting are read on the next, at once


class Subscription:
    """What one stream receives: node events of `run_id` (if any) and run-level events of every run.

    Filled by the hub's thread, read by a stream on `loop` (the server's): `push` wakes it there."""

    def __init__(self, run_id: str | None, loop: asyncio.AbstractEventLoop):
        self.run_id = run_id
        self.loop = loop
        self.batches: deque[list[dict[str, Any]]] = deque()
        self.reload = False
        self.closed = False
        self.lock = threading.Lock()
        self.ready = asyncio.Event()

    def push(self, batch: list[dict[str, Any]]) -> None:
        with self.lock:
            if len(self.batches) >= MAX_QUEUED:
                self.batches.clear()
                self.reload = True
            else:
                self.batches.append(batch)
        self._wake()

    def _wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.ready.set)
        except RuntimeError:  # the loop closed: nobody reads any more
            pass

    def _next(self) -> tuple[str, Any] | None:
        with self.lock:
            if self.closed:
                return "closed", None
            if self.reload:
                self.reload = False
                return "reload", None
            if self.batches:
                return "events", self.batches.popleft()
            return None

    async def take(self, timeout: float) -> tuple[str, Any] | None:
        """("events", batch), ("reload", None), ("closed", None), or None after `timeout` with nothing."""
        self.ready.clear()  # before looking: a push after the look sets it again
        item = self._next()
        if item is not None:
            return item
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return None
        return self._next()

    def close(self) -> None:
        with self.lock:
            self.closed = True
        self._wake()


class EventHub:
    """The one reader of new events for all subscribers of a UI server."""

    def __init__(self, open_tail: Callable[[], EventTail], interval_s: float = 0.03):
        self.open_tail = open_tail  # e.g. Store.event_tail: a tail on a connection of its own
        self.interval_s = interval_s
        self.subscribers: set[Subscription] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.cursor = 0

    def start(self) -> None:
        """Start the reader thread (once; a second call does nothing). Its tail is its own alone."""
        if self.thread is not None:
            return
        tail = self.open_tail()
        self.cursor = tail.last_seq()
        self.thread = threading.Thread(target=self._run, args=(tail,), name="swarm-ui-events", daemon=True)
        self.thread.start()

    def subscribe(self, run_id: str | None, loop: asyncio.AbstractEventLoop) -> Subscription:
        sub = Subscription(run_id, loop)
        with self.lock:
            self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self.lock:
            self.subscribers.discard(sub)
        sub.close()

    def end_streams(self) -> None:
        """End every open stream (the server is stopping); new ones may still subscribe until close()."""
        with self.lock:
            subs, self.subscribers = list(self.subscribers), set()
        for sub in subs:
            sub.close()

    def close(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.end_streams()

    def _run(self, tail: EventTail) -> None:
        try:
            while not self.stopping.wait(self.interval_s):
                if tail.changed():
                    while self._read_once(tail) == READ_LIMIT:
                        pass
        except StoreError:
            pass  # the store went away (the server is closing)
        finally:
            tail.close()

    def _read_once(self, tail: EventTail) -> int:
        rows = tail.after(self.cursor, READ_LIMIT)
        if not rows:
            return 0
        self.cursor = rows[-1][0]
        with self.lock:
            subs = list(self.subscribers)
        if subs:
            watched = {s.run_id for s in subs}
            by_run: dict[str, list[dict[str, Any]]] = {}
            levels: list[dict[str, Any]] = []  # run-level events and approvals: every subscriber hears of them
            for seq, run_id, node_id, kind, at, state, detail in rows:
                if node_id is None:
                    levels.append({"seq": seq, "run_id": run_id, "kind": kind, "at": at,
                                   "detail": orjson.loads(detail) if detail else None})
                elif kind in EVERYONE:
                    levels.append({"seq": seq, "run_id": run_id, "node_id": node_id, "kind": kind, "at": at,
                                   "node": node_view(orjson.loads(state)) if state else None})
                elif run_id in watched:
                    view = node_view(orjson.loads(state)) if state else None
                    by_run.setdefault(run_id, []).append(
                        {"seq": seq, "run_id": run_id, "node_id": node_id, "kind": kind, "at": at, "node": view})
            for sub in subs:
                batch = by_run.get(sub.run_id, []) if sub.run_id else []
                if levels:
                    batch = sorted(batch + levels, key=lambda e: e["seq"]) if batch else levels
                if batch:
                    sub.push(batch)
        return len(rows)


def sse_message(event: str | None, data: Any, event_id: int | None = None) -> bytes:
    """One server-sent-events message."""
    head = (f"id: {event_id}\n" if event_id is not None else "") + (f"event: {event}\n" if event else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"
