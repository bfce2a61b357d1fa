"""One sandbox worker seen from the host: start it under bubblewrap, hold its one conversation, kill it."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from swarm.errors import SandboxUnavailable
from swarm.sandbox import bwrap
from swarm.sandbox.result import SandboxResult
from swarm.sandbox.worker import plain

BOOT_TIMEOUT_S = 60.0


def scratch_root() -> Path:
    """The swarm's own folder for workspaces, readable by nobody else."""
    root = Path(tempfile.gettempdir()) / f"swarm-sandbox-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    if root.is_symlink() or root.stat().st_uid != os.getuid():
        raise SandboxUnavailable(f"{root} is not owned by this user; remove it so the sandbox can make its own")
    return root


class WorkerProcess:
    """A started worker waiting for its one request; `run` holds the conversation, then it is gone."""

    def __init__(self, settings, as_root: bool):
        self.settings = settings
        self.workspace = Path(tempfile.mkdtemp(prefix="w-", dir=scratch_root())) / "workspace"
        self.workspace.mkdir()
        if as_root:
            os.chown(self.workspace, bwrap.NOBODY, bwrap.NOBODY)
        config = {
            "uid": bwrap.NOBODY if as_root else None, "gid": bwrap.NOBODY if as_root else None,
            "site": bwrap.site_packages(),
            "limits": {k: getattr(settings, k) for k in
                       ("cpu_s", "memory_mb", "file_size_mb", "open_files", "processes", "output_chars")},
        }
        info_read, info_write = os.pipe()  # bwrap tells the pid of the namespace's init here
        argv = bwrap.command(settings.bwrap, self.workspace, as_root, json.dumps(config), info_fd=info_write)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True, close_fds=True, pass_fds=(info_write,), env={})
        except OSError as exc:
            shutil.rmtree(self.workspace.parent, ignore_errors=True)
            raise SandboxUnavailable(f"could not start {settings.bwrap} ({exc}); install bubblewrap or set [sandbox].bwrap") from None
        finally:
            os.close(info_write)
        self._info = info_read
        self._init_pid: int | None = None
        self.max_line = settings.output_chars * 8 + 65536  # JSON escapes may grow the text
        self._buffer = bytearray()
        self._killed = False
        self._booted = False
        os.set_blocking(self.proc.stdin.fileno(), False)

    # --- the conversation ------------------------------------------------------------------

    def wait_ready(self) -> None:
        """Block until the worker has imported smolagents; SandboxUnavailable when it cannot start."""
        if self._booted:
            return
        message = self._receive(time.monotonic() + BOOT_TIMEOUT_S)
        if not isinstance(message, dict) or not message.get("ready"):
            self.kill()
            detail = " ".join(self._stderr().split())[-500:] or f"exit status {self.proc.returncode}"
            raise SandboxUnavailable(
                f"the sandbox worker did not start ({detail}); check that `{self.settings.bwrap}` works here "
                "(bubblewrap needs user namespaces, or root), or set [sandbox].layer in swarm.toml"
            )
        self._booted = True
        self._read_init_pid()

    def _read_init_pid(self) -> None:
        try:
            if select.select([self._info], [], [], 1.0)[0]:
                self._init_pid = int(json.loads(os.read(self._info, 4096))["child-pid"])
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def run(self, request: dict, tools: dict[str, Callable], timeout_s: float) -> SandboxResult:
        deadline = time.monotonic() + timeout_s
        if not self._send(request, deadline):
            return self._ended(timeout_s)
        while True:
            message = self._receive(deadline)
            if message == "too long":
                self.kill()
                return SandboxResult(False, None, "", _TOO_LONG.format(self.max_line), "output")
            if not isinstance(message, dict):
                return self._ended(timeout_s)
            if "tool_call" in message:
                if not self._send(_call_tool(tools, message), deadline):
                    return self._ended(timeout_s)
                continue
            return SandboxResult(bool(message.get("ok")), message.get("output"), str(message.get("logs") or ""),
                                 message.get("error"), message.get("limit"))

    def _ended(self, timeout_s: float) -> SandboxResult:
        """The worker stopped answering: killed at the deadline, or ended by a limit of the kernel."""
        if self.proc.poll() is None:
            self.kill()
            return SandboxResult(False, None, "", f"timeout: the code ran longer than {timeout_s:g}s and was killed; "
                                 "raise [sandbox].timeout_s or make it faster", "timeout")
        status = self.proc.returncode
        signum = status - 128 if status > 128 else -status if status < 0 else 0
        if signum in (signal.SIGXCPU, signal.SIGKILL):
            return SandboxResult(False, None, "", f"cpu: the code used more than {self.settings.cpu_s} CPU seconds "
                                 "and was killed; raise [sandbox].cpu_s or make it faster", "cpu")
        if signum:
            return SandboxResult(False, None, "", f"the sandboxed process was killed by {signal.Signals(signum).name}", None)
        return SandboxResult(False, None, "", f"the sandboxed process exited with status {status} before it answered", None)

    # --- JSON lines with a deadline ----------------------------------------------------------

    def _send(self, message: dict, deadline: float) -> bool:
        data = memoryview(json.dumps(message).encode() + b"\n")
        fd = self.proc.stdin.fileno()
        while data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                return False
            try:
                data = data[os.write(fd, data):]
            except (BrokenPipeError, BlockingIOError):
                if self.proc.poll() is not None:
                    self.proc.wait()
                    return False
        return True

    def _receive(self, deadline: float) -> Any:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            if len(self._buffer) > self.max_line:
                return "too long"
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self._reap(deadline)
                return None
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def _reap(self, deadline: float) -> None:
        try:
            self.proc.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass

    def _stderr(self) -> str:
        try:
            if select.select([self.proc.stderr], [], [], 0.5)[0]:
                return os.read(self.proc.stderr.fileno(), 4096).decode(errors="replace")
        except (OSError, ValueError):
            pass
        return ""

    # --- the end ----------------------------------------------------------------------------

    def kill(self) -> None:
        """Kill bwrap's process group; its pid namespace, and so every process the code started, goes with it."""
        if self._killed:
            return
        self._killed = True
        if self._init_pid and self.proc.poll() is None:
            # Killing the namespace's init first lets bwrap reap it: no orphan is left for the host's init.
            try:
                os.kill(self._init_pid, signal.SIGKILL)
                self.proc.wait(timeout=1.0)
            except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def dispose(self) -> None:
        """Make sure nothing is left: no process, no workspace, no open pipe."""
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self.proc.wait()
        os.close(self._info)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        shutil.rmtree(self.workspace.parent, ignore_errors=True)


_TOO_LONG = "output too large: the sandbox sent a message of more than {} bytes and was killed; raise [sandbox].output_chars or print less"


def _call_tool(tools: dict[str, Callable], message: dict) -> dict:
    """Run a host tool for the sandboxed code; its failure goes back to the code as an error."""
    name = message.get("tool_call")
    tool = tools.get(name) if isinstance(name, str) else None
    if tool is None:
        return {"tool_error": f"no tool named {name!r}"}
    args = message.get("args") if isinstance(message.get("args"), list) else []
    kwargs = message.get("kwargs") if isinstance(message.get("kwargs"), dict) else {}
    try:
        return {"tool_result": plain(tool(*args, **kwargs))}
    except Exception as exc:  # the tool's failure belongs to the code that called it
        return {"tool_error": f"{type(exc).__name__}: {exc}"}
