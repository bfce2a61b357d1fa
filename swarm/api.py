"""The swarm as a Python library: `Swarm(...).run(goal)` and the rest of what the CLI does, for programs.

    from swarm import Swarm

    with Swarm(base_url="http://127.0.0.1:8080/v1", model="qwen2.5-coder") as swarm:
        result = swarm.run("What is the greatest common divisor of 1071 and 462?", max_nodes=20)
        print(result.status, result.answer)
        for event in swarm.stream("Reverse the string 'swarm'"):
            print(event)

Everything a run does is recorded in the store as with the CLI, so `swarm show RUN`, `swarm history RUN`
and the viewer see runs made here, and a run made here can be resumed, forked or compared there.
Budgets are keyword arguments named as on the command line (max_nodes, max_depth, max_tokens,
max_cost_usd, max_wall_s). A run that needs a person ends `awaiting_approval` (or, with
`wait_for_people=True`, waits while `approve`/`reject` are called from another thread); `approvals()`
lists the requests, and `resume(run_id)` goes on after they are decided.

The engine (model client, catalogue with the MCP servers' tools, sandbox) is made when a run is first
driven or changed: looking back (`result`, `history`, `runs`) and deciding approvals need only the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarm.config import Config, load_config
from swarm.errors import SwarmError
from swarm.statuses import EventKind, RunStatus

if TYPE_CHECKING:
    from swarm.engine import Engine
    from swarm.human import HumanChannel
    from swarm.store import Store


@dataclass(frozen=True)
class Result:
    """How a run ended: its status, its answer (None when it has none) and what it cost."""

    run_id: str
    status: str
    answer: Any = None
    result: Any = None  # the root's whole output (answer, code, logs, review verdict ...)
    error: str | None = None
    stop_reason: str | None = None
    nodes: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def ok(self) -> bool:
        """The goal was met: the run ended done."""
        return self.status == RunStatus.DONE


@dataclass(frozen=True)
class Event:
    """One recorded step of a run, as `history` and `stream` give it: `seq` orders a run's events."""

    run_id: str
    seq: int
    kind: str
    node_id: str | None = None
    at: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeSpawned(Event):
    script: str = ""
    parent: str | None = None


@dataclass(frozen=True)
class NodeStarted(Event):
    round: int = 0
    attempt: int = 0


@dataclass(frozen=True)
class NodeEnded(Event):
    status: str = ""
    output: Any = None
    error: str | None = None


@dataclass(frozen=True)
class ApprovalNeeded(Event):
    question: str = ""
    proposal: Any = None


@dataclass(frozen=True)
class ModelCalled(Event):
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunEnded(Event):
    result: Result | None = None


