"""The lifecycle queue of one run: spawn → execute → terminate, read top to bottom.

One loop per run. Each turn (`RunLoop._turn`) it takes every outcome that arrived (finished executions,
answers, timers), decides what follows through the transitions (terminate, spawn children, wake the parent:
swarm/transitions.py), stops the run at a budget (swarm/usage.py), schedules the executions that became ready,
hands the turn's events to the store's writer as one transaction (group commit: swarm/journal.py), and starts
those executions. The writer commits turns strictly in order, so the history never holds an effect before its
cause. Scripts run in worker threads, so siblings run concurrently and the loop itself never blocks. What waits
for a person (approvals, questions, the cost gate) is swarm/people.py's; the loop hands it the nodes that ask.
"""

from __future__ import annotations

import asyncio
import os
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from swarm import policies, transitions
from swarm.approvals import NeedsApproval
from swarm.context import NodeContext
from swarm.deadlines import Deadlines
from swarm.errors import NodeTimeout, SwarmError
from swarm.inbox import Inbox
from swarm.journal import Journal
from swarm.model.structured import validate
from swarm.node import AskHuman, Spawn, Status, TaskNode
from swarm.partial import partial_answer
from swarm.people import People
from swarm.ports import RUN_WAKEUPS
from swarm.statuses import EventKind, RunStatus
from swarm.store import Batch, dumps
from swarm.usage import Usage

if TYPE_CHECKING:
    from swarm.services import Services

# The status a run ends with when its root ended (a `done` whose review did not approve it becomes `unmet`).
RUN_ENDED_BY = {Status.DONE: RunStatus.DONE, Status.FAILED: RunStatus.FAILED, Status.CANCELLED: RunStatus.CANCELLED}

TICK_S = 0.25  # how often the loop looks at cancel, pause and approval requests and the wall-time budget


class Outcome:
    """What came back from one execution (or from a person, or a timer)."""

    __slots__ = ("node_id", "ctx", "value", "error")

    def __init__(self, node_id: str, ctx: NodeContext | None, value: Any = None, error: BaseException | None = None):
        self.node_id, self.ctx, self.value, self.error = node_id, ctx, value, error


TICK = Outcome("", None)


