"""swarm: a self-extending agent runtime. Goals become trees of TaskNodes, recorded in SQLite."""

from swarm.node import AskHuman, Child, Report, Spawn, Status, TaskNode
from swarm.plugin import NodeScript, hookimpl

__version__ = "0.1.0"
__all__ = ["AskHuman", "Child", "NodeScript", "Report", "Spawn", "Status", "TaskNode", "hookimpl"]
