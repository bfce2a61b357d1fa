"""The Toolsmith: tests, saves and registers the scripts and tools the swarm writes, and runs them in the sandbox.

Generated code is never imported into the host. A generated script is registered as a host
NodeScript whose `execute(ctx)` sends the code to the sandbox; a generated tool as a host
function that does the same. Both are provided through pluggy by `GeneratedPlugin`, so they
register exactly like any other plugin, at runtime, with no restart.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Iterator

from swarm.errors import SwarmError
from swarm.toolsmith import program
from swarm.toolsmith.library import Generated, Library

if TYPE_CHECKING:
    from swarm.catalogue import Catalogue
    from swarm.config import Config
    from swarm.sandbox import Sandbox, SandboxResult


def _source_file(obj: Any) -> str:
    try:
        return inspect.getsourcefile(inspect.unwrap(obj)) or ""
    except TypeError:  # a builtin or a C function: no file of its own
        return ""


class GeneratedCodeFailed(SwarmError):
    """Generated code raised, or hit a sandbox limit, while it ran."""


class Toolsmith:
    """What `make_tool` and `swarm scripts` use: the library on disk, the sandbox, and the catalogue to refresh."""

    def __init__(self, config: Config, sandbox: Callable[[], Sandbox], catalogue: Catalogue | None = None):
        self.settings = config.toolsmith
        self.library = Library(config.path(config.toolsmith.folder))
        self.allowed_imports = list(config.python.authorized_imports)
        self.script_timeout_s = max(config.sandbox.timeout_s, config.run.node_timeout_s)  # a script may wait on the model
        self._sandbox = sandbox
        self.catalogue = catalogue

    @classmethod
    def standalone(cls, config: Config) -> Toolsmith:
        """A Toolsmith with its own catalogue (built-ins, plugins, generated) and a sandbox started on first use,
        for `swarm scripts` outside any run. Call `close()` when done."""
        from swarm.catalogue import Catalogue
        from swarm.sandbox import Sandbox
        from swarm.toolsmith.plugin import PLUGIN_NAME, GeneratedPlugin

        started: list[Sandbox] = []

        def sandbox() -> Sandbox:
            if not started:
                started.append(Sandbox(config.sandbox, config.python.authorized_imports, pool_size=0))
            return started[0]

        catalogue = Catalogue()
        if config.toolsmith.plugins_folder:
            catalogue.load_folder(config.path(config.toolsmith.plugins_folder))
        smith = cls(config, sandbox, catalogue)
        catalogue.register(GeneratedPlugin(smith), name=PLUGIN_NAME)
        smith._started = started
        return smith

    def close(self) -> None:
        for sandbox in getattr(self, "_started", []):
            sandbox.close()

    def _registered(self) -> Iterator[tuple[str, str, str, Any]]:
        """(origin, kind, name, NodeScript or tool function) of every built-in and plugin script and tool."""
        from swarm.toolsmith.plugin import PLUGIN_NAME

        if self.catalogue is None:
            return
        for plugin in self.catalogue.pm.get_plugins():
            origin = self.catalogue.pm.get_name(plugin) or ""
            if origin == PLUGIN_NAME:
                continue
            origin = "builtin" if origin.startswith("builtin:") else "plugin"
            for script in (getattr(plugin, "swarm_node_scripts", lambda: [])() or []):
                yield origin, "script", script.name, script
            for name, tool in (getattr(plugin, "swarm_tools", lambda: {})() or {}).items():
                yield origin, "tool", name, tool

    def listing(self) -> list[dict[str, Any]]:
        """Every node script and tool: built-in, plugin or generated (with version and disabled flag), by name."""
        rows = {}
        for origin, kind, name, obj in self._registered():
            rows[name] = {"name": name, "kind": kind, "origin": origin, "version": obj.version if kind == "script" else "",
                          "disabled": False,
                          "description": obj.description if kind == "script" else (obj.__doc__ or "").strip().split("\n")[0]}
        for name in self.library.names():
            state = self.library.state(name)
            g = self.library.get(name)
            rows[name] = {"name": name, "kind": g.kind, "origin": "generated",
                          "version": f"v{state['active']}" if state["active"] else "none active",
                          "versions": self.library.versions(name), "disabled": state["disabled"],
                          "description": g.meta.get("description", "")}
        return [rows[n] for n in sorted(rows)]

    def describe(self, name: str) -> dict[str, Any] | None:
        """A built-in or plugin script or tool as `swarm scripts show` prints it: where its code is, what it does,
        what it takes; None when no such one is registered (a generated one is read from the library instead)."""
        for origin, kind, found, obj in self._registered():
            if found != name:
                continue
            if kind == "script":
                return {"name": name, "kind": kind, "origin": origin, "version": obj.version,
                        "source": obj.source or _source_file(obj.execute), "description": obj.description,
                        "input_schema": obj.input_schema, "examples": obj.examples}
            return {"name": name, "kind": kind, "origin": origin, "version": "", "source": _source_file(obj),
                    "description": (obj.__doc__ or "").strip(), "signature": f"{name}{inspect.signature(obj)}"}
        return None

    # --- running generated code (always in the sandbox) ---------------------------------

    def run_script(self, g: Generated, ctx) -> Any:
        """One execution of a generated script for a node: the host side of its NodeScript."""
        g = self._current(g)
        def swarm_llm(prompt, schema=None):
            reply = ctx.llm(prompt, schema=schema)
            return {"text": reply.text, "data": reply.data}

        tools = dict(ctx.tools)
        reports = None if ctx.reports is None else [_report(r) for r in ctx.reports]
        code = program.script_program(g.code, ctx.data, reports, ctx.answer, tools)
        result = self._run(code, g, {**tools, program.LLM_TOOL: swarm_llm}, self.script_timeout_s)
        if result.logs:
            ctx.log(result.logs.rstrip())
        _raise_unless_ok(result, g)
        return returned(result.output, ctx)

    def run_tool(self, g: Generated, arguments: dict[str, Any]) -> Any:
        """One call of a generated tool: the host side of its function in `ctx.tools`."""
        g = self._current(g)
        result = self._run(program.tool_program(g.code, g.name, arguments), g, {}, None)
        _raise_unless_ok(result, g)
        return result.output

    def _current(self, g: Generated) -> Generated:
        """The version to run now: another process (`swarm scripts disable/rollback`) may have changed it."""
        state = self.library.state(g.name)
        if state["disabled"] or not state["active"]:
            raise GeneratedCodeFailed(f"the generated {g.kind} {g.name} is disabled; enable it with `swarm scripts enable {g.name}`")
        return g if state["active"] == g.version else self.library.get(g.name, state["active"])

    def _run(self, code: str, g: Generated | dict, tools: dict[str, Callable], timeout_s: float | None) -> SandboxResult:
        deps = (g.meta if isinstance(g, Generated) else g).get("dependencies") or []
        imports = [d for d in deps if d in self.allowed_imports]  # only ever narrows [python].authorized_imports
        return self._sandbox().run(code, imports=imports, tools=tools, timeout_s=timeout_s)

    # --- tests --------------------------------------------------------------------------

    def check(self, proposal: dict[str, Any], tools: dict[str, Callable] | None = None) -> list[str]:
        """Everything wrong with a proposal: its shape, a name taken by someone else, then each failing test.

        An empty list means it passed. Tests run in the sandbox; a script's ctx.llm answers the
        test's `llm_reply` there (no model call).
        """
        found = program.problems(proposal, self.allowed_imports)
        taken = self._taken_names()
        if proposal.get("name") in taken:
            found.append(f"name {proposal['name']!r} is already a {taken[proposal['name']]}; choose another name")
        if found:
            return found
        tools = {k: v for k, v in (tools or {}).items() if k != proposal["name"]}
        for i, test in enumerate(proposal["tests"], 1):
            data = test.get("input") or {}
            if proposal["kind"] == "script":
                code = program.script_program(proposal["code"], data, test.get("reports"), test.get("answer"), tools,
                                              llm_reply=test.get("llm_reply"), canned=True)
                result = self._run(code, proposal, tools, None)
            else:
                result = self._run(program.tool_program(proposal["code"], proposal["name"], data), proposal, {}, None)
            if not result.ok:
                found.append(f"test {i} (input {program.literal(data)}) raised {result.error}"
                             + (f"; it printed: {result.logs.strip()[-300:]}" if result.logs.strip() else ""))
            elif "expected" in test and not program.same(test["expected"], result.output):
                found.append(f"test {i} (input {program.literal(data)}) expected {program.literal(test['expected'])}, "
                             f"got {program.literal(result.output)}")
        return found

    def test(self, name: str, version: int | None = None, tools: dict[str, Callable] | None = None) -> list[str]:
        """Re-run the stored tests of a stored version (default: the active one)."""
        g = self.library.get(name, version)
        return self.check({**g.meta, "code": g.code}, tools)

    def _taken_names(self) -> dict[str, str]:
        """Names of scripts and tools from plugins other than the generated ones."""
        if self.catalogue is None:
            return {}
        mine = set(self.library.names())
        taken = {n: "registered node script" for n in self.catalogue.scripts if n not in mine}
        taken.update({n: "registered tool" for n in self.catalogue.tools if n not in mine})
        return taken

    # --- saving and registering -----------------------------------------------------------

    def save(self, proposal: dict[str, Any], run_id: str | None = None, node_id: str | None = None) -> Generated:
        """Store a proposal as a new version, not yet active."""
        return self.library.save(proposal, run_id, node_id)

    def register(self, g: Generated) -> None:
        """Make a stored version the active one and register it now: the next node can use it."""
        self.library.activate(g.name, g.version)
        self.refresh()

    def disable(self, name: str, disabled: bool = True) -> None:
        """Stop (or resume) offering a generated script or tool; it is unregistered at once in this process."""
        self.library.set_disabled(name, disabled)
        self.refresh()

    def rollback(self, name: str) -> int:
        """Make the previously active version active again, registered at once in this process; returns it."""
        version = self.library.rollback(name)
        self.refresh()
        return version

    def refresh(self) -> None:
        if self.catalogue is not None:
            self.catalogue.refresh()


def returned(output: Any, ctx) -> Any:
    """What a generated script's `execute` returned, as the lifecycle expects it: a result, a Spawn or an AskHuman."""
    if isinstance(output, dict) and set(output) == {program.SPAWN}:
        spawn = output[program.SPAWN]
        children = spawn.get("children") if isinstance(spawn, dict) else None
        if not isinstance(children, list) or not all(isinstance(c, dict) and isinstance(c.get("script"), str) for c in children):
            raise SwarmError("a generated script returned a malformed ctx.spawn(...); pass a list of ctx.child(script, **data)")
        return ctx.spawn([ctx.child(c["script"], **(c.get("data") or {})) for c in children], policy=spawn.get("policy") or "all")
    if isinstance(output, dict) and set(output) == {program.ASK}:
        ask = output[program.ASK] or {}
        return ctx.ask_human(str(ask.get("question", "")), ask.get("proposal"))
    return output


def _report(r) -> dict[str, Any]:
    return {"node_id": r.node_id, "script": r.script, "status": r.status, "ok": r.ok, "output": r.output, "error": r.error}


def _raise_unless_ok(result: SandboxResult, g: Generated) -> None:
    if not result.ok:
        printed = f"; it printed: {result.logs.strip()[-500:]}" if result.logs.strip() else ""
        raise GeneratedCodeFailed(
            f"generated {g.kind} {g.name} v{g.version} failed in the sandbox: {result.error}{printed}; "
            f"fix it with make_tool, or go back with `swarm scripts rollback {g.name}`"
        )
