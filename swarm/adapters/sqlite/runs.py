"""The SQLite run store (swarm.store.Store): every table of the swarm in one file, an append-only event history,
group commit. All of its SQL is here; swarm/store.py is the face callers import.

One file, WAL mode. The lifecycle collects the events of one turn of its loop in a
`Batch` and commits them in one transaction (group commit): an event is durable
before the lifecycle acts on it.

A damaged file gets no new work: opening a store runs SQLite's quick_check (about 1.5 ms a
megabyte), and so does recording a new run when the file changed since the last check: every time
on a small store (up to RECHECK_ALWAYS_BYTES), and on a big one at most CHECK_SHARE of the time
(a check that took 2 s comes again 200 s later at the soonest), so a daemon whose store grows for
months does not read all of it before every goal. Readers may skip the check on a big store
(`check="if_small"`); a read that meets a damaged page still stops with the same advice (StoreDamaged).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections import deque
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from swarm import deltas
from swarm.adapters.dialect import SQLITE, upsert
from swarm.adapters.sqlite import migrations
from swarm.adapters.sqlite.goals import SqliteGoals
from swarm.adapters.sqlite.leases import SqliteLeases
from swarm.adapters.sqlite.queue import SqliteQueue
from swarm.adapters.sqlite.ratebuckets import SqliteRateBuckets
from swarm.adapters.sqlite.wakeups import SqliteWakeups
from swarm.adapters.sqlite.memory import SqliteMemory
from swarm.adapters.sqlite.metrics import SqliteMetrics
from swarm.adapters.sqlite.migrations import MIGRATIONS
from swarm.adapters.sqlite.tail import SqliteEventTail
from swarm.batch import Batch, collector_paused, dumps, loads
from swarm.errors import StoreDamaged, StoreError, UnknownRun
from swarm.ports import GOAL_WAKEUPS, RUN_WAKEUPS

SCHEMA_VERSION = len(MIGRATIONS)  # the schema this swarm writes (swarm/adapters/sqlite/migrations.py)


def _stat(path: Path):
    try:
        return path.stat()
    except FileNotFoundError:
        return None


SNAPSHOTS_KEPT = 16  # partial snapshots a run keeps after its last whole one; older ones are merged


def _compact_snapshots(c: sqlite3.Connection, run_id: str) -> None:
    """Keep at most SNAPSHOTS_KEPT partial snapshots after a run's last whole one: the oldest two that follow on
    from each other (the second starts where the first ended) become one, the later state of a node winning.
    Any event still checks out exactly; one between the two merged is rebuilt from an earlier snapshot."""
    while True:
        heads = c.execute("SELECT id, at_event, since FROM snapshots WHERE run_id=? ORDER BY at_event, id",
                          (run_id,)).fetchall()
        start = max((i + 1 for i, (_, _, since) in enumerate(heads) if since is None), default=0)
        partial = heads[start:]
        if len(partial) <= SNAPSHOTS_KEPT:
            return
        pair = next(((a, b) for a, b in zip(partial, partial[1:]) if b[2] == a[1]), None)
        if pair is None:
            return  # nothing follows on from its predecessor: merging would leave a gap uncovered
        (a_id, _, a_since), (b_id, _, _) = pair
        docs = [orjson.loads(zlib.decompress(c.execute("SELECT data FROM snapshots WHERE id=?", (i,)).fetchone()[0]))
                for i in (a_id, b_id)]
        nodes = {n["id"]: n for n in docs[0]["nodes"]}
        nodes.update((n["id"], n) for n in docs[1]["nodes"])
        merged = {**docs[1], "since": a_since, "nodes": list(nodes.values())}
        c.execute("UPDATE snapshots SET data=?, since=?, reason=reason || ' (merged)' WHERE id=?",
                  (zlib.compress(orjson.dumps(merged), 1), a_since, b_id))
        c.execute("DELETE FROM snapshots WHERE id=?", (a_id,))


def _table_state(values: tuple, run_id: str) -> dict[str, Any]:
    """A node's state in the nodes table: what differs from a new node, less the script and status of its columns."""
    state = deltas.beside_id(deltas.keyframe(values, run_id))
    state.pop("script", None)
    state.pop("status", None)
    return state


def _snapshot_state(row: tuple, run_id: str) -> dict[str, Any]:
    """A nodes-table row (id, script, status, state) as a snapshot holds a node: what differs from a new node, id first."""
    node_id, script, status, text = row
    state = orjson.loads(text)
    if deltas.KEYFRAME not in state:  # a whole state (written by a fork, or before deltas)
        return deltas.compact(state, run_id)
    del state[deltas.KEYFRAME]
    state["script"], state["status"] = script, status
    if status == "pending":
        del state["status"]
    return {"id": node_id, **state}


def _from_table(rows: list[tuple], run_id: str) -> list[dict[str, Any]]:
    """Whole states of (id, script, status, state) rows of the nodes table."""
    apply = deltas.apply
    out = []
    for node_id, script, status, text in rows:
        state = orjson.loads(text)
        state["script"], state["status"] = script, status
        out.append(apply(None, state, run_id, node_id))
    return out


