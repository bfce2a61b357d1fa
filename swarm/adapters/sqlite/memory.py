"""MemoryStore over SQLite: the `memory` table (the texts of `swarm memory`)."""

from __future__ import annotations

from typing import Any

from swarm.adapters.sqlite.handle import Handle, dicts

COLUMNS = ("key", "text", "meta", "run_id", "created_at")
INSERT = f"INSERT INTO memory ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) RETURNING id"


class SqliteMemory:
    def __init__(self, handle: Handle):
        self.handle = handle

    def add_memory(self, row: dict[str, Any], replace_key: bool = True) -> int:
        with self.handle.transaction() as c:
            if replace_key and row.get("key") is not None:
                c.execute("DELETE FROM memory WHERE key=?", (row["key"],))
            return c.execute(INSERT, tuple(row.get(k) for k in COLUMNS)).fetchone()[0]

    def replace_memory_prefix(self, key_prefix: str, rows: list[dict[str, Any]]) -> list[int]:
        ids = []
        with self.handle.transaction() as c:
            c.execute("DELETE FROM memory WHERE key LIKE ? ESCAPE '\\'", (_like_prefix(key_prefix),))
            for row in rows:
                ids.append(c.execute(INSERT, tuple(row.get(k) for k in COLUMNS)).fetchone()[0])
        return ids

    def remove_memory(self, item_id: int | None = None, key: str | None = None, key_prefix: str | None = None) -> int:
        with self.handle.transaction() as c:
            if item_id is not None:
                return c.execute("DELETE FROM memory WHERE id=?", (int(item_id),)).rowcount
            return c.execute("DELETE FROM memory WHERE key=? OR key LIKE ? ESCAPE '\\'",
                             (key, None if key_prefix is None else _like_prefix(key_prefix))).rowcount

    def memory_text(self, key: str) -> str | None:
        rows = dicts(self.handle, "SELECT text FROM memory WHERE key=? ORDER BY id DESC LIMIT 1", (key,))
        return rows[0]["text"] if rows else None

    def memory_items(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, key, text, meta, run_id, created_at FROM memory ORDER BY id DESC"
        return dicts(self.handle, sql if limit is None else f"{sql} LIMIT {int(limit)}")

    def memory_rows(self, ids: list[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), 500):
            chunk = [int(n) for n in ids[i:i + 500]]
            out += dicts(self.handle, f"SELECT id, key, text, meta, run_id FROM memory WHERE id IN "
                                      f"({','.join('?' * len(chunk))})", tuple(chunk))
        return out

    def memory_ids(self) -> list[int]:
        return [r["id"] for r in dicts(self.handle, "SELECT id FROM memory")]

    def memory_count(self) -> int:
        return dicts(self.handle, "SELECT COUNT(*) AS n FROM memory")[0]["n"]


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern (ESCAPE '\\') for keys that start with `prefix`, whatever characters it holds."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
