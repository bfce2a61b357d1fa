"""The sandbox template seen from the host: one bubblewrap process that forks a fresh child per execution.

`TemplateProcess` starts the template (template.py) and holds its control channel; `Supervisor`
keeps one running, starting it again when it dies; `ForkedChild` is one execution's conversation
with its child, the same worker protocol as a worker of its own (conversation.py).
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from swarm.errors import SandboxUnavailable
from swarm.sandbox import bwrap
from swarm.sandbox.conversation import BOOT_TIMEOUT_S, Conversation, readable, worker_config
from swarm.sandbox.result import SandboxResult
from swarm.sandbox.worker_process import scratch_folder

STOPPED = ("the sandbox template stopped while the code ran (it is started again for the next execution); "
           "run the code again")


class TemplateStopped(SandboxUnavailable):
    """The template died before the child of an execution answered: the execution can go to the next one."""


class ChildExit:
    """How one child ended, told by the template (or that the template itself went)."""

    def __init__(self):
        self.event = threading.Event()
        self.status: int | None = None
        self.stopped = False  # the template died before it could tell

    def set(self, status: int | None, stopped: bool = False) -> None:
        self.status, self.stopped = status, stopped
        self.event.set()


class TemplateProcess:
    """One template under bubblewrap, and its control channel. Started on the thread that will serve it."""

    def __init__(self, settings, as_root: bool):
        self.settings = settings
        self.root = scratch_folder("t")
        self.workspaces = self.root / "workspaces"
        self.workspaces.mkdir(mode=0o700)
        config = worker_config(settings, bwrap.NOBODY if as_root else None)
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_read, info_write = os.pipe()  # bwrap tells the pid of the namespace's init here
        argv = bwrap.template_command(settings.bwrap, self.workspaces, as_root, config, info_fd=info_write)
        try:
            self.proc = subprocess.Popen(argv, stdin=theirs, stdout=theirs, stderr=subprocess.PIPE, start_new_session=True,
                                         close_fds=True, pass_fds=(info_write,), env={})
        except OSError as exc:
            shutil.rmtree(self.root, ignore_errors=True)
            self.control.close()
            raise SandboxUnavailable(f"could not start {settings.bwrap} ({exc}); install bubblewrap or set [sandbox].bwrap") from None
        finally:
            theirs.close()
            os.close(info_write)
        self._info = info_read
        self.init_pid: int | None = None
        self.exits: dict[int, ChildExit] = {}
        self._send_lock = threading.Lock()
        self.gone = False  # its control channel ended: it, and every child it had, is dead
        self._stopped = False

    def wait_ready(self) -> None:
        """Block until the template has imported smolagents; SandboxUnavailable saying why when it cannot."""
        message = self._receive(time.monotonic() + BOOT_TIMEOUT_S)
        if not isinstance(message, dict) or message.get("ready") is not True:
            why = message.get("error") if isinstance(message, dict) else None
            detail = why or " ".join(self._stderr().split())[-500:] or f"exit status {self.proc.poll()}"
            self.stop()
            raise SandboxUnavailable(f"the sandbox template did not start ({detail}); check that `{self.settings.bwrap}` "
                                     "works here (bubblewrap needs user namespaces, or root), or set "
                                     "[sandbox].template = false or [sandbox].layer in swarm.toml")
        try:
            if select.select([self._info], [], [], 1.0)[0]:
                self.init_pid = int(json.loads(os.read(self._info, 4096))["child-pid"])
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def pid(self) -> int | None:
        """The template's own pid on the host (the child of bubblewrap's namespace init), if it runs."""
        try:
            children = Path(f"/proc/{self.init_pid}/task/{self.init_pid}/children").read_text().split()
        except (OSError, TypeError):
            return None
        return int(children[0]) if children else None

    def serve(self) -> None:
        """Read the template's messages until it is gone; then every child it had is gone too."""
        while True:
            message = self._receive(None)
            if not isinstance(message, dict):
                break
            if "exited" in message:
                n = message["exited"]
                shutil.rmtree(self.workspaces / str(n), ignore_errors=True)
                with self._send_lock:
                    ended = self.exits.pop(n, None)
                if ended is not None:
                    ended.set(message.get("status"))
        with self._send_lock:
            self.gone = True
            pending, self.exits = self.exits, {}
        for ended in pending.values():
            ended.set(None, stopped=True)

    def fork(self, n: int) -> tuple[socket.socket, ChildExit]:
        """Ask for child n; its channel's host end, and how it will have ended. TemplateStopped if the template is gone."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ended = ChildExit()
        try:
            with self._send_lock:
                if self.gone:
                    raise OSError("the template is gone")
                self.exits[n] = ended
                socket.send_fds(self.control, [json.dumps({"fork": n}).encode()], [theirs.fileno()])
        except OSError:
            mine.close()
            with self._send_lock:
                self.gone = True
                self.exits.pop(n, None)
            raise TemplateStopped(STOPPED) from None
        finally:
            theirs.close()
        return mine, ended

    def kill_child(self, n: int) -> None:
        """Kill child n's process group; its namespaces, and every process the code started, go with it."""
        with self._send_lock:
            if self.gone:
                return
            try:
                self.control.send(json.dumps({"kill": n}).encode())
            except OSError:
                pass

    def kill(self) -> None:
        """Kill the template's whole bubblewrap (its children die with its namespaces); serve() then returns."""
        bwrap.kill_sandbox(self.proc, self.init_pid)

    def stop(self) -> None:
        """Kill the template and every child it has; close its channels; remove every workspace. Once."""
        with self._send_lock:
            if self._stopped:
                return
            self._stopped = True
            self.gone = True
        self.kill()
        self.proc.wait()
        for closing in (self.control.close, lambda: os.close(self._info), self.proc.stderr.close):
            try:
                closing()
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def _receive(self, deadline: float | None):
        try:
            if deadline is not None and not readable(self.control, deadline):
                return None
            data = self.control.recv(65536)
        except OSError:
            return None
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def _stderr(self) -> str:
        try:
            if select.select([self.proc.stderr], [], [], 0.5)[0]:
                return os.read(self.proc.stderr.fileno(), 4096).decode(errors="replace")
        except (OSError, ValueError):
            pass
        return ""


