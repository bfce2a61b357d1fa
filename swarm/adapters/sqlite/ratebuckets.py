"""RateBuckets over SQLite (and, the same SQL, PostgreSQL): `[model].rate_per_s` as one token bucket per model
endpoint in the store, so that every process on the store (every `swarm daemon`, on any host) draws from it.

A take is one transaction: the bucket's row is read and locked (PostgreSQL: FOR UPDATE; SQLite: the BEGIN
IMMEDIATE of every write), refilled for the time since it was last touched, one token taken, written back. The
count may go below zero: that debt is the taker's place in the queue, and the seconds it must wait before its
call goes out (the local limiter, swarm/model/ratelimit.py, works the same way within one process).
"""

from __future__ import annotations

from swarm.adapters.sqlite.handle import Handle


class SqliteRateBuckets:
    def __init__(self, handle: Handle):
        self.handle = handle

    def take(self, name: str, rate_per_s: float, burst: int, now: float) -> float:
        """Take a token of bucket `name` (allowing `rate_per_s` a second, `burst` at once) at time `now` (seconds
        since the epoch, as every process on the store counts them); the seconds to wait before using it."""
        with self.handle.transaction() as c:
            c.execute("INSERT INTO rate_buckets (name, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                      (name, float(burst), now))
            tokens, updated = c.execute(f"SELECT tokens, updated_at FROM rate_buckets WHERE name=?{self.handle.dialect.for_update}", (name,)).fetchone()
            # a clock behind the one that touched the bucket last refills nothing (and does not move it back)
            tokens = min(float(burst), tokens + max(0.0, now - updated) * rate_per_s) - 1
            c.execute("UPDATE rate_buckets SET tokens=?, updated_at=? WHERE name=?", (tokens, max(now, updated), name))
        return -tokens / rate_per_s if tokens < 0 else 0.0
