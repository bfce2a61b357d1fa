"""swarm: a self-extending agent runtime. Goals become trees of TaskNodes, recorded in SQLite.

For programs: `from swarm import Swarm` (swarm/api.py), imported on first use so that node scripts and the
CLI, which import this package, do not pay for it.
"""

from swarm.node import AskHuman, Child, Report, Spawn, Status, TaskNode
from swarm.plugin import NodeScript, hookimpl

__version__ = "0.1.0"
__all__ = ["AskHuman", "Child", "NodeScript", "Report", "Result", "Spawn", "Status", "Swarm", "TaskNode", "hookimpl"]

_API = ("Swarm", "Result", "Event", "NodeSpawned", "NodeStarted", "NodeEnded", "ApprovalNeeded", "ModelCalled", "RunEnded")


def __getattr__(name: str):
    if name in _API:
        from swarm import api

        return getattr(api, name)
    raise AttributeError(f"module 'swarm' has no attribute {name!r}")
