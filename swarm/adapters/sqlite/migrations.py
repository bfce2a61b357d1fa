"""The SQLite store's numbered migrations: MIGRATIONS[n - 1] brings a store of schema n - 1 to schema n
(swarm/adapters/migrate.py runs them at open, in the BEGIN IMMEDIATE transaction of the store's open, and records
each version applied in `schema_migrations`). The PostgreSQL list (swarm/adapters/postgres/migrations.py) gives
each version the same meaning.

    1  the tables as of schema 2's release (SCHEMA_1), and the columns older files lack (ADDED_COLUMNS)
    2  events record what changed of their node (`patch`, see swarm/deltas.py), not its whole state; snapshots
       taken while a run goes on hold only the nodes changed since the one before (`since`), compressed
    3  run leases (lease_owner, lease_expires, lease_epoch: swarm/leases.py); goals submitted to the store's
       queue (`spec`) and the worker that took each goal (`claimed_by`)
    4  a route example may be 'synthetic': a request the model wrote from a script's description
       (swarm/retrieval/synthetic.py), not a confirmed routing

To change the schema, append a migration to MIGRATIONS (and its PostgreSQL twin), never edit SCHEMA_1 or an
earlier step: a function of the connection, or SQL text, that is safe to run on a file that has it already
(look with `_columns` before ALTER TABLE ... ADD COLUMN; CREATE INDEX IF NOT EXISTS), since a file from before
`schema_migrations` gets its first step again. Say what it does in the list above.
"""

from __future__ import annotations

import sqlite3

from swarm.adapters import migrate as runner
from swarm.adapters.migrate import Migration

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    goal TEXT NOT NULL,
    script TEXT NOT NULL,
    status TEXT NOT NULL,
    stop_reason TEXT,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    budgets TEXT,
    model TEXT,
    prompt_tokens INTEGER DEFAULT 0,
    completion_tokens INTEGER DEFAULT 0,
    cost_usd REAL DEFAULT 0,
    nodes INTEGER DEFAULT 0,
    owner_pid INTEGER,
    heartbeat_at REAL,
    cancel_requested INTEGER DEFAULT 0,
    active_s REAL DEFAULT 0,
    last_event INTEGER DEFAULT 0,
    forked_from TEXT,
    forked_at INTEGER,
    pause_requested INTEGER DEFAULT 0,
    model_name TEXT
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    script TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    node_id TEXT,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    state TEXT,
    detail TEXT,
    patch TEXT
);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, seq);
CREATE TABLE IF NOT EXISTS llm_calls (
    key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    request TEXT NOT NULL,
    reply TEXT,
    error TEXT,
    model TEXT,
    prompt_tokens INTEGER DEFAULT 0,
    completion_tokens INTEGER DEFAULT 0,
    cost_usd REAL DEFAULT 0,
    latency_ms REAL,
    at REAL NOT NULL,
    replayed_from TEXT
);
CREATE INDEX IF NOT EXISTS llm_calls_run ON llm_calls (run_id);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    at_event INTEGER NOT NULL,
    taken_at REAL NOT NULL,
    reason TEXT,
    data TEXT NOT NULL,
    since INTEGER
);
CREATE INDEX IF NOT EXISTS snapshots_run ON snapshots (run_id, at_event);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    question TEXT NOT NULL,
    proposal TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    answer TEXT,
    note TEXT,
    created_at REAL NOT NULL,
    decided_at REAL,
    key TEXT,
    reason TEXT,
    edited INTEGER DEFAULT 0,
    decided_by TEXT,
    handled_at REAL
);
CREATE INDEX IF NOT EXISTS approvals_run ON approvals (run_id, status);
CREATE TABLE IF NOT EXISTS cancel_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    requested_at REAL NOT NULL,
    handled_at REAL
);
CREATE TABLE IF NOT EXISTS memory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT,
    text TEXT NOT NULL,
    meta TEXT,
    run_id TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS goals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    original TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    run_id TEXT,
    state TEXT NOT NULL,
    outcome TEXT,
    dest TEXT,
    error TEXT,
    claimed_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS goals_state ON goals (folder, state);
