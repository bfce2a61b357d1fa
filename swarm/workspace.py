"""A run's workspace: the one folder its file tools may touch, and those tools.

Every path a tool is given is resolved (symlinks included) and must stay inside the
workspace; anything else is refused with a clear error, whether the call comes from a
direct tool call or from sandboxed code through its tool proxy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from swarm.errors import SwarmError

MAX_READ_CHARS = 1_000_000


class OutsideWorkspace(SwarmError):
    def __init__(self, path: str, root: Path):
        super().__init__(f"path {path!r} is outside the run's workspace {root}; use a path relative to the workspace")


class Workspace:
    def __init__(self, root: Path):
        self.root = root

    def resolve(self, path: str) -> Path:
        """`path` (relative to the workspace, or absolute inside it) as a real path inside the workspace."""
        root = self.root.resolve()
        target = (root / path).resolve()
        if os.path.commonpath([root, target]) != str(root):
            raise OutsideWorkspace(path, root)
        return target

    def read_file(self, path: str) -> str:
        """Read a text file of the run's workspace."""
        target = self.resolve(path)
        if not target.is_file():
            raise SwarmError(f"no file {path!r} in the run's workspace; list them with list_files()")
        return target.read_text(encoding="utf-8", errors="replace")[:MAX_READ_CHARS]

    def write_file(self, path: str, text: str) -> str:
        """Write a text file into the run's workspace (folders are created); returns the path written."""
        target = self.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(text), encoding="utf-8")
        return str(target.relative_to(self.root.resolve()))

    def list_files(self, path: str = ".") -> list[str]:
        """Files under a folder of the run's workspace, relative to the workspace."""
        folder = self.resolve(path)
        if not folder.is_dir():
            return []
        root = self.root.resolve()
        return sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file())

    def tools(self) -> dict[str, Callable]:
        return {"read_file": self.read_file, "write_file": self.write_file, "list_files": self.list_files}


def for_run(base: Path, run_id: str) -> Workspace:
    root = base / run_id
    root.mkdir(parents=True, exist_ok=True)
    return Workspace(root)
