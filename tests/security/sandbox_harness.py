"""Canaries outside the sandbox's workspace, and a runner for `swarm sandbox exec` in a real subprocess.

Every test here gets fresh canaries: secret files in /tmp, in the home folder and in the
project folder, secrets in the environment of the `swarm sandbox exec` process, a listening
loopback socket (TCP and UDP) that records anything reaching it, marker paths that must never
be created, and a stand-in for the swarm daemon that must stay alive.

An attempt (`attempts/NAME.py`) is run with a prologue that tells it *where* the canaries
are, never what the secrets are, so a secret can only show up in the result if the attempt
really read it:

    SECRET_FILES, SECRET_ENV, API_KEY_ENV, CANARY_HOST, CANARY_PORT, CANARY_UDP_PORT,
    MARKER_PATHS, RUN_MARKER, HOST_PID, DAEMON_PID, PYTHON, HOME_DIR, PROJECT_DIR,
    PAYLOAD_PY (Python source that tries everything at once), PAYLOAD_ARGV / PAYLOAD_SH
    (the same, as a command whose command line carries RUN_MARKER), and ESCAPED (a prefix an
    attempt prints when it got somewhere it must not, e.g. /etc/shadow, whose content we
    cannot know in advance).

Processes an attempt starts carry RUN_MARKER in their command line, so leftovers are found by
scanning /proc/*/cmdline after the call.
"""

from __future__ import annotations

import json
import re
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from timeouts import scaled

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ATTEMPTS_DIR = HERE / "attempts"
SWARM = Path(sys.executable).parent / "swarm"

# --allow-import for the "process layer alone" runs: as if the AST layer had been escaped.
PROCESS_LAYER_IMPORTS = ["os", "socket", "subprocess", "sys", "io", "builtins"]

# Each attempt gets a short wall-clock limit ([sandbox].timeout_s) so the corpus stays fast; harmless
# code (the harness's own checks) gets a long one. Both, like every hang limit here, follow
# SWARM_TEST_TIMEOUT_SCALE: a busy machine gives the attempts the same chance to try.
TIMEOUT_ENV = "SWARM_SANDBOX_TIMEOUT_S"
ATTEMPT_TIMEOUT_S = scaled(1.5)
HARMLESS_TIMEOUT_S = scaled(30.0)
CALL_LIMIT_S = scaled(60.0)  # past this the test kills the CLI itself: a hang, not a slow machine
OUTPUT_LIMIT = 8 * 2**20  # bytes of stdout + stderr; the sandbox caps captured output well below
GRACE_S = scaled(10.0)  # how long a killed process tree may take to disappear from /proc
LEFT_ON_DISK_LIMIT = 2**20  # bytes an ended call may leave in its own scratch folder (its workspaces are removed)
ESCAPED = "ESCAPED::"


# --- canaries ------------------------------------------------------------------------------------


class CanaryListener:
    """A TCP and a UDP socket on 127.0.0.1 (same port where possible) that record every contact."""

    def __init__(self) -> None:
        self.contacts: list[str] = []
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.udp.bind(("127.0.0.1", self.port))
        except OSError:
            self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.udp_port = self.udp.getsockname()[1]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._accept, self._receive)]
        for t in self._threads:
            t.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            self.contacts.append(f"tcp connection from {peer}")
            conn.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.contacts.append(f"udp datagram from {peer}: {data[:40]!r}")

    def close(self) -> None:
        self._stop.set()
        for s in (self.tcp, self.udp):
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it at once
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)
        self.tcp.close()
        self.udp.close()


@dataclass
class Canaries:
    secret_files: dict[Path, str]
    env: dict[str, str]  # secret environment variables of the `swarm sandbox exec` process
    listener: CanaryListener
    marker_paths: list[Path]
    run_marker: str
    daemon: subprocess.Popen
    file_stats: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.file_stats = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in self.secret_files}

    @property
    def secret_values(self) -> list[str]:
        return [*self.secret_files.values(), *self.env.values()]

    def prologue(self) -> str:
        """Python assignments that tell an attempt where the canaries are (never the secrets)."""
        python = os.path.realpath(sys.executable)
        where = {
            "SECRET_FILES": [str(p) for p in self.secret_files],
            "SECRET_ENV": "SWARM_TEST_SECRET",
            "API_KEY_ENV": "OPENAI_API_KEY",
            "CANARY_HOST": "127.0.0.1",
            "CANARY_PORT": self.listener.port,
            "CANARY_UDP_PORT": self.listener.udp_port,
            "MARKER_PATHS": [str(p) for p in self.marker_paths],
            "RUN_MARKER": self.run_marker,
            "HOST_PID": os.getpid(),
            "DAEMON_PID": self.daemon.pid,
            "PYTHON": python,
            "HOME_DIR": str(Path.home()),
            "PROJECT_DIR": str(REPO),
        }
        payload = "\n".join(f"{k} = {v!r}" for k, v in where.items()) + "\n" + PAYLOAD_TEMPLATE
        where["PAYLOAD_PY"] = payload
        where["PAYLOAD_ARGV"] = [python, "-c", payload, self.run_marker]
        where["PAYLOAD_SH"] = shlex.join(where["PAYLOAD_ARGV"])
        lines = [f"{k} = {v!r}" for k, v in where.items()]
        # Built at run time so that the prefix never appears in source quoted by an error message.
        lines.append('ESCAPED = "ESC" + "APED::"')
        return "# --- canaries, from tests/security/conftest.py ---\n" + "\n".join(lines) + "\n# ---\n\n"

    def violations(self, text: str) -> list[str]:
        """Everything that shows the attempt got out: leaked secrets, contacts, markers, changed files."""
        found = [f"secret leaked: {v[:12]}..." for v in self.secret_values if v in text]
        found += [f"attempt reports {m}" for m in re.findall(re.escape(ESCAPED) + r'[^\\\n"]{0,160}', text)]
        found += self.listener.contacts
        found += [f"marker created: {p}" for p in self.marker_paths if os.path.lexists(p)]
        for p, content in self.secret_files.items():
            try:
                same = p.read_text() == content and (p.stat().st_mtime_ns, p.stat().st_ino) == self.file_stats[p]
            except OSError:
                same = False
            if not same:
                found.append(f"secret file changed or removed: {p}")
        if self.daemon.poll() is not None:
            found.append(f"the daemon stand-in (pid {self.daemon.pid}) died: {self.daemon.returncode}")
        return found


