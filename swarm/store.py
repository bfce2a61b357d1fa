"""The swarm's store, as callers import it: `Store` (the run store, today SQLite's: swarm/adapters/sqlite/runs.py,
where all of its SQL lives), the lifecycle's `Batch` and the JSON of the store (`dumps`/`loads`, swarm/batch.py).

Nothing here holds SQL; each backend's adapter package does (swarm/adapters/)."""

from __future__ import annotations

from swarm.adapters.sqlite.runs import SCHEMA_VERSION, Store, damaged
from swarm.batch import Batch, WriteLine, collector_paused, dumps, loads

__all__ = ["SCHEMA_VERSION", "Batch", "Store", "WriteLine", "collector_paused", "damaged", "dumps", "loads"]
