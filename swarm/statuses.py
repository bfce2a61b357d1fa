"""The words the history is written in: a run's status, a node's status and an event's kind, one enum each.

Each is a `StrEnum`: a member is the very string the store keeps and the API shows (`RunStatus.PAUSED == "paused"`),
so rows written before these enums read the same, and a status is spelled in one place only.
"""

from __future__ import annotations

from enum import StrEnum


class NodeStatus(StrEnum):
    """Where a node is in its lifecycle: spawned, executing, waiting for children or a person, ended."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    AWAITING_APPROVAL = "awaiting_approval"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in NODE_FINAL


NODE_FINAL = frozenset({NodeStatus.DONE, NodeStatus.FAILED, NodeStatus.CANCELLED})
NODE_ACTIVE = frozenset(NodeStatus) - NODE_FINAL


class RunStatus(StrEnum):
    """Where a run is: recorded, driven, waiting (for people, after a pause or a signal), ended."""

    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"  # a node waits for a person's answer; nothing else can go on
    PAUSED = "paused"  # a person paused it; `swarm resume` (or the UI) goes on
    INTERRUPTED = "interrupted"  # its process stopped (a signal, a shutdown); a resume executes it again
    DONE = "done"
    UNMET = "unmet"  # it produced an answer that its own review did not approve (the best partial answer is kept)
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # a budget stopped it (the best answer found so far is kept)

    @property
    def final(self) -> bool:
        return self in RUN_FINAL

    @property
    def on_hold(self) -> bool:
        """Not driven, not ended: it waits for a person (an answer, a resume) or a restart."""
        return self in RUN_ON_HOLD


RUN_FINAL = (RunStatus.DONE, RunStatus.UNMET, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.STOPPED)
RUN_ON_HOLD = (RunStatus.AWAITING_APPROVAL, RunStatus.PAUSED, RunStatus.INTERRUPTED)
RUN_STATUSES = tuple(RunStatus)  # every status a run can have, in the order above


class EventKind(StrEnum):
    """The kind of an event of a run's history (the `kind` column of the events table)."""

    # run-level events (no node)
    RUN_START = "run_start"
    FORK = "fork"  # a run forked from another's event: its first event
    PAUSED = "paused"  # a person asked the run to pause ...
    UNPAUSED = "unpaused"  # ... or to go on
    BUDGET_STOP = "budget_stop"  # a budget ran out: the run stops
    RUN_CANCEL = "run_cancel"  # a person cancelled the run
    RUN_PAUSE = "run_pause"  # the loop stopped driving the run: it waits for a person
    RUN_INTERRUPT = "run_interrupt"  # the loop stopped driving the run: its process is stopping
    RUN_END = "run_end"
    # node events
    SPAWN = "spawn"
    EXECUTE = "execute"
    TOOL_CALLS = "tool_calls"  # the tools an execution called (recorded while it still goes on)
    EXECUTE_END = "execute_end"
    RETRY = "retry"  # an execution failed and is tried again
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVAL_DECIDED = "approval_decided"
    STEP = "step"  # a `sequence` parent spawned its next child
    EVALUATE = "evaluate"  # a `best_of_n` parent spawned its evaluator
    WAKE = "wake"  # a parent is executed again with its children's reports
    TERMINATE = "terminate"
    CANCEL = "cancel"
    REQUEUE = "requeue"  # executed again (after an interruption, or in a fork)
    EDIT = "edit"  # a fork changed the node's state


# Run-level events after which the run's loop executes nothing more.
ENDS_DRIVING = frozenset({EventKind.RUN_END, EventKind.RUN_PAUSE, EventKind.RUN_INTERRUPT})
