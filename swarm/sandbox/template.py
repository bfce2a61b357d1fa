"""The sandbox template: a worker that imports smolagents once under bubblewrap, then forks a fresh child per execution.

Started as `python -I -S template.py CONFIG_JSON` (standard library and smolagents only, like
worker.py) with fds 0 and 1 on one end of a SOCK_SEQPACKET socket pair, its control channel,
one JSON message a packet:
  template → {"ready": true}                      smolagents imported, no thread running: safe to fork
  host     → {"fork": n} + one fd (SCM_RIGHTS)     a stream socket: child n's own channel
  template → {"exited": n, "status": s}           child n is gone; s as bubblewrap reports it (128 + signal)
  host     → {"kill": n}                          kill child n's process group (and so its namespaces)
Child n speaks the worker protocol (worker.py) on its channel: {"ready"}, one request, tool calls,
one result; on a failed set-up it says {"ready": false, "error": why} instead.

What a child shares with the template and with other children is only what the template had
before any code ran (its imported modules, copied at fork) and the read-only runtime:
- new mount, pid, network and IPC namespaces of its own (no process, socket, shared memory or
  mount of another execution is visible);
- a fresh workspace (the host's folder workspaces/n) bound at /workspace, with the folder of all
  workspaces covered by an empty read-only one; / and /dev are read-only for the whole sandbox;
- a fresh /proc for its pid namespace; the code runs as pid 1 of it, so when the code's process
  ends or is killed, every process it started dies with the namespace;
- its own process group (the host's timeout kills the group), and the parent-death signal, so a
  code that leaves the group still dies with the child's reaper;
- the worker's rlimits, lowered just before the code runs, and no capability (as NOBODY when the
  host is root).
The template itself never runs code, and stays single-threaded: fork copies only the calling thread.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import namespaces  # noqa: E402  (beside this file in the sandbox, at /opt/swarm)
import worker  # noqa: E402

CHILD_NAMESPACES = namespaces.CLONE_NEWNS | namespaces.CLONE_NEWPID | namespaces.CLONE_NEWNET | namespaces.CLONE_NEWIPC
WORKSPACES = "/workspaces"  # every child's workspace, from the host; each child sees only its own, at /workspace


def main() -> None:
    config = json.loads(sys.argv[1])
    sys.path.extend(config["site"])
    control = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    lpe = worker.load_executor()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        control.send(json.dumps({"ready": False, "error": f"{threads} threads run in the template after its imports; "
                                 "forking it would copy half-held locks"}).encode())
        return
    Template(control, config, lpe).serve()


class Template:
    def __init__(self, control: socket.socket, config: dict, lpe):
        self.control = control
        self.config = config
        self.lpe = lpe
        self.children: dict[int, int] = {}  # pid of the child's reaper -> n
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_write)

    def serve(self) -> None:
        # What the imports made stays out of every child's garbage collections: a collection would
        # write to each object's header and so copy every page the child shares with the template.
        gc.collect()
        gc.freeze()
        self.control.send(b'{"ready": true}')
        while True:
            readable, _, _ = select.select([self.control, self.wake_read], [], [])
            if self.wake_read in readable:
                self._drain_wakeups()
                self._reap()
            if self.control in readable:
                message, fds, _, _ = socket.recv_fds(self.control, 65536, 1)
                if not message:  # the host went away: take every child along
                    for pid in list(self.children):
                        self._kill(pid)
                    return
                self._handle(json.loads(message), fds)

    def _handle(self, message: dict, fds: list[int]) -> None:
        if "fork" in message and fds:
            n = int(message["fork"])
            try:
                pid = os.fork()
            except OSError as exc:  # the child's channel says why; the host sees it as a child that could not start
                with os.fdopen(fds[0], "wb") as channel:
                    channel.write(json.dumps({"ready": False, "error": f"fork: {exc}"}).encode() + b"\n")
                self.control.send(json.dumps({"exited": n, "status": 1}).encode())
                return
            if pid == 0:
                self._become_child(n, fds[0])  # never returns
            try:
                os.setpgid(pid, pid)  # also done by the child: whichever comes first, the kill finds the group
            except OSError:
                pass
            os.close(fds[0])
            self.children[pid] = n
        elif "kill" in message:
            for pid, n in list(self.children.items()):
                if n == message["kill"]:
                    self._kill(pid)
        else:
            for fd in fds:
                os.close(fd)

    def _kill(self, pid: int) -> None:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_read, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            n = self.children.pop(pid, None)
            if n is not None:
                code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                self.control.send(json.dumps({"exited": n, "status": code}).encode())

    # --- in the child ---------------------------------------------------------------------------

    def _become_child(self, n: int, fd: int) -> None:
        """Shut this fork in, start the code's process as pid 1 of a new namespace, and reap it."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for own in (self.wake_read, self.wake_write):
                os.close(own)
            self.control.close()
            os.setpgid(0, 0)
            channel = worker.Channel(fd)
            try:
                workspace = self._isolate(n)
                pid = os.fork()
            except BaseException as exc:
                channel.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
                raise
            if pid == 0:
                self._run_code(channel, workspace)  # never returns
            del channel  # closes this process's copies of the channel: the host sees the end when the code's process ends
            _, status = os.waitpid(pid, 0)
            code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        finally:
            os._exit(code)

    def _isolate(self, n: int) -> str:
        """New namespaces; a fresh workspace at /workspace; the other workspaces out of sight."""
        namespaces.unshare(CHILD_NAMESPACES)
        namespaces.mount(None, "/", None, namespaces.MS_REC | namespaces.MS_PRIVATE)
        folder = f"{WORKSPACES}/{n}"
        os.mkdir(folder, 0o700)
        if self.config.get("uid") is not None:
            os.chown(folder, self.config["uid"], self.config["gid"])
        namespaces.mount(folder, "/workspace", None, namespaces.MS_BIND | namespaces.MS_NOSUID | namespaces.MS_NODEV)
        # Covered, not unmounted: under a user namespace bubblewrap's mounts are locked in place.
        namespaces.mount("tmpfs", WORKSPACES, "tmpfs", namespaces.MS_RDONLY | namespaces.MS_NOSUID | namespaces.MS_NODEV
                         | namespaces.MS_NOEXEC, "size=4k,mode=000")
        return "/workspace"

    def _run_code(self, channel: worker.Channel, workspace: str) -> None:
        """Pid 1 of the new namespace: a fresh /proc, no privilege, then the worker's one request."""
        try:
            namespaces.prctl(namespaces.PR_SET_PDEATHSIG, signal.SIGKILL)
            namespaces.mount("proc", "/proc", "proc", namespaces.MS_NOSUID | namespaces.MS_NODEV | namespaces.MS_NOEXEC)
            namespaces.drop_bounding_set()
            if self.config.get("uid") is not None:
                os.setgroups([])
                os.setgid(self.config["gid"])
                os.setuid(self.config["uid"])
            namespaces.drop_capabilities()
            namespaces.prctl(namespaces.PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of uid cleared it
            os.chdir(workspace)
        except BaseException as exc:
            channel.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
            os._exit(1)
        try:
            worker.warm_up(self.lpe, self.config["limits"])
            worker.serve(self.lpe, channel, self.config["limits"])
        finally:
            os._exit(0)


if __name__ == "__main__":
    main()