# Real Python, run only if an attempt gets a process outside the AST layer: tries everything at once.
PAYLOAD_TEMPLATE = r"""
import os, socket
seen = []
for p in SECRET_FILES:
    for path in (p, "/proc/%d/root%s" % (HOST_PID, p), "/proc/%d/root%s" % (DAEMON_PID, p)):
        try:
            seen.append(open(path).read())
        except Exception:
            pass
seen.append(repr(os.environ.get(SECRET_ENV)))
seen.append(repr(os.environ.get(API_KEY_ENV)))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen.append(repr(open("/proc/%s/environ" % pid, "rb").read()))
        except Exception:
            pass
for m in MARKER_PATHS:
    try:
        open(m, "w").write("escaped")
    except Exception:
        pass
try:
    socket.create_connection((CANARY_HOST, CANARY_PORT), 1).close()
except Exception:
    pass
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"escaped", (CANARY_HOST, CANARY_UDP_PORT))
except Exception:
    pass
print("\n".join(seen))
"""


def token() -> str:
    return secrets.token_hex(16)


# --- running the CLI -------------------------------------------------------------------------------


@dataclass
class ExecResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    pid: int  # of the CLI, which led its own session: its process group has this id too
    scratch: Path  # the CLI's TMPDIR, where the sandbox makes its workspaces; nothing else writes there

    @property
    def text(self) -> str:
        return self.stdout + "\n" + self.stderr

    @property
    def json(self) -> dict | None:
        try:
            value = json.loads(self.stdout)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def leftover_processes(self, grace_s: float = GRACE_S) -> list[tuple[int, str]]:
        """The call's own processes still alive grace_s after it returned: the CLI's process group, and
        any process naming its scratch folder (the sandbox's bwrap workers lead sessions of their own)."""
        scratch = str(self.scratch).encode()
        return lingering(lambda: processes_where(lambda pid, cmdline: pgid(pid) == self.pid or scratch in cmdline), grace_s)

    def left_on_disk(self) -> tuple[int, list[str]]:
        """Bytes (as allocated) and paths that the call left in its own scratch folder, but for the
        sandbox's folder of workspaces itself (kept for the next call, and empty when all is well)."""
        total, paths = 0, []
        for root, dirs, files in os.walk(self.scratch):
            for name in dirs + files:
                path = Path(root, name)
                if path == self.scratch / f"swarm-sandbox-{os.getuid()}":
                    continue
                try:
                    total += path.lstat().st_blocks * 512
                except OSError:
                    continue
                paths.append(str(path.relative_to(self.scratch)))
        return total, paths


def cli_env(extra: dict[str, str], timeout_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env[TIMEOUT_ENV] = str(timeout_s)
    env["SWARM_SANDBOX_POOL_SIZE"] = "1"  # one call per process: one warm worker is all it uses
    env.update(extra)
    return env


def sandbox_exec(source_file: Path, allow_imports: list[str] = (), env: dict[str, str] | None = None,
                 timeout_s: float = ATTEMPT_TIMEOUT_S) -> ExecResult:
    """`swarm sandbox exec FILE --json [--allow-import ...]` in its own session, killed past CALL_LIMIT_S.

    Its TMPDIR is a fresh folder beside FILE, so the workspaces it makes (and whatever the code
    wrote into them) are its own to measure, apart from anything else on the machine.
    """
    cmd = [str(SWARM), "sandbox", "exec", str(source_file), "--json"]
    if allow_imports:
        cmd += ["--allow-import", *allow_imports]
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=source_file.parent))
    proc = subprocess.Popen(
        cmd, cwd=REPO, env={**cli_env(env or {}, timeout_s), "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=CALL_LIMIT_S)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return ExecResult(
        proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), timed_out, proc.pid, scratch
    )


def pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def processes_where(keep) -> list[tuple[int, str]]:
    """Processes (pid, command line) other than this one for which keep(pid, raw cmdline) is true."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if keep(int(entry), raw):
            found.append((int(entry), raw.replace(b"\0", b" ").decode("utf-8", "replace")[:160]))
    return found


def lingering(find, grace_s: float = GRACE_S) -> list[tuple[int, str]]:
    """What find() still returns after grace_s (zombies still count while unreaped); [] as soon as it is empty."""
    deadline = time.monotonic() + grace_s
    while True:
        left = find()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def marked_processes(marker: str) -> list[tuple[int, str]]:
    """Processes (pid, command line) whose command line contains `marker`, other than this one."""
    return processes_where(lambda pid, cmdline: marker.encode() in cmdline)


def leftover_processes(marker: str) -> list[tuple[int, str]]:
    """Marked processes still alive GRACE_S after the call (zombies still count while unreaped)."""
    return lingering(lambda: marked_processes(marker))


def kill_marked(marker: str) -> None:
    for pid, _ in marked_processes(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
