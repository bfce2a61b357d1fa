"""The daemon loop: goal files from the watched folder become runs of one Engine, several at once, crash-safe.

One asyncio loop drives every run (one `engine.drive(run_id)` task each, at most
[daemon].max_concurrent_runs at a time). The order of each goal's steps is what makes a crash at
any moment harmless:

1. the file is moved inbox/ → processing/ (atomic rename);
2. a `goals` row records it with the run id chosen in advance (or with why it cannot run);
3. the run is created under that id (run, root node and first events in one transaction);
4. the run is driven; every model call it completes is in the store before it is acted on;
5. when it ends, the row records the outcome and the file's place in done/ or failed/; the result
   or error file is written (temporary name, then rename), the goal file is moved, the row is finished.

On start, before taking anything new, the daemon finishes what the ledger and processing/ hold:
a row whose run exists is resumed (or, if the run ended, concluded), a row whose run does not
exist yet gets it created under the recorded id, a file in processing/ with no row is taken as
if it had just arrived. So no goal is lost and none runs twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from swarm.config import DaemonSettings
from swarm.daemon import ledger
from swarm.daemon.eventlog import EventLog
from swarm.daemon.folder import GoalFolder, Settler, Watcher, fsync_folder, sha256_of, side_file, write_atomically
from swarm.daemon.goalfile import BadGoalFile, Goal, parse_goal
from swarm.daemon.report import error_text, result_markdown
from swarm.engine import Engine, new_run_id
from swarm.errors import SwarmError
from swarm.store import RUN_FINAL

RESCAN_S = 0.2  # a safety net for late or missed watcher events (watchdog holds inotify events up to 0.5 s)


class Daemon:
    def __init__(self, engine: Engine, folder: Path | str | None = None, log: EventLog | None = None):
        self.engine = engine
        engine.wait_for_people = True  # a run waiting for a person stays open; decisions are taken on its tick
        self.store = engine.store
        self.settings: DaemonSettings = engine.config.daemon
        self.folder = GoalFolder(Path(folder) if folder else engine.config.path(self.settings.folder))
        self.key = str(self.folder.root)  # the ledger rows of this folder
        self.log = log or EventLog()
        self.settler = Settler(self.settings.settle_ms / 1000)
        self.poll_s = min(0.05, max(0.01, self.settings.settle_ms / 10000))
        self.tasks: dict[int, asyncio.Task] = {}  # goal id -> the task driving its run
        self.backlog: list[dict[str, Any]] = []  # rows found at start-up, to drive before new files
        self.stopping: asyncio.Event | None = None
        self.stop_reason = ""
        self.taken = 0
        self.forced = False  # nodes were interrupted at the timeout: their threads may still be in a model call

    # --- the loop -----------------------------------------------------------------------

    async def serve(self) -> None:
        """Take goals until stop() is called, then stop cleanly (every run recorded, snapshotted, resumable)."""
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        if self.stop_reason:  # asked to stop before the loop ran
            self.stopping.set()
        self.folder.ensure()
        self.log.emit("daemon_start", pid=os.getpid(), folder=str(self.folder.root), store=str(self.store.path),
                      model=self.engine.endpoint.describe(), max_concurrent_runs=self.settings.max_concurrent_runs)
        self.recover()
        watcher = Watcher(self.folder.inbox, lambda path: loop.call_soon_threadsafe(self.settler.note, path))
        watcher.start()
        try:
            self.rescan()
            last_scan = time.monotonic()
            while not self.stopping.is_set():
                self.intake()
                now = time.monotonic()
                if now - last_scan >= RESCAN_S:
                    self.rescan()
                    last_scan = now
                try:
                    await asyncio.wait_for(self.stopping.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass
        finally:
            watcher.stop()
        await self.wind_down()

    def stop(self, reason: str = "stop requested") -> None:
        """Take no new goal; serve() then lets running nodes finish (up to shutdown_timeout_s) and returns."""
        if self.stopping is None:
            self.stop_reason = self.stop_reason or reason
        elif not self.stopping.is_set():
            self.stop_reason = reason
            self.log.emit("daemon_stopping", reason=reason, running=len(self.tasks),
                          timeout_s=self.settings.shutdown_timeout_s)
            self.stopping.set()
            self.engine.drain(f"daemon stopping ({reason})")

    def stop_now(self) -> None:
        """A second signal: interrupt the running nodes at once (they run again on the next start)."""
        self.forced = True
        self.log.emit("daemon_interrupting", running=len(self.tasks))
        self.engine.shutdown(f"daemon stopping ({self.stop_reason or 'signal'})")

    async def wind_down(self) -> None:
        self.engine.drain(f"daemon stopping ({self.stop_reason})")
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks.values()), timeout=self.settings.shutdown_timeout_s)
            if pending:
                self.forced = True
                self.log.emit("daemon_interrupting", running=len(pending))
                self.engine.shutdown(f"daemon stopping ({self.stop_reason}); nodes interrupted after "
                                     f"{self.settings.shutdown_timeout_s:g}s")
                await asyncio.wait(pending, timeout=30)
        self.log.emit("daemon_stop", reason=self.stop_reason, goals_taken=self.taken,
                      left_in_processing=len(ledger.unfinished(self.store, self.key)))

    # --- start-up: finish what a previous daemon left -------------------------------------

    def recover(self) -> None:
        rows = ledger.unfinished(self.store, self.key)
        known = {r["name"] for r in rows}
        for row in rows:
            if row["state"] == "finishing":
                self.conclude(row)
            elif row["run_id"] and self.store.has_run(row["run_id"]):
                status = self.store.run(row["run_id"])["status"]
                if status in RUN_FINAL:
                    self.conclude(row)
                else:
                    self.log.emit("goal_resume", file=row["original"], run=row["run_id"], status=status)
                    self.backlog.append(row)
            else:  # taken, its run not yet created: create it under the recorded id
                self.backlog.append(row)
        for entry in sorted(os.scandir(self.folder.processing), key=lambda e: e.name):
            if entry.is_file() and not entry.name.startswith(".") and entry.name not in known:
                self.log.emit("goal_recovered", file=entry.name, why="in processing/ with no record: taken again")
                self.accept(self.folder.processing / entry.name, entry.name)

    # --- intake ---------------------------------------------------------------------------

    def rescan(self) -> None:
        for path in self.folder.waiting():
            if path not in self.settler.seen:
                self.settler.note(path)

    def room(self) -> bool:
        """A run that only waits for a person does not count against the cap: others may go on meanwhile."""
        waiting = sum(1 for loop in self.engine.loops if loop.shown_status == "awaiting_approval")
        return len(self.tasks) - waiting < self.settings.max_concurrent_runs

    def intake(self) -> None:
        while self.backlog and self.room():
            self.start(self.backlog.pop(0))
        if not self.room():
            return
        for path in self.settler.ready():
            if not self.room():
                break
            self.settler.forget(path)
            try:
                claimed = self.folder.claim(path)
            except FileNotFoundError:  # taken away meanwhile
                continue
            self.accept(claimed, path.name)

    def accept(self, path: Path, original: str) -> None:
        """A file now in processing/: record it, then create its run and drive it (or conclude it as refused)."""
        self.taken += 1
        sha = ""
        try:
            raw, size = self.read(path)
            sha = sha256_of(raw)
            goal = parse_goal(original, raw, self.settings.max_goal_bytes, size)
        except (BadGoalFile, OSError) as exc:
            error = str(exc) if isinstance(exc, BadGoalFile) else f"{original} cannot be read ({exc.strerror or exc}); check its permissions"
            goal_id = ledger.record_claim(self.store, self.key, path.name, original, sha, None, error)
            self.log.emit("goal_refused", level="warning", file=original, error=error)
            self.conclude(self.row(goal_id))
            return
        goal_id = ledger.record_claim(self.store, self.key, path.name, original, sha, new_run_id())
        self.log.emit("goal_taken", file=original, name=path.name, goal_id=goal_id)
        self.start(self.row(goal_id), goal)

    def read(self, path: Path) -> tuple[bytes, int]:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return f.read(self.settings.max_goal_bytes + 1), size

    def row(self, goal_id: int) -> dict[str, Any]:
        return ledger.get(self.store, goal_id)

    def start(self, row: dict[str, Any], goal: Goal | None = None) -> None:
        """Create the run if it does not exist yet (under the recorded id), then drive it in a task."""
        run_id = row["run_id"]
        if not self.store.has_run(run_id):
            try:
                if goal is None:
                    raw, size = self.read(self.folder.processing / row["name"])
                    goal = parse_goal(row["original"], raw, self.settings.max_goal_bytes, size)
                self.engine.create_run(goal.text, script=goal.script, budgets=goal.budgets, run_id=run_id, model=goal.model)
            except (SwarmError, OSError) as exc:  # an unknown script, a file gone: refused, never fatal
                error = str(exc) if isinstance(exc, SwarmError) else f"cannot read the file ({exc})"
                ledger.record_outcome(self.store, row["id"], "failed", None, error)
                self.log.emit("goal_refused", level="warning", file=row["original"], error=error)
                self.conclude(self.row(row["id"]))
                return
            self.log.emit("run_start", file=row["original"], run=run_id, script=goal.script, budgets=goal.budgets,
                          **({"model": goal.model} if goal.model else {}))
        self.tasks[row["id"]] = asyncio.get_running_loop().create_task(self.drive(row))

    async def drive(self, row: dict[str, Any]) -> None:
        run_id = row["run_id"]
        try:
            status = await self.engine.drive(run_id)
        except Exception as exc:  # whatever goes wrong with one run, the daemon goes on with the others
            self.log.emit("run_error", level="error", file=row["original"], run=run_id, error=f"{type(exc).__name__}: {exc}")
            status = "error"
        finally:
            self.tasks.pop(row["id"], None)
        if status in RUN_FINAL:
            self.conclude(row)
        else:  # interrupted by the stop, or an error: stays in processing/, resumed on the next start
            self.log.emit("run_left", file=row["original"], run=run_id, status=status)

    # --- the end of a goal -------------------------------------------------------------------

    def conclude(self, row: dict[str, Any]) -> None:
        """Record where the file goes, write its result or error file, move it, mark the row finished.

        Every step can be done again after a crash with the same effect.
        """
        run = self.store.run(row["run_id"]) if row["run_id"] and self.store.has_run(row["run_id"]) else None
        outcome = row["outcome"] or ("done" if run is not None and run["status"] == "done" else "failed")
        if row["dest"]:
            dest = Path(row["dest"])
        else:
            dest = self.folder.destination(outcome, row["name"])
            ledger.record_outcome(self.store, row["id"], outcome, str(dest))
        if run is not None and run["status"] in RUN_FINAL:
            write_atomically(side_file(dest, ".result.md"), result_markdown(row["original"], run))
        else:
            write_atomically(side_file(dest, ".error.txt"), error_text(row["original"], row["error"] or "unknown error"))
        source = self.folder.processing / row["name"]
        if source.exists():
            os.replace(source, dest)
        fsync_folder(dest.parent)
        fsync_folder(self.folder.processing)
        ledger.record_finished(self.store, row["id"])
        self.log.emit("goal_" + outcome, file=row["original"], moved_to=str(dest), run=row["run_id"],
                      status=run["status"] if run else None,
                      cost_usd=run.get("cost_usd") if run else None)
