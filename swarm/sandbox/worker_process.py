"""One sandbox worker seen from the host: start it under bubblewrap, hold its one conversation, kill it."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from swarm.errors import SandboxUnavailable
from swarm.pids import exists
from swarm.sandbox import bwrap
from swarm.sandbox.conversation import Conversation, readable, worker_config
from swarm.sandbox.result import SandboxResult


def scratch_root() -> Path:
    """The swarm's own folder for workspaces, readable by nobody else."""
    root = Path(tempfile.gettempdir()) / f"swarm-sandbox-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    if root.is_symlink() or root.stat().st_uid != os.getuid():
        raise SandboxUnavailable(f"{root} is not owned by this user; remove it so the sandbox can make its own")
    return root


def scratch_folder(kind: str) -> Path:
    """A new folder under scratch_root() for one worker ("w") or template ("t"), named for this process."""
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=scratch_root()))


def remove_orphans() -> int:
    """Remove the scratch folders of processes that are gone (killed before they could clean up); how many."""
    removed = 0
    for folder in scratch_root().iterdir():
        kind, _, rest = folder.name.partition("-")
        pid = rest.partition("-")[0]
        if kind in ("w", "t") and pid.isdigit() and not exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


class WorkerProcess(Conversation):
    """A started worker waiting for its one request; `run` holds the conversation, then it is gone."""

    def __init__(self, settings, as_root: bool):
        self.settings = settings
        self.workspace = scratch_folder("w") / "workspace"
        self.workspace.mkdir()
        if as_root:
            os.chown(self.workspace, bwrap.NOBODY, bwrap.NOBODY)
        config = worker_config(settings, bwrap.NOBODY if as_root else None)
        info_read, info_write = os.pipe()  # bwrap tells the pid of the namespace's init here
        argv = bwrap.command(settings.bwrap, self.workspace, as_root, config, info_fd=info_write)
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
        self._writer = self.proc.stdin.fileno()
        os.set_blocking(self._writer, False)

    # --- boot and end -------------------------------------------------------------------------

    def _not_started(self) -> str:
        detail = " ".join(self._stderr().split())[-500:] or f"exit status {self.proc.returncode}"
        return (f"the sandbox worker did not start ({detail}); check that `{self.settings.bwrap}` works here "
                "(bubblewrap needs user namespaces, or root), or set [sandbox].layer in swarm.toml")

    def _started(self) -> None:
        try:
            if select.select([self._info], [], [], 1.0)[0]:
                self._init_pid = int(json.loads(os.read(self._info, 4096))["child-pid"])
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def _exit_result(self) -> SandboxResult | None:
        """None while the worker runs; else how the kernel ended it (a CPU limit kills by signal)."""
        if self.proc.poll() is None:
            return None
        status = self.proc.returncode
        return self._exited(status, status - 128 if status > 128 else -status if status < 0 else 0)

    # --- the pipes ----------------------------------------------------------------------------

    def _write(self, data: memoryview) -> int | None:
        try:
            return os.write(self._writer, data)
        except (BrokenPipeError, BlockingIOError):
            if self.proc.poll() is not None:
                self.proc.wait()
                return None
            return 0

    def _read_more(self, deadline: float) -> bool:
        fd = self.proc.stdout.fileno()
        if not readable(fd, deadline):
            return False
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            self._reap(deadline)
            return False
        self._buffer += chunk
        return True

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
        bwrap.kill_sandbox(self.proc, self._init_pid)

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
