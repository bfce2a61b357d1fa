"""Shared by the MCP tests: real MCP servers in real subprocesses, and engines configured to use them.

- `mcp-server-time` and `mcp-server-git` from PyPI (stdio), started by the swarm itself;
- TOYS, a small server of the SDK's FastMCP (`mcp.server.mcpserver.MCPServer`) written by the tests,
  served over stdio by the swarm or over streamable HTTP on a loopback port by `http_toys`: its tools
  add numbers, count their calls in a file, fail, and end their own process in the middle of a call.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from timeouts import scaled

BIN = Path(sys.executable).parent  # the console scripts of the packages installed with swarm[test]

TOYS = '''
import os, sys
from pathlib import Path
from mcp.server.mcpserver import MCPServer

CALLS = Path(os.environ.get("TOYS_CALLS", "toys_calls.txt"))
ONCE = os.environ.get("TOYS_START_ONCE")
if ONCE:  # a server that starts the first time only: every later start fails, saying why
    if Path(ONCE).exists():
        sys.exit("toys: refusing to start again (" + ONCE + " exists)")
    Path(ONCE).write_text("started")

if os.environ.get("TOYS_STARTS"):  # each start of the server, one line: its process id
    with open(os.environ["TOYS_STARTS"], "a") as f:
        f.write(str(os.getpid()) + "\\n")

app = MCPServer("toys")


def counted(name):
    with CALLS.open("a") as f:
        f.write(name + "\\n")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers and return their sum."""
    counted("add")
    return a + b


@app.tool()
def shout(text: str) -> str:
    """Repeat a text in capital letters."""
    counted("shout")
    return text.upper()


@app.tool()
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    counted("divide")
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b


@app.tool()
async def wait(seconds: float) -> str:
    """Wait this many seconds, then say so."""
    import anyio

    counted("wait")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        counted("wait-cancelled")  # the client cancelled the call
        raise
    return "waited"


ARRIVED = {"count": 0}


@app.tool()
async def meet(n: int) -> int:
    """Wait until n calls of meet are in flight at once, then return how many arrived."""
    import anyio

    counted("meet")
    ARRIVED["count"] += 1
    while ARRIVED["count"] < n:
        await anyio.sleep(0.01)
    return ARRIVED["count"]


@app.tool()
def crash() -> str:
    """End the server process in the middle of the call."""
    counted("crash")
    sys.stderr.write("toys: exiting in the middle of crash\\n")
    sys.stderr.flush()
    os._exit(3)


if os.environ.get("TOYS_FEATURES") and "echo" in Path(os.environ["TOYS_FEATURES"]).read_text():
    @app.tool()
    def echo(text: str) -> str:
        """Say a text back as it is (offered only when the features file names echo)."""
        counted("echo")
        return text


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()
'''


def write_toys(folder: Path) -> Path:
    path = folder / "toys_server.py"
    path.write_text(TOYS)
    return path


def calls(folder: Path) -> list[str]:
    """The toy tools called so far, in order (each call appends its name)."""
    path = folder / "toys_calls.txt"
    return path.read_text().split() if path.exists() else []


def stdio_toys(folder: Path, **extra) -> dict:
    """[mcp.servers.toys] for the toy server over stdio, its call log in `folder`."""
    env = {"TOYS_CALLS": str(folder / "toys_calls.txt"), **extra.pop("env", {})}
    return {"command": sys.executable, "args": [str(write_toys(folder))], "env": env, **extra}


def starts(folder: Path) -> int:
    """How many times the toy server started with TOYS_STARTS in `folder`."""
    return len(pids(folder))


def pids(folder: Path) -> list[int]:
    """The process id of each start of the toy server with TOYS_STARTS in `folder`, in order."""
    path = folder / "toys_starts.txt"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def time_server() -> dict:
    return {"command": str(BIN / "mcp-server-time"), "args": ["--local-timezone", "UTC"]}


def git_server(repository: Path) -> dict:
    return {"command": str(BIN / "mcp-server-git"), "args": ["--repository", str(repository)]}


def settings(servers: dict, **more: str) -> dict[str, str]:
    """make_engine's settings for these servers (hang limits scaled; retrieval by keywords, as route tests do)."""
    return {"SWARM_MCP_SERVERS": json.dumps(servers), "SWARM_MCP_STARTUP_TIMEOUT_S": str(scaled(60)),
            "SWARM_MCP_CALL_TIMEOUT_S": str(scaled(60)), "SWARM_RETRIEVAL_FUSION": "bm25", **more}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpToys:
    """The toy server over streamable HTTP on a loopback port, in a subprocess of the test."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder, self.port = folder, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc: subprocess.Popen | None = None

    def start(self) -> HttpToys:
        env = {**os.environ, "TOYS_CALLS": str(self.folder / "toys_calls.txt")}
        self.proc = subprocess.Popen([sys.executable, str(write_toys(self.folder)), "http", str(self.port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=(self.folder / "http_toys.log").open("ab"))
        deadline = time.time() + scaled(60)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the HTTP toy server exited: {(self.folder / 'http_toys.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the HTTP toy server did not listen in time")

    def wait_exited(self) -> int:
        return self.proc.wait(timeout=scaled(30))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
