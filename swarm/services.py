"""Services: what one run's loop and its nodes' executions may use, handed to them by the engine.

The Engine builds one `Services` for each run it drives (`Engine.services()`); the run's `RunLoop` and
every `NodeContext` hold it and never the Engine, so neither knows what made it, and anything that
provides these pieces (a test, an embedding program, another runtime) can drive a run.

What starts slowly (the model client, the sandbox, the API docs' index) is given as a function that
starts it on first use, so a run that never asks for it never pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from swarm.api_docs import ApiDocs
    from swarm.catalogue import Catalogue
    from swarm.config import Config
    from swarm.human import HumanChannel
    from swarm.memory import Memory
    from swarm.model.provider import ModelProvider
    from swarm.sandbox import Sandbox
    from swarm.slots import Slots
    from swarm.store import Store
    from swarm.toolsmith import Toolsmith
    from swarm.tracing import NoTracing
    from swarm.workers import Workers


@dataclass(frozen=True)
class Services:
    """The pieces a run is driven with, each named for what it does."""

    config: Config
    store: Store  # the journal: runs, their events, snapshots and model calls
    catalogue: Catalogue  # the registered node scripts and tools
    model: Callable[[], ModelProvider]  # the model provider, started on first use
    run_models: Mapping[str, str]  # run id -> the model name it asked for, when not [model].model
    candidates: Callable[[str, int | None, tuple[str, ...]], list[dict[str, Any]]]  # the router: scripts that fit a text
    memory: Memory
    api_docs: Callable[[], ApiDocs]  # the internal API docs' index, built on first use
    sandbox: Callable[[], Sandbox]  # the sandbox runner, started on first use
    toolsmith: Toolsmith  # test, save and register generated scripts and tools
    tracer: NoTracing  # spans of nodes, calls and runs (NO_TRACING when [telemetry] is off)
    workspaces_dir: Path  # where each run's own folder is made
    human: HumanChannel | None  # people: where a node's question is put inline (None: only through the store)
    workers: Workers  # the threads that executions run on
    writer: Executor  # the store's one writer thread (SQLite's rule: one writer)
    slots: Slots  # how many executions all runs of this engine may have at once
