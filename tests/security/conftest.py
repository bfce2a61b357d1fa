"""Fixtures of the escape tests: fresh canaries per test, a daemon stand-in, and the attempt runner (see sandbox_harness)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox_harness import (
    ATTEMPTS_DIR,
    HERE,
    CanaryListener,
    Canaries,
    ExecResult,
    kill_marked,
    sandbox_exec,
    token,
)


def pytest_configure(config):
    config.addinivalue_line("markers", "security: escape and exhaustion tests of the sandbox (tests/security)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.security)


@pytest.fixture(scope="session")
def daemon_stand_in():
    """A long-lived host process standing in for the swarm daemon; attempts try to kill it."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def canaries(tmp_path, daemon_stand_in):
    """Fresh secrets and markers outside the workspace, removed again after the test."""
    tag = token()[:12]
    files = {
        Path("/tmp") / f"swarm-canary-{tag}.secret": f"TMPSECRET{token()}",
        Path.home() / f".swarm-canary-{tag}.secret": f"HOMESECRET{token()}",
        HERE / f".canary-{tag}.secret": f"PROJECTSECRET{token()}",
    }
    for p, content in files.items():
        p.write_text(content)
    markers = [
        Path("/tmp") / f"swarm-marker-{tag}",
        Path.home() / f".swarm-marker-{tag}",
        HERE / f".marker-{tag}",
        tmp_path / "marker",
    ]
    listener = CanaryListener()
    env = {"SWARM_TEST_SECRET": f"ENVSECRET{token()}", "OPENAI_API_KEY": f"sk-canary-{token()}"}
    c = Canaries(files, env, listener, markers, f"swarm-sec-{tag}", daemon_stand_in)
    yield c
    listener.close()
    for p in [*files, *markers]:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif os.path.lexists(p):
            p.unlink()
    kill_marked(c.run_marker)


@pytest.fixture
def run_attempt(canaries, tmp_path):
    """Run attempts/NAME.py (with the canary prologue) through the CLI; returns the ExecResult."""

    def run(name: str, allow_imports: list[str] = ()) -> ExecResult:
        source = (ATTEMPTS_DIR / f"{name}.py").read_text()
        # The file name carries RUN_MARKER, so the CLI's own command line is marked too.
        path = tmp_path / f"{canaries.run_marker}-{name}.py"
        path.write_text(canaries.prologue() + source)
        return sandbox_exec(path, allow_imports, env=canaries.env)

    return run
