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

Any number of daemons may share one store (on one host or many, each watching its own folder or none):
the goals table is their common queue (swarm/daemon/queue.py). Each takes goals submitted to the store
(`swarm submit --queue`) and drives any goal's run whose lease is free (swarm/leases.py), so a daemon
killed or frozen past its lease has its runs taken over by another; two never drive one run at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from swarm import leases
from swarm.config import DaemonSettings
from swarm.daemon import ledger, queue
from swarm.daemon.eventlog import EventLog
from swarm.daemon.folder import (GoalFolder, Settler, Watcher, free_name, fsync_folder, lstat_kind, safe_name, sha256_of,
                                 shown_name, side_file, write_atomically)
from swarm.daemon.goalfile import BadGoalFile, Goal, parse_goal
from swarm.daemon.report import error_text, result_markdown
from swarm.engine import Engine, new_run_id
from swarm.errors import StoreError, SwarmError, database_errors
from swarm.leases import LeaseHeld, LeaseLost, worker_name
from swarm.ports import GOAL_WAKEUPS
from swarm.statuses import RUN_FINAL, RunStatus

RESCAN_S = 0.2  # a safety net for late or missed watcher events (watchdog holds inotify events up to 0.5 s)
SHARE_S = 0.2  # how often the shared queue is looked at: goals submitted to the store, runs whose lease is free
RETRY_S = 2.0  # how often what failed for a reason outside the goal file (disk full, read-only folder) is tried again


def surroundings() -> tuple[type[BaseException], ...]:
    """Errors of the disk, the folders or the store (SQLite's, PostgreSQL's): not the goal file's fault, so never
    a reason to refuse it. For `except surroundings()`, evaluated when something is raised (psycopg's errors
    count once a PostgreSQL store was opened)."""
    return (OSError, StoreError, *database_errors())


def warm(engine: Engine) -> None:
    """What the first node would otherwise do while its run is under way: start the model client (imports
    included) and build the routing index (loading the embedding model when [retrieval] uses one)."""
    engine.model()
    engine.router()


def trouble_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({shown_name(os.fsdecode(exc.filename))})" if exc.filename else "")
    return str(exc) if isinstance(exc, SwarmError) else f"{type(exc).__name__}: {exc}"


