"""The docker layer: the same interface and worker as the process layer, inside a container of a real Docker engine.

Nothing is mocked. The engine must be running (.ci/setup installs docker.io and starts dockerd);
when it is not, these tests fail with the layer's own message saying how to fix it.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from swarm.config import SandboxSettings
from swarm.errors import SandboxUnavailable
from swarm.sandbox import Sandbox, SandboxResult
from swarm.sandbox.docker_image import ensure_image
from swarm.sandbox.docker_layer import LABEL, OWNER_LABEL, connect, owner

sys.path.insert(0, str(Path(__file__).resolve().parent / "security"))
from sandbox_harness import (  # noqa: E402
    ATTEMPTS_DIR, PROCESS_LAYER_IMPORTS, Canaries, CanaryListener, kill_marked, leftover_processes, sandbox_exec, token,
)

from lifecycle_support import wait_for  # noqa: E402
from timeouts import scaled  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
IMPORTS = ["math", "json"]


def docker_settings(**kw) -> SandboxSettings:
    return SandboxSettings(**{"layer": "docker", "pool_size": 2, "timeout_s": 5.0, "memory_mb": 256, **kw})


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(docker_settings(), IMPORTS) as sb:
        yield sb


def our_containers() -> set[str]:
    """Ids of every container, running or not, that this test process started."""
    client = connect()
    try:
        return {c["Id"] for c in client.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner()}"})}
    finally:
        client.close()


# --- the interface, as in the process layer ----------------------------------------------------------


def test_a_result_has_the_last_value_the_prints_and_no_error(sandbox):
    result = sandbox.run("import math\nprint('radius', 2)\nround(math.pi * 2 ** 2, 2)")

    assert result == SandboxResult(ok=True, output=12.57, logs="radius 2\n", error=None, limit=None)


def test_an_import_outside_the_allowlist_is_refused_and_named(sandbox):
    result = sandbox.run("import os\nos.getcwd()")

    assert not result.ok and "Import of os is not allowed" in result.error


def test_tools_run_in_the_host_and_answer_the_code_in_the_container(sandbox):
    calls = []
    result = sandbox.run("add(2, 3) * 10", tools={"add": lambda a, b: calls.append((a, b)) or a + b})

    assert result.output == 50 and calls == [(2, 3)]


# --- what the container sees and may do ----------------------------------------------------------------


def test_the_code_runs_as_nobody_in_the_workspace_with_only_path_home_and_lang(sandbox, monkeypatch):
    monkeypatch.setenv("SWARM_TEST_SECRET", "host-secret-value")
    result = sandbox.run("import os\n(os.getuid(), os.getgid(), os.getcwd(), dict(os.environ))", allow_imports=["os"])

    uid, gid, cwd, env = result.output
    assert (uid, gid, cwd) == (65534, 65534, "/workspace")
    assert set(env) <= {"PATH", "HOME", "LANG", "TMPDIR", "HOSTNAME"}
    assert "host-secret-value" not in str(result)


def test_host_files_outside_the_runtime_are_not_there(sandbox, tmp_path):
    secrets = [Path(folder) / f".swarm-docker-canary-{token()[:8]}" for folder in ("/tmp", REPO, Path.home())]
    for p in secrets:
        p.write_text("SECRET")
    try:
        code = """
import os
def readable(path):
    try:
        os.close(os.open(path, os.O_RDONLY))
        return True
    except OSError:
        return False
[readable(p) for p in %r]
"""
        paths = [*map(str, secrets), str(tmp_path), str(REPO / "swarm")]
        result = sandbox.run(code % paths, allow_imports=["os"])
    finally:
        for p in secrets:
            p.unlink()

    assert result.ok and result.output == [False] * 5, result


def test_the_workspace_is_writable_and_the_root_and_runtime_are_not(sandbox):
    code = """
import os
def writes(path):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        os.close(fd)
        return True
    except OSError:
        return False
