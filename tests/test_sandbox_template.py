"""The sandbox template: one bubblewrap process imports smolagents once and forks a fresh child per execution.

What one execution does is invisible to the next (modules, globals, files, processes); a timeout
kills only its own child; a template that dies is started again. Real bubblewrap, real processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from swarm.config import SandboxSettings
from swarm.errors import SandboxUnavailable
from swarm.sandbox import Sandbox
from timeouts import scaled

IMPORTS = ["math", "json"]
PROCESS_LAYER = ["os", "io", "sys", "builtins", "resource"]  # as if the AST layer had been escaped


@pytest.fixture
def sandbox():
    """No pool: each execution's child is forked after the one before it has ended."""
    with Sandbox(SandboxSettings(pool_size=0, timeout_s=scaled(30), memory_mb=256), IMPORTS) as sb:
        yield sb


def template_pid(sandbox: Sandbox) -> int:
    pid = sandbox.layer.supervisor.template().pid()
    assert pid is not None
    return pid


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = [int(c) for c in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
        except OSError:
            continue
        found += children
        todo += children
    return found


def wait_for(condition, what: str, limit_s: float = 30):
    deadline = time.monotonic() + scaled(limit_s)
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --- nothing carries over ------------------------------------------------------------------------------


def test_a_module_attribute_set_by_one_execution_is_not_seen_by_the_next(sandbox):
    assert sandbox.run("import math\nmath.pi = 3\nmath.pi").output == 3

    assert sandbox.run("import math\nmath.pi").output == 3.141592653589793


def test_a_global_of_one_execution_is_not_defined_in_the_next(sandbox):
    assert sandbox.run("left_here = 'from the first'\nleft_here").output == "from the first"

    result = sandbox.run("left_here")
    assert not result.ok and "left_here" in result.error


def test_builtins_modules_and_sys_path_changed_by_one_execution_are_not_seen_by_the_next(sandbox):
    changed = sandbox.run("import builtins, sys\nbuiltins.leaked = 'first'\nsys.modules['json'].leaked = 1\n"
                          "sys.path.append('/leak')\nsys.setrecursionlimit(50)\n1", allow_imports=PROCESS_LAYER)
    assert changed.ok, changed.error

    seen = sandbox.run("import builtins, sys\n[hasattr(builtins, 'leaked'), hasattr(sys.modules['json'], 'leaked'), "
                       "'/leak' in sys.path, sys.getrecursionlimit() > 50]", allow_imports=PROCESS_LAYER)
    assert seen.output == [False, False, False, True]


def test_a_file_written_by_one_execution_is_not_in_the_next_workspace_and_nothing_else_is_writable(sandbox):
    wrote = sandbox.run("import io\nio.open('/workspace/mark', 'w').write('x')\nio.open('mark').read()",
                        allow_imports=PROCESS_LAYER)
    assert wrote.output == "x"

    listing = sandbox.run("import os\nsorted(os.listdir('/workspace'))", allow_imports=PROCESS_LAYER)
    assert listing.output == []
    for elsewhere in ("/mark", "/dev/shm/mark", "/tmp/mark", "/workspaces/mark", "/opt/swarm/mark"):
        refused = sandbox.run(f"import io\nio.open({elsewhere!r}, 'w').write('x')", allow_imports=PROCESS_LAYER)
        assert not refused.ok, elsewhere


def test_other_executions_workspaces_are_out_of_sight(sandbox):
    code = "import os\ntry:\n    found = os.listdir('/workspaces')\nexcept OSError:\n    found = None\nfound"
    with Sandbox(SandboxSettings(pool_size=2), IMPORTS) as pooled:  # children forked ahead, their workspaces made
        pooled.layer.pool.warm(scaled(60))
        result = pooled.run(code, allow_imports=PROCESS_LAYER)

    assert result.ok, result.error
    assert result.output in ([], None)


def test_a_process_left_running_by_one_execution_is_gone_and_unseen_in_the_next(sandbox):
    left = sandbox.run("import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    while True:\n        time.sleep(1)\npid",
                       allow_imports=PROCESS_LAYER + ["time"])
    assert left.ok, left.error
    template = template_pid(sandbox)

    wait_for(lambda: descendants(template) == [], "the left-behind process to be killed with its namespace")
    # The next execution sees its own process only, as pid 1 of a pid namespace of its own.
    seen = sandbox.run("import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit())", allow_imports=PROCESS_LAYER)
    assert seen.output == [1]


def test_the_code_runs_without_any_capability_and_with_the_worker_rlimits(sandbox):
    settings = sandbox.settings
    result = sandbox.run("import io, resource, os\n"
                         "caps = {l.split(':')[0]: int(l.split()[1], 16) for l in io.open('/proc/self/status') if l.startswith('Cap')}\n"
                         "[caps, os.getuid(), [resource.getrlimit(r)[1] for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_AS)]]",
                         allow_imports=PROCESS_LAYER)

    assert result.ok, result.error
    caps, uid, limits = result.output
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapAmb"] == caps["CapBnd"] == 0  # none held, none to gain by exec
    assert uid != 0
    assert limits == [settings.open_files, settings.processes, settings.file_size_mb * 2**20, settings.memory_mb * 2**20]


def test_the_template_runs_one_thread_so_forking_it_copies_no_held_lock(sandbox):
    assert sandbox.run("1").ok
    pid = template_pid(sandbox)

    assert os.listdir(f"/proc/{pid}/task") == [str(pid)]


# --- timeouts -----------------------------------------------------------------------------------------


def test_a_timeout_kills_only_that_executions_child_and_the_next_execution_works(sandbox):
    assert sandbox.run("1").ok
    template = template_pid(sandbox)
    holding, release, results = threading.Event(), threading.Event(), {}

    def hold():
        holding.set()
        release.wait(scaled(60))
        return "released"

    def other():
        results["other"] = sandbox.run("hold() + ' and finished'", tools={"hold": hold}, timeout_s=scaled(90))

    thread = threading.Thread(target=other)
    thread.start()
    assert holding.wait(scaled(60)), "the other execution never started"
    try:
        looped = sandbox.run("while True:\n    pass", timeout_s=1.0)
    finally:
        release.set()
        thread.join(scaled(90))

    assert (looped.ok, looped.limit) == (False, "timeout")
    assert results["other"].output == "released and finished"  # running beside it, untouched by the kill
    assert template_pid(sandbox) == template and sandbox.layer.supervisor.restarts == 0
    assert sandbox.run("6 * 7").output == 42


# --- a template that dies -------------------------------------------------------------------------------


def test_a_template_killed_while_idle_is_started_again_and_the_next_execution_runs():
    with Sandbox(SandboxSettings(pool_size=2), IMPORTS) as sb:  # its two children, forked ahead, die with it
        assert sb.run("1").ok
        sb.layer.pool.warm(scaled(60))
        first = template_pid(sb)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: sb.layer.supervisor.restarts == 1, "the template to be started again")

        result = sb.run("6 * 7")

        assert result.output == 42, result.error
        assert template_pid(sb) != first


