"""The Docker layer, chosen with [sandbox].layer = "docker": each execution in a fresh container, taken warm from a pool.

The container runs the same worker (worker.py, same JSON-lines protocol) with the host's own
Python, bind-mounted read-only like the bubblewrap layer does, over a nearly empty local image
(docker_image). It has no network, a read-only root, memory/CPU/pids limits, no capabilities,
runs as nobody, and sees one writable folder: its workspace at /workspace. If the engine or the
image is missing the layer refuses; it never falls back to less isolation.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from swarm.errors import SandboxUnavailable
from swarm.pids import exists
from swarm.sandbox import bwrap
from swarm.sandbox.conversation import Conversation, readable, worker_config
from swarm.sandbox.docker_image import FIX, connect, ensure_image  # noqa: F401  (FIX, connect: this layer's API too)
from swarm.sandbox.pool import WarmPool
from swarm.sandbox.result import SandboxResult
from swarm.sandbox.worker_process import scratch_root

LABEL = "swarm.sandbox"
OWNER_LABEL = "swarm.sandbox.owner"  # "hostname:pid" of the process that started the container
def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def mounts() -> list:
    """Read-only binds of the system libraries and the Python runtime, at the paths they have on the host."""
    from docker.types import Mount

    out, targets = [], []
    for path in sorted(set(bwrap.SYSTEM_LIBRARIES) | set(bwrap.runtime_paths()), key=lambda p: (p.count("/"), p)):
        if not os.path.exists(path) or any(bwrap._inside(path, t) for t in targets):
            continue
        out.append(Mount(path, os.path.realpath(path), type="bind", read_only=True))
        targets.append(path)
    out.append(Mount(bwrap.WORKER_IN_SANDBOX, str(Path(bwrap.__file__).with_name("worker.py")), type="bind", read_only=True))
    return out


def remove_orphans(client) -> int:
    """Remove containers of ours whose starting process on this host is gone (e.g. killed); how many."""
    removed = 0
    host = socket.gethostname()
    try:  # the low-level list: the high-level one inspects each container and fails if one goes meanwhile
        found = client.api.containers(all=True, filters={"label": LABEL})
    except Exception:
        return 0
    for container in found:
        name, _, pid = (container.get("Labels") or {}).get(OWNER_LABEL, "").rpartition(":")
        if name == host and pid.isdigit() and not exists(int(pid)):
            try:
                client.api.remove_container(container["Id"], force=True)
                removed += 1
            except Exception:  # removed by someone else meanwhile
                pass
    return removed


class DockerLayer:
    def __init__(self, settings, pool_size: int = 0):
        self.settings = settings
        self.client = connect()
        ensure_image(self.client, settings.docker_image)
        remove_orphans(self.client)
        self.mounts = mounts()
        self.pool = WarmPool(lambda: ContainerWorker(self), pool_size)

    def run(self, request: dict, tools: dict[str, Callable], timeout_s: float) -> SandboxResult:
        return self.pool.run(request, tools, timeout_s)

    def close(self) -> None:
        self.pool.close()
        self.client.close()

    def options(self) -> dict[str, Any]:
        """Everything docker is told about a container, but its command."""
        s = self.settings
        return dict(
            user=f"{bwrap.NOBODY}:{bwrap.NOBODY}", network_mode="none", read_only=True, hostname="sandbox",
            mem_limit=f"{s.memory_mb}m", memswap_limit=f"{s.memory_mb}m", nano_cpus=int(s.docker_cpus * 1e9),
            pids_limit=s.processes, cap_drop=["ALL"], security_opt=["no-new-privileges"], ipc_mode="private",
            mounts=self.mounts, tmpfs={"/tmp": "rw,nosuid,nodev,noexec,size=16m"}, working_dir="/workspace",
            environment={"PATH": "/usr/bin:/bin", "HOME": "/workspace", "TMPDIR": "/workspace", "LANG": "C.UTF-8"},
            labels={LABEL: "1", OWNER_LABEL: owner()}, stdin_open=True, tty=False,  # not detached: StdinOnce, so the container ends when we hang up
        )


class ContainerWorker(Conversation):
    """A started container waiting for its one request; `run` holds the conversation, then it is removed.

    The conversation goes over the container's attached stdin/stdout; Docker multiplexes stdout
    and stderr on that socket in frames (8-byte header: stream, 0, 0, 0, length).
    """

    def __init__(self, layer: DockerLayer):
        import docker.errors

        self.settings = settings = layer.settings
        self.workspace = Path(tempfile.mkdtemp(prefix="d-", dir=scratch_root())) / "workspace"
        self.workspace.mkdir()
        if os.geteuid() == 0:
            os.chown(self.workspace, bwrap.NOBODY, bwrap.NOBODY)
        else:
            self.workspace.chmod(0o777)  # nobody in the container must write; its parent is ours alone (0700)
        command = [os.path.realpath(sys.executable), "-I", "-S", "-B", bwrap.WORKER_IN_SANDBOX, worker_config(settings, None)]
        from docker.types import Mount

        options = layer.options()
        options["mounts"] = [*options["mounts"], Mount("/workspace", str(self.workspace), type="bind")]
        self.container = None
        self._response = None
        try:
            self.container = layer.client.containers.create(settings.docker_image, command, **options)
            self._response = layer.client.api.attach_socket(
                self.container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self.container.start()
        except docker.errors.DockerException as exc:
            self.dispose()
            detail = " ".join(str(exc).split())[:300]
            raise SandboxUnavailable(f"the docker layer could not start a container of {settings.docker_image} "
                                     f"({detail}); {FIX}") from None
        self.sock: socket.socket = getattr(self._response, "_sock", self._response)
        self.sock.setblocking(False)
        self._writer = self.sock
        self.max_line = settings.output_chars * 8 + 65536
        self._frames = bytearray()  # raw bytes from the socket, not yet split into frames
        self._buffer = bytearray()  # the worker's stdout: JSON lines
        self._stderr = bytearray()
        self._eof = False
        self._killed = False
        self._booted = False

    # --- boot and end -------------------------------------------------------------------------

    def _not_started(self) -> str:
        detail = " ".join(self._stderr.decode(errors="replace").split())[-500:] or "no output"
        return (f"the sandbox worker did not start in its container ({detail}); "
                f"check `docker run --rm {self.settings.docker_image}` works, or {FIX}")

    def _exit_result(self) -> SandboxResult | None:
        """None while the container runs; else how it ended, from its State (out of memory, a signal, a status)."""
        state = self._state() if self._eof else None
        if state is None:
            return None
        status = state.get("ExitCode", 0)
        if state.get("OOMKilled"):
            return SandboxResult(False, None, "", f"memory: the code needed more than {self.settings.memory_mb} MB "
                                 "and was killed; raise [sandbox].memory_mb or use less", "memory")
        return self._exited(status, status - 128 if status > 128 else 0)

    def _state(self) -> dict | None:
        """The container's State once it has stopped (a few seconds at most), else None."""
        try:
            self.container.wait(timeout=5)
            self.container.reload()
            return self.container.attrs.get("State") or {}
        except Exception:
            return None

    # --- the attach socket --------------------------------------------------------------------

    def _write(self, data: memoryview) -> int | None:
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            return None

    def _read_more(self, deadline: float) -> bool:
        if self._eof or not readable(self.sock, deadline):
            return False
        try:
            chunk = self.sock.recv(1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self._frames += chunk
        self._split_frames()
        return True

    def _split_frames(self) -> None:
        while len(self._frames) >= 8:
            stream, size = self._frames[0], struct.unpack(">I", self._frames[4:8])[0]
            if len(self._frames) < 8 + size:
                return
            payload = self._frames[8:8 + size]
            del self._frames[:8 + size]
            if stream == 1:
                self._buffer += payload
            elif stream == 2:
                self._stderr = (self._stderr + payload)[-4096:]

    # --- the end ----------------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL the container: every process in it goes, it is a pid namespace of its own."""
        if self._killed or self.container is None:
            return
        self._killed = True
        try:
            self.container.kill()
        except Exception:  # already stopped
            pass

    def dispose(self) -> None:
        """Make sure nothing is left: no container, no workspace, no open socket."""
        for closing in (self._response, getattr(self, "sock", None)):
            try:
                closing.close()
            except Exception:
                pass
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception:  # gone already
                pass
        shutil.rmtree(self.workspace.parent, ignore_errors=True)