class RunLoop:
    """One run, driven to its end (or until only people can go on) with the engine's `services`.

    `budgets` are the run's limits (Engine.budgets); `wait_for_people` keeps a run that waits for a person
    open (the daemon's way) instead of pausing it; `draining` starts it already draining; `finished` is
    called, in a thread, with (run id, status, result) once the run has ended.
    """

    def __init__(self, services: Services, run: dict[str, Any], nodes: dict[str, TaskNode], cassette: dict[str, dict],
                 *, budgets: dict[str, float], wait_for_people: bool = False, draining: str | None = None,
                 finished: Callable[[str, str, Any], None] | None = None):
        self.services = services
        self.store = services.store
        self.config = services.config
        self.slots = services.slots
        self.wait_for_people = wait_for_people
        self.finished_hook = finished
        self.run_id: str = run["id"]
        self.root_id = "1"
        self.nodes = nodes
        self.cassette = cassette
        self.usage = Usage(run, budgets)  # tokens, cost and time used, and the budgets the run stops at (swarm/usage.py)
        # The turn's commit, the paid replies and the snapshots, on the store's writer thread (swarm/journal.py).
        self.journal = Journal(services.store, services.writer, services.config.store, self.run_id, nodes,
                               run.get("last_event") or 0)
        # The tree and what happens to it (swarm/transitions.py); the loop decides when, and carries out the rest.
        self.tree = transitions.Tree(self.run_id, nodes, self.journal.record, on_cancel=self._cancelled,
                                     on_end=services.tracer.node_ended)
        self.ready = self.tree.ready  # nodes to execute, in order
        self.running: dict[str, NodeContext] = {}
        self.paused = False  # `swarm pause`: no new executions start
        # Approvals, questions and the cost gate (swarm/people.py): an answer given inline comes back through the inbox.
        self.people = People(self.tree, services.store, services.human, services.config.approvals,
                             lambda: self.journal.batch,
                             lambda node_id, answer: self.inbox.put_here(Outcome(node_id, None, value=answer)))
        self.shown_status = RunStatus.RUNNING
        self.was_paused = run.get("status") == RunStatus.PAUSED
        self.launch: list[tuple[TaskNode, NodeContext]] = []
        self.observers: list[Callable[[RunLoop], None]] = []
        self.turn_nodes: list[str] = []  # the nodes whose state the last committed turn recorded (for observers)
        self.interrupted: str | None = None  # set by shutdown(): stop, keep the run resumable
        self.draining: str | None = draining  # set by drain(): start nothing new, stop once the running nodes end

    @property
    def stop_reason(self) -> str | None:
        """Why the whole run stopped (a budget, a cancel), once it did."""
        return self.tree.stop_reason

    @property
    def batch(self) -> Batch:
        """The batch of the turn being filled (swarm/journal.py)."""
        return self.journal.batch

    @property
    def closed(self) -> bool:
        """The run has ended: nothing more is taken in."""
        return self.journal.closed

    # --- the loop: one turn after another ---------------------------------------------------------

    async def drive(self) -> str:
        """Run until the root terminates, a budget or a cancel stops the run, or only people can go on."""
        self._open()
        try:
            self._take_up()
            await self._turn([])
            while not self._finished():
                await self._turn(await self.inbox.take())
            return await self._close()
        finally:
            self._release()

    async def _turn(self, outcomes: list[Outcome]) -> None:
        """One turn: settle what came back, stop at a budget, start what may start, record it all."""
        self._record_calls()  # first: a node's cost is in the state its events record
        for outcome in outcomes:
            self._settle(outcome)  # through the transitions; a node that needs a person goes to the people gate
        self._check_limits()  # budgets and a cancel request: the run may stop here
        self._start_ready()  # schedule what may start: not while paused, or while the cost gate holds
        self._show_status()
        await self._commit()  # the journal takes the turn; the executions it announced start

    def _open(self) -> None:
        """Take the run up on this asyncio loop: its inbox, its timers, and what other processes asked of it."""
        self.loop = asyncio.get_running_loop()
        self.inbox = Inbox()
        self.deadlines = Deadlines(self.loop, self._timed_out)  # node timeouts: one heap, one timer
        self.usage.start()
        self.slots.loops.add(self)
        # PostgreSQL wakes the loop at once when another process writes a cancel, pause or decision of this run
        # (LISTEN/NOTIFY): the store is then read only every [store].wakeup_poll_s as a fallback, not every tick.
        wakeups = self.store.wakeups
        self.next_read = 0.0
        self.unsubscribe = wakeups.subscribe(RUN_WAKEUPS, self._woken) if wakeups.instant else None
        self.cancel_requested = self.store.cancel_requested(self.run_id)
        self.paused = self.store.pause_requested(self.run_id)
        self._tick()

    def _take_up(self) -> None:
        """The run as it was left: running again, its interrupted nodes requeued, its pause and its open requests."""
        self.batch.run.update(status=RunStatus.RUNNING, owner_pid=os.getpid(), heartbeat_at=time.time())
        transitions.requeue_interrupted(self.tree)  # a completed model call of theirs is replayed, not paid again
        if self.paused or self.was_paused:
            self.batch.event(self.run_id, EventKind.PAUSED if self.paused else EventKind.UNPAUSED, None, {"by": "request"})
        self.people.take_up()

    def _release(self) -> None:
        """The loop ended (or failed): its timers stop, and what it still held is let go."""
        self.slots.loops.discard(self)
        if self.unsubscribe is not None:
            self.unsubscribe()
        self._tick_handle.cancel()
        self.deadlines.close()
        for ctx in self.running.values():  # left behind by an error: free their slots
            ctx.cancel()
            self.slots.active -= 1
        self.running.clear()
        self.journal.abandon()  # writes left behind by a failed one, whose error is already on its way up

    def _finished(self) -> bool:
        if self.draining and not self.running and not self.interrupted:
            self.interrupted = self.draining
        if self.stop_reason or self.interrupted or self.nodes[self.root_id].status.final:
            return True
        if self.running or self.people.asking or self.launch or (self.ready and not self._holding()):
            return False
        # The rest waits for a person (a decision, or the end of a pause): a long-lived process
        # (the daemon) keeps waiting and takes decisions on its tick; otherwise the run pauses.
        return not self.wait_for_people

    # --- settle: what came back, through the transitions ------------------------------------------

    def _settle(self, outcome: Outcome) -> None:
        if outcome is TICK:
            return
        node = self.nodes[outcome.node_id]
        if outcome.ctx is None:  # a person answered
            return self.people.answered(node, outcome.value)
        if self.running.get(node.id) is not outcome.ctx:
            return  # already settled: timed out, cancelled or stopped meanwhile
        del self.running[node.id]
        self.slots.release()
        ctx = outcome.ctx
        self.deadlines.discard(node.id)
        if ctx._tool_calls:  # what the execution did with its tools, for `swarm stats`
            self.batch.event(self.run_id, EventKind.TOOL_CALLS, node, {"calls": list(ctx._tool_calls)})
        if isinstance(outcome.error, NeedsApproval):
            return self.people.needs_approval(node, outcome.error, ctx.logs)
        if outcome.error is not None:
            return self._fail_or_retry(node, _describe(outcome.error), ctx.logs + _where(outcome.error),
                                       retry=not getattr(outcome.error, "final", False))
        value = outcome.value
        if isinstance(value, Spawn):
            return self._spawn_children(node, value, ctx.logs)
        if isinstance(value, AskHuman):
            return self.people.ask_human(node, value)
        transitions.returned(self.tree, node, value, ctx.logs)

    def _spawn_children(self, node: TaskNode, spawn: Spawn, logs: list[str] | None = None) -> None:
        problem = self._check_blueprints(node, spawn)
        if problem:
            return self._fail_or_retry(node, problem, logs)
        if not self.stop_reason:
            transitions.spawn_children(self.tree, node, spawn, logs)

    def _check_blueprints(self, node: TaskNode, spawn: Spawn) -> str | None:
        if spawn.policy not in policies.REGISTRY:
            return f"UnknownPolicy: node {node.id} spawned its children under an unknown policy {spawn.policy!r}; registered: {', '.join(policies.names())}"
        if policies.get(spawn.policy).evaluates and spawn.evaluator not in self.services.catalogue.scripts:
            return f"UnknownScript: node {node.id} named an unknown evaluator script {spawn.evaluator!r} for {spawn.policy}; registered: {', '.join(sorted(self.services.catalogue.scripts))}"
        for child in spawn.children:
            if child.script not in self.services.catalogue.scripts:
                return f"UnknownScript: node {node.id} spawned a child with unknown script {child.script!r}; registered: {', '.join(sorted(self.services.catalogue.scripts))}"
            errors = validate(child.data, self.services.catalogue.get(child.script).input_schema)
            if errors:
                return (f"ChildInputInvalid: node {node.id}: input for child script {child.script!r} does not match its "
                        f"schema: {'; '.join(errors)}")
        too_big = self.usage.too_big(node, len(self.nodes), len(spawn.children))
        if too_big:
            transitions.stop(self.tree, too_big)
        return None

    def _fail_or_retry(self, node: TaskNode, error: str, logs: list[str] | None = None, retry: bool = True) -> None:
        transitions.failed(self.tree, node, error, logs, retry=retry, max_attempts=self.config.run.node_max_attempts)

    def _timed_out(self, node_id: str, ctx: NodeContext) -> None:
        ctx.cancel()
        self.inbox.put_here(Outcome(node_id, ctx, error=NodeTimeout(node_id, self.config.run.node_timeout_s)))

    def _cancelled(self, node: TaskNode, reason: str) -> None:
        """A node is about to be cancelled (swarm/transitions.py): its execution or its question stops."""
        ctx = self.running.pop(node.id, None)
        if ctx is not None:
            ctx.cancel()
            self.deadlines.discard(node.id)
            self.slots.release()
        self.people.cancelled(node, reason)

    def _record_calls(self) -> None:
        """Take the model calls finished since the last turn into this turn's commit, and count their cost."""
        if self.usage.count(self.journal.take_calls(), self.nodes):
            self.batch.run.update(self.usage.totals())

    def _check_limits(self) -> None:
        if self.stop_reason:
            return
        reason = self.usage.over_budget() or ("cancelled by request" if self.cancel_requested else None)
        if reason:
            transitions.stop(self.tree, reason)

    # --- schedule and execute ---------------------------------------------------------------------

    def _holding(self) -> bool:
        """No new executions: the run is paused, or a person decides whether it may spend more."""
        return self.paused or self.people.holding

    def _start_ready(self) -> None:
        while self.ready and self.slots.free() and not (self.stop_reason or self.interrupted or self.draining
                                                                   or self._holding()):
            node = self.nodes[self.ready.popleft()]
            if node.status != Status.PENDING:
                continue
            if self.people.spending_past(self.usage.cost):
                self.people.ask_to_spend(node, self.usage.cost)
                break
            node.status = Status.RUNNING
            node.started_at = time.time()
            ctx = NodeContext(self.services, node, policies.reports_for(node, self.nodes),
                              policies.previous_for(node, self.nodes), self.cassette, self.journal.call_completed)
            self.running[node.id] = ctx
            self.slots.take()
            self.batch.event(self.run_id, EventKind.EXECUTE, node, {"round": node.round, "attempt": node.attempts})
            self.launch.append((node, ctx))

    def _execute(self, node: TaskNode, ctx: NodeContext) -> None:
        """Start one execution in a worker thread; its outcome comes back through the inbox."""
        script = self.services.catalogue.scripts.get(node.script)
        self.deadlines.add(node.id, ctx, self.config.run.node_timeout_s)
        self.services.workers.submit(_run_script, script, ctx, self.inbox.put)

    def _show_status(self) -> None:
        """While a live loop holds the run, its status says whether it works, waits for people or is paused."""
        if self.paused:
            status = RunStatus.PAUSED
        elif self.people.awaiting and not (self.running or self.launch or (self.ready and not self._holding())):
            status = RunStatus.AWAITING_APPROVAL
        else:
            status = RunStatus.RUNNING
        if status != self.shown_status:
            self.shown_status = status
            self.batch.run["status"] = status

    # --- record, then act -------------------------------------------------------------------------

    async def _commit(self) -> None:
        """Record this turn's events, then start the executions they announced.

        The turn's batch goes to the store's writer thread behind the earlier ones (swarm/journal.py); while it is
        being written, outcomes keep arriving and the next turn writes them all together (group commit).
        Executions start without waiting for their batch to be on disk: anything they produce is recorded in a
        later batch, so the history never holds an effect without its cause, and a crash at worst repeats work
        that was never recorded.
        """
        batch = self.journal.turn()
        launch, self.launch = self.launch, []
        for node, ctx in launch:
            self._execute(node, ctx)
        self.turn_nodes = list(batch.nodes)
        await self.journal.write(batch)
        for observer in self.observers:
            observer(self)

    async def _close(self) -> str:
        self._record_calls()
        self.journal.closed = True
        root = self.nodes[self.root_id]
        if self.stop_reason:
            status = RunStatus.CANCELLED if self.stop_reason.startswith("cancelled") else RunStatus.STOPPED
            fields = {"status": status, "stop_reason": self.stop_reason, "finished_at": time.time()}
            if (partial := partial_answer(self.nodes, self.root_id, self.stop_reason)) is not None:
                fields["result"] = dumps(partial)  # what the run found before it stopped, marked as not the goal
        elif root.status.final:
            status = RUN_ENDED_BY[root.status]
            if status == RunStatus.DONE and not goal_met(root.output):
                status = RunStatus.UNMET  # an answer came back, but its own review says it does not meet the goal
            # stop_reason NULL: a reason left by an earlier stop (a resumed run's) no longer says anything.
            fields = {"status": status, "result": dumps(root.output), "error": root.error, "stop_reason": None,
                      "finished_at": time.time()}
        elif self.interrupted:
            # Nodes still running stay `running` in the store: a resume executes them again.
            status = RunStatus.INTERRUPTED
            fields = {"status": status, "stop_reason": self.interrupted}
        else:
            status = RunStatus.PAUSED if self.paused else RunStatus.AWAITING_APPROVAL
            fields = {"status": status}
        self.batch.run.update(fields, active_s=self.usage.active(), owner_pid=None)
        kind = {RunStatus.AWAITING_APPROVAL: EventKind.RUN_PAUSE, RunStatus.PAUSED: EventKind.RUN_PAUSE,
                RunStatus.INTERRUPTED: EventKind.RUN_INTERRUPT}.get(status, EventKind.RUN_END)
        self.batch.event(self.run_id, kind, None, {"status": status, "reason": self.stop_reason or self.interrupted})
        await self._commit()
        await self.journal.flush()
        await self.journal.snapshot({EventKind.RUN_END: "end", EventKind.RUN_PAUSE: "pause", EventKind.RUN_INTERRUPT: "shutdown"}[kind])
        if kind == EventKind.RUN_END:
            # In a thread: the hooks (e.g. keeping the result in memory, which embeds it) must not hold up
            # the other runs that share this asyncio loop (the daemon drives several).
            if self.finished_hook is not None:
                await asyncio.to_thread(self.finished_hook, self.run_id, status, root.output)
        return status

    # --- requests from other processes, read on the tick ------------------------------------------

    def _tick(self) -> None:
        """Every TICK_S: wake the loop to check limits, and look for cancel requests from other processes.

        The store is read on the writer thread, so the loop never waits behind a commit.
        """
        self._tick_handle = self.loop.call_later(TICK_S, self._tick)
        if self.unsubscribe is None or time.monotonic() >= self.next_read:
            self._read_store()
        else:  # woken by the store's notifications: the store is read when one comes, and as a slow fallback
            self.people.check_timeouts()
        self.inbox.put_here(TICK)

    def _read_store(self) -> None:
        if self.unsubscribe is not None:
            self.next_read = time.monotonic() + self.config.store.wakeup_poll_s
        self.loop.run_in_executor(self.services.writer, self._read_requests, bool(self.people.awaiting)).add_done_callback(self._requests_read)

    def _woken(self, run_id: str | None) -> None:
        """From the wake-ups' thread: another process wrote a cancel, pause or decision of a run (None: maybe)."""
        if run_id is None or run_id == self.run_id:
            try:
                self.loop.call_soon_threadsafe(self._read_now)
            except RuntimeError:  # the loop has closed
                pass

    def _read_now(self) -> None:
        if self in self.slots.loops and not self.closed:
            self._read_store()

    def _read_requests(self, awaiting: bool) -> tuple[bool, list[str], bool, list[dict]]:
        decided = self.store.decided_approvals(self.run_id) if awaiting else []
        return (self.store.cancel_requested(self.run_id), self.store.take_node_cancels(self.run_id),
                self.store.pause_requested(self.run_id), decided)

    def _requests_read(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None or self.closed:
            return
        self.cancel_requested, node_ids, paused, decided = future.result()
        for node_id in node_ids:
            node = self.nodes.get(node_id)
            if node is not None and not node.status.final:
                transitions.cancel(self.tree, node, "cancelled by request")
        if paused != self.paused:
            self.paused = paused
            self.batch.event(self.run_id, EventKind.PAUSED if paused else EventKind.UNPAUSED, None, {"by": "request"})
        self.people.take_decisions(decided)
        self.people.check_timeouts()
        self.inbox.put_here(TICK)

    # --- asked by the engine ----------------------------------------------------------------------

    def shutdown(self, reason: str = "interrupted by a signal") -> None:
        """Stop taking work, record everything, snapshot, and end the loop; the run stays resumable."""
        if not self.interrupted:
            self.interrupted = reason
            self.inbox.put_here(TICK)

    def drain(self, reason: str) -> None:
        """Start no new execution; once the running ones have ended, stop as shutdown() does."""
        if not self.draining:
            self.draining = reason
            self.inbox.put_here(TICK)

    def wake(self) -> None:
        """A slot was freed elsewhere: look at the ready queue again."""
        if self.ready:
            self.inbox.put_here(TICK)


def _run_script(script, ctx: NodeContext, deliver: Callable[[Outcome], None]) -> None:
    """In a worker thread: one execution of a node script, its outcome delivered to the loop."""
    try:
        if script is None:
            raise SwarmError(f"node {ctx.node_id}: its script {ctx.script!r} is no longer registered")
        outcome = Outcome(ctx.node_id, ctx, script.execute(ctx))
    except BaseException as exc:  # whatever a script raises fails its node, never the loop
        outcome = Outcome(ctx.node_id, ctx, error=exc)
    deliver(outcome)


def goal_met(result: Any) -> bool:
    """Whether a root's result meets its goal: False only when it says so itself (`"approved": false`,
    a review's verdict). The run then ends `unmet`, its best partial answer kept as its result."""
    return not (isinstance(result, dict) and result.get("approved") is False)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _where(error: BaseException) -> list[str]:
    """For an unexpected exception, its traceback, kept in the node's execute_end event."""
    if isinstance(error, SwarmError):
        return []
    return ["".join(traceback.format_exception(error)).rstrip()]
