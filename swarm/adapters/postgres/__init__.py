"""The PostgreSQL backend (`[store].url = "postgresql://…"`, the `swarm[postgres]` extra: psycopg 3): the ports of
swarm/ports.py on a PostgreSQL database that any number of processes, on any hosts, share.

The SQL is the SQLite adapters' own (written once, with the few differences in swarm/adapters/dialect.py);
what differs is how the database is reached and numbered:

    connection.py  a psycopg connection that speaks as sqlite3's: `?` placeholders, execute, cursors
    migrations.py  the numbered migrations (the same versions as SQLite's) and how events are numbered
    runs.py        PostgresStore: the run store, handing out goals, memory, metrics and leases as SQLite's does
    tail.py        the event tail, on a connection of its own
    wakeups.py     LISTEN/NOTIFY: a cancel, pause, decision or submitted goal wakes its reader at once

Nothing imports this package unless a store URL asks for PostgreSQL (swarm.store.open_store), so the SQLite
path never loads psycopg.
"""
