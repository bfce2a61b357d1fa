"""A name that begins with an underscore is its module's own: no other module of swarm/ (or of bench/) imports it.
When another module needs it, it gets a public name where it is defined (issue 14's review)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def private_imports(root: Path, repo: Path = REPO) -> list[str]:
    """`file:line: from MODULE import _name` for every import of a private name from another module of this project."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            ours = node.level > 0 or (node.module or "").split(".")[0] in ("swarm", "bench")
            for alias in node.names if ours else ():
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    where = path.relative_to(repo)
                    found.append(f"{where}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}")
    return found


def test_no_module_imports_a_private_name_of_another():
    found = private_imports(REPO / "swarm") + private_imports(REPO / "bench")
    assert not found, "give these names a public name where they are defined:\n" + "\n".join(found)


def test_the_check_finds_such_an_import(tmp_path):
    package = tmp_path / "swarm"
    package.mkdir()
    (package / "a.py").write_text("def _helper():\n    return 1\n")
    (package / "b.py").write_text("from swarm.a import _helper\nfrom .a import _helper as again\nfrom os import _exit\n")
    assert private_imports(package, tmp_path) == ["swarm/b.py:1: from swarm.a import _helper",
                                                  "swarm/b.py:2: from .a import _helper"]
