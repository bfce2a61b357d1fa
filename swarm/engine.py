"""The Engine: one store, one model client, one catalogue and one worker pool, shared by every run.

Its runs are all driven on one event loop, owned by one thread (swarm/loop_thread.py): `drive` awaited on any
other loop, `submit` from any thread, and `shutdown`, `drain`, `cancel` and the live loops hand their work to it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from swarm import tracing
from swarm.budgets import budget_problem
from swarm.cassette import cassette_for
from swarm.catalogue import Catalogue
from swarm.config import Config
from swarm.errors import RunNotResumable, StoreError, SwarmError, UnknownNode
from swarm.human import HumanChannel
from swarm.lifecycle import RunLoop
from swarm.loop_thread import LoopThread
from swarm.memory import Memory
from swarm.model.provider import check_provider
from swarm.model_endpoint import ModelEndpoint
from swarm.node import TaskNode
from swarm.services import Services
from swarm.slots import Slots
from swarm.leases import FencedModel, LeaseHeld, LeaseKeeper, held, worker_name
from swarm.snapshot import nodes_now, read_snapshot_file, state_at
from swarm.statuses import RUN_FINAL, EventKind, RunStatus
from swarm.store import Batch, dumps, open_store
from swarm.store import folder as store_folder  # where a store's side files go (workspaces)
from swarm.workers import Workers

BUDGET_KEYS = ("max_nodes", "max_depth", "max_tokens", "max_cost_usd", "max_wall_s")


class Engine:
    def __init__(self, config: Config, catalogue: Catalogue | None = None, human: HumanChannel | None = None,
                 model=None):
        self.config = config
        self.store = open_store(config)  # [store].url, else the SQLite file of [store].path
        self.catalogue = catalogue or Catalogue()
        self.human = human
        # A long-lived process (the daemon, `swarm run --wait`) keeps a run that waits for people open and
        # takes their decisions from the store; otherwise such a run pauses and `swarm resume` continues it.
        self.wait_for_people = False
        self._embedder = None
        self.memory = Memory(self.store, self.embedder, fusion=config.retrieval.fusion,
                             bm25_weight=config.retrieval.bm25_weight, max_file_kb=config.memory.max_file_kb,
                             top_k=config.memory.top_k)
        self._api_docs = None
        self.endpoint = ModelEndpoint(config, client=check_provider(model), store=self.store)
        self.pool = Workers(config.run.concurrency + 4)
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swarm-store")  # one writer: SQLite's rule
        # The runs this engine drives (swarm/leases.py); one taken over by another worker stops at its next commit.
        self.leases = LeaseKeeper(self.store, config.store.lease_ttl_s, on_lost=self._lease_lost)
        self._fenced: FencedModel | None = None  # fenced_model(): the last provider wrapped
        self.slots = Slots(config.run.concurrency)  # executions at once, over every run of this engine
        self.owner = LoopThread()  # the one thread whose event loop drives every run; slots and loops live there
        self.asked: dict[str, int] = {}  # run id -> drives asked for and not ended (on the loop thread only)
        self.draining: str | None = None
        self.run_models: dict[str, str] = {}  # run id -> the model name it asked for, when not [model].model
        self._sandbox = None
        self._sandbox_lock = threading.Lock()
        self._router = None
        self._router_version = -1  # the catalogue version the routing index was last brought in step with
        self._router_lock = threading.Lock()
        self.toolsmith = self._attach_plugins()
        self.tracing = tracing.from_settings(config.telemetry)  # NO_TRACING unless [telemetry].enabled

    def _attach_plugins(self):
        """The plugins that depend on the configuration: the plugins folder, and the generated scripts and tools."""
        from swarm.toolsmith import PLUGIN_NAME, GeneratedPlugin, Toolsmith

        if self.config.toolsmith.plugins_folder:
            self.catalogue.load_folder(self.config.path(self.config.toolsmith.plugins_folder))
        toolsmith = Toolsmith(self.config, self.sandbox, self.catalogue)
        if not self.catalogue.pm.has_plugin(PLUGIN_NAME):
            self.catalogue.register(GeneratedPlugin(toolsmith), name=PLUGIN_NAME)
        from swarm.mcp import attach

        self.mcp = attach(self)  # the tools of [mcp.servers] as scripts (their servers listed now); None without any
        return toolsmith

    @property
    def workspaces_dir(self) -> Path:
        """Where run workspaces live: [run].workspaces_dir, relative to the store's folder (the SQLite file's; for a
        PostgreSQL store, swarm.toml's: the same for every process of the configuration, whatever its cwd)."""
        workspaces = Path(self.config.run.workspaces_dir).expanduser()
        return workspaces if workspaces.is_absolute() else store_folder(self.config) / workspaces

    def model(self):
        """The model provider (`swarm.model.provider.ModelProvider`), started on first use (a scripted server starts here too)."""
        return self.endpoint.client()

    def fenced_model(self):
        """The model provider as a run's nodes get it: a call of a run whose lease this worker lost is refused."""
        provider = self.model()
        fenced = self._fenced
        if fenced is None or fenced.provider is not provider:  # one wrapper per provider, not one per call
            fenced = self._fenced = FencedModel(provider, self.leases)
        return fenced

    def services(self) -> Services:
        """What a run's loop and its nodes' contexts are given: this engine's pieces as they stand now."""
        return Services(
            config=self.config, store=self.store, catalogue=self.catalogue, model=self.fenced_model,
            run_models=self.run_models, candidates=self.candidates, memory=self.memory, api_docs=self.api_docs,
            sandbox=self.sandbox, toolsmith=self.toolsmith, tracer=self.tracing, workspaces_dir=self.workspaces_dir,
            human=self.human, workers=self.pool, writer=self.writer, slots=self.slots,
        )

    def sandbox(self):
        """The sandbox that runs model-written Python, started on first use (its warm pool too)."""
        with self._sandbox_lock:
            if self._sandbox is None:
                from swarm.sandbox import Sandbox

                self._sandbox = Sandbox(self.config.sandbox, self.config.python.authorized_imports)
            return self._sandbox

    def embedder(self):
        """The one embedder ([retrieval] settings) shared by routing, memory and the API docs, made on first use."""
        from swarm.retrieval import make_embedder

        with self._router_lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.config.retrieval)
            return self._embedder

    def api_docs(self):
        """The internal API docs (api_docs/*.md) as a searchable index, built on first use."""
        from swarm.api_docs import ApiDocs

        if self._api_docs is None:
            self._api_docs = ApiDocs(self.embedder, self.store, fusion=self.config.retrieval.fusion,
                                     bm25_weight=self.config.retrieval.bm25_weight)
        return self._api_docs

    def router(self):
        """The live routing index (`swarm.retrieval.LiveIndex`) over the registered scripts, built on first use.

        It follows the catalogue: a script registered, disabled or rolled back since the last call is
        added or taken out alone, never by rebuilding everything.
        """
        from swarm.retrieval import catalogue_entries
        from swarm.retrieval.live import live_index, stored_history

        if self._router is None:
            settings = self.config.retrieval
            index = live_index(self.embedder, self.store, fusion=settings.fusion, bm25_weight=settings.bm25_weight,
                               examples_per_script=settings.examples_per_script)
        # Routing history written or forgotten by any process (`swarm route forget`) counts from the next routing.
        version = (self.catalogue.version, self.store.route_examples_mark())
        with self._router_lock:
            if self._router is None:
                self._router = index
            if self._router_version != version:
                self._router.sync(catalogue_entries(self.catalogue.describe(), stored_history(self.store),
                                                    stored_history(self.store, "synthetic")))
                self._router_version = version
            return self._router

    @property
    def routing_index(self):
        """The live routing index as it stands (None before the first routing), not brought in step first."""
        return self._router

    def candidates(self, text: str, top_k: int | None = None, exclude=()) -> list[dict]:
        """The registered scripts that fit a text best, by retrieval: `describe()` rows with a "score"."""
        k = self.config.retrieval.top_k if top_k is None else top_k
        router = self.router()
        with self._router_lock:
            hits = router.search(text, k, exclude)
        scripts = self.catalogue.scripts
        return [{"name": h.name, "description": scripts[h.name].description, "input_schema": scripts[h.name].input_schema,
                 "score": round(h.score, 4)} for h in hits if h.name in scripts]

    def close(self) -> None:
        self.pool.shutdown()
        if self.mcp is not None:
            self.mcp.close()  # stops the stdio servers it started
        if self._sandbox is not None:
            self._sandbox.close()
        self.writer.shutdown(wait=True)
        self.endpoint.close()
        self.leases.stop()
        self.owner.stop()  # after the lease keeper, which may ask it for the live loops
        self.store.close()
        self.tracing.shutdown()

    # --- concurrency shared by all runs --------------------------------------------

    # The slots and the set of live loops are touched only on the engine's loop thread: from elsewhere,
    # these read a copy made there, and release() is done there.

    @property
    def active(self) -> int:
        """Executions running now, over every run of this engine."""
        return self.owner.call(lambda: self.slots.active)

    @property
    def loops(self) -> set[RunLoop]:
        """The loops of the runs this engine drives now (a copy, taken on the engine's loop thread)."""
        return self.owner.call(lambda: set(self.slots.loops))

    def driving(self, run_id: str) -> bool:
        """Whether this engine drives the run now, or was asked to and has not begun yet."""
        return self.owner.call(lambda: run_id in self.asked or any(loop.run_id == run_id for loop in self.slots.loops))

    def slots_free(self) -> bool:
        return self.owner.call(self.slots.free)

    def release(self) -> None:
        self.owner.call(self.slots.release)

    def _lease_lost(self, lease) -> None:
        """From the lease keeper's thread: another worker took a run over. Its loop stops now rather than at its
        next turn; the commit that records the stop is refused like any other (LeaseLost)."""
        for loop in list(self.loops):
            if loop.run_id == lease.run_id and getattr(loop, "loop", None) is not None:
                loop.loop.call_soon_threadsafe(loop.shutdown, "lease lost: another worker took the run over")

    def budgets(self, run: dict[str, Any]) -> dict[str, float]:
        stored = json.loads(run["budgets"]) if run.get("budgets") else {}
        return {k: stored.get(k, getattr(self.config.run, k)) for k in BUDGET_KEYS}

    def shutdown(self, reason: str = "interrupted by a signal", runs=None) -> None:
        """Stop every run of this engine (or those of the ids in `runs`) cleanly (SIGINT/SIGTERM): each is
        snapshotted and stays resumable. From any thread."""
        def stop() -> None:
            for loop in list(self.slots.loops):
                if runs is None or loop.run_id in runs:
                    loop.shutdown(reason)

        self.owner.call(stop)

    def drain(self, reason: str = "interrupted by a signal") -> None:
        """Like shutdown(), but the nodes already running may finish first (a graceful stop). From any thread."""
        def drain() -> None:
            self.draining = reason  # a loop that starts after this drains at once
            for loop in list(self.slots.loops):
                loop.drain(reason)

        self.owner.call(drain)

    def finished(self, run_id: str, status: str, result: Any) -> None:
        if status == RunStatus.DONE and result not in (None, "", {}, []) and self.config.memory.keep_run_results:
            self._keep_result(run_id, result)
        self._learn_routes(run_id, status)
        if self.tracing.enabled:
            self.tracing.run_ended(self.store.run(run_id))
        self.catalogue.pm.hook.swarm_run_finished(run_id=run_id, status=status, result=result)

    def _learn_routes(self, run_id: str, status: str) -> None:
        """Routing history: each route decision of an ended run whose child ended well, in a run that ended
        done, becomes an example of the script it chose (the live index learns it at once); a child that
        failed makes the sub-goal a negative of its script. Recorded once (forks and replays add nothing)."""
        from swarm.routing_history import route_outcomes

        try:
            outcomes = list(route_outcomes(self.store, run_id, status))
            if not outcomes:
                return
            before = (self.catalogue.version, self.store.route_examples_mark())
            learned = [(script, text) for script, text, kind, node_id in outcomes
                       if self.store.add_route_example(script, text, kind, run_id, node_id) and kind == "positive"]
            for _, _, kind, node_id in outcomes:  # the decision log says how each decision turned out
                self.store.set_route_outcome(run_id, node_id, kind, "run")
            after = (self.catalogue.version, self.store.route_examples_mark())
            if self._router is not None:
                with self._router_lock:
                    for script, text in learned:  # at once, one row each: no rebuild
                        self._router.add_example(script, text)
                    if self._router_version == before:  # in step before: still in step, no re-sync needed
                        self._router_version = after
        except (SwarmError, StoreError) as exc:  # the run is recorded; routing history is a convenience on top
            import logging

            logging.getLogger("swarm").warning("could not record the routing history of run %s: %s", run_id, exc)

    def _keep_result(self, run_id: str, result: Any) -> None:
        """A finished run's result goes to memory, so later runs can find what this one produced."""
        goal = self.store.run(run_id)["goal"]
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, indent=1)
        try:
            self.memory.add(f"Goal: {goal}\nResult: {text}", key=f"run:{run_id}",
                            meta={"kind": "run", "goal": goal}, run_id=run_id)
        except (SwarmError, StoreError) as exc:  # the run is recorded; memory is a convenience on top
            import logging

            logging.getLogger("swarm").warning("could not keep the result of run %s in memory: %s", run_id, exc)

    # --- runs ---------------------------------------------------------------------------

    def create_run(self, goal: str, script: str | None = None, budgets: dict[str, float] | None = None,
                   data: dict[str, Any] | None = None, run_id: str | None = None, model: str | None = None) -> str:
        """Record a new run with its root node (spawned, not yet executed); returns the run id.

        `run_id` is for callers that must record the id before the run exists (the daemon does, so
        a crash in between never makes two runs of one goal); by default a new one is made.
        `model` is a model name for this run's calls instead of [model].model (same endpoint).
        `script` is the root node's script; by default [run].root_script.
        """
        script = script or self.config.run.root_script
        if not goal or not goal.strip():
            raise SwarmError("the goal is empty; say what the swarm should do, e.g. swarm run \"summarise README.md\"")
        self.catalogue.get(script)
        unknown = set(budgets or {}) - set(BUDGET_KEYS)
        if unknown:
            raise SwarmError(f"unknown budget(s) {', '.join(sorted(unknown))}; known: {', '.join(BUDGET_KEYS)}")
        for key, value in (budgets or {}).items():
            if problem := budget_problem(key, value):
                raise SwarmError(f"budget {key} must be {problem} (got {value!r})")
        run_id = run_id or new_run_id()
        now = time.time()  # the run and its root begin together (a trace's run span holds the root's)
        root = TaskNode(id="1", run_id=run_id, parent=None, script=script, data={"goal": goal, **(data or {})},
                        created_at=now)
        batch = Batch()
        batch.event(run_id, EventKind.RUN_START, None, {"goal": goal, "script": script, "budgets": budgets or {}})
        batch.event(run_id, EventKind.SPAWN, root)
        self.store.create_run({
            "id": run_id, "goal": goal, "script": script, "status": RunStatus.PENDING, "created_at": now,
            "budgets": dumps(budgets or {}), "model": self.endpoint.describe(model), "nodes": 1, "model_name": model,
        }, batch)
        return run_id

    async def drive(self, run_id: str, observers=()) -> str:
        """Execute a recorded run until it ends or waits for a person; returns its status.

        Awaited on any loop, the run is driven on the engine's own loop thread (its observers are called there).
        """
        if self.owner.here():
            return await self._asked(run_id, observers)
        return await asyncio.wrap_future(self.submit(run_id, observers))

    def submit(self, run_id: str, observers=()) -> Future:
        """Drive a recorded run on the engine's loop thread, from any thread; a future of its status.

        The run counts as driven here (driving(), cancel()) from the moment this returns."""
        return self.owner.start(lambda: self._asked(run_id, observers))

    def _asked(self, run_id: str, observers):
        """On the loop thread: note the run as driven here at once (not when its coroutine first runs), and the
        coroutine that drives it."""
        run_id = self.store.run(run_id)["id"]  # an id's prefix too
        self.asked[run_id] = self.asked.get(run_id, 0) + 1

        async def drive() -> str:
            try:
                return await self._drive(run_id, observers)
            finally:
                self.asked[run_id] -= 1
                if not self.asked[run_id]:
                    del self.asked[run_id]

        return drive()

    async def _drive(self, run_id: str, observers=()) -> str:
        """On the engine's loop thread: execute a recorded run until it ends or waits for a person.

        Whoever drives a run holds its lease (swarm/leases.py): it is claimed first (LeaseHeld when another
        worker drives the run), the run's state is read once it is held, and it is given up at the end."""
        self.endpoint.warm()  # the model client starts in the background while the run is loaded
        run_id = self.store.run(run_id)["id"]
        if any(loop.run_id == run_id for loop in self.slots.loops):
            raise LeaseHeld(run_id, worker_name(), None)
        on_writer = asyncio.get_running_loop().run_in_executor  # the store's writer thread: the loop never waits on a lock
        lease = await on_writer(self.writer, self.leases.claim, run_id)
        try:
            run = self.store.run(run_id)
            if run.get("model_name"):
                self.run_models[run["id"]] = run["model_name"]
            nodes = nodes_now(self.store, run["id"])
            unfinished = [n.id for n in nodes.values() if not n.status.final]
            cassette = cassette_for(self.store, run, unfinished)  # a fork's holds its parent's calls too
            loop = RunLoop(self.services(), run, nodes, cassette, budgets=self.budgets(run),
                           wait_for_people=self.wait_for_people, draining=self.draining, finished=self.finished)
            loop.observers.extend(observers)
            return await loop.drive()
        finally:
            await on_writer(self.writer, self.leases.release, lease)

    async def run(self, goal: str, **kwargs) -> tuple[str, str]:
        observers = kwargs.pop("observers", ())
        run_id = self.create_run(goal, **kwargs)
        return run_id, await self.drive(run_id, observers)

    def prepare_resume(self, run_ref: str) -> str:
        """Check that a run (id, or a snapshot file) can go on; import the snapshot if the store lacks it."""
        if run_ref.endswith(".json") or Path(run_ref).is_file():
            doc = read_snapshot_file(run_ref)
            run_id = doc["run"]["id"]
            if not self.store.has_run(run_id):
                self.import_snapshot(doc)
        else:
            run_id = self.store.run(run_ref)["id"]
        run = self.store.run(run_id)
        if run["status"] in RUN_FINAL:
            raise RunNotResumable(f"run {run_id} already ended ({run['status']}); nothing to resume — see it with `swarm show {run_id}`")
        return run_id

    def import_snapshot(self, doc: dict[str, Any]) -> None:
        """Recreate a run from an exported snapshot in this store."""
        r = doc["run"]
        self.store.create_run({
            "id": r["id"], "goal": r["goal"], "script": r.get("script") or "break_down_goal", "status": RunStatus.PENDING,
            "created_at": r.get("created_at") or time.time(), "budgets": r.get("budgets") or "{}",
            "model": r.get("model"), "prompt_tokens": r.get("prompt_tokens") or 0,
            "completion_tokens": r.get("completion_tokens") or 0, "cost_usd": r.get("cost_usd") or 0.0,
        })
        self.store.save_snapshot(r["id"], 0, "imported", json.dumps(doc))

    def cancel(self, run_id: str, node_id: str | None = None) -> str:
        """Cancel a run, or one node of it and everything under it.

        Returns "requested" when a live process (this one or another) drives the run and
        will act within a second, "cancelled" when it was done here, "pending" when a node
        cancel waits for the run to be resumed, or the status of a run that already ended.
        """
        run = self.store.run(run_id)
        if run["status"] in RUN_FINAL:
            return run["status"]
        if node_id is not None and node_id not in {n["id"] for n in state_at(self.store, run["id"])}:
            raise UnknownNode(run["id"], node_id)
        self.store.request_cancel(run["id"], node_id)
        if self.driving(run["id"]) or held(run):
            return "requested"
        if node_id is not None:
            return "pending"
        # Nobody drives the run: stop it here, recording the cancel as a live loop would.
        self.submit(run["id"]).result()
        return "cancelled"


def new_run_id() -> str:
    """A run id: when it was made, then random hex (sorts by time, unique across processes)."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
