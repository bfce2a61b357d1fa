"""The sandbox worker: runs inside bubblewrap, serves exactly one request, then exits.

Started as `python -I -S worker.py CONFIG_JSON`. It imports only the standard library and
smolagents (the swarm package is not mounted in the sandbox). The AST layer lives here:
smolagents' LocalPythonExecutor with the request's import allowlist and tool proxies.

Protocol, JSON lines on the worker's own copies of stdin/stdout (fds 0 and 1 themselves are
pointed at /dev/null, so what the code writes there is never read as a message):
  worker → {"ready": true}                       once smolagents is imported
  host   → {"code", "imports", "tools": [names]}  the one request
  worker → {"tool_call": name, "args", "kwargs"}  zero or more, each answered by the host with
  host   → {"tool_result": value} | {"tool_error": message}
  worker → {"ok", "output", "logs", "error", "limit"}  and exits
"""

from __future__ import annotations

import errno
import json
import os
import resource
import sys


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("uid") is not None:  # started as root: become the unprivileged user before anything else
        os.setgroups([])
        os.setgid(config["gid"])
        os.setuid(config["uid"])
    sys.path.extend(config["site"])
    channel = Channel()
    limits = config["limits"]
    lpe = load_executor()
    serve(lpe, channel, limits)


def load_executor():
    """smolagents' executor module, imported and set up for the sandbox (the slow part of a start)."""
    from smolagents import local_python_executor as lpe

    # The executor's own step counters (10 million operations, a million while-iterations) stop
    # ordinary work (a HumanEval reference solution among it); the rlimits and the wall-clock timeout
    # around this process are the bounds that hold, so the counters only catch what they would anyway.
    lpe.MAX_OPERATIONS = lpe.MAX_WHILE_ITERATIONS = 10**12
    return lpe


def warm_up(lpe, limits: dict) -> None:
    """Run a trivial request of our own once, so the first real one does not pay for first touches
    (in a child forked from the template: copying each page that running an execution writes to)."""
    logs = CappedText(limits["output_chars"])
    lpe.PrintContainer = lambda: logs
    execute(lpe.LocalPythonExecutor, {"code": "print('warm')\nsorted([2, 1])[0] + 1"}, None, logs, limits)


def serve(lpe, channel: Channel, limits: dict) -> None:
    """Say ready, take the one request, lower the rlimits, run it, send the result."""
    logs = CappedText(limits["output_chars"])
    sys.stdout = sys.stderr = logs  # writes through sys.stdout land in the logs, never on the channel
    lpe.PrintContainer = lambda: logs  # print() inside the executor fills the same capped buffer
    channel.send({"ready": True})
    request = channel.receive()
    _limit_resources(limits)
    channel.send(execute(lpe.LocalPythonExecutor, request, channel, logs, limits))


def execute(executor_class, request: dict, channel: Channel, logs: CappedText, limits: dict) -> dict:
    tools = {name: _proxy(name, channel) for name in request.get("tools", [])}
    executor = executor_class(
        additional_authorized_imports=list(request.get("imports", [])),
        max_print_outputs_length=limits["output_chars"] * 4 + 1000,  # our own cap cuts first
        additional_functions={**_ordinary_builtins(), **tools},
        timeout_seconds=None,
    )
    # Exactly the request's allowlist: smolagents adds its own base modules (queue, stat...) to the ones it is
    # given, so code could import modules the configuration never allowed, and its "Authorized imports are: ..."
    # message would name them.
    executor.authorized_imports = sorted(set(request.get("imports", [])))
    executor.send_tools({})
    try:
        output = plain(executor(request["code"]).output)
    except BaseException as exc:  # every failure of the code, including MemoryError, is reported
        limit = _limit_of(exc)
        error = _LIMIT_MESSAGES[limit].format(**limits) if limit else f"{type(exc).__name__}: {exc}"
        return {"ok": False, "output": None, "logs": logs.text(), "error": " ".join(error.split()), "limit": limit}
    text = json.dumps(output)
    if len(text) > limits["output_chars"]:
        return {"ok": False, "output": text[: limits["output_chars"]], "logs": logs.text(),
                "error": _LIMIT_MESSAGES["output"].format(**limits), "limit": "output"}
    if logs.cut:
        return {"ok": False, "output": output, "logs": logs.text(),
                "error": _LIMIT_MESSAGES["output"].format(**limits), "limit": "output"}
    return {"ok": True, "output": output, "logs": logs.text(), "error": None, "limit": None}