class Daemon:
    def __init__(self, engine: Engine, folder: Path | str | None = None, log: EventLog | None = None, *,
                 watch: bool = True):
        """`watch=False`: no folder; the daemon only drives goals of the store's queue (other daemons' and submitted ones)."""
        self.engine = engine
        engine.wait_for_people = True  # a run waiting for a person stays open; decisions are taken on its tick
        self.store = engine.store
        self.settings: DaemonSettings = engine.config.daemon
        self.folder = GoalFolder(Path(folder) if folder else engine.config.path(self.settings.folder)) if watch else None
        self.key = str(self.folder.root) if self.folder else None  # the ledger rows of this folder
        engine.leases.on_claim = self.claimed
        self.log = log or EventLog()
        self.settler = Settler(self.settings.settle_ms / 1000)
        self.poll_s = min(0.05, max(0.01, self.settings.settle_ms / 10000))
        # How often the shared queue is looked at: on SQLite every SHARE_S; on PostgreSQL a submitted goal, a run
        # ended here or a goal taken here wakes the daemon (`share_now`), so the look is a fallback, kept often
        # enough to take over a run whose lease lapsed (a third of the lease) but no more than [store].wakeup_poll_s.
        self.wakeups = self.store.wakeups if self.store.wakeups.instant else None
        self.share_s = SHARE_S if self.wakeups is None else max(
            SHARE_S, min(engine.config.store.wakeup_poll_s, engine.leases.ttl_s / 3))
        self.share_now = False
        # SQLite: the last look at the queue found nothing but this daemon's own runs, and nothing happened here
        # since; the next looks only ask whether another connection wrote the store (swarm/adapters/sqlite/wakeups.py)
        self.quiet = False
        self.looked_at = 0.0  # (monotonic) the last whole look at the queue
        self.nudged: asyncio.Event | None = None  # set when there is something to look at before the next due look
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop serve() runs on
        self.tasks: dict[int, asyncio.Task] = {}  # goal id -> the task driving its run
        self.epochs: dict[str, int] = {}  # run id -> the lease epoch this daemon last claimed it at
        self.backlog: list[dict[str, Any]] = []  # rows found at start-up, to drive before new files
        self.stopping: asyncio.Event | None = None
        self.stop_reason = ""
        self.taken = 0
        self.forced = False  # nodes (or the warm-up) were left running: their threads may still be busy
        self.retries: dict[Hashable, Callable[[], None]] = {}  # what failed around a goal, tried again every RETRY_S
        self.held: set[Path] = set()  # inbox/ files that could not be moved, until their retry
        self.troubles: dict[Hashable, str] = {}  # what was last logged about each thing being retried

    # --- the loop -----------------------------------------------------------------------

    async def serve(self) -> None:
        """Take goals until stop() is called, then stop cleanly (every run recorded, snapshotted, resumable)."""
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.nudged = asyncio.Event()
        self.loop = loop
        if self.stop_reason:  # asked to stop before the loop ran
            self.stopping.set()
        try:
            if self.folder:
                self.folder.ensure()
        except OSError as exc:
            raise SwarmError(f"cannot use the watched folder {self.folder.root}: {trouble_text(exc)}; it needs the "
                             "folders inbox/, processing/, done/ and failed/ (created if missing): fix or move what is "
                             "in the way, or pass another --folder") from None
        self.log.emit("daemon_start", pid=os.getpid(), worker=worker_name(), folder=self.key,
                      store=str(self.store.path), model=self.engine.endpoint.describe(),
                      max_concurrent_runs=self.settings.max_concurrent_runs, lease_ttl_s=self.engine.leases.ttl_s)
        if not await self.warm_up():
            await self.wind_down()
            return
        if self.folder:
            self.recover()
            watcher = Watcher(self.folder.inbox, lambda path: loop.call_soon_threadsafe(self.noted, path))
            watcher.start()
        unsubscribe = self.wakeups.subscribe(GOAL_WAKEUPS, self.woken) if self.wakeups is not None else None
        try:
            if self.folder:
                self.rescan()
            last_scan = last_retry = last_share = time.monotonic()
            while not self.stopping.is_set():
                self.nudged.clear()
                if self.folder:
                    self.intake()
                now = time.monotonic()
                if self.share_now or now - last_share >= self.share_s:
                    self.share_now = False
                    self.guarded(self.share)
                    last_share = now
                if self.folder and now - last_scan >= RESCAN_S:
                    self.rescan()
                    last_scan = now
                if self.retries and now - last_retry >= RETRY_S:
                    self.retry()
                    last_retry = now
                await self.pause(self.next_look(last_share, last_scan, last_retry))
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if self.folder:
                watcher.stop()
        await self.wind_down()

    def next_look(self, last_share: float, last_scan: float, last_retry: float) -> float:
        """Seconds until the loop must look again: soon while files settle or goals wait for room, else when the
        next look at the queue, rescan or retry is due (a watcher event, a wake-up or a stop comes sooner: `nudged`).
        An idle daemon wakes a few times a second, not at every poll."""
        if self.backlog or self.settler.seen or self.share_now:
            return self.poll_s
        due = [last_share + self.share_s]
        if self.folder:
            due.append(last_scan + RESCAN_S)
        if self.retries:
            due.append(last_retry + RETRY_S)
        return max(self.poll_s, min(due) - time.monotonic())

    async def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when nudged (no task made for it: an idle daemon does this all day)."""
        timer = asyncio.get_running_loop().call_later(seconds, self.nudged.set)
        try:
            await self.nudged.wait()
        finally:
            timer.cancel()

    def nudge(self) -> None:
        """On the loop's thread: something to look at now (a file, the queue, a run's end, a stop)."""
        self.quiet = False
        if self.nudged is not None:
            self.nudged.set()

    def noted(self, path: Path) -> None:
        """On the loop's thread: the watcher saw something happen to a file in inbox/."""
        self.settler.note(path)
        self.nudge()

    async def warm_up(self) -> bool:
        """Warm the engine up in a thread of its own before any goal is taken; False when a stop came first
        (the thread is then left behind: nothing else was running, so the daemon exits at once)."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future = loop.create_future()
        started = time.monotonic()

        def work() -> None:
            try:
                warm(self.engine)
                error = None
            except Exception as exc:  # the nodes that need what failed will say so themselves
                error = trouble_text(exc)
            try:
                loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(error))
            except RuntimeError:  # the loop is gone: the daemon stopped meanwhile
                pass

        threading.Thread(target=work, name="swarm-warm-up", daemon=True).start()
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait([finished, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        took = round(time.monotonic() - started, 3)
        if not finished.done():
            self.forced = True
            self.log.emit("warm_up", finished=False, seconds=took,
                          note="stopped while warming up; no goal had been taken, so nothing is waited for")
            return False
        if error := finished.result():
            self.log.emit("warm_up", level="warning", finished=True, seconds=took, error=error,
                          note="the nodes that need it will fail with this error")
        else:
            self.log.emit("warm_up", finished=True, seconds=took)
        return not self.stopping.is_set()

    def stop(self, reason: str = "stop requested") -> None:
        """Take no new goal; serve() then lets running nodes finish (up to shutdown_timeout_s) and returns."""
        if self.stopping is None:
            self.stop_reason = self.stop_reason or reason
        elif not self.stopping.is_set():
            self.stop_reason = reason
            self.log.emit("daemon_stopping", reason=reason, running=len(self.tasks),
                          timeout_s=self.settings.shutdown_timeout_s)
            self.stopping.set()
            self.nudge()
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
        try:
            left: int | None = len(ledger.unfinished(self.store, self.key)) if self.key else None
        except surroundings():
            left = None
        self.log.emit("daemon_stop", reason=self.stop_reason, goals_taken=self.taken, left_in_processing=left,
                      **({"wakeups": self.wakeups.received} if self.wakeups is not None else {}))

    # --- trouble around a goal: logged once, tried again ------------------------------------

    def later(self, key: Hashable, action: Callable[[], None], event: str, **fields: Any) -> None:
        """`action` failed for a reason outside the goal file: log it (once while the reason stays the same),
        and run `action` again in RETRY_S seconds."""
        self.retries[key] = action
        if self.troubles.get(key) != fields["error"]:
            self.troubles[key] = fields["error"]
            self.log.emit(event, level="error", retry_in_s=RETRY_S, **fields)

    def settled(self, key: Hashable) -> None:
        self.retries.pop(key, None)
        self.troubles.pop(key, None)

    def retry(self) -> None:
        due, self.retries = self.retries, {}
        try:
            if self.folder:
                self.folder.ensure()  # a sub-folder removed meanwhile is made again
        except OSError:
            pass
        for action in due.values():
            self.guarded(action)

    # --- start-up: finish what a previous daemon left -------------------------------------

    def recover(self) -> None:
        rows = ledger.unfinished(self.store, self.key)
        known = {r["name"] for r in rows}
        for row in rows:
            if row["state"] == "finishing":
                self.guarded(self.conclude, row)
            elif row["run_id"] and self.store.has_run(row["run_id"]):
                status = self.store.run(row["run_id"])["status"]
                if status in RUN_FINAL:
                    self.guarded(self.conclude, row)
                else:
                    self.log.emit("goal_resume", file=row["original"], run=row["run_id"], status=status)
                    self.backlog.append(row)
            else:  # taken, its run not yet created: create it under the recorded id
                self.backlog.append(row)
        for entry in sorted(os.scandir(self.folder.processing), key=lambda e: e.name):
            if not entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".") and entry.name not in known:
                self.log.emit("goal_recovered", file=shown_name(entry.name), why="in processing/ with no record: taken again")
                self.taken += 1
                self.guarded(self.accept, self.folder.processing / entry.name, shown_name(entry.name))

    # --- intake ---------------------------------------------------------------------------

    def rescan(self) -> None:
        try:
            waiting = self.folder.waiting()
        except OSError as exc:
            self.later("inbox", lambda: None, "folder_error", folder=str(self.folder.inbox), error=trouble_text(exc),
                       hint="inbox/ cannot be read; make it a readable folder again")
            return
        self.settled("inbox")
        for path in waiting:
            if path not in self.settler.seen and path not in self.held:
                self.settler.note(path)

    def room(self) -> bool:
        """A run that only waits for a person does not count against the cap: others may go on meanwhile."""
        if len(self.tasks) < self.settings.max_concurrent_runs:  # (without asking the engine's thread)
            return True
        waiting = sum(1 for loop in self.engine.loops if loop.shown_status == RunStatus.AWAITING_APPROVAL)
        return len(self.tasks) - waiting < self.settings.max_concurrent_runs

    def intake(self) -> None:
        while self.backlog and self.room():
            self.guarded(self.start, self.backlog.pop(0))
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
            except OSError as exc:  # inbox/ or processing/ cannot be written: it stays in inbox/ until it can
                self.held.add(path)
                self.later(("claim", path), lambda path=path: self.held.discard(path), "goal_claim_failed",
                           file=shown_name(path.name), error=trouble_text(exc),
                           hint="the file stays in inbox/; free disk space or make the goals folder writable")
                continue
            self.settled(("claim", path))
            self.taken += 1
            self.guarded(self.accept, claimed, shown_name(path.name))

    def guarded(self, step: Callable[..., None], *args: Any) -> None:
        """The last net under one goal's steps (each catches what it expects): whatever escapes is logged and
        stays with that goal (its file stays in processing/, taken again on the next start); the daemon goes on."""
        try:
            step(*args)
        except Exception as exc:  # noqa: BLE001
            import traceback

            self.log.emit("goal_error", level="error", step=step.__name__, args=[str(a) for a in args],
                          error=f"{type(exc).__name__}: {exc}", traceback="".join(traceback.format_exception(exc)).rstrip())

    def accept(self, path: Path, original: str) -> None:
        """A file now in processing/: record it, then create its run and drive it (or conclude it as refused)."""
        try:
            if safe_name(path.name) != path.name:  # left by an older daemon: every recorded name is safe
                safe = free_name(self.folder.processing, safe_name(path.name), side_files=False)
                os.replace(path, safe)
                path = safe
            goal, sha, error = self.examine(path, original)
            goal_id = ledger.record_claim(self.store, self.key, path.name, original, sha,
                                          new_run_id() if error is None else None, error)
        except surroundings() as exc:  # the store or processing/ cannot be written: the file waits in processing/
            self.later(("accept", path.name), lambda: self.accept(path, original), "goal_deferred", file=original,
                       error=trouble_text(exc), hint="the file stays in processing/; free disk space or fix the store")
            return
        self.settled(("accept", path.name))
        if error is not None:
            self.log.emit("goal_refused", level="warning", file=original, error=error)
            self.conclude(self.row(goal_id))
            return
        self.log.emit("goal_taken", file=original, name=path.name, goal_id=goal_id)
        self.start(self.row(goal_id), goal)

    def examine(self, path: Path, original: str) -> tuple[Goal | None, str, str | None]:
        """What a file in processing/ asks for: (the goal, its sha256, None), or (None, sha256, what is wrong).

        Whatever goes wrong reading one file is that file's problem: it never reaches the daemon.
        """
        sha = ""
        try:
            kind = lstat_kind(path)
            if kind is not None:
                return None, sha, (f"{original} is {kind}, not a regular file; the daemon never follows links or "
                                   "reads special files: put the file itself (a copy) into inbox/")
            raw, size = self.read(path, original)
            sha = sha256_of(raw)
            return parse_goal(original, raw, self.settings.max_goal_bytes, size), sha, None
        except BadGoalFile as exc:
            return None, sha, str(exc)
        except OSError as exc:
            return None, sha, f"{original} cannot be read ({exc.strerror or exc}); check the file and drop it again"
        except Exception as exc:  # noqa: BLE001 — anything else a hostile file can cause
            return None, sha, (f"{original} could not be read as a goal file ({type(exc).__name__}: {exc}); "
                               "check it is a plain goal file and drop it again")

    def read(self, path: Path, original: str) -> tuple[bytes, int]:
        """The first max_goal_bytes + 1 bytes and the size of a regular file, opened without following a link."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BadGoalFile(f"{original} is not a regular file; put the file itself into inbox/")
            if st.st_nlink > 1:
                raise BadGoalFile(
                    f"{original} has {st.st_nlink} hard links (the same file under other names, maybe outside the "
                    "goals folder); the daemon reads only files of their own: put a copy into inbox/, not a link")
            return f.read(self.settings.max_goal_bytes + 1), st.st_size

    def row(self, goal_id: int) -> dict[str, Any]:
        return ledger.get(self.store, goal_id)

    def start(self, row: dict[str, Any], goal: Goal | None = None) -> None:
        """Create the run if it does not exist yet (under the recorded id), then drive it in a task."""
        if row["id"] in self.tasks:  # already being driven here (taken from the shared queue meanwhile)
            return
        run_id = row["run_id"]
        try:
            exists = self.store.has_run(run_id)
            if not exists:
                if goal is None:
                    goal, _, error = self.examine(self.folder.processing / row["name"], row["original"])
                    if goal is None:
                        return self.refuse(row, error or "unknown error")
                self.engine.create_run(goal.text, script=goal.script, budgets=goal.budgets, run_id=run_id, model=goal.model)
        except surroundings() as exc:  # the store cannot be written: the run is created when it can
            self.later(("start", row["id"]), lambda: self.start(row, goal), "goal_deferred", file=row["original"],
                       error=trouble_text(exc), hint="the file stays in processing/; free disk space or fix the store")
            return
        except SwarmError as exc:  # an unknown script, bad budgets: refused, never fatal
            return self.refuse(row, str(exc))
        except Exception as exc:  # noqa: BLE001 — whatever else one goal causes is that goal's
            return self.refuse(row, f"its run could not be created ({type(exc).__name__}: {exc})")
        self.settled(("start", row["id"]))
        if not exists:
            self.log.emit("run_start", file=row["original"], run=run_id, script=goal.script, budgets=goal.budgets,
                          **({"model": goal.model} if goal.model else {}))
        self.tasks[row["id"]] = asyncio.get_running_loop().create_task(self.drive(row))

    def refuse(self, row: dict[str, Any], error: str) -> None:
        """This goal cannot run (or cannot go on): to failed/, with an error file saying why."""
        self.log.emit("goal_refused", level="warning", file=row["original"], error=error)
        self.conclude({**row, "outcome": "failed", "error": error})

    async def drive(self, row: dict[str, Any]) -> None:
        run_id = row["run_id"]
        error = None
        try:
            status = await self.engine.drive(run_id)
        except LeaseHeld as exc:  # another daemon drives it: it files or closes the goal when the run ends
            self.log.emit("run_elsewhere", file=row["original"], run=run_id, worker=exc.owner, lease_expires=exc.expires)
            return
        except LeaseLost as exc:  # taken over while this daemon was frozen or cut off: the other one goes on
            self.log.emit("lease_lost", level="warning", file=row["original"], run=run_id, epoch=exc.epoch,
                          now_epoch=exc.now_epoch, now_worker=exc.now_owner, commit_rejected=True, error=str(exc))
            return
        except surroundings() as exc:  # the store or the disk failed under the run: it is driven again when it can be
            self.tasks.pop(row["id"], None)
            if (lost := self.lost_lease(run_id)) is not None:  # e.g. the server ended a session frozen mid-commit
                self.log.emit("lease_lost", level="warning", file=row["original"], run=run_id, epoch=lost.epoch,
                              now_epoch=lost.now_epoch, now_worker=lost.now_owner, commit_rejected=True,
                              error=f"{lost}; the store refused the commit: {trouble_text(exc)}")
                return
            if not self.stopping.is_set():
                self.later(("drive", row["id"]), lambda: self.start(row), "goal_deferred", file=row["original"],
                           run=run_id, error=trouble_text(exc),
                           hint="the run stays in processing/ and goes on from where it was recorded; free disk space "
                                "or fix the store")
            else:
                self.log.emit("run_left", file=row["original"], run=run_id, status="error", error=trouble_text(exc))
            return
        except Exception as exc:  # whatever goes wrong with one run, the daemon goes on with the others
            error = f"{type(exc).__name__}: {exc}"
            self.log.emit("run_error", level="error", file=row["original"], run=run_id, error=error)
            status = "error"
        finally:
            self.tasks.pop(row["id"], None)
            self.share_now = self.wakeups is not None  # room for the next goal: looked at at once (SQLite: on its tick)
            self.nudge()
        self.settled(("drive", row["id"]))
        if status in RUN_FINAL:
            self.ended(row, status)
        elif error is not None and not self.stopping.is_set():  # it would break again on every start
            self.ended(row, status, (
                f"its run {run_id} broke off with an internal error ({error}); the run is kept: see "
                f"`swarm history {run_id}`, try `swarm resume {run_id}`, or drop the goal file into inbox/ again"))
        else:  # interrupted by the stop: stays in processing/, resumed on the next start
            self.log.emit("run_left", file=row["original"], run=run_id, status=status)

    # --- the queue every daemon on the store shares (swarm/daemon/queue.py) ------------------------

    def share(self) -> None:
        """Take goals submitted to the store while there is room, drive runs whose lease is free (new ones, and
        those of a daemon that was killed or froze past its lease), and close or file the goals whose run ended."""
        if self.stopping.is_set():
            return
        elsewhere = self.store.wakeups.written_elsewhere()  # (PostgreSQL: always True)
        if self.quiet and not elsewhere and time.monotonic() - self.looked_at < self.engine.config.store.wakeup_poll_s:
            return  # nothing new can be there: nobody wrote the store, and nothing in it waits on the clock
        self.looked_at, self.quiet = time.monotonic(), False
        now = time.time()
        busy = False  # something in the queue besides this daemon's own runs, or no room to look
        while self.room():
            taken = self.store.queue.take_submitted(worker_name(), now, now - self.engine.leases.ttl_s)
            if taken is None:
                break
            busy = True
            self.open_submitted(taken)
        else:
            busy = True  # no room: goals may be waiting for it
        for found in self.store.queue.open_goals():
            goal_id = found["goal_id"]
            if goal_id in self.tasks:
                continue
            busy = True  # another's run (its lease may lapse), one to drive, file or close
            step = queue.step(found, self.key, now)
            if step == queue.DRIVE and self.room():
                row = self.row(goal_id)
                self.tasks[goal_id] = asyncio.get_running_loop().create_task(self.drive(row))
            elif step == queue.FILE and ("conclude", goal_id) not in self.retries:
                self.conclude(self.row(goal_id))
            elif step in (queue.CLOSE, queue.HAND_BACK):
                self.ended(self.row(goal_id), found["run_status"])
        self.quiet = not busy

    def woken(self, goal_id: str | None) -> None:
        """From the store's wake-ups thread: a goal was submitted (None: maybe); the loop looks at the queue at once."""
        self.share_now = True
        try:
            if self.loop is not None:  # else not serving yet: it looks at the queue first
                self.loop.call_soon_threadsafe(self.nudge)
        except RuntimeError:  # the loop has closed: the daemon stopped
            pass

    def open_submitted(self, taken: dict[str, Any]) -> None:
        """A goal of the store's queue, now this daemon's: create its run (under the id chosen when it was
        submitted); the next look at the queue drives it."""
        row = {"id": taken["goal_id"], "folder": queue.SUBMITTED, "original": taken["original"],
               "run_id": taken["run_id"], "outcome": None, "error": None}
        self.taken += 1
        try:
            spec = json.loads(taken["spec"] or "{}")
            if not self.store.has_run(taken["run_id"]):
                self.engine.create_run(spec.get("goal") or "", script=spec.get("script"), budgets=spec.get("budgets"),
                                       run_id=taken["run_id"], model=spec.get("model"))
        except surroundings() as exc:  # taken again by any daemon once the lease ttl passed with no run
            self.log.emit("goal_deferred", level="error", goal_id=taken["goal_id"], file=taken["original"],
                          error=trouble_text(exc), hint="taken again once [store].lease_ttl_s has passed")
            return
        except Exception as exc:  # noqa: BLE001 — an unknown script, bad budgets: refused, never fatal
            error = str(exc) if isinstance(exc, SwarmError) else f"its run could not be created ({type(exc).__name__}: {exc})"
            self.log.emit("goal_refused", level="warning", goal_id=taken["goal_id"], file=taken["original"], error=error)
            self.ended(row, "error", error)
            return
        self.share_now = self.wakeups is not None  # its run is driven at the next look, at once (SQLite: on its tick)
        self.log.emit("goal_taken", goal_id=taken["goal_id"], file=taken["original"], run=taken["run_id"], queue=True)
        self.log.emit("run_start", file=taken["original"], run=taken["run_id"], script=spec.get("script"),
                      budgets=spec.get("budgets") or {})

    def lost_lease(self, run_id: str) -> LeaseLost | None:
        """Whether another worker took the run over since this daemon last claimed it (its epoch moved on)."""
        epoch = self.epochs.get(run_id)
        try:
            row = self.store.leases.lease_row(run_id) if epoch is not None else None
        except surroundings():
            return None
        if row is None or row["lease_epoch"] == epoch:
            return None
        return LeaseLost(run_id, worker_name(), epoch, row["lease_owner"], row["lease_epoch"], row["lease_expires"])

    def claimed(self, lease: leases.Lease, before: dict[str, Any]) -> None:
        """From the store's writer thread: this daemon took a run's lease (from whom, when it had lapsed)."""
        self.epochs[lease.run_id] = lease.epoch
        fields: dict[str, Any] = {"run": lease.run_id, "epoch": lease.epoch, "worker": lease.owner}
        previous = before.get("lease_owner")
        if previous and previous != lease.owner:
            expires = before.get("lease_expires")
            fields.update(took_over_from=previous, lapsed_s=round(time.time() - expires, 3) if expires else None)
        self.log.emit("run_claimed", **fields)

    def ended(self, row: dict[str, Any], status: str, error: str | None = None) -> None:
        """A goal's run ended (or broke off: `error`): file the goal (one of this daemon's folder), close it (a
        submitted goal), or record its outcome for the daemon whose folder it came from, which files it."""
        if self.key is not None and row["folder"] == self.key:
            return self.conclude(row if error is None else {**row, "outcome": "failed", "error": error})
        outcome = "failed" if error is not None else queue.outcome(status)
        try:
            if row["folder"] == queue.SUBMITTED:
                recorded = self.store.queue.close(row["id"], outcome, error, time.time())
            else:
                recorded = self.store.queue.hand_back(row["id"], outcome, error)
        except surroundings() as exc:  # the next look at the queue finds it again
            self.log.emit("goal_filing_failed", level="error", goal_id=row["id"], run=row["run_id"], error=trouble_text(exc))
            return
        if not recorded:  # another daemon saw the end first and recorded it
            return
        if row["folder"] != queue.SUBMITTED:
            self.log.emit("goal_handed_back", goal_id=row["id"], file=row["original"], folder=row["folder"],
                          run=row["run_id"], outcome=outcome)
            return
        run = self.store.run(row["run_id"]) if self.store.has_run(row["run_id"]) else {}
        self.log.emit("goal_done" if outcome == "done" else "goal_failed", goal_id=row["id"], file=row["original"],
                      run=row["run_id"], status=run.get("status"), cost_usd=run.get("cost_usd"), queue=True,
                      **({"error": error} if error else {}))

    # --- the end of a goal -------------------------------------------------------------------

    def conclude(self, row: dict[str, Any]) -> None:
        """Record where the file goes, write its result or error file, move it, mark the row finished.

        Every step can be done again after a crash (or a failed write) with the same effect. When the
        folder or the store cannot be written, the goal stays in processing/ and this is tried again.
        """
        try:
            try:
                self._conclude(row)
            except surroundings():
                raise
            except Exception as exc:  # noqa: BLE001 — a result that cannot be written up: filed as failed, saying so
                error = (f"the daemon could not write up this goal's result ({type(exc).__name__}: {exc})"
                         + (f"; its run is {row['run_id']}: see `swarm history {row['run_id']}`" if row["run_id"] else ""))
                self.log.emit("goal_refused", level="error", file=row["original"], error=error)
                self._file_failed(row, error)
        except surroundings() as exc:
            self.later(("conclude", row["id"]), lambda: self.conclude(self._refreshed(row)), "goal_filing_failed",
                       file=row["original"], run=row["run_id"], error=trouble_text(exc),
                       hint="the goal stays in processing/ until its result can be written; free disk space or "
                            "make the goals folder writable")
        else:
            self.settled(("conclude", row["id"]))

    def _file_failed(self, row: dict[str, Any], error: str) -> None:
        """The plainest filing, for when writing the result up failed: the file to failed/ with an error file."""
        dest = Path(row["dest"]) if row["dest"] and Path(row["dest"]).parent == self.folder.failed else \
            self.folder.destination("failed", row["name"])
        ledger.record_outcome(self.store, row["id"], "failed", str(dest), error)
        write_atomically(side_file(dest, ".error.txt"), error_text(dest.name, error, row["original"]))
        source = self.folder.processing / row["name"]
        if os.path.lexists(source):
            os.replace(source, dest)
        ledger.record_finished(self.store, row["id"])
        self.log.emit("goal_failed", file=row["original"], moved_to=str(dest), run=row["run_id"], status=None,
                      cost_usd=None)

    def _refreshed(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row as recorded now (its destination may have been recorded before a write failed), over the one in hand."""
        try:
            recorded = self.row(row["id"])
        except surroundings():
            return row
        return {**row, **{k: v for k, v in recorded.items() if v is not None}}

    def _conclude(self, row: dict[str, Any]) -> None:
        run = self.store.run(row["run_id"]) if row["run_id"] and self.store.has_run(row["run_id"]) else None
        outcome = row["outcome"] or ("done" if run is not None and run["status"] == RunStatus.DONE else "failed")
        if row["dest"]:
            dest = Path(row["dest"])
        else:
            dest = self.folder.destination(outcome, row["name"])
            ledger.record_outcome(self.store, row["id"], outcome, str(dest), row["error"])
        if run is not None and run["status"] in RUN_FINAL:
            write_atomically(side_file(dest, ".result.md"), result_markdown(dest.name, run, row["original"]))
        else:
            write_atomically(side_file(dest, ".error.txt"),
                             error_text(dest.name, row["error"] or "unknown error", row["original"]))
        source = self.folder.processing / row["name"]
        if os.path.lexists(source):
            os.replace(source, dest)
        fsync_folder(dest.parent)
        fsync_folder(self.folder.processing)
        ledger.record_finished(self.store, row["id"])
        self.log.emit("goal_done" if outcome == "done" else "goal_failed", file=row["original"], moved_to=str(dest), run=row["run_id"],
                      status=run["status"] if run else None,
                      cost_usd=run.get("cost_usd") if run else None)

