"""The sandbox: one interface over a bubblewrap process per execution, limits that hold, a CLI that says what happened.

Everything here runs real bubblewrap workers; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from swarm.config import SandboxSettings
from swarm.errors import SandboxUnavailable
from swarm.sandbox import Sandbox, SandboxResult

REPO = Path(__file__).resolve().parent.parent
IMPORTS = ["math", "json"]

# No skip when bubblewrap is missing: .ci/setup installs it, and a sandbox test that did not run proves nothing.


@pytest.fixture(scope="module", params=[True, False], ids=["template", "one-shot"])
def sandbox(request):
    """Children forked from the template (the default), and workers of their own: both hold the same contract."""
    with Sandbox(SandboxSettings(pool_size=2, timeout_s=5.0, memory_mb=256, template=request.param), IMPORTS) as sb:
        yield sb


def run_os(sandbox: Sandbox, code: str, **kw) -> SandboxResult:
    """Code allowed to import os, io and socket: what the process layer must hold on its own."""
    return sandbox.run(code, allow_imports=["os", "io", "socket"], **kw)


# --- the interface ---------------------------------------------------------------------------------


def test_a_result_has_the_last_value_the_prints_and_no_error(sandbox):
    result = sandbox.run("import math\nprint('radius', 2)\nround(math.pi * 2 ** 2, 2)")

    assert result == SandboxResult(ok=True, output=12.57, logs="radius 2\n", error=None, limit=None)


def test_an_exception_of_the_code_is_one_line_with_what_it_printed_before(sandbox):
    result = sandbox.run("print('checking')\nraise ValueError('the numbers do not add up')")

    assert not result.ok and result.limit is None
    assert "ValueError" in result.error and "the numbers do not add up" in result.error
    assert "\n" not in result.error
    assert result.logs == "checking\n"


def test_an_import_outside_the_allowlist_is_refused_and_named(sandbox):
    result = sandbox.run("import os\nos.getcwd()")

    assert not result.ok
    assert "Import of os is not allowed" in result.error


def test_allow_imports_widens_the_allowlist_for_one_call(sandbox):
    assert run_os(sandbox, "import os\nos.getcwd()").output == "/workspace"
    assert not sandbox.run("import os\nos.getcwd()").ok


def test_a_host_tool_is_called_from_sandboxed_code_and_its_failure_comes_back_as_an_error(sandbox):
    seen = []

    def add(a, b):
        seen.append((a, b, threading.current_thread().name))
        return a + b

    def fail():
        raise KeyError("no such city")

    assert sandbox.run("add(2, 3) * 10", tools={"add": add}).output == 50
    assert seen[0][:2] == (2, 3)  # it ran here, in the host
    result = sandbox.run("fail()", tools={"fail": fail})
    assert not result.ok and "no such city" in result.error


def test_many_threads_run_at_once_each_with_its_own_result(sandbox):
    results = {}

    def one(i):
        results[i] = sandbox.run(f"{i} * 2").output

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i * 2 for i in range(6)}


# --- limits ------------------------------------------------------------------------------------------


def test_a_timeout_kills_the_code_and_the_next_call_still_works(sandbox):
    result = sandbox.run("while True:\n    pass", timeout_s=1.0)

    assert (result.ok, result.limit) == (False, "timeout")
    assert result.error.startswith("timeout:") and "[sandbox].timeout_s" in result.error
    assert sandbox.run("1 + 1").output == 2


def test_a_memory_balloon_hits_the_memory_limit(sandbox):
    result = sandbox.run("x = 'a' * (400 * 1024 * 1024)\nlen(x)")

    assert (result.ok, result.limit) == (False, "memory")
    assert "[sandbox].memory_mb" in result.error


def test_output_past_the_cap_is_cut_and_reported():
    with Sandbox(SandboxSettings(pool_size=0, output_chars=1000), IMPORTS) as sb:
        result = sb.run("for i in range(1000):\n    print('line', i)")

    assert (result.ok, result.limit) == (False, "output")
    assert result.error.startswith("output too large")
    assert len(result.logs) < 1100 and "characters cut" in result.logs


def test_a_file_past_the_size_limit_is_refused():
    with Sandbox(SandboxSettings(pool_size=0, file_size_mb=1), IMPORTS) as sb:
        result = run_os(sb, "import os\nfd = os.open('big', os.O_WRONLY | os.O_CREAT)\nfor i in range(3):\n    os.write(fd, b'x' * 1024 * 1024)")

    assert (result.ok, result.limit) == (False, "file_size")


# --- what the code can see and reach -----------------------------------------------------------------


def test_the_workspace_is_writable_and_fresh_for_every_execution(sandbox):
    write = "import os\nfd = os.open('/workspace/mark', os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')\nsorted(os.listdir('/workspace'))"

    assert run_os(sandbox, write).output == ["mark"]
    assert run_os(sandbox, "import os\nos.listdir('/workspace')").output == []


def test_the_hosts_environment_is_not_visible(sandbox, monkeypatch):
    monkeypatch.setenv("SWARM_TEST_SECRET", "s3cret")
    with Sandbox(SandboxSettings(pool_size=0), IMPORTS) as sb:  # started after the variable was set
        env = run_os(sb, "import os\ndict(os.environ)").output

    assert "SWARM_TEST_SECRET" not in env and "s3cret" not in json.dumps(env)
    assert env["HOME"] == "/workspace"


@pytest.mark.parametrize("where", ["/root", str(REPO), "/tmp"])
def test_files_outside_the_workspace_are_not_readable(sandbox, where):
    code = f"import os\ntry:\n    found = os.listdir({where!r})\nexcept OSError:\n    found = None\nfound"
    result = run_os(sandbox, code)

    assert result.ok, result.error
    # At most the folders on the way to the Python runtime (read-only) show through: a pyenv, a venv.
    assert set(result.output or []) <= runtime_steps_under(where)


def runtime_steps_under(folder: str) -> set[str]:
    """Names directly under `folder` that lead to the interpreter or the venv (wherever the checkout is)."""
    steps = {".pyenv", ".venv"}
    for root in {sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)}:
        relative = os.path.relpath(root, folder)
        if not relative.startswith(".."):
            steps.add(relative.split(os.sep)[0])
    return steps


def test_a_secret_file_in_the_project_folder_cannot_be_opened(sandbox):
    result = run_os(sandbox, f"import io\nio.open({str(REPO / 'swarm.toml')!r}).read()")

    assert not result.ok and "No such file" in result.error


def test_the_network_is_unreachable_even_on_loopback(sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        result = run_os(sandbox, f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))")
    finally:
        listener.close()

    assert not result.ok
    assert "refused" in result.error.lower() or "unreachable" in result.error.lower()


def test_the_code_runs_as_an_unprivileged_user(sandbox):
    uid = run_os(sandbox, "import os\nos.getuid()").output

    assert uid != 0


# --- unavailable layers ---------------------------------------------------------------------------


def test_a_missing_bwrap_is_refused_with_how_to_fix_it():
    with pytest.raises(SandboxUnavailable) as err:
        Sandbox(SandboxSettings(bwrap="/nonexistent/bwrap"))

    assert "install it" in str(err.value) and "[sandbox].layer" in str(err.value)


# --- the CLI ------------------------------------------------------------------------------------------


def swarm_exec(tmp_path: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "snippet.py"
    path.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    return subprocess.run([sys.executable, "-m", "swarm.cli", "sandbox", "exec", str(path), *args],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)


def test_cli_exec_prints_the_result_as_json_and_exits_0(tmp_path):
    done = swarm_exec(tmp_path, "print('hi')\n6 * 7", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "output": 42, "logs": "hi\n", "error": None}


def test_cli_exec_allow_import_widens_the_allowlist_and_a_refusal_exits_1(tmp_path):
    allowed = swarm_exec(tmp_path, "import os\nos.getcwd()", "--json", "--allow-import", "os", "socket", "subprocess")
    refused = swarm_exec(tmp_path, "import os\nos.getcwd()")

    assert json.loads(allowed.stdout)["output"] == "/workspace"
    assert refused.returncode == 1
    assert refused.stderr.startswith("swarm: error:") and "Import of os is not allowed" in refused.stderr


def test_cli_exec_says_which_limit_was_hit(tmp_path):
    with open(tmp_path / "swarm.toml", "w") as f:
        f.write("[sandbox]\ntimeout_s = 1.0\n")
    done = swarm_exec(tmp_path, "while True:\n    pass", "--json")

    assert done.returncode == 1
    assert json.loads(done.stdout)["error"].startswith("timeout:")


def test_a_layer_that_cannot_run_is_refused_never_replaced_by_a_weaker_one(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # the docker layer, with no engine
    with pytest.raises(SandboxUnavailable) as err:
        Sandbox(SandboxSettings(layer="docker"))

    assert '[sandbox].layer = "process"' in str(err.value)
