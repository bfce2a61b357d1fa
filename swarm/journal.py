"""The journal of one run: what its loop writes, on the store's one writer thread, in order.

Each turn of the loop fills a `Batch` (the events its transitions recorded, the run's row, requests and decisions,
the model calls since the last turn); `turn()` hands it over and starts the next, and `write(batch)` queues it on
the writer as one transaction (the store's commit, where the run lease's fence is checked: a worker that lost the
run writes nothing of the turn). Batches go strictly in order, so the history never holds an effect before its
cause; while one is on its way to disk the loop goes on, and waits only when MAX_WRITES_IN_FLIGHT queue up.

Two more writes go through it:
- paid replies: a model call that was paid for goes to the writer as soon as it ends (`call_completed`, from a
  worker thread), so a crash soon after never pays for it again; the replies that come back meanwhile share one
  write (one queued at a time), and the loop's next turn takes every call for its accounting (`take_calls`).
- snapshots: every `max(snapshot_every, population)` events one is queued behind the turn's writes, holding only
  the nodes changed since the last; the loop does not wait for it. `snapshot(reason)` takes one and waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Iterator

from swarm.batch import Batch
from swarm.node import TaskNode
from swarm.snapshot import changes_document
from swarm.statuses import EventKind

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from swarm.settings import StoreSettings
    from swarm.store import Store

MAX_WRITES_IN_FLIGHT = 8  # batches queued for the writer before the loop waits for the disk


class Journal:
    """The batch of the turn being filled, and the writes of one run queued on the store's writer thread."""

    def __init__(self, store: Store, writer: Executor, settings: StoreSettings, run_id: str, nodes: dict[str, TaskNode],
                 last_event: int):
        self.store = store
        self.writer = writer  # the store's one writer thread
        self.settings = settings  # [store]: snapshot_every
        self.run_id = run_id
        self.nodes = nodes
        self.batch = Batch()
        self.last_event = last_event  # the run's last event on disk
        # The nodes changed since the last snapshot (its event: snapshot_at): the next snapshot holds only these,
        # as the nodes table has them then.
        self.changed: set[str] = set()
        self.snapshot_at = last_event
        self.since_snapshot = 0
        self.completed_calls: deque[dict] = deque()  # appended by worker threads
        self.paid_write_queued = False  # a write of the paid replies is queued on the writer and has not begun
        self.closed = False  # the run has ended: a call that completes now is written on its own
        self.writing: deque[asyncio.Future] = deque()  # writes the writer thread is putting on disk, in order

    def record(self, kind: EventKind, node: TaskNode | None, detail: dict | None) -> None:
        """An event of a transition, into this turn's batch (with the node's state as it is now)."""
        if kind == EventKind.SPAWN:
            self.batch.run["nodes"] = len(self.nodes)
        self.batch.event(self.run_id, kind, node, detail)

    # --- the turn's commit ------------------------------------------------------------------

    def turn(self) -> Batch:
        """This turn's batch, to be written; the next turn fills a new one (written only if this one was)."""
        batch, self.batch = self.batch, self.batch.next()
        return batch

    async def write(self, batch: Batch) -> None:
        """Queue the turn's batch on the writer; wait for the disk only when too many are queued. Then, every so
        many events, a snapshot behind it."""
        if batch:
            self.changed.update(batch.nodes)
            self.since_snapshot += len(batch.events)
            self.writing.append(asyncio.get_running_loop().run_in_executor(self.writer, self.store.commit, batch, self.run_id))
            while self.writing and (self.writing[0].done() or len(self.writing) > MAX_WRITES_IN_FLIGHT):
                self.last_event = await self.writing.popleft() or self.last_event
        # Spaced by population too: a snapshot costs what changed, so a big tree takes one every `population` events.
        if self.since_snapshot >= max(self.settings.snapshot_every, len(self.nodes)):
            self._snapshot_behind("periodic")

    async def flush(self) -> None:
        """Wait until every write handed to the writer is on disk."""
        while self.writing:
            self.last_event = await self.writing.popleft() or self.last_event

    def abandon(self) -> None:
        """The loop ended by an error: the writes still queued finish on their own (a failed one's error is
        already on its way up)."""
        for write in self.writing:
            write.add_done_callback(lambda f: f.cancelled() or f.exception())

    # --- paid replies ---------------------------------------------------------------------

    def call_completed(self, row: dict) -> None:
        """From a worker thread: a model call finished. A reply that was paid for goes straight to the
        store's writer thread, so a crash soon after it never pays for it again however busy the loop
        is; the loop's next turn counts its tokens and cost into the run. There it joins the writer's next
        transaction: a turn's commit already queued takes it, else its own (with the replies that came meanwhile)."""
        if self.closed:  # a straggler from a node cancelled before the run ended
            self.store.record_llm_call(row)
            return
        if row["reply"] is not None and not row.get("replayed_from"):
            self.store.paid_calls.append(row)
            if not self.paid_write_queued:  # else the write queued takes this reply too: it has not begun
                self.paid_write_queued = True
                try:
                    self.writer.submit(self._write_paid_calls)  # the store's writer thread, not the loop
                except RuntimeError:  # the engine is closing: write it here
                    self._write_paid_calls()
            row = {**row, "written": True}
        self.completed_calls.append(row)

    def _write_paid_calls(self) -> None:
        """On the writer thread: the paid replies queued so far, in one transaction. The workers queue one such write
        at a time: 500 replies that come back together are one task of the writer, and their threads do not queue
        behind each other on the executor's locks."""
        self.paid_write_queued = False  # first: a reply queued after this line queues a write of its own
        self.store.write_paid_calls()

    def take_calls(self) -> Iterator[dict]:
        """The model calls completed since the last turn, for the loop to count; those not written yet go into
        this turn's batch."""
        while self.completed_calls:
            row = self.completed_calls.popleft()
            if not row.pop("written", False):
                self.batch.calls.append(row)
            yield row

    # --- snapshots ------------------------------------------------------------------------

    def _snapshot_behind(self, reason: str) -> None:
        """A snapshot the loop does not wait for: queued on the writer behind the batches handed to it, it is taken
        once they are on disk (at the run's last event then), while the loop goes on settling and starting nodes
        (waiting for it stalled every execution of a wide run for 30-250 ms). It is one of the writes
        (self.writing): a snapshot(), a flush or the run's end comes after it."""
        self.since_snapshot = 0
        changed, self.changed = sorted(self.changed), set()
        population, run_id = len(self.nodes), self.run_id

        def take() -> None:  # on the writer thread: the nodes table holds each node as of event `at`
            run, at = self.store.run(run_id), self.store.event_range(run_id)[1]
            since, self.snapshot_at = self.snapshot_at, at
            self.store.save_changes(run_id, at, reason, since, changed,
                                    lambda states: changes_document(run, at, since, states, population))

        self.writing.append(asyncio.get_running_loop().run_in_executor(self.writer, take))

    async def snapshot(self, reason: str) -> int:
        """A snapshot at the run's last event, once every write before it is on disk."""
        await self.flush()
        self.since_snapshot = 0
        changed, self.changed = self.changed, set()
        since, self.snapshot_at = self.snapshot_at, self.last_event
        run, at, population = self.store.run(self.run_id), self.last_event, len(self.nodes)
        # On the writer, after every batch handed to it: the nodes table holds each node as of event `at`.
        return await asyncio.get_running_loop().run_in_executor(
            self.writer, self.store.save_changes, self.run_id, at, reason, since, sorted(changed),
            lambda states: changes_document(run, at, since, states, population))
