"""GoalLedger over SQLite: the daemon's `goals` table (which goal file became which run)."""

from __future__ import annotations

from typing import Any

from swarm.adapters.sqlite.handle import Handle, tuples

COLUMNS = ("id", "folder", "name", "original", "sha256", "run_id", "state", "outcome", "dest", "error",
           "claimed_at", "finished_at")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM goals"


class SqliteGoals:
    def __init__(self, handle: Handle):
        self.handle = handle

    def _rows(self, sql: str, params: tuple) -> list[dict[str, Any]]:
        return [dict(zip(COLUMNS, row)) for row in tuples(self.handle, sql, params)]

    def goal_rows(self, folder: str | None = None, *, unfinished: bool = False) -> list[dict[str, Any]]:
        where = [w for w, on in (("folder=?", folder is not None), ("state!='finished'", unfinished)) if on]
        return self._rows(SELECT + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id",
                          () if folder is None else (folder,))

    def goal_row(self, goal_id: int) -> dict[str, Any]:
        rows = self._rows(SELECT + " WHERE id=?", (goal_id,))
        if not rows:
            raise KeyError(f"no goal {goal_id} in the ledger")
        return rows[0]

    def add_goal(self, row: dict[str, Any]) -> int:
        _known(row)
        with self.handle.transaction() as c:
            return c.execute(f"INSERT INTO goals ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) RETURNING id",
                             tuple(row.values())).fetchone()[0]

    def update_goal(self, goal_id: int, **fields: Any) -> None:
        _known(fields)
        with self.handle.transaction() as c:
            c.execute(f"UPDATE goals SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?", (*fields.values(), goal_id))


def _known(fields: dict[str, Any]) -> None:
    """Column names go into the SQL text: only those of the table."""
    unknown = set(fields) - set(COLUMNS[1:])
    if unknown:
        raise ValueError(f"the goals table has no column {', '.join(sorted(unknown))}")
