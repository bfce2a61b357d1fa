"""GoalQueue over SQLite: the `goals` table as a work queue shared by every `swarm daemon` on one store.

A goal comes in from a watched folder (its daemon records the row and creates the run) or from
`swarm submit --queue` (a row in state `queued`, the goal itself in `spec`, its run id chosen in advance).
Any daemon takes a queued goal with one atomic UPDATE (state `queued` → `running`, `claimed_by` its worker)
and creates its run; who then drives a run is decided by the run's lease (swarm/leases.py), not here.
"""

from __future__ import annotations

from typing import Any

from swarm.adapters.sqlite.handle import Handle, dicts
from swarm.ports import GOAL_WAKEUPS

# A queued goal, or one taken long ago whose run was never created (its taker died in between).
TAKEABLE = ("(g.state='queued' OR (g.state='running' AND g.claimed_at<? "
            "AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id=g.run_id)))")
GOAL = "g.id AS goal_id, g.folder, g.name, g.original, g.run_id, g.state, g.outcome, g.dest, g.error, g.spec, g.claimed_by"


class SqliteQueue:
    def __init__(self, handle: Handle):
        self.handle = handle

    def submit(self, name: str, original: str, sha256: str, run_id: str, spec: str, now: float) -> int:
        """A goal for any daemon (folder ''), waiting in state `queued`; returns its id."""
        with self.handle.transaction() as c:
            goal_id = c.execute("INSERT INTO goals (folder, name, original, sha256, run_id, state, spec, claimed_at) "
                                "VALUES ('', ?, ?, ?, ?, 'queued', ?, ?) RETURNING id",
                                (name, original, sha256, run_id, spec, now)).fetchone()[0]
            # an idle daemon takes it at once (PostgreSQL); SQLite's look on their tick
            self.handle.wakeups.notify(c, GOAL_WAKEUPS, str(goal_id))
            return goal_id

    def take_submitted(self, owner: str, now: float, stale_before: float) -> dict[str, Any] | None:
        """Take the oldest queued goal, or one taken before `stale_before` whose run was never created (its taker
        died in between), in one statement: no two workers take the same. None when there is none."""
        if not dicts(self.handle, f"SELECT 1 AS found FROM goals g WHERE g.folder='' AND {TAKEABLE} LIMIT 1",
                     (stale_before,)):
            return None  # the usual case, asked several times a second by every daemon: no write transaction
        with self.handle.transaction() as c:
            cursor = c.execute(
                "UPDATE goals SET state='running', claimed_by=?, claimed_at=? WHERE id = ("
                f"SELECT g.id FROM goals g WHERE g.folder='' AND {TAKEABLE} ORDER BY g.id LIMIT 1{self.handle.dialect.skip_locked}) "
                # again outside: PostgreSQL checks a row another worker changed meanwhile against this, not the sub-select
                f"AND {TAKEABLE.replace('g.', 'goals.')} RETURNING id, name, original, run_id, spec",
                (owner, now, stale_before, stale_before))
            row = cursor.fetchone()
            return None if row is None else dict(zip(("goal_id", "name", "original", "run_id", "spec"), row))

    def open_goals(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Every goal not finished, oldest first, with its run's status and lease (run columns NULL when the run
        does not exist yet): what daemons share out between them."""
        return dicts(self.handle,
                     f"SELECT {GOAL}, r.status AS run_status, r.lease_owner, r.lease_expires, r.lease_epoch "
                     "FROM goals g LEFT JOIN runs r ON r.id = g.run_id WHERE g.state!='finished' ORDER BY g.id LIMIT ?",
                     (limit,))

    def close(self, goal_id: int, outcome: str, error: str | None, now: float) -> bool:
        """A submitted goal whose run ended: finished, with its outcome; False when another daemon closed it first."""
        with self.handle.transaction() as c:
            return c.execute("UPDATE goals SET state='finished', outcome=?, error=COALESCE(?, error), finished_at=? "
                             "WHERE id=? AND state!='finished'", (outcome, error, now, goal_id)).rowcount > 0

    def hand_back(self, goal_id: int, outcome: str, error: str | None) -> bool:
        """A folder's goal whose run ended elsewhere: its outcome recorded (state `finishing`) for the daemon of that
        folder to file; False when someone recorded it first."""
        with self.handle.transaction() as c:
            return c.execute("UPDATE goals SET state='finishing', outcome=?, error=COALESCE(?, error) "
                             "WHERE id=? AND state='running'", (outcome, error, goal_id)).rowcount > 0

    def goal(self, goal_id: int) -> dict[str, Any] | None:
        rows = dicts(self.handle, f"SELECT {GOAL}, g.finished_at FROM goals g WHERE g.id=?", (goal_id,))
        return rows[0] if rows else None

