"""The SQLite backend: the ports of swarm/ports.py over the store's one SQLite file.

`Store` (runs.py; callers import it from swarm/store.py) opens the file, owns its one connection and lock, and
is the run store; the adapters here share that connection through it (`Handle`), each holding the SQL of one
port. Their SQL is written once for both backends: the PostgreSQL store (swarm/adapters/postgres/) runs the
same text, with the few differences its dialect says (swarm/adapters/dialect.py).

    runs.py        RunStore        runs, nodes, events, snapshots, model calls, approvals, routing history
    migrations.py                  the numbered migrations (swarm/adapters/migrate.py runs them at open)
    goals.py       GoalLedger      the daemon's `goals` table
    queue.py                       the goals table as the daemons' shared work queue
    leases.py                      who drives which run, and the fence of every commit
    memory.py      MemoryStore     the `memory` table
    metrics.py     MetricsReader   the counting queries of `swarm stats`
    tail.py        EventTail       the UI's follower of new events, on its own connection
    wakeups.py     Wakeups         none sent: readers of an SQLite file look on their tick
    ratebuckets.py RateBuckets     the shared rate limit's token buckets (the same SQL on PostgreSQL)
"""
