"""Time travel over a run's history: check out its state at any event, fork it from there, compare two runs.

    checkout(store, run_id, at_event) -> {"run", "at_event", "event", "events", "nodes"}   (swarm/checkout.py)
    fork(engine, run_id, at_event, sets) -> the new run's id, ready to drive                (swarm/fork.py)
    diff(store, run_a, run_b) -> per-node and run-total comparison                          (swarm/rundiff.py)
"""

from __future__ import annotations

from swarm.checkout import checkout
from swarm.fork import fork
from swarm.rundiff import diff

__all__ = ["checkout", "fork", "diff"]
