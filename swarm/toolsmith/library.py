"""The library of generated scripts and tools on disk: one folder per name, one never-overwritten folder per version.

    <folder>/<name>/v<N>/code.py     the code the model wrote
    <folder>/<name>/v<N>/meta.json   name, kind, description, arguments, returns, dependencies, tests, ...
    <folder>/<name>/state.json       {"active": N, "disabled": false, "activated": [1, 2, ...]}

Nothing here runs the code: this module only reads and writes files.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarm.errors import SwarmError

KINDS = ("script", "tool")
VERSION_DIR = re.compile(r"^v(\d+)$")


class UnknownGenerated(SwarmError):
    exit_code = 2

    def __init__(self, name: str, known: list[str], version: int | None = None):
        what = f"{name!r} has no version {version}" if version is not None else f"no generated script or tool {name!r}"
        super().__init__(f"{what}; see them with `swarm scripts list`" + (f" (known: {', '.join(known)})" if known else ""))


@dataclass
class Generated:
    """One stored version of a generated script or tool."""

    meta: dict[str, Any]
    code: str
    path: Path

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def version(self) -> int:
        return int(self.meta["version"])


class Library:
    """Versions, the active one and the disabled flag of every generated script and tool in `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    # --- reading ------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        base = self.folder / name
        if not base.is_dir():
            return []
        found = [int(m.group(1)) for p in base.iterdir() if (m := VERSION_DIR.match(p.name)) and (p / "meta.json").is_file()]
        return sorted(found)

    def state(self, name: str) -> dict[str, Any]:
        """{"active": N or None, "disabled": bool, "activated": [versions in the order they became active]}."""
        path = self.folder / name / "state.json"
        state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return {"active": state.get("active"), "disabled": bool(state.get("disabled")),
                "activated": list(state.get("activated") or [])}

    def get(self, name: str, version: int | None = None) -> Generated:
        """A stored version (default: the active one)."""
        if not self.versions(name):
            raise UnknownGenerated(name, self.names())
        if version is None:
            version = self.state(name)["active"] or self.versions(name)[-1]
        path = self.folder / name / f"v{version}"
        if not (path / "meta.json").is_file():
            raise UnknownGenerated(name, [], version)
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        return Generated(meta, (path / "code.py").read_text(encoding="utf-8"), path)

    def active(self) -> list[Generated]:
        """The active version of every generated script and tool that is not disabled: what gets registered."""
        out = []
        for name in self.names():
            state = self.state(name)
            if state["active"] and not state["disabled"]:
                out.append(self.get(name, state["active"]))
        return out

    def find(self, run_id: str, node_id: str) -> Generated | None:
        """The version a node of a run saved (to pick it up again after a person answered)."""
        for name in self.names():
            for version in reversed(self.versions(name)):
                g = self.get(name, version)
                if g.meta.get("created_by_run") == run_id and g.meta.get("created_by_node") == node_id:
                    return g
        return None

    # --- writing ------------------------------------------------------------------------

    def save(self, proposal: dict[str, Any], run_id: str | None = None, node_id: str | None = None) -> Generated:
        """Store a proposal as the next version of its name; it is not active until `activate`."""
        name = proposal["name"]
        base = self.folder / name
        base.mkdir(parents=True, exist_ok=True)
        version = (self.versions(name) or [0])[-1] + 1
        while True:
            path = base / f"v{version}"
            try:
                path.mkdir()  # atomic: two savers never share a version
                break
            except FileExistsError:
                version += 1
        meta = {
            "name": name, "kind": proposal["kind"], "description": proposal.get("description", ""),
            "arguments": proposal.get("arguments") or {"type": "object"}, "returns": proposal.get("returns") or {},
            "dependencies": list(proposal.get("dependencies") or []), "tests": list(proposal.get("tests") or []),
            "version": version, "created_at": time.time(), "created_by_run": run_id, "created_by_node": node_id,
        }
        (path / "code.py").write_text(proposal["code"], encoding="utf-8")
        _write_json(path / "meta.json", meta)
        return Generated(meta, proposal["code"], path)

    def activate(self, name: str, version: int) -> None:
        if version not in self.versions(name):
            raise UnknownGenerated(name, [], version)
        state = self.state(name)
        state["active"] = version
        state["activated"] = [v for v in state["activated"] if v != version] + [version]
        self._write_state(name, state)

    def set_disabled(self, name: str, disabled: bool) -> None:
        if not self.versions(name):
            raise UnknownGenerated(name, self.names())
        state = self.state(name)
        state["disabled"] = disabled
        self._write_state(name, state)

    def rollback(self, name: str) -> int:
        """Make the version that was active before the current one active again; returns it."""
        state = self.state(name)
        if not self.versions(name):
            raise UnknownGenerated(name, self.names())
        earlier = [v for v in state["activated"] if state["active"] is None or v < state["active"]]
        if not earlier:
            raise SwarmError(f"{name} has no earlier version that was ever active (active: v{state['active']}); "
                             f"see its versions with `swarm scripts show {name}`")
        state["active"] = earlier[-1]
        self._write_state(name, state)
        return earlier[-1]

    def _write_state(self, name: str, state: dict[str, Any]) -> None:
        _write_json(self.folder / name / "state.json", state)


def _write_json(path: Path, value: Any) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
