"""The toolsmith example of the README runs end to end: write, fail, fix, register, then reuse in a second goal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# No skip when bubblewrap is missing: .ci/setup installs it, and a sandbox test that did not run proves nothing.


def test_the_toolsmith_demo_writes_a_script_once_and_reuses_it(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "examples" / "toolsmith_demo.py"), "--folder", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split("goal: ")[1:3]
    assert "nodes: route -> make_tool -> fix_tool" in first and '"registered": true' in first
    assert "nodes: route -> slugify\n" in second and '"slug": "hello-swarm-world"' in second
    # routing found the script registered by the first goal without rebuilding its index
    # (its description and its tests' inputs are embedded, nothing else)
    assert re.search(r"routing index: \d+ scripts; 1 added, [1-4] text\(s\) embedded for it \(no rebuild\)", second)
    generated = tmp_path / "generated" / "slugify"
    assert sorted(p.name for p in generated.iterdir()) == ["state.json", "v1"]  # written once, not again
    assert json.loads((generated / "state.json").read_text())["active"] == 1