CREATE TABLE IF NOT EXISTS embeddings (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS route_examples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    script TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('positive', 'negative')),
    run_id TEXT,
    node_id TEXT,
    at REAL NOT NULL,
    UNIQUE (script, text, kind)
);
CREATE TABLE IF NOT EXISTS route_decisions (
    run_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    goal TEXT NOT NULL,
    candidates TEXT NOT NULL,
    pick TEXT,
    at REAL NOT NULL,
    outcome TEXT,
    outcome_by TEXT,
    PRIMARY KEY (run_id, node_id)
);
"""

# Columns added to tables after their first release: (table, column, type), added to older stores by schema 1.
ADDED_COLUMNS = (
    ("runs", "forked_from", "TEXT"),  # a fork: the run it was forked from ...
    ("runs", "forked_at", "INTEGER"),  # ... and at which of that run's events
    ("llm_calls", "replayed_from", "TEXT"),  # a fork's call replayed from its parent's call of this key
    ("runs", "pause_requested", "INTEGER DEFAULT 0"),
    ("approvals", "key", "TEXT"),
    ("approvals", "reason", "TEXT"),
    ("approvals", "edited", "INTEGER DEFAULT 0"),
    ("approvals", "decided_by", "TEXT"),
    ("approvals", "handled_at", "REAL"),
    ("runs", "model_name", "TEXT"),  # the model a run asked for (a goal file's `model`), NULL = [model].model
)


def _columns(c: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in c.execute(f"PRAGMA table_info({table})")}


def _to_1(c: sqlite3.Connection) -> None:
    """Schema 1: every table (of the layout schema 2 released), and the columns added after a table's first release."""
    for sql in runner.statements(SCHEMA_1):
        c.execute(sql)
    for table, column, kind in ADDED_COLUMNS:
        if column not in _columns(c, table):
            c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _to_2(c: sqlite3.Connection) -> None:
    """Schema 2: events may hold a delta of their node (`patch`) instead of its whole state, found back by node;
    a snapshot may hold only the nodes changed `since` an earlier event. Rows written before stay as they are
    (an event's whole state, a whole-tree snapshot) and are read as before."""
    if "patch" not in _columns(c, "events"):
        c.execute("ALTER TABLE events ADD COLUMN patch TEXT")
    if "since" not in _columns(c, "snapshots"):
        c.execute("ALTER TABLE snapshots ADD COLUMN since INTEGER")
    c.execute("CREATE INDEX IF NOT EXISTS events_node ON events (node_id, seq)")


def _to_3(c: sqlite3.Connection) -> None:
    """Schema 3: who drives a run is its lease (swarm/leases.py), not a pid; a goal may come from the store's queue
    (`swarm submit`, its goal in `spec`) as well as from a watched folder, and records which worker took it."""
    for table, column, kind in (("runs", "lease_owner", "TEXT"), ("runs", "lease_expires", "REAL"),
                                ("runs", "lease_epoch", "INTEGER DEFAULT 0"), ("goals", "spec", "TEXT"),
                                ("goals", "claimed_by", "TEXT")):
        if column not in _columns(c, table):
            c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    c.execute("CREATE INDEX IF NOT EXISTS goals_queue ON goals (state, id)")


def _to_4(c: sqlite3.Connection) -> None:
    """Schema 4: route_examples.kind may also be 'synthetic'. SQLite cannot change a CHECK, so the table is made
    again with the rows it held (a file that has the new CHECK already is left as it is)."""
    row = c.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='route_examples'").fetchone()
    if row is None or "'synthetic'" in row[0]:
        return
    c.execute("ALTER TABLE route_examples RENAME TO route_examples_3")
    c.execute("""CREATE TABLE route_examples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    script TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('positive', 'negative', 'synthetic')),
    run_id TEXT,
    node_id TEXT,
    at REAL NOT NULL,
    UNIQUE (script, text, kind)
)""")
    c.execute("INSERT INTO route_examples (id, script, text, kind, run_id, node_id, at) "
              "SELECT id, script, text, kind, run_id, node_id, at FROM route_examples_3")
    c.execute("DROP TABLE route_examples_3")


# Schema 5: the shared rate limit's token buckets (swarm/adapters/sqlite/ratebuckets.py), one row per model endpoint.
_to_5 = "CREATE TABLE IF NOT EXISTS rate_buckets (name TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL)"

MIGRATIONS: list[Migration] = [_to_1, _to_2, _to_3, _to_4, _to_5]


def tables(c: sqlite3.Connection) -> set[str]:
    return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def migrate(c: sqlite3.Connection, where: str) -> list[int]:
    """Bring the file open on `c` to the latest schema (inside the caller's BEGIN IMMEDIATE); the versions applied."""
    return runner.run(c, MIGRATIONS, where=where, tables=lambda: tables(c))