def _state_before(c: sqlite3.Connection, run_id: str, node_id: str, seq: int) -> dict[str, Any]:
    """A node's whole state after its last event before `seq`: back to its last keyframe (or whole state),
    then forward through its deltas."""
    changes: list[dict] = []
    base = None
    for state, patch in c.execute("SELECT state, patch FROM events WHERE node_id=? AND seq<? AND run_id=? "
                                  "ORDER BY seq DESC", (node_id, seq, run_id)):
        if patch is not None:
            change = orjson.loads(patch)
            changes.append(change)
            if "id" in change or deltas.KEYFRAME in change:
                break
        elif state is not None:
            base = orjson.loads(state)
            break
    if not changes and base is None:
        raise StoreError(f"run {run_id}'s history has no state of node {node_id} before event {seq}; "
                         f"see it whole with `swarm history {run_id} --node {node_id}`")
    for change in reversed(changes):
        base = deltas.apply(base, change, run_id, node_id)
    return base  # type: ignore[return-value]


def rebuild_states(c: sqlite3.Connection, rows: list[dict[str, Any]], known: dict | None = None,
                   decoded: bool = False) -> None:
    """Give every event row (seq, run_id, node_id, state, patch, ... oldest first) its node's whole state as JSON
    in `state`, and drop `patch`. `known`: (run_id, node_id) -> state before these rows, kept up to date
    (a reader that follows the history keeps it between calls); what it lacks is read from the history.
    `decoded`: `state` is the state itself (a dict, not to be changed), not its JSON: what a reader that decodes
    it anyway is spared (encoding it, then decoding it again, was a third of `swarm history`)."""
    known = {} if known is None else known
    apply = deltas.apply
    for row in rows:
        patch = row.pop("patch", None)
        if patch is None:
            if row["state"] is not None and row["node_id"] is not None:
                known[(row["run_id"], row["node_id"])] = state = orjson.loads(row["state"])
                if decoded:
                    row["state"] = state
            continue
        change = orjson.loads(patch)
        key = (row["run_id"], row["node_id"])
        base = known.get(key)
        if base is None and "id" not in change and deltas.KEYFRAME not in change:
            base = _state_before(c, row["run_id"], row["node_id"], row["seq"])
        state = apply(base, change, row["run_id"], row["node_id"])
        known[key] = state
        row["state"] = state if decoded else dumps(state)


def insert_rows(c: sqlite3.Connection, head: str, rows: list[tuple], chunk: int = 400, tail: str = "") -> None:
    """Many rows per statement: one step of SQLite per chunk instead of one per row, which matters
    when hundreds of threads want the GIL back each time sqlite3 lets go of it."""
    width = len(rows[0])
    one = "(" + ",".join("?" * width) + ")"
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        c.execute(f"{head} VALUES {','.join([one] * len(part))}{tail}", [v for row in part for v in row])


class Checkpointer:
    """Copies the WAL back into the database file every `interval_s`, on its own connection and thread.

    A PASSIVE checkpoint never blocks the writer, so a commit never waits for an fsync.
    """

    def __init__(self, path: Path, interval_s: float = 1.0):
        self.path, self.interval_s = path, interval_s
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="swarm-checkpoint", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10)
        try:
            while not self.stopping.wait(self.interval_s):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the next open of the store checkpoints; nothing is lost by skipping one here
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


READ_CHECK_MAX_BYTES = 64 * 1024 * 1024  # a reader checks a store up to this size at open: about 0.1 s
RECHECK_ALWAYS_BYTES = 2 * 1024 * 1024  # a new run is preceded by a check whenever a store this small changed: ~3 ms
CHECK_SHARE = 0.01  # a bigger store is checked again for a new run at most this share of the time


def damaged(exc: BaseException) -> bool:
    """Is this SQLite error a damaged file (SQLITE_CORRUPT), as opposed to a full disk, a lock, a bad query?"""
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF == 11) or "malformed" in str(exc)


def _into_wal(conn: sqlite3.Connection, tries: int = 100) -> None:
    """WAL mode. Switching a new file into it can be refused at once with "database is locked" while another
    process opening the same new file switches it (SQLite does not wait on busy_timeout there): try again."""
    for attempt in range(tries):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.02)