def test_a_template_killed_during_an_execution_fails_it_clearly_and_the_next_runs(sandbox):
    started, results = threading.Event(), {}

    def ran():
        results["stopped"] = sandbox.run("started()\nwhile True:\n    pass", tools={"started": started.set},
                                         timeout_s=scaled(120))

    thread = threading.Thread(target=ran)
    thread.start()
    assert started.wait(scaled(60)), "the execution never started"
    os.kill(template_pid(sandbox), signal.SIGKILL)
    thread.join(scaled(60))

    stopped = results["stopped"]
    assert (stopped.ok, stopped.limit) == (False, None)
    assert "template stopped while the code ran" in stopped.error and "run the code again" in stopped.error
    assert sandbox.run("6 * 7").output == 42


def test_without_the_template_each_execution_has_a_worker_of_its_own():
    with Sandbox(SandboxSettings(pool_size=1, template=False), IMPORTS) as sb:
        assert sb.layer.supervisor is None
        assert sb.run("import math\nmath.pi = 3\nmath.pi").output == 3
        assert sb.run("import math\nmath.pi").output == 3.141592653589793


def test_an_execution_that_called_no_host_tool_runs_again_on_the_restarted_template(sandbox):
    assert sandbox.run("1").ok
    template = sandbox.layer.supervisor.template()
    results = {}

    def ran():
        results["ran"] = sandbox.run("import time\ntime.sleep(2)\n6 * 7", allow_imports=["time"])

    thread = threading.Thread(target=ran)
    thread.start()
    wait_for(lambda: any(template.workspaces.iterdir()), "the execution's child to be forked")
    os.kill(template.pid(), signal.SIGKILL)
    thread.join(scaled(60))

    assert results["ran"].output == 42, results["ran"].error  # all it did died with the template: run again, whole
    assert sandbox.layer.supervisor.restarts == 1


def test_a_template_that_cannot_start_is_refused_saying_what_to_do(tmp_path):
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    with Sandbox(SandboxSettings(pool_size=2, bwrap=str(broken)), IMPORTS) as sb:
        with pytest.raises(SandboxUnavailable) as err:
            sb.run("1 + 1")

    assert "the sandbox template did not start" in str(err.value)
    assert "No permissions to create new namespace" in str(err.value)
    assert "[sandbox].template = false" in str(err.value)


def test_scratch_folders_of_a_process_that_is_gone_are_removed_when_a_sandbox_starts():
    from swarm.sandbox.worker_process import scratch_root

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    left = [scratch_root() / f"{kind}-{dead_pid}-left" for kind in ("t", "w")]
    mine = scratch_root() / f"t-{os.getpid()}-kept"
    for folder in [*left, mine]:
        (folder / "workspace").mkdir(parents=True)
    try:
        with Sandbox(SandboxSettings(pool_size=0), IMPORTS):
            pass

        assert not any(folder.exists() for folder in left)
        assert mine.exists()  # this process still runs: its folders are its own business
    finally:
        for folder in [*left, mine]:
            shutil.rmtree(folder, ignore_errors=True)
