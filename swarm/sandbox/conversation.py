"""The host's side of the worker protocol (JSON lines with a deadline), shared by every kind of sandbox worker.

A worker says `{"ready": true}` once booted, then takes one request; while the code runs it may
send `tool_call` messages, each answered with a `tool_result` or `tool_error`, and it ends with
one result message. A worker class says only how its bytes travel and how it ends.
"""

from __future__ import annotations

import json
import select
import signal
import time
from typing import Any, Callable

from swarm.errors import SandboxUnavailable
from swarm.sandbox import bwrap
from swarm.sandbox.result import SandboxResult
from swarm.sandbox.worker import plain

BOOT_TIMEOUT_S = 60.0
LIMIT_SETTINGS = ("cpu_s", "memory_mb", "file_size_mb", "open_files", "processes", "output_chars")

_TOO_LONG = "output too large: the sandbox sent a message of more than {} bytes and was killed; raise [sandbox].output_chars or print less"


def worker_config(settings, uid: int | None) -> str:
    """The worker's one argument: whom to run as (None: as started), its site-packages and its limits."""
    return json.dumps({"uid": uid, "gid": uid, "site": bwrap.site_packages(),
                       "limits": {k: getattr(settings, k) for k in LIMIT_SETTINGS}})


class Conversation:
    """One worker's conversation: boot, one request, the tool calls it makes, its result.

    A subclass sets `settings`, `max_line` and an empty `_buffer` (the worker's stdout not yet
    read as lines), and supplies the transport (`_write`, `_read_more`, `_writer`), how it failed
    to boot (`_not_started`), how it ended (`_exit_result`) and `kill`.
    """

    _booted = False

    def wait_ready(self) -> None:
        """Block until the worker has imported smolagents; SandboxUnavailable when it cannot start."""
        if self._booted:
            return
        message = self._receive(time.monotonic() + BOOT_TIMEOUT_S)
        if not isinstance(message, dict) or not message.get("ready"):
            self.kill()
            raise SandboxUnavailable(self._not_started())
        self._booted = True
        self._started()

    def run(self, request: dict, tools: dict[str, Callable], timeout_s: float) -> SandboxResult:
        """Send the request, answer the code's tool calls, and return its result (or why there is none)."""
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
        """The worker stopped answering: killed at the deadline, or ended by a limit."""
        result = self._exit_result()
        if result is None:
            self.kill()
            return SandboxResult(False, None, "", f"timeout: the code ran longer than {timeout_s:g}s and was killed; "
                                 "raise [sandbox].timeout_s or make it faster", "timeout")
        return result

    def _exited(self, status: int, signum: int) -> SandboxResult:
        """The result for a worker that ended with `status`, or by signal `signum` (0 for none)."""
        if signum in (signal.SIGXCPU, signal.SIGKILL):
            return SandboxResult(False, None, "", f"cpu: the code used more than {self.settings.cpu_s} CPU seconds "
                                 "and was killed; raise [sandbox].cpu_s or make it faster", "cpu")
        if signum:
            return SandboxResult(False, None, "", f"the sandboxed process was killed by {signal.Signals(signum).name}", None)
        return SandboxResult(False, None, "", f"the sandboxed process exited with status {status} before it answered", None)

    # --- JSON lines with a deadline ----------------------------------------------------------

    def _send(self, message: dict, deadline: float) -> bool:
        data = memoryview(json.dumps(message).encode() + b"\n")
        while data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self._writer], [], left)[1]:
                return False
            sent = self._write(data)
            if sent is None:
                return False
            data = data[sent:]
        return True

    def _receive(self, deadline: float) -> Any:
        while b"\n" not in self._buffer:
            if len(self._buffer) > self.max_line:
                return "too long"
            if not self._read_more(deadline):
                return None
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        try:
            return json.loads(line)
        except ValueError:
            return None

    # --- what each kind of worker supplies ---------------------------------------------------

    def _started(self) -> None:
        """Called once the worker said it is ready."""

    def _write(self, data: memoryview) -> int | None:
        """Write some of `data` (the writer is ready); how many bytes, 0 to try again, None when the worker is gone."""
        raise NotImplementedError

    def _read_more(self, deadline: float) -> bool:
        """Add what the worker wrote to `_buffer`, waiting until `deadline`; False at the deadline or its end."""
        raise NotImplementedError

    def _not_started(self) -> str:
        """Why the worker did not boot and what to do, after it was killed."""
        raise NotImplementedError

    def _exit_result(self) -> SandboxResult | None:
        """The result for a worker that has ended by itself; None while it still runs."""
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError


def readable(stream, deadline: float) -> bool:
    """Whether `stream` has something to read before `deadline`."""
    left = deadline - time.monotonic()
    return left > 0 and bool(select.select([stream], [], [], left)[0])


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