class Supervisor:
    """Keeps one template running: starts it on first need (or at once), and again whenever it dies.

    bwrap's --die-with-parent follows the thread that started it, so one long-lived thread starts
    every template and reads its messages.
    """

    def __init__(self, settings, as_root: bool, start_now: bool):
        self.settings = settings
        self.as_root = as_root
        self.restarts = -1  # templates started, less the first
        self._current: TemplateProcess | None = None
        self._error: SandboxUnavailable | None = None
        self._wanted = start_now
        self._closed = False
        self._changed = threading.Condition()
        self._numbers = itertools.count(1)
        self._thread = threading.Thread(target=self._supervise, name="swarm-sandbox-template", daemon=True)
        self._thread.start()

    def template(self, timeout_s: float = BOOT_TIMEOUT_S + 5) -> TemplateProcess:
        """The running template, waiting for it to start; SandboxUnavailable when it cannot."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            if self._current is None or self._current.gone:
                self._error = None  # a start that failed before is tried again for this caller
            self._wanted = True
            self._changed.notify_all()
            while (self._current is None or self._current.gone) and self._error is None and not self._closed:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise SandboxUnavailable(f"the sandbox template did not start within {timeout_s:g}s; "
                                             "the machine may be overloaded, or set [sandbox].template = false")
            if self._closed:
                raise SandboxUnavailable("the sandbox is closed")
            if self._current is None or self._current.gone:
                raise self._error
            return self._current

    def child(self) -> ForkedChild:
        """A new child of the running template (not yet known to have answered)."""
        template = self.template()
        n = next(self._numbers)
        sock, ended = template.fork(n)
        return ForkedChild(self.settings, template, n, sock, ended)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            current = self._current
            self._changed.notify_all()
        if current is not None:
            current.kill()  # its serve() returns, the thread stops it and ends
        self._thread.join()

    def _supervise(self) -> None:
        while True:
            with self._changed:
                while not self._wanted and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
            try:
                template = TemplateProcess(self.settings, self.as_root)
                template.wait_ready()
            except Exception as exc:  # whatever it was, the callers waiting are told, and the thread goes on
                if not isinstance(exc, SandboxUnavailable):
                    exc = SandboxUnavailable(f"the sandbox template could not be started ({type(exc).__name__}: {exc}); "
                                             "set [sandbox].template = false in swarm.toml to start a worker per execution")
                with self._changed:
                    self._error, self._wanted = exc, False  # the next caller asks again; no restart loop
                    self._changed.notify_all()
                continue
            with self._changed:
                if self._closed:
                    template.stop()
                    return
                self._current = template
                self.restarts += 1
                self._changed.notify_all()
            template.serve()  # until the template dies (or close() kills it)
            template.stop()
            with self._changed:
                self._current = None
                self._changed.notify_all()


class ForkedChild(Conversation):
    """One execution's child of the template: its own stream socket to the host, its exit told by the template."""

    def __init__(self, settings, template: TemplateProcess, n: int, sock: socket.socket, ended: ChildExit):
        self.settings = settings
        self.template = template
        self.n = n
        self.sock = sock
        self.sock.setblocking(False)
        self.ended = ended
        self._writer = sock.fileno()
        self.max_line = settings.output_chars * 8 + 65536  # JSON escapes may grow the text
        self._buffer = bytearray()
        self._booted = False
        self._why: str | None = None

    def wait_ready(self) -> None:
        """Block until the child is shut in and waiting; TemplateStopped if the template died meanwhile."""
        if self._booted:
            return
        message = self._receive(time.monotonic() + BOOT_TIMEOUT_S)
        if isinstance(message, dict) and message.get("ready") is True:
            self._booted = True
            return
        if isinstance(message, dict):
            self._why = str(message.get("error"))
        self.kill()
        if self.ended.event.wait(1.0) and self.ended.stopped:
            raise TemplateStopped(STOPPED)
        raise SandboxUnavailable(self._not_started())

    def run(self, request: dict, tools: dict, timeout_s: float) -> SandboxResult:
        """As Conversation.run; TemplateStopped (the execution may go to another child) when the template died
        under it before any host tool was called: all else the code did died with the template's namespaces."""
        if self.ended.stopped:
            raise TemplateStopped(STOPPED)
        called = []

        def counted(name):
            def call(*args, **kwargs):
                called.append(name)
                return tools[name](*args, **kwargs)
            return call

        result = super().run(request, {name: counted(name) for name in tools}, timeout_s)
        if self.ended.stopped and result.error == STOPPED and not called:
            raise TemplateStopped(STOPPED)
        return result

    def _not_started(self) -> str:
        return (f"the sandbox template could not start a child for this execution ({self._why or 'no answer'}); "
                "set [sandbox].template = false in swarm.toml to start a worker per execution instead")

    def _write(self, data: memoryview) -> int | None:
        try:
            return os.write(self._writer, data)
        except BlockingIOError:
            return 0
        except OSError:
            return None

    def _read_more(self, deadline: float) -> bool:
        if not readable(self.sock, deadline):
            return False
        try:
            chunk = os.read(self._writer, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:  # the code's process ended: its status follows from the template
            self.ended.event.wait(max(0.0, deadline - time.monotonic()))
            return False
        self._buffer += chunk
        return True

    def _exit_result(self) -> SandboxResult | None:
        if not self.ended.event.is_set():
            return None
        if self.ended.stopped:
            return SandboxResult(False, None, "", STOPPED, None)
        status = self.ended.status or 0
        return self._exited(status, status - 128 if status > 128 else 0)

    def kill(self) -> None:
        self.template.kill_child(self.n)

    def dispose(self) -> None:
        """Make sure the child is ended (the template reaps it and removes its workspace) and close the channel."""
        if not self.ended.event.is_set():
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if not self.ended.event.wait(0.5):
                self.kill()
        self.sock.close()