class Swarm:
    """A swarm over one store: runs goals, and resumes, forks, cancels and inspects its runs.

    `config` is a swarm.toml path or a loaded `Config` (default: the swarm.toml found from the current
    folder, then the SWARM_* variables, as the CLI does). `store`, `base_url` and `model` override it.
    `answers` gives ask_human questions their answers by node id (`{"1.2": "yes"}`, `"*"` for any node);
    without them, `human` (a `swarm.human.HumanChannel`, such as the CLI's TerminalHuman) is asked.
    """

    def __init__(self, config: Config | str | Path | None = None, *, store: str | Path | None = None,
                 base_url: str | None = None, model: str | None = None, answers: dict[str, str] | None = None,
                 wait_for_people: bool = False, human: HumanChannel | None = None):
        cfg = config if isinstance(config, Config) else load_config(str(config) if config is not None else None)
        if store is not None:  # a path, or a store URL (sqlite:///PATH, postgresql://…)
            if "://" in str(store):
                cfg.store.url = str(store)
            else:
                cfg.store.path, cfg.store.url = str(Path(store).resolve()), ""
        if base_url is not None:
            cfg.model.base_url = base_url
        if model is not None:
            cfg.model.model = model
        self.config = cfg
        if answers:
            from swarm.human import PreparedAnswers

            human = PreparedAnswers(dict(answers))
        self._human = human
        self._wait_for_people = wait_for_people
        self._engine: Engine | None = None
        self._store: Store | None = None  # the store opened before the engine, for looking back
        self._closed = False

    @property
    def engine(self) -> Engine:
        """The Engine (swarm/engine.py) that drives this swarm's runs, made on first use."""
        if self._engine is None:
            from swarm.engine import Engine

            self._open()
            engine = Engine(self.config, human=self._human)
            engine.wait_for_people = self._wait_for_people
            if self._store is not None:  # the engine's store takes over: one connection, not two
                self._store.close()
                self._store = None
            self._engine = engine
        return self._engine

    @property
    def store(self) -> Store:
        """The store this swarm records into: the engine's once there is one, before that one opened to look back."""
        if self._engine is not None:
            return self._engine.store
        if self._store is None:
            from swarm.store import open_store

            self._open()
            self._store = open_store(self.config)
        return self._store

    # --- running -------------------------------------------------------------------------

    def run(self, goal: str, *, script: str | None = None, model: str | None = None, **budgets: float) -> Result:
        """Run a goal to its end (or until it waits for a person) and return how it ended."""
        import asyncio  # here, not at the top: approving or looking back does not load it

        return asyncio.run(self.arun(goal, script=script, model=model, **budgets))

    async def arun(self, goal: str, *, script: str | None = None, model: str | None = None, **budgets: float) -> Result:
        """`run` for a program that has its own asyncio loop."""
        run_id = self.submit(goal, script=script, model=model, **budgets)
        await self.engine.drive(run_id)
        return self.result(run_id)

    def submit(self, goal: str, *, script: str | None = None, model: str | None = None, **budgets: float) -> str:
        """Record a new run without running it; `resume(run_id)` or `stream(run_id=...)` runs it."""
        self._open()
        return self.engine.create_run(goal, script=script, budgets=budgets or None, model=model)

    def stream(self, goal: str | None = None, *, run_id: str | None = None, script: str | None = None,
               model: str | None = None, poll_s: float = 0.1, **budgets: float) -> Iterator[Event]:
        """Run a goal (or go on with `run_id`) and yield its events as they are recorded, `RunEnded` last.

        The run is driven on the engine's loop thread; the events come from the store, so they are exactly
        what `history` will show. Leaving the loop early cancels the run."""
        import concurrent.futures
        import threading

        if (goal is None) == (run_id is None):
            raise SwarmError("stream() takes a goal to run, or run_id= of a recorded run to go on with; not both")
        run_id = run_id or self.submit(goal, script=script, model=model, **budgets)
        engine = self.engine
        recorded = threading.Event()
        driving = engine.submit(run_id, observers=[lambda _loop: recorded.set()])
        driving.add_done_callback(lambda _future: recorded.set())
        after, seen_calls = 0, set()
        try:
            while True:
                ended = driving.done()
                for event in self._events(run_id, after, seen_calls):
                    after = max(after, event.seq)
                    yield event
                if ended:
                    break
                recorded.wait(poll_s)
                recorded.clear()
        finally:
            if not driving.done():  # left early: the loop driving the run takes the request at its next tick
                engine.store.request_cancel(run_id)
                concurrent.futures.wait([driving])
        if driving.exception() is not None:
            raise driving.exception()
        result = self.result(run_id)
        yield RunEnded(run_id, after + 1, "run_ended", None, 0.0, {"status": result.status}, result=result)

    def resume(self, run_id: str, *, run: bool = True) -> str | Result:
        """Go on with a run that was interrupted, paused or waiting for people (after they decided); `run_id` may
        also be a snapshot file (`swarm snapshot`), recorded first. With `run=False` only check that the run can go
        on, and return its id (the CLI drives it with its live view)."""
        import asyncio

        self._open()
        run_id = self.engine.prepare_resume(run_id)
        if not run:
            return run_id
        asyncio.run(self.engine.drive(run_id))
        return self.result(run_id)

    def fork(self, run_id: str, at_event: int, sets: dict[str, Any] | None = None, *, run: bool = True) -> str | Result:
        """A new run that starts from `run_id` as it was at `at_event`, with `sets` edits (`{"1.2.data.goal": ...}`,
        as `swarm fork --set`); it replays the parent's calls wherever it asks the same. Returns its Result once
        run, or with `run=False` its id."""
        import asyncio

        from swarm.timetravel import fork

        self._open()
        new_id = fork(self.engine, self.engine.store.run(run_id)["id"], at_event, sets or {})
        if not run:
            return new_id
        asyncio.run(self.engine.drive(new_id))
        return self.result(new_id)

    def cancel(self, run_id: str, node_id: str | None = None) -> str:
        """Cancel a run (or one node and what is under it); see Engine.cancel for what it returns."""
        self._open()
        return self.engine.cancel(run_id, node_id)

    # --- people --------------------------------------------------------------------------

    def approvals(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """The requests waiting for a person (all runs, or one), oldest first."""
        from swarm.approvals import pending

        return pending(self.store, run_id)

    def approve(self, approval_id: int | str, *, edited: Any = None, note: str | None = None,
                by: str = "api") -> dict[str, Any]:
        """Approve a request (with `edited`, the proposal replaced: for ask_human, the answer); `by` is who
        decided, as the history keeps it."""
        from swarm.approvals import decide

        return decide(self.store, approval_id, "approve", note=note, edited=edited, by=by)

    def reject(self, approval_id: int | str, reason: str, *, by: str = "api") -> dict[str, Any]:
        """Reject a request; the reason becomes the error the node's parent hears."""
        from swarm.approvals import decide

        return decide(self.store, approval_id, "reject", reason=reason, by=by)

    # --- looking back ----------------------------------------------------------------------

    def result(self, run_id: str) -> Result:
        """How a recorded run stands now (its status may still be running or waiting)."""
        row = self.store.run(run_id)
        result = json.loads(row["result"]) if row.get("result") else None
        answer = result.get("answer", result) if isinstance(result, dict) else result
        return Result(run_id=row["id"], status=row["status"], answer=answer, result=result, error=row.get("error"),
                      stop_reason=row.get("stop_reason"), nodes=row.get("nodes") or 0,
                      prompt_tokens=row.get("prompt_tokens") or 0, completion_tokens=row.get("completion_tokens") or 0,
                      cost_usd=row.get("cost_usd") or 0.0)

    def history(self, run_id: str) -> list[Event]:
        """Every recorded event of a run, oldest first, model calls included (each after the event before it)."""
        run_id = self.store.run(run_id)["id"]
        return list(self._events(run_id, 0, set()))

    def runs(self, limit: int = 50) -> list[Result]:
        """The most recent runs of the store, newest first."""
        return [self.result(r["id"]) for r in self.store.runs(limit=limit)]

    # --- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the model server this swarm started (if any), the sandbox workers and the store."""
        if not self._closed:
            self._closed = True
            if self._engine is not None:
                self._engine.close()
            if self._store is not None:
                self._store.close()

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        if self._closed:
            raise SwarmError("this Swarm is closed; make a new one (or use it inside its `with` block)")

    def _events(self, run_id: str, after: int, seen_calls: set[str]) -> Iterator[Event]:
        """The run's events after `after`, typed, with the model calls not yet seen merged in by time (a call
        comes before the event recorded after it, and carries that event's seq)."""
        store = self.store
        calls = [c for c in store.llm_calls(run_id) if c["key"] not in seen_calls]  # oldest first
        waiting = 0
        for row in store.events(run_id, after):
            while waiting < len(calls) and calls[waiting]["at"] <= row["at"]:
                seen_calls.add(calls[waiting]["key"])
                yield _model_called(calls[waiting], row["seq"])
                waiting += 1
            yield _typed(row)
            after = row["seq"]
        for call in calls[waiting:]:  # recorded after the last event so far
            seen_calls.add(call["key"])
            yield _model_called(call, after)


def _typed(row: dict[str, Any]) -> Event:
    detail = json.loads(row["detail"]) if isinstance(row.get("detail"), str) and row["detail"] else (row.get("detail") or {})
    state = json.loads(row["state"]) if isinstance(row.get("state"), str) and row["state"] else {}
    base = dict(run_id=row["run_id"], seq=row["seq"], kind=row["kind"], node_id=row.get("node_id"), at=row["at"],
                detail=detail if isinstance(detail, dict) else {"value": detail})
    kind = row["kind"]
    if kind == EventKind.SPAWN:
        return NodeSpawned(**base, script=state.get("script", ""), parent=state.get("parent"))
    if kind == EventKind.EXECUTE:
        return NodeStarted(**base, round=detail.get("round", 0), attempt=detail.get("attempt", 0))
    if kind == EventKind.TERMINATE:
        return NodeEnded(**base, status=state.get("status", ""), output=state.get("output"), error=state.get("error"))
    if kind == EventKind.AWAITING_APPROVAL:
        return ApprovalNeeded(**base, question=detail.get("question", ""), proposal=detail.get("proposal"))
    return Event(**base)


def _model_called(call: dict[str, Any], seq: int) -> ModelCalled:
    return ModelCalled(run_id=call["run_id"], seq=seq, kind="model_call", node_id=call["node_id"], at=call["at"],
                       model=call.get("model"), prompt_tokens=call.get("prompt_tokens") or 0,
                       completion_tokens=call.get("completion_tokens") or 0, latency_ms=call.get("latency_ms"),
                       error=call.get("error"))


__all__ = ["Swarm", "Result", "Event", "NodeSpawned", "NodeStarted", "NodeEnded", "ApprovalNeeded", "ModelCalled",
           "RunEnded"]
