"""Escape and exhaustion attempts against `swarm sandbox exec`: none gets out, none hangs, none leaves a process or a file.

Each file in attempts/ runs twice through the real CLI: as is (AST layer and process layer),
and with --allow-import os socket subprocess sys io builtins (the process layer alone, as if the
AST layer had been escaped). Add an attempt by dropping a file into attempts/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from sandbox_harness import (
    ATTEMPTS_DIR,
    HARMLESS_TIMEOUT_S,
    ExecResult,
    LEFT_ON_DISK_LIMIT,
    OUTPUT_LIMIT,
    PROCESS_LAYER_IMPORTS,
    kill_marked,
    leftover_processes,
    sandbox_exec,
)
from timeouts import scaled

ATTEMPTS = sorted(p.stem for p in ATTEMPTS_DIR.glob("*.py"))
LAYERS = {"as-is": [], "process-layer": PROCESS_LAYER_IMPORTS}


def assert_contained(result, canaries) -> None:
    """The attempt got nowhere: the CLI returned, with the contract's JSON; nothing outside the workspace
    changed; every process of the call is gone; its workspace is gone with what was written there."""
    assert not result.timed_out, f"the CLI hung (killed after its call limit):\n{result.stderr[-2000:]}"
    left = leftover_processes(canaries.run_marker)
    if left:
        kill_marked(canaries.run_marker)
    own = result.leftover_processes()
    problems = canaries.violations(result.text) + [f"process left behind: {pid} {cmd}" for pid, cmd in left + own]
    assert not problems, "the attempt escaped:\n" + "\n".join(problems)
    size, paths = result.left_on_disk()
    assert size < LEFT_ON_DISK_LIMIT, f"the call left {size} bytes behind in its scratch folder: {paths[:10]}"
    assert len(result.stdout) + len(result.stderr) < OUTPUT_LIMIT, "output was not capped"
    reply = result.json
    assert reply is not None and {"ok", "output", "logs", "error"} <= reply.keys(), (
        f"not the `--json` contract (exit {result.returncode}):\n{result.stdout[:500]}\n{result.stderr[-1500:]}"
    )
    assert result.returncode == (0 if reply["ok"] else 1)


@pytest.mark.parametrize("layers", LAYERS)
@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_attempt_is_contained(attempt, layers, run_attempt, canaries):
    result = run_attempt(attempt, LAYERS[layers])
    assert_contained(result, canaries)


def test_the_canaries_catch_an_unsandboxed_payload(canaries):
    """The detector itself works: the payload every attempt aims for, run on the host, trips every canary."""
    prologue = canaries.prologue()
    scope: dict = {}
    exec(prologue, scope)  # our own constants
    proc = subprocess.run(scope["PAYLOAD_ARGV"], env={**os.environ, **canaries.env}, capture_output=True, text=True)
    deadline = time.monotonic() + scaled(5)
    while len(canaries.listener.contacts) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = "\n".join(canaries.violations(proc.stdout))
    for value in canaries.secret_values:
        assert value in proc.stdout
    assert "tcp connection" in problems and "udp datagram" in problems
    for marker in canaries.marker_paths:
        assert f"marker created: {marker}" in problems


def test_a_trivial_file_runs(tmp_path):
    """The harness is not vacuous: a harmless file succeeds with its output, and leaves nothing behind."""
    path = tmp_path / "trivial.py"
    path.write_text("print('hello')\n6 * 7\n")
    result = sandbox_exec(path, timeout_s=HARMLESS_TIMEOUT_S)
    assert result.json is not None, f"exit {result.returncode}:\n{result.stdout[:500]}\n{result.stderr[-1500:]}"
    assert result.json["ok"] is True and result.json["output"] == 42 and "hello" in result.json["logs"]
    assert result.returncode == 0
    assert result.leftover_processes() == [] and result.left_on_disk() == (0, [])


def test_the_leftover_checks_see_what_a_call_left(tmp_path):
    """The checks of a call's own leftovers are not vacuous: a process in its group, a process naming
    its scratch folder and a file in that folder are all found."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "left.bin").write_bytes(b"z" * LEFT_ON_DISK_LIMIT)
    leader = subprocess.Popen(["sleep", "60"], start_new_session=True)  # stands in for the CLI's group
    named = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)",
                              str(scratch / "workspace")], stdout=subprocess.PIPE)  # stands in for a bwrap worker
    try:
        named.stdout.readline()  # its exec is over: /proc shows its command line
        call = ExecResult(0, "", "", False, leader.pid, scratch)
        assert {pid for pid, _ in call.leftover_processes(grace_s=0)} == {leader.pid, named.pid}
        size, paths = call.left_on_disk()
        assert size >= LEFT_ON_DISK_LIMIT and paths == ["left.bin"]
    finally:
        for proc in (leader, named):
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module", autouse=True)
def host_survives(tmp_path_factory, daemon_stand_in):
    """After all the attempts of this module: the host can still fork, the daemon lives, the sandbox works."""
    yield
    assert subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, timeout=scaled(30)).stdout == b"1\n"
    assert daemon_stand_in.poll() is None, "the daemon stand-in died"
    path = tmp_path_factory.mktemp("after") / "trivial.py"
    path.write_text("1 + 1\n")
    result = sandbox_exec(path, timeout_s=HARMLESS_TIMEOUT_S)
    assert result.json is not None and result.json["ok"] is True and result.json["output"] == 2, result.text[-1500:]
