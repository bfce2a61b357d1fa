"""The PostgreSQL store's numbered migrations: MIGRATIONS[n - 1] brings schema n - 1 to schema n
(swarm/adapters/migrate.py runs them at open, each version recorded in `schema_migrations`).

The versions mean what SQLite's do (swarm/adapters/sqlite/migrations.py); schema 1 is SQLite's, its types
said as PostgreSQL says them (`postgres_ddl`), plus what several writers need:

    events.seq   numbered by the store, not by a sequence: `event_seq` holds the last number given, and a
                 transaction that writes events takes the next ones by updating that row. The row stays locked
                 until the transaction ends, so numbers are given in commit order, with no gap (a rollback
                 gives its numbers back): a reader that has seen event N has seen every event before it, and
                 an effect (a child's end) is never numbered before its cause (the spawn).
    snapshots    `data` is bytea, always compressed (SQLite keeps a whole tree as text).

To add a migration: append it here and to the SQLite list with the same version, as SQL text (statements
separated by ";", each safe to run again: ADD COLUMN IF NOT EXISTS, CREATE INDEX IF NOT EXISTS).
"""

from __future__ import annotations

import re

from swarm.adapters.migrate import Migration
from swarm.adapters.sqlite.migrations import SCHEMA_1

# A key for pg_advisory_xact_lock: the one transaction migrating a database at a time.
LOCK_KEY = 0x5741524D  # "SWARM"


def postgres_ddl(sqlite_schema: str) -> str:
    """SQLite's CREATE TABLE text with PostgreSQL's types: 8-byte integers and floats, bytea, serial ids."""
    s = re.sub(r"\bseq INTEGER PRIMARY KEY AUTOINCREMENT", "seq BIGINT PRIMARY KEY", sqlite_schema)
    s = re.sub(r"\bINTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY", s)
    s = re.sub(r"\bdata TEXT NOT NULL", "data BYTEA NOT NULL", s)
    s = re.sub(r"\bINTEGER\b", "BIGINT", s)
    s = re.sub(r"\bREAL\b", "DOUBLE PRECISION", s)
    return re.sub(r"\bBLOB\b", "BYTEA", s)


SCHEMA_1_PG = postgres_ddl(SCHEMA_1) + """;
CREATE TABLE IF NOT EXISTS event_seq (id INTEGER PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL);
INSERT INTO event_seq (id, last) VALUES (1, 0) ON CONFLICT (id) DO NOTHING
"""

MIGRATIONS: list[Migration] = [
    SCHEMA_1_PG,
    # 2: events hold what changed of their node (`patch`), snapshots may hold only the nodes changed `since`
    """ALTER TABLE events ADD COLUMN IF NOT EXISTS patch TEXT;
       ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS since BIGINT;
       CREATE INDEX IF NOT EXISTS events_node ON events (node_id, seq)""",
    # 3: run leases (swarm/leases.py); goals submitted to the store's queue (`spec`) and who took each
    """ALTER TABLE runs ADD COLUMN IF NOT EXISTS lease_owner TEXT;
       ALTER TABLE runs ADD COLUMN IF NOT EXISTS lease_expires DOUBLE PRECISION;
       ALTER TABLE runs ADD COLUMN IF NOT EXISTS lease_epoch BIGINT DEFAULT 0;
       ALTER TABLE goals ADD COLUMN IF NOT EXISTS spec TEXT;
       ALTER TABLE goals ADD COLUMN IF NOT EXISTS claimed_by TEXT;
       CREATE INDEX IF NOT EXISTS goals_queue ON goals (state, id)""",
    # 4: a route example may be 'synthetic' (a request the model wrote from a script's description)
    """ALTER TABLE route_examples DROP CONSTRAINT IF EXISTS route_examples_kind_check;
       ALTER TABLE route_examples ADD CONSTRAINT route_examples_kind_check
           CHECK (kind IN ('positive', 'negative', 'synthetic'))""",
    # 5: the shared rate limit's token buckets (swarm/adapters/sqlite/ratebuckets.py), one row per model endpoint
    """CREATE TABLE IF NOT EXISTS rate_buckets (name TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL,
           updated_at DOUBLE PRECISION NOT NULL)""",
]
