"""NodeContext: everything a node script may use during one execution.

This is the internal swarm API that node scripts and generated tools call.
Every public method here has an entry in api_docs/ (checked by a test).
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from swarm.approvals import SCRIPT_KINDS, WRITE_TOOLS, NeedsApproval, imports_in, names_in, proposal_key, required
from swarm.errors import NodeCancelled, SecondModelCall, SwarmError
from swarm.hybrid import ToolCall, parse_action
from swarm.model.cancel import Cancellation
from swarm import policies
from swarm.node import AskHuman, Child, Report, Spawn
from swarm.store import dumps
from swarm.workspace import Workspace
from swarm.workspace import for_run as workspace_for_run

if TYPE_CHECKING:
    from swarm.model import Reply
    from swarm.node import TaskNode
    from swarm.sandbox import SandboxResult
    from swarm.services import Services


class NodeContext:
    """Given to `execute(ctx)`: the node's input, its children's reports, and the swarm's services.

    The services (`swarm.services.Services`) are what the engine handed the run's loop; the context
    never sees the engine itself.
    """

    def __init__(
        self,
        services: Services,
        node: TaskNode,
        reports: list[Report] | None,
        previous: list[Report],
        cassette: dict[str, dict],
        record_call: Callable[[dict], None] | None = None,
    ):
        self._services = services
        self._cassette = cassette
        self._record = record_call or services.store.record_llm_call
        self._cancelled = False  # set by the loop's thread, read by the script's
        self._cancel = Cancellation()  # ends this execution's model request in flight when the node is cancelled
        self._llm_used = False
        self._timer = None  # the loop's timeout handle for this execution
        self._workspace = None
        self._tool_calls: list[dict] = []  # {"tool", "ok", "ms"[, "error"]} per call, recorded by the lifecycle
        self.node_id = node.id
        self.run_id = node.run_id
        self.script = node.script
        self.data: dict[str, Any] = dict(node.data)
        self.depth = node.depth
        self.round = node.round
        self.attempt = node.attempts
        self.answer = node.answer
        self._approved = dict(node.approved)  # proposals people approved for this node, by key
        self.reports = reports
        self.previous = previous
        self.reply: Reply | None = None
        self.replayed = False
        self.logs: list[str] = []

    # --- input ------------------------------------------------------------------

    @property
    def goal(self) -> str:
        """The node's goal text: `data["goal"]`, or "" when the input has none."""
        return str(self.data.get("goal", ""))

    # --- the one model call -----------------------------------------------------

    def llm(
        self,
        prompt: str | list[dict[str, str]],
        *,
        system: str | None = None,
        schema: dict | None = None,
        json: bool = False,
        temperature: float | None = None,
    ) -> Reply:
        """Make this execution's one model call and return its `Reply` (`.text`, `.data`).

        With `schema` (a JSON schema) or `json=True` the reply is parsed into `.data`. `temperature` replaces
        [model].temperature for this call.
        A second call in the same execution raises `SecondModelCall`.
        """
        if self._llm_used:
            raise SecondModelCall(self.node_id, self.script)
        self._llm_used = True
        self._check_cancelled()
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        if system:
            messages = [{"role": "system", "content": system}, *messages]
        key = f"{self.run_id}/{self.node_id}/r{self.round}/a{self.attempt}"
        recorded = self._cassette.get(key)
        if recorded is not None and "_request" in recorded:
            recorded = self._inherited(key, messages, schema, recorded)
        if recorded is not None:
            from swarm.model import Reply

            self.reply, self.replayed = Reply.from_dict(recorded), True
            return self.reply
        model = self._services.model()
        started = time.time()
        try:
            asked = self._services.run_models.get(self.run_id)  # a run may name its own model (goal files can)
            reply = model.complete(messages, schema=schema, json=json, call_key=key, cancel=self._cancel,
                                   **({"model": asked} if asked else {}),
                                   **({"temperature": temperature} if temperature is not None else {}))
        except SwarmError as exc:
            self._record_call(key, messages, schema, None, str(exc), started)
            raise
        except Exception as exc:  # model errors not of our hierarchy still get recorded
            self._record_call(key, messages, schema, None, f"{type(exc).__name__}: {exc}", started)
            raise
        self._record_call(key, messages, schema, reply, None, started)
        self.reply = reply
        return reply

    def _inherited(self, key, messages, schema, recorded: dict) -> dict | None:
        """A forked run's cassette holds its parent's calls with their requests: one is replayed (and
        recorded as this run's own) only when this execution asks exactly the same; else the model is asked."""
        if recorded["_request"] != dumps({"messages": messages, "schema": schema}):
            return None
        from swarm.model import Reply

        self._record_call(key, messages, schema, Reply.from_dict(recorded), None, time.time(), recorded["_from"])
        return recorded

    def _record_call(self, key, messages, schema, reply, error, started, replayed_from: str | None = None) -> None:
        reply_dict = reply.to_dict() if reply else None
        row = {
            "key": key,
            "run_id": self.run_id,
            "node_id": self.node_id,
            "round": self.round,
            "attempt": self.attempt,
            "request": dumps({"messages": messages, "schema": schema}),
            "reply": dumps(reply_dict) if reply else None,
            "error": error,
            "model": reply.model if reply else None,
            "prompt_tokens": reply.prompt_tokens if reply else 0,
            "completion_tokens": reply.completion_tokens if reply else 0,
            "cost_usd": reply.cost_usd if reply else 0.0,
            "latency_ms": reply.latency_ms if reply else (time.time() - started) * 1000,
            "at": time.time(),
            "replayed_from": replayed_from,
        }
        self._record(row)
        self._services.tracer.model_call(self, row, started, self._services.model)
        if reply is not None:
            self._cassette[key] = reply_dict

    # --- what a script returns ----------------------------------------------------

    def child(self, script: str, **data: Any) -> Child:
        """A blueprint for one child node: the script that will run it and its input."""
        return Child(script, data)

    def spawn(self, children: list[Child | tuple | dict], policy: str = "all", evaluator: str = "review") -> Spawn:
        """Return this from `execute` to delegate to children under a policy.

        Policies: "all" (parallel, wait for all), "sequence" (one after another, each
        sees the earlier results in `ctx.previous`), "first" (first success wins,
        the rest are cancelled), "best_of_n" (all run, then `evaluator` picks one),
        or any other registered policy (a module registering a `swarm.policies.ChildPolicy`).
        """
        if policy not in policies.REGISTRY:
            raise SwarmError(f"unknown child policy {policy!r}; use one of {', '.join(policies.names())}")
        blueprints = [_as_child(c) for c in children]
        if not blueprints:
            raise SwarmError(f"node {self.node_id}: ctx.spawn needs at least one child")
        return Spawn(blueprints, policy, evaluator)

    def ask_human(self, question: str, proposal: Any = None) -> AskHuman:
        """Return this from `execute` to pause the node until a person answers.

        The node is executed again with the answer in `ctx.answer`.
        """
        return AskHuman(question, proposal)

    def approved(self, kind: str, question: str, proposal: Any) -> Any:
        """The proposal to go on with, once a person approved it, when [approvals] asks for one.

        `kind` is "new_script", "sandbox_write" or "import". When [approvals] does not ask for
        this kind, returns `proposal` at once. Otherwise the node waits in `awaiting_approval`
        (only its branch pauses) and is executed again after the decision, its model call
        replayed: approved, this same call returns the proposal, or the version a person
        edited; rejected, the node fails with the reason.
        """
        if kind not in SCRIPT_KINDS:
            raise SwarmError(f"ctx.approved: unknown kind {kind!r}; use one of {', '.join(SCRIPT_KINDS)} "
                             "(to ask a person anything else, return ctx.ask_human(question))")
        if not required(self._services.config.approvals, kind):
            return proposal
        key = proposal_key(kind, proposal)
        if key in self._approved:
            edited = self._approved[key]
            return proposal if edited is None else edited
        raise NeedsApproval(kind, question, proposal)

    # --- services -----------------------------------------------------------------

    @property
    def config(self):
        """The swarm's settings (`swarm.config.Config`, read-only by convention): e.g. `ctx.config.python.authorized_imports`."""
        return self._services.config

    @property
    def scripts(self) -> list[dict[str, str]]:
        """Name, description and input schema of every registered node script."""
        return self._services.catalogue.describe()

    def candidates(self, text: str, top_k: int | None = None, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
        """The registered scripts that fit a text best (top_k, default [retrieval].top_k), best first.

        Each is a `ctx.scripts` row with a retrieval "score"; names in `exclude` are never returned.
        """
        return self._services.candidates(text, top_k, tuple(exclude))

    def record_route(self, candidates: list[dict[str, Any]], pick: str | None) -> None:
        """Log this node's routing decision: its goal, the candidates offered (name and score, best first) and the
        script it handed the goal to (None: to none). `swarm route decisions` shows the log."""
        offered = [{"name": c["name"], "score": c.get("score")} for c in candidates]
        self._services.store.record_route_decision(self.run_id, self.node_id, self.goal.strip(), offered, pick)

    @property
    def tools(self) -> dict[str, Callable]:
        """Tools by name: those of plugins, plus read_file/write_file/list_files confined to the run's workspace."""
        tools = {**self._services.catalogue.tools, **self.workspace.tools()}
        return {name: self._counted(name, fn) for name, fn in tools.items()}

    def _counted(self, name: str, fn: Callable) -> Callable:
        """The tool, noting each call (name, outcome, time) for the history, stats and traces."""

        @functools.wraps(fn)
        def call(*args, **kwargs):
            started, error = time.time(), None
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                note = {"tool": name, "ok": error is None, "ms": round((time.time() - started) * 1000, 3)}
                self._tool_calls.append({**note, "error": error[:300]} if error else note)
                self._services.tracer.tool_call(self, name, started, error)

        return call

    @property
    def workspace(self) -> Workspace:
        """The run's own folder; the file tools can reach nothing outside it."""
        if self._workspace is None:
            self._workspace = workspace_for_run(self._services.workspaces_dir, self.run_id)
        return self._workspace

    def act(self, reply: str) -> dict[str, Any]:
        """Carry out a model reply that is one action (hybrid execution).

        A direct tool call `{"tool": NAME, "args": {...}}` runs on the host (the fast path);
        a ```python block runs in the sandbox with the same tools as proxies. Returns
        {"mode": "tool", "tool", "result"} or {"mode": "python", "ok", "result", "logs", "error"}.
        """
        action = parse_action(reply)
        if isinstance(action, ToolCall):
            tools = self.tools
            if action.tool not in tools:
                raise SwarmError(f"the model called an unknown tool {action.tool!r}; tools: {', '.join(sorted(tools))}")
            args = action.args
            if action.tool in WRITE_TOOLS:
                question = f"Node {self.node_id} asks to call {action.tool} in the run's workspace. Go ahead?"
                granted = self.approved("sandbox_write", question, {"tool": action.tool, "args": args})
                args = granted.get("args", args) if isinstance(granted, dict) else args
            return {"mode": "tool", "tool": action.tool, "result": tools[action.tool](**args)}
        result = self.run_python(action.code)
        return {"mode": "python", "ok": result.ok, "result": result.output, "logs": result.logs, "error": result.error}

    @property
    def memory(self):
        """The swarm's memory (`swarm.memory.Memory`): `add(text, key=None)`, `get(key)`, `search(text, limit=5)` by retrieval."""
        return self._services.memory

    def api_docs(self, text: str, k: int = 3) -> str:
        """The `k` entries of the internal API docs (api_docs/*.md) that fit `text` best, as Markdown for a prompt."""
        return self._services.api_docs().relevant(text, k)

    def run_python(self, code: str, imports: list[str] | None = None) -> SandboxResult:
        """Run model-written Python in the sandbox; returns `SandboxResult(ok, output, logs, error, limit)`.

        `imports` may only narrow what [python].authorized_imports allows. The swarm's tools
        (`ctx.tools`) are callable from the code; they run outside the sandbox.
        """
        self._check_cancelled()
        allowed = self._services.config.python.authorized_imports
        chosen = [i for i in (imports or allowed) if i in allowed]
        code, extra, tools = self._sandbox_grants(code, imports, allowed)
        started = time.time()
        result = self._services.sandbox().run(code, imports=chosen, allow_imports=extra, tools=tools)
        self._services.tracer.sandbox_run(self, started, result)
        return result

    def _sandbox_grants(self, code: str, imports: list[str] | None, allowed: list[str]) -> tuple[str, list[str], dict]:
        """What sandboxed code may use beyond the defaults, as far as [approvals] lets a person allow it:
        imports past the allowlist, and the workspace's write tools. Returns (code, extra imports, tools)."""
        policy = self._services.config.approvals
        tools = self.tools
        extra = sorted((set(imports or ()) | imports_in(code)) - set(allowed)) if policy.non_default_imports else []
        writes = sorted(WRITE_TOOLS & names_in(code) & set(tools)) if policy.sandbox_writes else []
        if extra or writes:
            asks = ([f"import {', '.join(extra)}"] if extra else []) + (
                [f"write to the run's workspace ({', '.join(writes)})"] if writes else [])
            question = f"Sandboxed code of node {self.node_id} asks to {' and '.join(asks)}. Run it?"
            granted = self.approved("import" if extra else "sandbox_write", question,
                                    {"code": code, "imports": extra, "writes": writes})
            if isinstance(granted, dict) and isinstance(granted.get("code"), str):
                code = granted["code"]
        if policy.sandbox_writes and not writes:  # code that did not ask for them gets no write tools
            tools = {name: tool for name, tool in tools.items() if name not in WRITE_TOOLS}
        return code, extra, tools

    @property
    def toolsmith(self):
        """The swarm's self-extension (`swarm.toolsmith.Toolsmith`): test, save and register generated scripts and tools."""
        return self._services.toolsmith

    def log(self, message: str) -> None:
        """Add a line to this execution's log (kept in the history)."""
        self.logs.append(str(message))

    # --- used by the lifecycle ------------------------------------------------------

    def cancel(self) -> None:
        self._cancelled = True
        self._cancel.cancel()  # a model request in flight is closed, so this execution's thread is freed

    def _check_cancelled(self) -> None:
        if self._cancelled:
            raise NodeCancelled(f"node {self.node_id} was cancelled")


def _as_child(c: Child | tuple | dict) -> Child:
    if isinstance(c, Child):
        return c
    if isinstance(c, tuple) and len(c) == 2:
        return Child(str(c[0]), dict(c[1]))
    if isinstance(c, dict) and "script" in c:
        return Child(str(c["script"]), dict(c.get("data") or {}))
    raise SwarmError(f"a child must be ctx.child(script, **data), (script, data) or {{'script', 'data'}}, not {c!r}")
