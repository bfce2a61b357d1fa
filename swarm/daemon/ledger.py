"""The daemon's ledger: which goal file became which run, kept in the store's `goals` table
(the GoalLedger port, swarm/ports.py).

A row is written right after a file is moved into processing/ and before its run exists, with
the run id chosen in advance; so after a crash at any moment the daemon finds every goal it had
taken, creates a run only where none was recorded yet, and never makes a second run of one file.

States: `running` (the run is being driven, or waits to be) → `finishing` (the outcome and the
file's place in done/ or failed/ are recorded, the move may not have happened yet) → `finished`.
"""

from __future__ import annotations

import time
from typing import Any

from swarm.store import Store


def unfinished(store: Store, folder: str) -> list[dict[str, Any]]:
    """Goals of this folder taken but not yet moved out of processing/, oldest first."""
    return store.goals.goal_rows(folder, unfinished=True)


def goals(store: Store, folder: str | None = None) -> list[dict[str, Any]]:
    """Every goal row (of one folder, or all), oldest first."""
    return store.goals.goal_rows(folder)


def get(store: Store, goal_id: int) -> dict[str, Any]:
    return store.goals.goal_row(goal_id)


def record_claim(store: Store, folder: str, name: str, original: str, sha256: str, run_id: str | None,
                 error: str | None = None) -> int:
    """A file now in processing/: with the run id it will get, or the error that keeps it from running."""
    return store.goals.add_goal({
        "folder": folder, "name": name, "original": original, "sha256": sha256, "run_id": run_id,
        "state": "running" if error is None else "finishing", "outcome": None if error is None else "failed",
        "error": error, "claimed_at": time.time(),
    })


def record_outcome(store: Store, goal_id: int, outcome: str, dest: str | None, error: str | None = None) -> None:
    """The run ended (or the file is refused): where the file goes, chosen before it moves."""
    kept = {} if error is None else {"error": error}  # no new error: the one recorded at the claim stays
    store.goals.update_goal(goal_id, state="finishing", outcome=outcome, dest=dest, **kept)


def record_finished(store: Store, goal_id: int) -> None:
    store.goals.update_goal(goal_id, state="finished", finished_at=time.time())
