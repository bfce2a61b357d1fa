"""The catalogue of node scripts and tools, gathered from pluggy plugins."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Callable

import pluggy

from swarm import hookspecs
from swarm.errors import SwarmError, UnknownScript
from swarm.plugin import NodeScript

BUILTIN_PACKAGE = "node_scripts"
ENTRY_POINT_GROUPS = ("swarm", "swarm.plugins")  # "swarm.plugins" is the documented one; "swarm" kept for older plugins


class Catalogue:
    """Registered node scripts by name, and the tools plugins provide."""

    def __init__(self, builtins: bool = True, entry_points: bool = True):
        self.pm = pluggy.PluginManager("swarm")
        self.pm.add_hookspecs(hookspecs)
        self.version = 0  # counts refreshes: the routing index re-reads the scripts when it changes
        if builtins:
            package = importlib.import_module(BUILTIN_PACKAGE)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
                self.pm.register(importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}"), name=f"builtin:{info.name}")
        if entry_points:
            for group in ENTRY_POINT_GROUPS:
                self.pm.load_setuptools_entrypoints(group)
        self._refresh()

    def register(self, plugin: ModuleType | object, name: str | None = None) -> list[str]:
        """Register a plugin now; its scripts are usable by the next node that asks for them."""
        self.pm.register(plugin, name=name)
        try:
            before = set(self.scripts)
            self._refresh()
        except SwarmError:
            self.pm.unregister(plugin)
            self._refresh()
            raise
        return sorted(set(self.scripts) - before)

    def load_folder(self, folder: Path) -> list[str]:
        """Import every .py file of a plugins folder (written by people, trusted like an installed package) and register it."""
        if not Path(folder).is_dir():
            raise SwarmError(f"the plugins folder {folder} does not exist; create it, or set [toolsmith].plugins_folder = \"\"")
        added: list[str] = []
        for path in sorted(Path(folder).glob("*.py")):
            name = f"plugins_folder:{path.stem}"
            if self.pm.has_plugin(name):
                continue
            spec = importlib.util.spec_from_file_location(f"swarm_plugins_folder.{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise SwarmError(f"the plugin {path} failed to import ({type(exc).__name__}: {exc}); fix it or remove it "
                                 "from [toolsmith].plugins_folder") from exc
            added += self.register(module, name=name)
        return added

    def refresh(self) -> None:
        """Ask every plugin again for its scripts and tools (a plugin's offer may have changed, e.g. generated ones)."""
        self._refresh()

    def _refresh(self) -> None:
        scripts: dict[str, NodeScript] = {}
        for group in self.pm.hook.swarm_node_scripts():
            for script in group or []:
                if script.name in scripts:
                    raise SwarmError(
                        f"two plugins provide a node script named {script.name!r}; rename one of them"
                    )
                scripts[script.name] = script
        self.scripts = scripts
        tools: dict[str, Callable] = {}
        for group in self.pm.hook.swarm_tools():
            tools.update(group or {})
        self.tools = tools
        self.version += 1

    def get(self, name: str) -> NodeScript:
        try:
            return self.scripts[name]
        except KeyError:
            raise UnknownScript(name, list(self.scripts)) from None

    def describe(self) -> list[dict]:
        """Name, description, input schema and example inputs of every script: what `route` chooses from."""
        return [{"name": s.name, "description": s.description, "input_schema": s.input_schema, "examples": s.examples}
                for s in sorted(self.scripts.values(), key=lambda s: s.name)]