class Store:
    """The swarm's SQLite file. Thread-safe: one connection behind a lock.

    `check`: "always" runs SQLite's quick_check at open (every command that writes, the engine, the
    daemon); "if_small" only when the file is at most READ_CHECK_MAX_BYTES (commands that only read).
    """

    BEGIN = "BEGIN IMMEDIATE"  # a write transaction: SQLite lets one in at a time
    ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error,)  # what the database raises
    dialect = SQLITE  # where its SQL differs from another backend's (swarm/adapters/dialect.py)

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", *, check: str = "always"):
        self.path = Path(path)
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"[store].synchronous must be NORMAL, FULL, EXTRA or OFF, not {synchronous!r}")
        self.checked: tuple | None = None  # the file's (size, mtime) when quick_check last passed
        self.check_took = 0.0  # how long that check took (s), and when it ended (time.monotonic)
        self.checked_at = 0.0
        # Paid model replies not yet written (appended by any thread): the writer's next transaction takes them.
        self.paid_calls: deque[dict[str, Any]] = deque()
        self._taken: list[dict[str, Any]] = []  # those the transaction under way took
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            existed = self.path.exists() and self.path.stat().st_size > 0
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
            conn.execute("PRAGMA busy_timeout=10000")
            self.conn = conn
            self.lock = threading.RLock()
            self._refuse_foreign_file()  # before anything changes the file
            if existed and (check == "always" or self._size() <= READ_CHECK_MAX_BYTES):
                self.check()  # before anything is written to it
            _into_wal(conn)
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            # Checkpoints (the only fsync of WAL mode at NORMAL) run on their own thread, off the commit path.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self.checkpointer = Checkpointer(self.path)
            self._migrate()
            if self.checked or not existed:
                self.checked = self._version()  # what changed since the check is the schema's own writes
        except sqlite3.DatabaseError as exc:
            if damaged(exc):
                raise StoreDamaged(self.path, str(exc)) from None
            raise StoreError(
                f"{self.path} is not a usable swarm store ({exc}); point [store].path in swarm.toml "
                "or $SWARM_STORE at a new file"
            ) from None

    def _size(self) -> int:
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def _version(self) -> tuple:
        """The file and its WAL as the file system sees them: any write changes it."""
        return tuple((st.st_size, st.st_mtime_ns) if (st := _stat(p)) else None
                     for p in (self.path, Path(f"{self.path}-wal")))

    def check(self) -> None:
        """SQLite's quick_check of the whole file; StoreDamaged when it finds anything wrong.

        On its own connection, so the writer is not held up while it reads the file."""
        version = self._version()
        started = time.monotonic()
        try:
            conn = sqlite3.connect(str(self.path), timeout=10)
            try:
                problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise StoreDamaged(self.path, str(exc)) from None
        if problems != ["ok"]:
            raise StoreDamaged(self.path, "integrity check: " + "; ".join(problems))
        self.checked = version
        self.checked_at = time.monotonic()
        self.check_took = self.checked_at - started

    def check_if_changed(self) -> None:
        """Check again when the file changed since the last check that passed (before new work goes in); a big
        store only once CHECK_SHARE of the time allows it again."""
        version = self._version()
        if version == self.checked:
            return
        small = sum(v[0] for v in version if v) <= RECHECK_ALWAYS_BYTES
        if small or time.monotonic() - self.checked_at >= self.check_took / CHECK_SHARE:
            self.check()

    def _refuse_foreign_file(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        tables.discard("sqlite_sequence")
        if tables and "meta" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite file of something else (tables: {', '.join(sorted(tables)[:5])}); "
                "point [store].path or $SWARM_STORE at a new file"
            )

    def _migrate(self) -> None:
        with self.transaction() as c:  # BEGIN IMMEDIATE: one process migrates at a time; the next finds it done
            migrations.migrate(c, str(self.path))

    def close(self) -> None:
        self.checkpointer.stop()
        with self.lock:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute(self.BEGIN)
            try:
                yield self.conn
                self.conn.execute("COMMIT")  # may fail too (disk full in the WAL): then roll back as well
            except BaseException:
                if self.conn.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                    self.conn.execute("ROLLBACK")
                self.paid_calls.extendleft(reversed(self._taken))  # not written: they wait for the next one
                raise
            finally:
                self._taken = []

    # --- the lifecycle's writes -------------------------------------------------

    def commit(self, batch: Batch, run_id: str) -> int:
        """Write a batch in one transaction; returns the run's last event number.

        Refuses a batch whose line already lost an earlier batch (see WriteLine)."""
        if batch.line.failed:
            raise StoreError(
                f"did not write run {run_id}'s later history: an earlier write failed ({batch.line.failed}); "
                f"free disk space or fix permissions, then continue with `swarm resume {run_id}`"
            )
        try:
            with self.transaction() as c:
                last = self._write(c, batch, run_id)
        except self.ERRORS as exc:  # the transaction rolled back: the store holds the last good turn
            batch.line.failed = str(exc)
            if damaged(exc):
                raise StoreDamaged(self.path, str(exc)) from None
            raise StoreError(
                f"could not write run {run_id}'s history to {self.path} ({exc}); free disk space or fix "
                f"permissions, then continue with `swarm resume {run_id}`"
            ) from None
        self.checkpointer.start()
        return last

    def _write(self, c: sqlite3.Connection, batch: Batch, run_id: str) -> int:
        self.leases.fence(c, run_id)  # LeaseLost when another worker took the run over: nothing of the turn is written
        last = 0
        self._take_paid_calls(c)  # paid replies that came since the last transaction: group commit
        if batch.calls:
            cols = list(batch.calls[0])
            c.executemany(upsert("llm_calls", cols, ("key",)), [tuple(row[k] for k in cols) for row in batch.calls])
        if batch.nodes:
            # Updated in place (an upsert keeps the row where it is): a replace would leave a hole behind each time.
            insert_rows(c, "INSERT INTO nodes (run_id, id, parent, script, status, state)",
                        [row if isinstance(row[-1], str) else (*row[:-1], dumps(_table_state(row[-1], row[0])))
                         for row in batch.nodes.values()],
                        tail=" ON CONFLICT (run_id, id) DO UPDATE SET parent=excluded.parent, script=excluded.script, "
                             "status=excluded.status, state=excluded.state")
        if batch.approvals:
            c.executemany(
                "INSERT INTO approvals (run_id, node_id, kind, question, proposal, created_at, key) VALUES (?,?,?,?,?,?,?)",
                batch.approvals,
            )
        now = time.time()
        for node_id, status, answer, reason, by in batch.decisions:
            c.execute(
                "UPDATE approvals SET status=?, answer=?, reason=?, decided_by=?, decided_at=?, handled_at=? "
                "WHERE run_id=? AND node_id=? AND status='pending'",
                (status, dumps(answer), reason, by, now, now, run_id, node_id),
            )
        if batch.handled:
            c.execute(f"UPDATE approvals SET handled_at=? WHERE id IN ({','.join('?' * len(batch.handled))})",
                      (now, *batch.handled))
        if batch.events:  # last: a backend that numbers events under a lock holds it for the rest of the commit only
            last = self._append_events(c, batch.events)
        fields = dict(batch.run)
        if last:
            fields["last_event"] = last
        if fields:
            cols = ", ".join(f"{k}=?" for k in fields)
            c.execute(f"UPDATE runs SET {cols} WHERE id=?", (*fields.values(), run_id))
        batch.events, batch.nodes, batch.run, batch.approvals, batch.decisions, batch.handled, batch.calls = [], {}, {}, [], [], [], []
        return last

    def _append_events(self, c: sqlite3.Connection, events: list[tuple]) -> int:
        """Insert a batch's events, numbered in a row after every event before (AUTOINCREMENT, one writer at a
        time); returns the last number."""
        insert_rows(c, "INSERT INTO events (run_id, node_id, kind, at, state, patch, detail)", events)
        return c.execute("SELECT last_insert_rowid()").fetchone()[0]

    def _stored_snapshot(self, data: str, since: int | None) -> str | bytes:
        """A snapshot document as the snapshots table keeps it: a whole tree as text, a partial one compressed."""
        return data if since is None else zlib.compress(data.encode(), 1)

    def create_run(self, run: dict[str, Any], batch: Batch | None = None) -> None:
        """Record a new run, and its first events in the same transaction: never a run without its root.

        Checks the file first when it changed since its last check: no new work goes into a damaged store."""
        self.check_if_changed()
        with self.transaction() as c:
            cols = ", ".join(run)
            c.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(run))})", tuple(run.values()))
            if batch:
                self._write(c, batch, run["id"])
            self.wakeups.notify(c, GOAL_WAKEUPS, f"run:{run['id']}")  # a run with no lease yet: any daemon may drive it

    def create_run_from(self, run: dict[str, Any], batch: Batch, snapshot: Callable[[int], str]) -> int:
        """A run that starts from a given state (a fork), in one transaction: its row, its first events, and
        a snapshot of all its nodes as of the first of them (`snapshot(first_event)` makes the document)."""
        self.check_if_changed()
        with self.transaction() as c:
            c.execute(f"INSERT INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})", tuple(run.values()))
            count = len(batch.events)
            last = self._write(c, batch, run["id"])
            first = last - count + 1  # one transaction, one writer: the batch's events are numbered in a row
            c.execute("INSERT INTO snapshots (run_id, at_event, taken_at, reason, data) VALUES (?,?,?,?,?)",
                      (run["id"], first, time.time(), "fork", self._stored_snapshot(snapshot(first), None)))
        return last

    def update_run(self, run_id: str, **fields: Any) -> None:
        with self.transaction() as c:
            cols = ", ".join(f"{k}=?" for k in fields)
            c.execute(f"UPDATE runs SET {cols} WHERE id=?", (*fields.values(), run_id))

    def write_paid_calls(self) -> None:
        """Write the paid replies waiting in `paid_calls`, in one transaction; nothing when a commit took them."""
        if self.paid_calls:
            with self.transaction() as c:
                self._take_paid_calls(c)

    def _take_paid_calls(self, c: sqlite3.Connection) -> None:
        """Into this transaction: the paid replies waiting (put back if it does not commit, see _put_back)."""
        rows = []
        while self.paid_calls:
            rows.append(self.paid_calls.popleft())
        if rows:
            self._taken = rows
            cols = list(rows[0])
            c.executemany(upsert("llm_calls", cols, ("key",)), [tuple(row[k] for k in cols) for row in rows])

    def record_llm_call(self, row: dict[str, Any]) -> None:
        """A completed (or failed) model call; written at once, so a crash never pays for it twice."""
        with self.transaction() as c:
            c.execute(upsert("llm_calls", list(row), ("key",)), tuple(row.values()))

    def save_snapshot(self, run_id: str, at_event: int, reason: str, data: str, since: int | None = None) -> int:
        """A snapshot document at an event: the whole tree, or (`since` an earlier event) only the nodes changed
        after that event, kept compressed."""
        with self.transaction() as c:
            snapshot_id = c.execute(
                "INSERT INTO snapshots (run_id, at_event, taken_at, reason, data, since) VALUES (?,?,?,?,?,?) RETURNING id",
                (run_id, at_event, time.time(), reason, self._stored_snapshot(data, since), since),
            ).fetchone()[0]
            if since is not None:
                _compact_snapshots(c, run_id)
            return snapshot_id

    # --- reads ------------------------------------------------------------------

    def _query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self.lock:
            cursor = self.conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def run(self, run_id: str) -> dict[str, Any]:
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            matches = self._query("SELECT * FROM runs WHERE id LIKE ?", (run_id + "%",)) if len(run_id) >= 4 else []
            if len(matches) != 1:
                raise UnknownRun(run_id)
            rows = matches
        return rows[0]

    def has_run(self, run_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM runs WHERE id=?", (run_id,)))

    def runs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        if status:
            return self._query("SELECT * FROM runs WHERE status=? ORDER BY created_at DESC LIMIT ?", (status, limit))
        return self._query("SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))

    def has_node(self, run_id: str, node_id: str) -> bool:
        with self.lock:
            return self.conn.execute("SELECT 1 FROM nodes WHERE run_id=? AND id=?", (run_id, node_id)).fetchone() is not None

    def node_states(self, run_id: str) -> list[dict[str, Any]]:
        """Every node's whole state as of its last event (the table keeps what differs from a new node's)."""
        with self.lock:
            rows = self.conn.execute("SELECT id, script, status, state FROM nodes WHERE run_id=?", (run_id,)).fetchall()
        with collector_paused():
            return _from_table(rows, run_id)

    def events(self, run_id: str, after: int = 0, until: int | None = None, *, node_id: str | None = None,
               limit: int | None = None, states: bool = True) -> list[dict[str, Any]]:
        """A run's events after `after` up to `until`, oldest first: seq, run_id, node_id, kind, at, state, detail.

        `state` is the node's whole state after the event as JSON (None for a run-level event), rebuilt from
        what the event recorded (see swarm/deltas.py); `states=False` leaves it out, which is faster."""
        return self._events(run_id, after, until, node_id, limit, states, None)

    def _events(self, run_id: str, after: int, until: int | None, node_id: str | None, limit: int | None,
                states: bool, known: dict | None, decoded: bool = False) -> list[dict[str, Any]]:
        """events(); `known`: the states a reader that goes on from an earlier call kept, `decoded`: states as dicts
        (see rebuild_states)."""
        sql = ("SELECT seq, run_id, node_id, kind, at, state, patch, detail" if states else
               "SELECT seq, run_id, node_id, kind, at, detail") + " FROM events WHERE run_id=? AND seq>?"
        params: tuple = (run_id, after)
        if until is not None:
            sql += " AND seq<=?"
            params += (until,)
        if node_id is not None:
            sql += " AND node_id=?"
            params += (node_id,)
        with collector_paused():
            rows = self._query(sql + " ORDER BY seq" + (f" LIMIT {int(limit)}" if limit else ""), params)
            if states:
                with self.lock:
                    rebuild_states(self.conn, rows, known, decoded)
        return rows

    def event_pages(self, run_id: str, *, node_id: str | None = None, page: int = 5000,
                    decoded: bool = False) -> Iterator[list[dict[str, Any]]]:
        """events(run_id, node_id=node_id), `page` rows at a time: a history of hundreds of thousands of events
        listed as it is read, never all of it in memory; between pages, the last state of each node.
        `decoded`: each state is a dict (not to be changed) instead of its JSON."""
        known: dict = {}
        after = 0
        while True:
            rows = self._events(run_id, after, None, node_id, page, True, known, decoded)
            if rows:
                yield rows
            if len(rows) < page:
                return
            after = rows[-1]["seq"]

    def replay(self, run_id: str, nodes: dict[str, dict], after: int, until: int | None, whole: bool = True) -> None:
        """Move `nodes` (states by id, as they were right after event `after`) on to event `until` (None: the last).
        `whole=False`: the states are partial (see deltas.patched), and stay so."""
        sql = "SELECT seq, node_id, state, patch FROM events WHERE run_id=? AND seq>? AND node_id IS NOT NULL"
        params: tuple = (run_id, after)
        if until is not None:
            sql, params = sql + " AND seq<=?", params + (until,)
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY seq", params).fetchall()
            apply = deltas.apply if whole else deltas.patched
            for seq, node_id, state, patch in rows:
                if patch is not None:
                    change = orjson.loads(patch)
                    base = nodes.get(node_id)
                    if base is None and "id" not in change and deltas.KEYFRAME not in change:
                        base = _state_before(self.conn, run_id, node_id, seq)
                    nodes[node_id] = apply(base, change, run_id, node_id)
                elif state is not None:
                    nodes[node_id] = orjson.loads(state)

    def current_states(self, run_id: str) -> list[dict[str, Any]] | None:
        """Every node's state as of the run's last event, from the nodes table (written with each event);
        None when that table does not hold all of the run's nodes (a run imported from a snapshot file)."""
        with self.lock:
            row = self.conn.execute("SELECT nodes FROM runs WHERE id=?", (run_id,)).fetchone()
            rows = self.conn.execute("SELECT id, script, status, state FROM nodes WHERE run_id=?", (run_id,)).fetchall()
        if row is None or not rows or len(rows) != (row[0] or 0):
            return None
        return _from_table(rows, run_id)

    def timeline(self, run_id: str) -> list[tuple[int, str, str | None]]:
        """(seq, kind, node_id) of every event of a run, oldest first: the axis of a history scrubber."""
        with self.lock:
            return self.conn.execute("SELECT seq, kind, node_id FROM events WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()

    def event_times(self, run_id: str, until: int | None = None) -> list[tuple[str | None, str, float]]:
        """(node_id, kind, at) of a run's events up to an event (None: all), oldest first: when its nodes worked."""
        sql = "SELECT node_id, kind, at FROM events WHERE run_id=?" + (" AND seq<=?" if until is not None else "")
        with self.lock:
            return self.conn.execute(sql + " ORDER BY seq", (run_id,) if until is None else (run_id, until)).fetchall()

    def event_range(self, run_id: str) -> tuple[int, int] | None:
        """The first and last event number of a run, or None when it has no events."""
        with self.lock:
            # Two subqueries: each is one step down the (run_id, seq) index, where MIN and MAX together in one
            # query would read every event of the run (0.05 s at 500,000 events).
            first, last = self.conn.execute("SELECT (SELECT MIN(seq) FROM events WHERE run_id=?), "
                                            "(SELECT MAX(seq) FROM events WHERE run_id=?)", (run_id, run_id)).fetchone()
        return None if first is None else (first, last)

    def run_events(self, run_id: str, until: int) -> list[dict[str, Any]]:
        """The run-level events (start, fork, pause, end...) of a run up to an event, oldest first."""
        return self._query("SELECT seq, kind, at, detail FROM events WHERE run_id=? AND node_id IS NULL AND seq<=? ORDER BY seq",
                           (run_id, until))

    def llm_calls(self, run_id: str, node_id: str | None = None) -> list[dict[str, Any]]:
        if node_id is not None:
            return self._query("SELECT * FROM llm_calls WHERE run_id=? AND node_id=? ORDER BY at", (run_id, node_id))
        return self._query("SELECT * FROM llm_calls WHERE run_id=? ORDER BY at", (run_id,))

    def models_answered(self, run_id: str) -> list[str]:
        """The model names that answered a run's calls, as the endpoint reported them, most calls first."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT model FROM llm_calls WHERE run_id=? AND reply IS NOT NULL AND model IS NOT NULL "
                "GROUP BY model ORDER BY count(*) DESC, model", (run_id,)).fetchall()
        return [r[0] for r in rows]

    def recorded_replies(self, run_id: str, node_ids: list[str]) -> dict[str, dict]:
        """Completed model calls of these nodes, by call key: what a re-execution replays instead of paying again."""
        out: dict[str, dict] = {}
        for i in range(0, len(node_ids), 500):
            chunk = node_ids[i:i + 500]
            rows = self._query(
                f"SELECT key, reply FROM llm_calls WHERE run_id=? AND reply IS NOT NULL AND node_id IN ({','.join('?' * len(chunk))})",
                (run_id, *chunk),
            )
            out.update((r["key"], loads(r["reply"])) for r in rows)
        return out

    def save_changes(self, run_id: str, at_event: int, reason: str, since: int, node_ids: list[str],
                     document: Callable[[list[dict]], str]) -> int:
        """A snapshot of the nodes changed after event `since`, as the nodes table holds them now (at `at_event`:
        call it once every write up to that event is done), each as what differs from a new node, with its id."""
        states: list[dict[str, Any]] = []
        with self.lock, collector_paused():
            for i in range(0, len(node_ids), 500):
                chunk = node_ids[i:i + 500]
                rows = self.conn.execute(f"SELECT id, script, status, state FROM nodes WHERE run_id=? AND id IN "
                                         f"({','.join('?' * len(chunk))})", (run_id, *chunk)).fetchall()
                states.extend(_snapshot_state(row, run_id) for row in rows)
        return self.save_snapshot(run_id, at_event, reason, document(states), since)

    def latest_snapshot(self, run_id: str, at_or_before: int | None = None) -> dict[str, Any] | None:
        """The last snapshot row at or before an event (None: the last one), its `data` as JSON text."""
        if at_or_before is None:
            rows = self._query("SELECT * FROM snapshots WHERE run_id=? ORDER BY at_event DESC, id DESC LIMIT 1", (run_id,))
        else:
            rows = self._query(
                "SELECT * FROM snapshots WHERE run_id=? AND at_event<=? ORDER BY at_event DESC, id DESC LIMIT 1",
                (run_id, at_or_before),
            )
        if rows and isinstance(rows[0]["data"], bytes):
            rows[0]["data"] = zlib.decompress(rows[0]["data"]).decode()
        return rows[0] if rows else None

    def snapshot_chain(self, run_id: str, at_or_before: int | None = None) -> list[dict[str, Any]]:
        """The snapshots that rebuild a run's state at an event, oldest first: the last whole-tree one at or
        before it (if any), then every partial one after it up to the event. Each: id, at_event, since
        (None for a whole tree); read its document with snapshot_doc(id)."""
        until = "" if at_or_before is None else " AND at_event<=?"
        params = (run_id,) if at_or_before is None else (run_id, at_or_before)
        with self.lock:
            heads = self.conn.execute(f"SELECT id, at_event, since FROM snapshots WHERE run_id=?{until} "
                                      "ORDER BY at_event, id", params).fetchall()
        start = max((i for i, (_, _, since) in enumerate(heads) if since is None), default=0)
        return [{"id": i, "at_event": at, "since": since} for i, at, since in heads[start:]]

    def snapshot_doc(self, snapshot_id: int) -> dict[str, Any]:
        with self.lock:
            data = self.conn.execute("SELECT data FROM snapshots WHERE id=?", (snapshot_id,)).fetchone()[0]
        return loads(zlib.decompress(data) if isinstance(data, bytes) else data)

    def approvals(self, run_id: str | None = None, status: str | None = "pending") -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM approvals WHERE 1=1", ()
        if run_id:
            sql, params = sql + " AND run_id=?", params + (run_id,)
        if status:
            sql, params = sql + " AND status=?", params + (status,)
        return self._query(sql + " ORDER BY id", params)

    def approval(self, approval_id: int) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM approvals WHERE id=?", (approval_id,))
        return rows[0] if rows else None

    def decide_approval(self, approval_id: int, status: str, answer: Any, note: str | None, reason: str | None,
                        edited: bool, by: str) -> bool:
        """Write a person's decision on a pending request; False when it was no longer pending."""
        with self.transaction() as c:
            row = c.execute(
                "UPDATE approvals SET status=?, answer=?, note=?, reason=?, edited=?, decided_by=?, decided_at=? "
                "WHERE id=? AND status='pending' RETURNING run_id",
                (status, dumps(answer), note, reason, int(edited), by, time.time(), approval_id),
            ).fetchone()
            if row is not None:
                self.wakeups.notify(c, RUN_WAKEUPS, row[0])
        return row is not None

    def decided_approvals(self, run_id: str) -> list[dict[str, Any]]:
        """Decisions written by other processes that the run's loop has not acted on yet."""
        return self._query(
            "SELECT * FROM approvals WHERE run_id=? AND status IN ('approved', 'rejected') AND handled_at IS NULL ORDER BY id",
            (run_id,),
        )

    def request_pause(self, run_id: str, paused: bool = True) -> None:
        """Ask whoever drives the run to pause it (or to go on); works across processes."""
        with self.transaction() as c:
            c.execute("UPDATE runs SET pause_requested=? WHERE id=?", (int(paused), run_id))
            self.wakeups.notify(c, RUN_WAKEUPS, run_id)

    def pause_requested(self, run_id: str) -> bool:
        with self.lock:
            row = self.conn.execute("SELECT pause_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return bool(row and row[0])

    # --- retrieval's embedding cache ----------------------------------------------

    def embeddings(self, keys: list[str]) -> dict[str, bytes]:
        """Cached embedding vectors (float32 bytes) by key; keys not cached are absent."""
        found: dict[str, bytes] = {}
        with self.lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self.conn.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", chunk).fetchall())
        return found

    def save_embeddings(self, model: str, rows: list[tuple[str, bytes]]) -> None:
        """Cache embedding vectors by key (a hash of the model name and the text)."""
        if rows:
            with self.transaction() as c:
                c.executemany(upsert("embeddings", ("key", "model", "vector"), ("key",)),
                              [(k, model, v) for k, v in rows])

    # --- routing history: sub-goals confirmed (or refused) for a script ----------------

    def add_route_example(self, script: str, text: str, kind: str = "positive", run_id: str | None = None,
                          node_id: str | None = None) -> bool:
        """Record a sub-goal as an example of a script; False when it was recorded already (forks, replays).
        kind "synthetic": a request the model wrote from the script's description, not a confirmed routing."""
        if kind not in ("positive", "negative", "synthetic"):
            raise StoreError(f"a route example is 'positive', 'negative' or 'synthetic', not {kind!r}")
        with self.transaction() as c:
            cur = c.execute("INSERT INTO route_examples (script, text, kind, run_id, node_id, at) VALUES (?,?,?,?,?,?) "
                            "ON CONFLICT DO NOTHING",
                            (script, text, kind, run_id, node_id, time.time()))
        return cur.rowcount > 0

    def route_examples(self, script: str | None = None) -> list[dict[str, Any]]:
        """Recorded route examples, oldest first (of one script, or of all)."""
        if script is None:
            return self._query("SELECT * FROM route_examples ORDER BY id")
        return self._query("SELECT * FROM route_examples WHERE script=? ORDER BY id", (script,))

    def route_examples_mark(self) -> tuple:
        """Changes whenever route examples are added or forgotten (by any process): (count, last id)."""
        with self.lock:
            return tuple(self.conn.execute("SELECT count(*), max(id) FROM route_examples").fetchone())

    def forget_route_examples(self, script: str | None = None, text: str | None = None, kind: str | None = None) -> int:
        """Drop route examples (of a script, a text, a kind, any of them together, or all); returns how many."""
        where = [w for w, v in (("script=?", script), ("text=?", text), ("kind=?", kind)) if v is not None]
        params = tuple(v for v in (script, text, kind) if v is not None)
        with self.transaction() as c:
            cur = c.execute("DELETE FROM route_examples" + (f" WHERE {' AND '.join(where)}" if where else ""), params)
        return cur.rowcount

    def record_route_decision(self, run_id: str, node_id: str, goal: str, candidates: list[dict], pick: str | None) -> None:
        """The decision log: what a route node was asked, the candidates retrieval offered (name, score), what it
        picked. A node's later attempt replaces its earlier one; the outcome is set when it is known."""
        with self.transaction() as c:
            c.execute(upsert("route_decisions", ("run_id", "node_id", "goal", "candidates", "pick", "at", "outcome", "outcome_by"),
                             ("run_id", "node_id")),
                      (run_id, node_id, goal, dumps(candidates), pick, time.time(), None, None))

    def set_route_outcome(self, run_id: str, node_id: str, outcome: str, by: str) -> bool:
        """Mark a logged decision 'positive' or 'negative' (by 'run' or 'person'); False when none is logged."""
        with self.transaction() as c:
            cur = c.execute("UPDATE route_decisions SET outcome=?, outcome_by=? WHERE run_id=? AND node_id=?"
                            + ("" if by == "person" else " AND (outcome_by IS NULL OR outcome_by != 'person')"),  # a person's verdict stands
                            (outcome, by, run_id, node_id))
        return cur.rowcount > 0

    def route_decisions(self, run_id: str | None = None, node_id: str | None = None) -> list[dict[str, Any]]:
        """Logged route decisions, oldest first, with `candidates` as a list of {"name", "score"}."""
        where = [w for w, v in (("run_id=?", run_id), ("node_id=?", node_id)) if v is not None]
        rows = self._query("SELECT * FROM route_decisions" + (f" WHERE {' AND '.join(where)}" if where else "")
                           + f" ORDER BY at, {self.dialect.row_order}", tuple(v for v in (run_id, node_id) if v is not None))
        for r in rows:
            r["candidates"] = loads(r["candidates"])
        return rows

    def request_cancel(self, run_id: str, node_id: str | None = None) -> None:
        """Ask whoever drives the run to cancel it (or one node of it); works across processes."""
        with self.transaction() as c:
            if node_id is None:
                c.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (run_id,))
            else:
                c.execute("INSERT INTO cancel_requests (run_id, node_id, requested_at) VALUES (?,?,?)",
                          (run_id, node_id, time.time()))
            self.wakeups.notify(c, RUN_WAKEUPS, run_id)

    def cancel_requested(self, run_id: str) -> bool:
        with self.lock:
            row = self.conn.execute("SELECT cancel_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return bool(row and row[0])

    def take_node_cancels(self, run_id: str) -> list[str]:
        """Node cancels requested for this run and not yet handled; marks them handled."""
        query = "SELECT id, node_id FROM cancel_requests WHERE run_id=? AND handled_at IS NULL"
        with self.lock:
            if not self.conn.execute(query, (run_id,)).fetchone():  # the usual case: no write transaction
                return []
        with self.transaction() as c:
            rows = c.execute(query, (run_id,)).fetchall()
            c.execute(f"UPDATE cancel_requests SET handled_at=? WHERE id IN ({','.join('?' * len(rows))})",
                      (time.time(), *[r[0] for r in rows]))
        return [r[1] for r in rows]

    # --- reads of the run store (ports.RunStore) for routing history ----------------------------------------

    def node_rows(self, run_id: str, *, around: str | None = None, script: str | None = None,
                  parents: list[str] | None = None, states: bool = True) -> list[dict[str, Any]]:
        """Rows of the nodes table of a run (id, parent, script, status, and `state` as stored: what differs from a
        new node), in the table's order: all of them, or one node (`around`) and its children, or those running
        `script`, or the children of `parents`. `states=False` leaves `state` out."""
        cols = "id, parent, script, status" + (", state" if states else "")
        if parents is not None:
            out: list[dict[str, Any]] = []
            for i in range(0, len(parents), 500):
                chunk = parents[i:i + 500]
                out += self._query(f"SELECT {cols} FROM nodes WHERE run_id=? AND parent IN ({','.join('?' * len(chunk))})",
                                   (run_id, *chunk))
            return out
        if around is not None:
            return self._query(f"SELECT {cols} FROM nodes WHERE run_id=? AND (id=? OR parent=?)", (run_id, around, around))
        if script is not None:
            return self._query(f"SELECT {cols} FROM nodes WHERE run_id=? AND script=?", (run_id, script))
        return self._query(f"SELECT {cols} FROM nodes WHERE run_id=?", (run_id,))

    def person_rejected_route(self, goal: str, script: str) -> bool:
        """Whether a person rejected this sub-goal for this script (`swarm route reject`)."""
        return bool(self._query("SELECT 1 FROM route_decisions WHERE goal=? AND pick=? AND outcome='negative' "
                                "AND outcome_by='person' LIMIT 1", (goal, script)))

    # --- the other ports of this file (swarm/ports.py), each an adapter of swarm/adapters/sqlite/ on this connection ---

    @cached_property
    def leases(self) -> SqliteLeases:
        """Who drives which run, and the fence of every turn's commit (swarm/leases.py)."""
        return SqliteLeases(self)

    @cached_property
    def queue(self) -> SqliteQueue:
        """The goals table as the work queue every daemon on this store shares (swarm/daemon/queue.py)."""
        return SqliteQueue(self)

    @cached_property
    def wakeups(self) -> SqliteWakeups:
        """Wake-ups between processes (ports.Wakeups): none on SQLite, whose readers look on their tick."""
        return SqliteWakeups(self)

    @cached_property
    def rate_buckets(self) -> SqliteRateBuckets:
        """The shared rate limit of the model endpoints (ports.RateBuckets)."""
        return SqliteRateBuckets(self)

    @cached_property
    def goals(self) -> SqliteGoals:
        """The daemon's ledger of goal files (ports.GoalLedger)."""
        return SqliteGoals(self)

    @cached_property
    def memories(self) -> SqliteMemory:
        """The texts memory keeps (ports.MemoryStore)."""
        return SqliteMemory(self)

    @cached_property
    def metrics(self) -> SqliteMetrics:
        """The counts behind `swarm stats` (ports.MetricsReader)."""
        return SqliteMetrics(self)

    def event_tail(self) -> SqliteEventTail:
        """A new follower of the whole history (ports.EventTail), on a connection of its own: for one other thread."""
        return SqliteEventTail(self.path, rebuild_states)