# Builtins ordinary code uses that smolagents' executor leaves out (it refuses `bin(255)` as a
# "forbidden function"). None of them reaches outside the interpreter: the process layer around this
# worker is the boundary, and eval/exec/open/compile/__import__/globals stay out.
ORDINARY_BUILTINS = (
    "ascii", "bin", "bytearray", "bytes", "format", "frozenset", "hash", "hex", "id", "oct", "repr",
    "slice", "object", "super", "property", "staticmethod", "classmethod", "NotImplemented", "Ellipsis",
)


def _ordinary_builtins() -> dict:
    import builtins

    return {name: getattr(builtins, name) for name in ORDINARY_BUILTINS}


_LIMIT_MESSAGES = {
    "memory": "memory: the code needed more than {memory_mb} MB; raise [sandbox].memory_mb or use less",
    "file_size": "file too large: a file grew past {file_size_mb} MB; raise [sandbox].file_size_mb or write less",
    "processes": "processes: the code started more than {processes} processes; raise [sandbox].processes",
    "output": "output too large: more than {output_chars} characters were cut; raise [sandbox].output_chars or print less",
}


def _limit_of(exc: BaseException) -> str | None:
    """Which resource limit an exception (or one it was raised from) comes from, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, MemoryError):
            return "memory"
        if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            return "file_size"
        if isinstance(exc, BlockingIOError) and exc.errno == errno.EAGAIN and "fork" in str(exc).lower():
            return "processes"
        exc = exc.__cause__ or exc.__context__
    return None


def _limit_resources(limits: dict) -> None:
    """Lower the rlimits for good (soft and hard) just before the request's code runs."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + limits["cpu_s"]  # start-up time is not the code's
    mb = 1024 * 1024
    for name, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),  # SIGXCPU at the soft limit, SIGKILL a second later
        (resource.RLIMIT_AS, (limits["memory_mb"] * mb,) * 2),
        (resource.RLIMIT_FSIZE, (limits["file_size_mb"] * mb,) * 2),
        (resource.RLIMIT_NOFILE, (limits["open_files"],) * 2),
        (resource.RLIMIT_NPROC, (limits["processes"],) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(name, value)


def _proxy(name: str, channel: Channel):
    """A stand-in for a host tool: the call travels over the channel and runs in the host."""

    def call(*args, **kwargs):
        channel.send({"tool_call": name, "args": plain(list(args)), "kwargs": plain(kwargs)})
        reply = channel.receive()
        if "tool_error" in reply:
            raise RuntimeError(f"tool {name} failed: {reply['tool_error']}")
        return reply.get("tool_result")

    call.__name__ = name
    return call


class Channel:
    """JSON lines to and from the host: on private duplicates of fds 0 and 1, or on one socket `fd` (a template's child)."""

    def __init__(self, fd: int | None = None):
        if fd is not None:
            self._in = os.fdopen(fd, "rb")
            self._out = os.fdopen(os.dup(fd), "wb")
            return
        self._in = os.fdopen(os.dup(0), "rb")
        self._out = os.fdopen(os.dup(1), "wb")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)

    def send(self, message: dict) -> None:
        self._out.write(json.dumps(message).encode() + b"\n")
        self._out.flush()

    def receive(self) -> dict:
        line = self._in.readline()
        if not line:
            os._exit(0)  # the host went away
        return json.loads(line)


class CappedText:
    """Text kept up to a cap; what comes after is counted, not kept. Serves as print buffer and as sys.stdout."""

    def __init__(self, cap: int):
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.cut = 0

    def __iadd__(self, text):
        self.write(str(text))
        return self

    def append(self, text):
        self.write(str(text))
        return self

    def write(self, text: str) -> int:
        room = self.cap - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.cut += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        kept = "".join(self.parts)
        return kept + (f"\n[{self.cut} more characters cut: the output cap]" if self.cut else "")

    def __str__(self) -> str:
        return self.text()

    def __len__(self) -> int:
        return self.size

    @property
    def value(self) -> str:
        return self.text()

    @value.setter
    def value(self, _text: str) -> None:
        pass  # smolagents truncates its buffer by assigning here; ours is capped already


def plain(value):
    """Keep JSON-able values as they are; anything else becomes its repr."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        try:
            str(value)  # Python refuses to print ints beyond 4300 digits
        except ValueError:
            return f"<an int of {value.bit_length()} bits>"
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)


if __name__ == "__main__":
    main()
