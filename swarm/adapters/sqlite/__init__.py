"""The SQLite backend: the ports of swarm/ports.py over the store's one SQLite file.

`Store` (swarm/store.py) opens the file, owns its one connection and lock, and is the run store; the adapters
here share that connection through it (`Handle`), each holding the SQL of one port:

    goals.py    GoalLedger      the daemon's `goals` table
    memory.py   MemoryStore     the `memory` table
    metrics.py  MetricsReader   the counting queries of `swarm stats`
    tail.py     EventTail       the UI's follower of new events, on its own connection
"""