[writes(p) for p in %r]
"""
    paths = ["/workspace/note", "/etc/note", "/opt/swarm/note", sys.base_prefix + "/note", sys.prefix + "/note"]
    result = sandbox.run(code % paths, allow_imports=["os"])

    assert result.output == [True, False, False, False, False], result


def test_the_loopback_canary_of_the_host_cannot_be_reached():
    listener = CanaryListener()
    try:
        with Sandbox(docker_settings(pool_size=0), IMPORTS) as sb:
            result = sb.run(f"""
import socket
errors = []
try:
    socket.create_connection(("127.0.0.1", {listener.port}), 1).close()
except OSError as e:
    errors.append(str(e))
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", {listener.udp_port}))
sorted(name for _, name in socket.if_nameindex())
""", allow_imports=["socket"])
        time.sleep(0.3)
    finally:
        listener.close()

    assert result.output == ["lo"], result  # network_mode none: only the container's own loopback
    assert listener.contacts == []


def test_the_container_has_every_limit_and_no_privilege(sandbox):
    """Looked at from the host while the code runs: docker's own record of the container."""
    seen = {}

    def inspect():
        client = connect()
        try:
            for c in client.api.containers(filters={"label": f"{OWNER_LABEL}={owner()}"}):
                try:
                    attrs = client.api.inspect_container(c["Id"])
                except Exception:  # a used container of the pool, removed meanwhile
                    continue
                seen[c["Id"]] = (attrs["HostConfig"], attrs["Config"])
        finally:
            client.close()

    assert sandbox.run("inspect()", tools={"inspect": inspect}).ok
    assert seen
    for host, config in seen.values():
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["Memory"] == 256 * 2**20 and host["NanoCpus"] == 10**9 and host["PidsLimit"] == 64
        assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
        assert config["User"] == "65534:65534"
        assert all(m.get("ReadOnly") for m in host["Mounts"] if m["Target"] != "/workspace")


# --- limits -----------------------------------------------------------------------------------------------


def test_a_memory_balloon_hits_the_memory_limit(sandbox):
    result = sandbox.run("x = 'a' * (400 * 1024 * 1024)\nlen(x)")

    assert not result.ok and result.limit == "memory"


def test_a_fork_bomb_stops_at_the_pids_limit_and_the_container_survives(sandbox):
    result = sandbox.run("""
import os
started = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            import time
            time.sleep(30)
            os._exit(0)
        started += 1
except OSError:
    pass
started
""", allow_imports=["os", "time"])

    assert result.ok and result.output < 64


def test_the_timeout_kills_the_container_and_nothing_is_left(sandbox):
    sandbox.layer.pool.warm()
    before = our_containers()
    with Sandbox(docker_settings(pool_size=0, timeout_s=1.0), IMPORTS) as sb:
        result = sb.run("while True:\n    pass")

    assert result.limit == "timeout" and result.error.startswith("timeout:")
    assert our_containers() - before == set()


def test_a_warm_container_answers_without_a_container_start(sandbox):
    assert sandbox.layer.pool.warm(timeout_s=scaled(60))
    warm = our_containers()

    result = sandbox.run("1 + 1")

    assert result.output == 2
    # One of the containers started before the call served it: used once, it is removed. (Had the call
    # started its own, the warm ones would still be waiting, all of them.)
    wait_for(lambda: warm - our_containers(), 30, "the warm container that served the call to be removed")


def test_containers_left_by_a_process_that_died_are_removed_on_the_next_start():
    client = connect()
    try:
        dead = f"{socket.gethostname()}:{2**22 + 7}"  # above pid_max's default: no such process
        orphan = client.containers.create(docker_settings().docker_image, ["/nonexistent"],
                                          labels={LABEL: "1", OWNER_LABEL: dead})
        Sandbox(docker_settings(pool_size=0)).close()
        left = client.api.containers(all=True, filters={"id": orphan.id})
    finally:
        client.close()

    assert left == []


