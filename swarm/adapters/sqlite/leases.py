"""RunLeases over SQLite: the lease columns of `runs` (lease_owner, lease_expires, lease_epoch), the atomic claim,
the renewal, and the fence every commit of a turn passes (swarm/leases.py says what they are for).

A claim is one UPDATE … RETURNING in a BEGIN IMMEDIATE transaction: SQLite lets one writer at a time in, so
of two workers claiming the same run one gets the new epoch and the other finds the lease taken. The fence
reads the run's epoch inside the transaction that writes the turn (on PostgreSQL locking the run's row), so no
claim can fall between the check and the write. The SQL is shared with the PostgreSQL store, whose connection
speaks as SQLite's (swarm/adapters/postgres/connection.py).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from swarm.adapters.sqlite.handle import Handle, dicts
from swarm.leases import LeaseLost
from swarm.ports import GOAL_WAKEUPS
from swarm.statuses import RUN_FINAL


class SqliteLeases:
    def __init__(self, handle: Handle):
        self.handle = handle
        self.held: dict[str, tuple[str, int]] = {}  # run id -> (owner, epoch) of the leases this store's worker holds

    def lease_row(self, run_id: str) -> dict[str, Any] | None:
        rows = dicts(self.handle, "SELECT id, status, lease_owner, lease_expires, lease_epoch FROM runs WHERE id=?",
                     (run_id,))
        return rows[0] if rows else None

    def claim(self, run_id: str, owner: str, expires: float, now: float, lapsed_epoch: int | None = None) -> int | None:
        """Take the run's lease when nobody holds it, its holder let it lapse (expired before `now`), or its epoch
        is still `lapsed_epoch` (a holder known to be gone). Returns the new epoch, or None when it is held."""
        with self.handle.transaction() as c:
            row = c.execute(
                "UPDATE runs SET lease_owner=?, lease_expires=?, lease_epoch=COALESCE(lease_epoch, 0) + 1, heartbeat_at=? "
                "WHERE id=? AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires<? "
                "OR COALESCE(lease_epoch, 0)=?) RETURNING lease_epoch",
                (owner, expires, now, run_id, now, -1 if lapsed_epoch is None else lapsed_epoch)).fetchone()
        if row is None:
            return None
        self.held[run_id] = (owner, row[0])
        return row[0]

    def renew(self, leases: list[tuple[str, str, int]], expires: float, now: float) -> list[str]:
        """Push on the expiry of (run id, owner, epoch) leases, in one transaction; returns the run ids whose
        lease is no longer that owner's at that epoch (taken over)."""
        lost = []
        with self.handle.transaction() as c:
            for run_id, owner, epoch in leases:
                changed = c.execute("UPDATE runs SET lease_expires=?, heartbeat_at=? WHERE id=? AND lease_owner=? "
                                    "AND lease_epoch=?", (expires, now, run_id, owner, epoch)).rowcount
                if not changed:
                    lost.append(run_id)
        return lost

    def release(self, run_id: str, owner: str, epoch: int) -> bool:
        """Give the lease up (the drive ended): anyone may claim the run at once. False when it was not held."""
        if self.held.get(run_id) == (owner, epoch):
            del self.held[run_id]
        with self.handle.transaction() as c:
            row = c.execute("UPDATE runs SET lease_owner=NULL, lease_expires=NULL WHERE id=? AND lease_owner=? "
                            "AND lease_epoch=? RETURNING status", (run_id, owner, epoch)).fetchone()
            if row is not None and row[0] not in RUN_FINAL:  # left unfinished: another daemon may go on with it at once
                self.handle.wakeups.notify(c, GOAL_WAKEUPS, f"run:{run_id}")
            return row is not None

    def fence(self, c: sqlite3.Connection, run_id: str) -> None:
        """Inside the transaction that writes a turn of `run_id`: LeaseLost unless the run's lease is still the
        one this worker claimed. Runs this store's worker holds no lease on (a new run, a fork) pass."""
        mine = self.held.get(run_id)
        if mine is None:
            return
        # PostgreSQL: the row stays locked until this transaction ends, so no claim can commit between the check
        # and the write (SQLite lets one writer in at a time: BEGIN IMMEDIATE already holds every other one off).
        row = c.execute("SELECT lease_owner, lease_expires, lease_epoch FROM runs WHERE id=?" + self.handle.dialect.for_update,
                        (run_id,)).fetchone()
        if row is None or (row[0], row[2]) != mine:
            owner, expires, epoch = row if row else (None, None, None)
            raise LeaseLost(run_id, mine[0], mine[1], owner, epoch, expires)

