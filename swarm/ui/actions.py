"""What the page changes: approval decisions, forks and cancels; runs that nobody drives are driven here.

Approvals and time travel are separate parts of swarm (`swarm.approvals`, `swarm.timetravel`).
A decision only writes to the store; the process that drives the
run picks it up. When no live process drives it (the run paused for a person, or a fork was
just made), the UI server drives it itself, in a thread, with its own Engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from swarm import approvals, timetravel
from swarm.config import Config
from swarm.engine import Engine
from swarm.engine import _alive as _alive_elsewhere
from swarm.errors import SwarmError
from swarm.store import RUN_FINAL, Store

log = logging.getLogger("swarm.ui")
RECHECK_S = 1.0


class Actions:
    def __init__(self, config: Config, store: Store, engine: Engine | None = None):
        self.config = config
        self.store = store
        self._engine = engine  # given (a test's, an embedding program's) or made on first use and owned here
        self.owns_engine = engine is None
        self.lock = threading.Lock()
        self.threads: dict[str, threading.Thread] = {}
        self.closed = False

    def engine(self) -> Engine:
        """The Engine that forks, cancels and drives runs for the page, made on first use."""
        with self.lock:
            if self._engine is None:
                self._engine = Engine(self.config)
            return self._engine

    def decide(self, approval_id: int, body: dict[str, Any]) -> dict[str, Any]:
        decision = body.get("decision")
        if decision not in ("approve", "reject"):
            raise SwarmError(f'"decision" must be "approve" or "reject", not {decision!r}')
        if decision == "reject" and not str(body.get("reason") or "").strip():
            raise SwarmError("a rejection needs a reason; write why in the reason field")
        edited = body.get("edited")
        if decision == "approve" and isinstance(body.get("edited_text"), str):  # the page's editor: text, as `swarm approve --edit`
            edited = approvals.edited_proposal(approvals.request(self.store, approval_id), body["edited_text"])
        row = approvals.decide(self.store, approval_id, decision, note=body.get("note") or None,
                               reason=body.get("reason") or None, edited=edited, by="ui")
        run_id = (row or {}).get("run_id") or self._run_of(approval_id)
        driving = self.drive_if_idle(run_id) if run_id else False
        if run_id and not driving:  # its loop may be closing just now (pausing): look again in a moment
            timer = threading.Timer(RECHECK_S, self._recheck, (run_id,))
            timer.daemon = True
            timer.start()
        return {"approval": row, "run_id": run_id, "driven_here": driving}

    def _recheck(self, run_id: str) -> None:
        try:
            if not self.closed:
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

    def cancel(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        node = body.get("node") or None
        outcome = self.engine().cancel(self.store.run(run_id)["id"], node)
        return {"outcome": outcome}

    def drive_if_idle(self, run_id: str) -> bool:
        """Drive the run in this process when it can go on and no live process drives it; True if started."""
        run = self.store.run(run_id)
        if self.closed or run["status"] in RUN_FINAL or _alive(run.get("owner_pid")):
            return False
        with self.lock:
            thread = self.threads.get(run["id"])
            if thread is not None and thread.is_alive():
                return False
            thread = threading.Thread(target=self._drive, args=(run["id"],), name=f"swarm-ui-drive-{run['id']}", daemon=True)
            self.threads[run["id"]] = thread
        thread.start()
        return True

    def _drive(self, run_id: str) -> None:
        try:
            asyncio.run(self.engine().drive(run_id))
        except Exception:  # the run's own history says what happened; the server goes on
            log.exception("driving run %s from the UI failed", run_id)

    def _run_of(self, approval_id: int) -> str | None:
        rows = [a for a in self.store.approvals(status=None) if a["id"] == approval_id]
        return rows[0]["run_id"] if rows else None

    def close(self) -> None:
        """Stop the runs driven here cleanly (recorded, snapshotted, resumable) and wait for them."""
        self.closed = True
        if self._engine is None:
            return
        for loop in list(self._engine.loops):
            if loop.run_id in self.threads:
                loop.loop.call_soon_threadsafe(loop.shutdown, "the UI server stopped")  # on the run's own thread
        for thread in list(self.threads.values()):
            thread.join(timeout=10)
        if self.owns_engine:
            self._engine.close()


def _alive(pid: int | None) -> bool:
    """Does a live process (this one included: another Engine here) drive the run? A loop clears the pid when it ends."""
    return bool(pid) and (pid == os.getpid() or _alive_elsewhere(pid))