# --- unavailable --------------------------------------------------------------------------------------------


def test_an_engine_that_does_not_answer_is_refused_with_how_to_fix_it(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    with pytest.raises(SandboxUnavailable) as err:
        Sandbox(docker_settings())

    message = str(err.value)
    assert "does not answer" in message and "dockerd" in message and '[sandbox].layer = "process"' in message
    assert "\n" not in message


def test_the_image_is_made_locally_when_missing():
    client = connect()
    name = f"swarm-sandbox-test:{token()[:8]}"
    try:
        assert ensure_image(client, name) is True
        assert ensure_image(client, name) is False
        with Sandbox(docker_settings(pool_size=0, docker_image=name)) as sb:
            assert sb.run("6 * 7").output == 42
    finally:
        client.images.remove(name, force=True)
        client.close()


# --- a few of tests/security's attempts, through `swarm sandbox exec` with the docker layer ----------------

ATTEMPTS = ["fs_read_secret_files", "fs_read_environ", "fs_write_outside", "net_loopback_connect",
            "proc_host_processes", "proc_chroot_escape", "bomb_fork", "bomb_memory_balloon"]


@pytest.fixture
def canaries(tmp_path):
    tag = token()[:12]
    files = {Path("/tmp") / f"swarm-canary-{tag}.secret": f"TMPSECRET{token()}",
             Path.home() / f".swarm-canary-{tag}.secret": f"HOMESECRET{token()}",
             REPO / "tests" / f".canary-{tag}.secret": f"PROJECTSECRET{token()}"}
    for p, content in files.items():
        p.write_text(content)
    markers = [Path("/tmp") / f"swarm-marker-{tag}", Path.home() / f".swarm-marker-{tag}", tmp_path / "marker"]
    daemon = __import__("subprocess").Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    listener = CanaryListener()
    env = {"SWARM_TEST_SECRET": f"ENVSECRET{token()}", "OPENAI_API_KEY": f"sk-canary-{token()}"}
    c = Canaries(files, env, listener, markers, f"swarm-sec-{tag}", daemon)
    yield c
    listener.close()
    daemon.kill()
    daemon.wait()
    for p in [*files, *markers]:
        if p.exists() and p.is_file():
            p.unlink()
    kill_marked(c.run_marker)


def orphaned_containers() -> list[str]:
    """Our containers on this host whose starting process is gone: what a clean exit never leaves."""
    client = connect()
    try:
        host = socket.gethostname()
        out = []
        for c in client.api.containers(all=True, filters={"label": LABEL}):
            name, _, pid = c["Labels"].get(OWNER_LABEL, "").rpartition(":")
            if name == host and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                out.append(f"{c['Id'][:12]} of pid {pid}")
        return out
    finally:
        client.close()


@pytest.mark.parametrize("layers", ["as-is", "process-layer"])
@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_an_escape_attempt_is_contained_by_the_docker_layer(attempt, layers, canaries, tmp_path):
    path = tmp_path / f"{canaries.run_marker}-{attempt}.py"
    path.write_text(canaries.prologue() + (ATTEMPTS_DIR / f"{attempt}.py").read_text())

    result = sandbox_exec(path, PROCESS_LAYER_IMPORTS if layers == "process-layer" else [],
                          env={**canaries.env, "SWARM_SANDBOX_LAYER": "docker"})

    assert not result.timed_out, result.stderr[-2000:]
    problems = canaries.violations(result.text)
    problems += [f"process left behind: {pid} {cmd}" for pid, cmd in leftover_processes(canaries.run_marker)]
    problems += [f"container left behind: {c}" for c in orphaned_containers()]
    assert not problems, "the attempt escaped:\n" + "\n".join(problems)
    reply = result.json
    assert reply is not None and {"ok", "output", "logs", "error"} <= reply.keys(), result.text[-2000:]
    assert result.returncode == (0 if reply["ok"] else 1)
