"""What the API changes: submit a goal, decide an approval, fork, cancel, pause and resume a run.

A decision, a pause or a cancel only writes to the store; the process that drives the run picks it
up within a second. When no live process drives a run (a goal just submitted, a run paused for a
person, a fork just made), the server drives it itself: as an asyncio task on the server's own
event loop, all of them on one Engine (made here on first use, or the one given).
Every method here runs on that loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from swarm import approvals, timetravel
from swarm.config import Config
from swarm.engine import BUDGET_KEYS, Engine
from swarm.leases import held
from swarm.snapshot import state_at
from swarm.errors import SwarmError, UnknownNode
from swarm.statuses import RUN_FINAL, RunStatus
from swarm.store import Store

log = logging.getLogger("swarm.ui")
RECHECK_S = 1.0
STOP_WAIT_S = 10.0


class Actions:
    def __init__(self, config: Config, store: Store, engine: Engine | None = None):
        self.config = config
        self.store = store
        self._engine = engine  # given (a test's, an embedding program's) or made on first use and owned here
        self.owns_engine = engine is None
        self.lock = threading.Lock()
        self.tasks: dict[str, asyncio.Task] = {}  # run id -> the task driving it on the server's loop
        self.closed = False

    def engine(self) -> Engine:
        """The Engine that records, forks, cancels and drives runs for the API, made on first use."""
        with self.lock:
            if self._engine is None:
                self._engine = Engine(self.config)
            return self._engine

    # --- changes ----------------------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new run of `goal` (with `script`, `model`, `budgets`), recorded and driven here."""
        goal = body.get("goal")
        if not isinstance(goal, str) or not goal.strip():
            raise SwarmError('"goal" must be the text of what the swarm should do, e.g. {"goal": "summarise README.md"}')
        script, model = body.get("script"), body.get("model")
        for name, value in (("script", script), ("model", model)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SwarmError(f'"{name}" must be a name (a non-empty string) or left out')
        budgets = body.get("budgets") or {}
        if not isinstance(budgets, dict):
            raise SwarmError(f'"budgets" must be an object of {", ".join(BUDGET_KEYS)}')
        for key, value in budgets.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SwarmError(f"budget {key} must be a number, not {value!r}")
        unknown = set(body) - {"goal", "script", "model", "budgets"}
        if unknown:
            raise SwarmError(f"unknown field(s) {', '.join(sorted(unknown))}; a run takes goal, script, model and budgets")
        run_id = self.engine().create_run(goal, script=script or None, budgets=budgets or None, model=model or None)
        return {"run_id": run_id, "driven_here": self.drive_if_idle(run_id)}

    def decide(self, approval_id: int, body: dict[str, Any]) -> dict[str, Any]:
        decision = body.get("decision")
        if decision not in ("approve", "reject"):
            raise SwarmError(f'"decision" must be "approve" or "reject", not {decision!r}')
        reason, note = body.get("reason"), body.get("note")
        for name, value in (("reason", reason), ("note", note), ("edited_text", body.get("edited_text"))):
            if value is not None and not isinstance(value, str):
                raise SwarmError(f'"{name}" must be text')
        if decision == "reject" and not (reason or "").strip():
            raise SwarmError("a rejection needs a reason; write why in the reason field")
        edited = body.get("edited")
        if decision == "approve" and isinstance(body.get("edited_text"), str):  # the page's editor: text, as `swarm approve --edit`
            edited = approvals.edited_proposal(approvals.request(self.store, approval_id), body["edited_text"])
        row = approvals.decide(self.store, approval_id, decision, note=note or None, reason=reason or None,
                               edited=edited, by="ui")
        run_id = (row or {}).get("run_id")
        driving = self.drive_if_idle(run_id) if run_id else False
        if run_id and not driving:
            self._look_again(run_id)
        return {"approval": row, "run_id": run_id, "driven_here": driving}

    def _look_again(self, run_id: str) -> None:
        """The loop driving the run may be ending just now (pausing) without having seen the change: when
        it is ours, drive the run again once its task ends; else look again in a moment."""
        task = self.tasks.get(run_id)
        if task is not None and not task.done():
            task.add_done_callback(lambda _task: self._recheck(run_id))
        else:
            asyncio.get_running_loop().call_later(RECHECK_S, self._recheck, run_id)

    def _recheck(self, run_id: str) -> None:
        try:  # paused again meanwhile: a loop started now would only record the pause and stop
            if not self.closed and not self.store.pause_requested(run_id):
                self.drive_if_idle(run_id)
        except Exception:  # the server is closing, or the run is gone: nothing to go on with
            log.debug("re-checking run %s after a decision failed", run_id, exc_info=True)

    def fork(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        at = body.get("at_event")
        if not isinstance(at, int) or isinstance(at, bool) or at < 0:
            raise SwarmError('"at_event" must be an event number (the scrubber\'s position)')
        sets = body.get("sets") or None
        if sets is not None and not isinstance(sets, dict):
            raise SwarmError('"sets" must be an object of NODE.data.KEY -> value')
        new_id = timetravel.fork(self.engine(), self.store.run(run_id)["id"], at, sets)
        self.drive_if_idle(new_id)
        return {"run_id": new_id}

    async def cancel(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Engine.cancel's outcomes; a run nobody drives is stopped here, on this loop."""
        node = body.get("node") or None
        if node is not None and not isinstance(node, str):
            raise SwarmError('"node" must be a node id such as "1.2", or left out to cancel the whole run')
        run = self.store.run(run_id)
        if run["status"] in RUN_FINAL:
            return {"outcome": run["status"]}
        if node is not None and node not in {n["id"] for n in state_at(self.store, run["id"])}:
            raise UnknownNode(run["id"], node)
        engine = self.engine()
        self.store.request_cancel(run["id"], node)
        if engine.driving(run["id"]) or held(run) or self._driving(run["id"]):
            return {"outcome": "requested"}
        if node is not None:
            return {"outcome": "pending"}
        self.drive_if_idle(run["id"])  # the loop finds the request at its start and records the cancel
        task = self.tasks.get(run["id"])
        if task is not None:
            await asyncio.shield(task)
        return {"outcome": "cancelled"}

    def pause(self, run_id: str) -> dict[str, Any]:
        return approvals.pause(self.store, run_id)

    def resume(self, run_id: str) -> dict[str, Any]:
        """Lift a pause, and drive the run here when no live process does."""
        run = self.store.run(run_id)
        if run["status"] in RUN_FINAL:
            raise SwarmError(f"run {run['id']} already ended ({run['status']}); there is nothing to resume")
        status = "resumed"
        if run["status"] == RunStatus.PAUSED or run.get("pause_requested"):
            status = approvals.resume_paused(self.store, run["id"])["status"]
        driving = self.drive_if_idle(run["id"])
        if not driving:
            self._look_again(run["id"])
        return {"run_id": run["id"], "status": status, "driven_here": driving or self._driving(run["id"])}

    # --- driving ------------------------------------------------------------------------------

    def _driving(self, run_id: str) -> bool:
        task = self.tasks.get(run_id)
        return task is not None and not task.done()

    def drive_if_idle(self, run_id: str) -> bool:
        """Drive the run on this loop when it can go on and no live process drives it; True if started."""
        run = self.store.run(run_id)
        if self.closed or run["status"] in RUN_FINAL or held(run) or self._driving(run["id"]):
            return False
        self.tasks[run["id"]] = asyncio.get_running_loop().create_task(self._drive(run["id"]), name=f"swarm-ui-drive-{run['id']}")
        return True

    async def _drive(self, run_id: str) -> None:
        try:
            await self.engine().drive(run_id)
        except Exception:  # the run's own history says what happened; the server goes on
            log.exception("driving run %s from the UI failed", run_id)

    async def stop(self) -> None:
        """Stop the runs driven here cleanly (recorded, snapshotted, resumable) and wait for them. On the loop."""
        self.closed = True
        if self._engine is None:
            return
        # On the engine's loop thread, where the runs' loops live.
        self._engine.shutdown("the UI server stopped", runs={run_id for run_id in self.tasks if self._driving(run_id)})
        running = [t for t in self.tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=STOP_WAIT_S)

    def close(self) -> None:
        """After the loop stopped: close the Engine made here."""
        self.closed = True
        if self.owns_engine and self._engine is not None:
            self._engine.close()
