"""Starting and stopping the local model's server: a child process on a free loopback port, never an orphan.

`LocalServer.start()` runs `python -m swarm.local_model.serve` in its own session (a Ctrl-C in the
terminal is for swarm, which then stops the server itself), reads the one line saying where it
listens, and waits for /health. The child ends when it is stopped, and by itself when this process
is gone however it went (os._exit, SIGKILL): it watches its stdin, a pipe only this process holds,
and its parent id. `acquire`/`release` share one server per model and shape among everything in the
process that uses it (the runs of an Engine, several Engines, the daemon), stopping it when the last
user lets go, or at exit.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from swarm.local_model.errors import ModelFileMissing, NotAModel, RuntimeMissing, ServerFailed
from swarm.local_model.serve import FAILED, READY, RUNTIME_MISSING_EXIT

log = logging.getLogger("swarm.local_model")

MAX_SLOTS = 4  # more parallel requests than this only share the same few cores thinner
DEFAULT_MAX_TOKENS = 1024  # a reply's cap when [model].max_tokens is 0 (a small model can loop on and on)
START_TIMEOUT_S = 600.0  # loading takes 2–30 s here; a machine swapping may need far more
STOP_TIMEOUT_S = 15.0


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServerOptions:
    """What a server is started with; equal options share one server."""

    gguf: Path
    slots: int = 1
    context: int = 4096
    threads: int = 0  # 0 = every core this process may use
    max_tokens: int = DEFAULT_MAX_TOKENS
    port: int = 0  # 0 = a free port

    @classmethod
    def from_config(cls, config, port: int = 0) -> "ServerOptions":
        """[model].gguf/threads/context_per_slot/max_tokens, and one slot per [run].concurrency up to MAX_SLOTS."""
        m = config.model
        return cls(gguf=config.path(m.gguf).resolve(), slots=max(1, min(config.run.concurrency, MAX_SLOTS)),
                   context=m.context_per_slot, threads=m.threads or cpu_count(),
                   max_tokens=m.max_tokens or DEFAULT_MAX_TOKENS, port=port)

    @property
    def alias(self) -> str:
        """The model name the server answers to, and swarm records: the file's name without .gguf."""
        return self.gguf.name.removesuffix(".gguf")


def check(options: ServerOptions) -> None:
    """The two things that commonly go missing, said before a process is started."""
    if not options.gguf.is_file():
        raise ModelFileMissing(options.gguf)
    with open(options.gguf, "rb") as f:
        if f.read(4) != b"GGUF":
            raise NotAModel(options.gguf)
    if importlib.util.find_spec("xllamacpp") is None:
        raise RuntimeMissing()


class LocalServer:
    """One llama.cpp server process; `url` is its OpenAI-compatible base URL (…/v1) once started."""

    def __init__(self, options: ServerOptions, quiet: bool = True):
        self.options = options
        self.quiet = quiet  # True: the server's own log goes to a temporary file, kept only when it failed
        self.log_path: Path | None = None
        self.process: subprocess.Popen | None = None
        self.root_url: str | None = None
        self.load_s: float | None = None

    @property
    def url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "LocalServer":
        check(self.options)
        o = self.options
        command = [sys.executable, "-m", "swarm.local_model.serve", "--gguf", str(o.gguf), "--port", str(o.port),
                   "--slots", str(o.slots), "--context", str(o.context), "--threads", str(o.threads),
                   "--max-tokens", str(o.max_tokens), "--alias", o.alias, "--watch-stdin", "--parent", str(os.getpid())]
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY") or "PASSIVE"}
        if self.quiet:
            fd, name = tempfile.mkstemp(prefix="swarm-local-model-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            command += ["--log-file", str(self.log_path)]
            stderr = open(self.log_path, "ab")
        else:
            stderr = None
        started = time.monotonic()
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                            env=env, start_new_session=True)
        finally:
            if stderr is not None:
                stderr.close()
        try:
            self.root_url = self._ready_line(started + timeout_s, timeout_s)
            self._wait_healthy(started + timeout_s)
        except BaseException:
            self.stop(keep_log=True)
            raise
        self.load_s = time.monotonic() - started
        log.info("local model %s: llama.cpp server pid %s at %s, loaded in %.1f s (%d slot(s), %d thread(s))",
                 o.alias, self.pid, self.url, self.load_s, o.slots, o.threads)
        return self

    def _ready_line(self, deadline: float, timeout_s: float) -> str:
        """The URL from the child's one line; the child ending or the deadline passing first is an error."""
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        text = line[0].decode(errors="replace").strip() if line else ""
        if text.startswith(READY):
            return text[len(READY):].rstrip("/")
        if reader.is_alive():
            raise ServerFailed(f"the local model server for {self.options.gguf} was not ready within "
                               f"{timeout_s:g} s", self.log_tail(), self.log_path)
        code = self.process.wait()
        if code == RUNTIME_MISSING_EXIT:
            raise RuntimeMissing()
        why = f": {text[len(FAILED):]}" if text.startswith(FAILED) else ""
        raise ServerFailed(f"the local model server for {self.options.gguf} stopped while loading (exit code {code}){why}",
                           self.log_tail(), self.log_path)

    def _wait_healthy(self, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerFailed(f"the local model server for {self.options.gguf} stopped after it started "
                                   f"(exit code {self.process.returncode})", self.log_tail(), self.log_path)
            try:
                with urllib.request.urlopen(self.root_url + "/health", timeout=10) as reply:
                    if reply.status == 200 and json.loads(reply.read()).get("status") == "ok":
                        return
            except (OSError, ValueError) as exc:  # 503 while loading; refused while binding
                last = str(exc)
            time.sleep(0.2)
        raise ServerFailed(f"the local model server at {self.root_url} did not report healthy in time (last: {last})",
                           self.log_tail(), self.log_path)

    def log_tail(self, lines: int = 6) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4000))
            text = f.read().decode(errors="replace")
        return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())

    def stop(self, keep_log: bool = False) -> None:
        """SIGTERM (and its stdin closed), then SIGKILL if it does not end in STOP_TIMEOUT_S; idempotent."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                try:
                    process.stdin.close()
                except OSError:
                    pass
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for pipe in (process.stdin, process.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        if not keep_log and self.quiet and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


# --- one server per options, shared within the process -----------------------------------

_lock = threading.Lock()
_shared: dict[ServerOptions, list] = {}  # options -> [server, users]


def acquire(options: ServerOptions) -> LocalServer:
    """The running server for these options, started on first use; pair every call with `release`."""
    with _lock:
        entry = _shared.get(options)
        if entry is not None and entry[0].alive():
            entry[1] += 1
            return entry[0]
        if entry is not None:  # it died: say so, start a new one
            log.warning("local model %s: the server (pid gone) had stopped; starting it again", options.alias)
        server = LocalServer(options).start()
        _shared[options] = [server, 1]
        return server


def release(server: LocalServer) -> None:
    """One user less; the last one stops the server."""
    with _lock:
        for options, entry in list(_shared.items()):
            if entry[0] is server:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _shared[options]
                break
    server.stop()


@atexit.register
def _stop_all() -> None:
    with _lock:
        servers = [entry[0] for entry in _shared.values()]
        _shared.clear()
    for server in servers:
        server.stop()
