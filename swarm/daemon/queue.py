"""The goal queue as one daemon sees it: of the goals every daemon on the store shares, which are this one's to
drive, to file or to close (pure: a goal row with its run's status and lease in, a step out).

Goals come from a watched folder (its `folder` is that folder: the daemon watching it moved the file into
processing/ and alone can file it in done/ or failed/) or from `swarm submit --queue` (`folder` '', nothing on
disk). Any daemon may drive any goal's run once its lease is free (swarm/leases.py): a daemon killed or
frozen past its lease has its runs taken over by another. A run that ended is closed by whoever sees it:
a submitted goal is marked finished at once; a folder's goal is handed back (its outcome recorded) and
filed by its folder's daemon.
"""

from __future__ import annotations

from typing import Any

from swarm import leases
from swarm.statuses import RUN_FINAL

SUBMITTED = ""  # the `folder` of a goal submitted to the store's queue

DRIVE = "drive"  # its run is free: claim its lease and drive it
FILE = "file"  # a goal of this daemon's folder whose run ended: file it in done/ or failed/
CLOSE = "close"  # a submitted goal whose run ended: record its outcome, finished
HAND_BACK = "hand_back"  # another folder's goal whose run ended: record its outcome for that folder's daemon


def step(row: dict[str, Any], folder: str | None, now: float) -> str | None:
    """What this daemon (watching `folder`, or none) does with an open goal row (SqliteQueue.open_goals), if
    anything: DRIVE, FILE, CLOSE, HAND_BACK or None."""
    if row["run_status"] is None:  # its run is not created yet: its folder's daemon (or its taker) does that
        return None
    ended = row["run_status"] in RUN_FINAL or row["state"] == "finishing"
    if ended:
        if row["folder"] == SUBMITTED:
            return CLOSE
        if row["folder"] == folder:
            return FILE
        return HAND_BACK if row["state"] == "running" else None
    return DRIVE if leases.free(row, now) else None


def outcome(run_status: str) -> str:
    """A goal's outcome from its run's final status."""
    return "done" if run_status == "done" else "failed"
