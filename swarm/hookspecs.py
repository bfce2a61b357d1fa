"""Every extension point of the swarm, one hook each: the whole plugin surface in one file.

A plugin is a module (or object) with functions marked `@hookimpl` whose names
match the specs below. Built-in node scripts in `node_scripts/` are plugins
registered exactly like the ones the swarm writes for itself.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("swarm")


@hookspec
def swarm_node_scripts() -> list:
    """Return the node scripts this plugin provides, as a list of `swarm.plugin.NodeScript`.

    Called when the catalogue is loaded and again whenever a plugin is registered
    later. A name may be provided only once across all plugins.
    """


@hookspec
def swarm_tools() -> dict:
    """Return tools for node scripts and sandboxed code: a dict of name -> callable.

    Tools are reached by scripts as `ctx.tools[name]` and by code run through
    `run_python` as plain functions. Each callable should have a docstring: it is
    shown to the model when it writes code.
    """


@hookspec
def swarm_run_finished(run_id: str, status: str, result: object) -> None:
    """Called once when a run ends (done, failed, cancelled or stopped by a budget)."""
