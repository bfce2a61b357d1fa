"""The swarm's memory: texts that runs and people keep, stored in the swarm's SQLite file."""

from __future__ import annotations

import time
from typing import Any

from swarm.store import Store, dumps, loads


class Memory:
    """Keep and find texts. Search here is plain word matching; retrieval-based search replaces it later."""

    def __init__(self, store: Store):
        self.store = store

    def add(self, text: str, key: str | None = None, meta: dict[str, Any] | None = None, run_id: str | None = None) -> int:
        """Keep a text (optionally under a key); returns its id."""
        with self.store.transaction() as c:
            if key is not None:
                c.execute("DELETE FROM memory WHERE key=?", (key,))
            c.execute(
                "INSERT INTO memory (key, text, meta, run_id, created_at) VALUES (?,?,?,?,?)",
                (key, text, dumps(meta) if meta else None, run_id, time.time()),
            )
            return c.execute("SELECT last_insert_rowid()").fetchone()[0]

    def get(self, key: str) -> str | None:
        """The text kept under `key`, or None."""
        rows = self.store._query("SELECT text FROM memory WHERE key=? ORDER BY id DESC LIMIT 1", (key,))
        return rows[0]["text"] if rows else None

    def search(self, text: str, limit: int = 5) -> list[dict[str, Any]]:
        """Texts sharing the most words with `text`, best first: [{"id", "key", "text", "meta"}]."""
        words = {w.lower() for w in text.split() if len(w) > 2}
        rows = self.store._query("SELECT id, key, text, meta FROM memory ORDER BY id DESC LIMIT 5000")
        scored = []
        for row in rows:
            score = sum(1 for w in words if w in row["text"].lower())
            if score:
                scored.append((score, row["id"], row))
        scored.sort(key=lambda s: (-s[0], -s[1]))
        return [{**r, "meta": loads(r["meta"])} for _, _, r in scored[:limit]]
