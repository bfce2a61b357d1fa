"""The bubblewrap command lines that start a sandbox worker or template: what it sees, and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SANDBOX_DIR = "/opt/swarm"
WORKER_IN_SANDBOX = f"{SANDBOX_DIR}/worker.py"
TEMPLATE_FILES = ("template.py", "worker.py", "namespaces.py")  # the template imports the other two from beside it
NOBODY = 65534  # uid and gid the code runs as when the host is root, so RLIMIT_NPROC applies
SYSTEM_LIBRARIES = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32")


def runtime_paths() -> list[str]:
    """Folders Python needs, read-only: the interpreter's prefix and the site-packages of this environment.

    Only folders inside sys.prefix or sys.base_prefix count, so a project folder on sys.path
    (an editable install) or a user's home is never among them.
    """
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    paths = {os.path.realpath(sys.base_prefix)}
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and os.path.isdir(real) and any(_inside(real, p) for p in prefixes) and "site-packages" in real:
            paths.add(real)
    return sorted(paths)


def site_packages() -> list[str]:
    return [p for p in runtime_paths() if "site-packages" in p or "dist-packages" in p]


def command(bwrap: str, workspace: Path, as_root: bool, config_json: str, info_fd: int | None = None) -> list[str]:
    """argv for bwrap running the worker with `workspace` as its only writable folder, at /workspace."""
    if as_root:
        # Root creates the namespaces without a user namespace; the worker then drops to NOBODY
        # itself, as its first act, so the code's real uid is NOBODY on the host.
        caps = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        caps = []
    argv = _isolation(bwrap, as_root, caps, info_fd, [WORKER_IN_SANDBOX])
    argv += ["--ro-bind", str(Path(__file__).with_name("worker.py")), WORKER_IN_SANDBOX,
             "--bind", str(workspace), "/workspace", "--chdir", "/workspace",
             os.path.realpath(sys.executable), "-I", "-S", "-B", WORKER_IN_SANDBOX, config_json]
    return argv


def template_command(bwrap: str, workspaces: Path, as_root: bool, config_json: str, info_fd: int | None = None) -> list[str]:
    """argv for bwrap running the template (template.py): `workspaces` at /workspaces, / and /dev read-only.

    The template keeps what it needs to shut each child in (new namespaces and mounts, the change to
    NOBODY, chown of the child's workspace, killing a child's group); the child gives all of it up
    before the code runs. Without root, these capabilities hold only inside bwrap's user namespace.
    """
    keep = ["CAP_SYS_ADMIN", "CAP_SETPCAP"] + (["CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL"] if as_root else [])
    caps = ["--cap-drop", "ALL"] + [arg for cap in keep for arg in ("--cap-add", cap)]
    files = [f"{SANDBOX_DIR}/{name}" for name in TEMPLATE_FILES]
    argv = _isolation(bwrap, as_root, caps, info_fd, files)
    for name, dest in zip(TEMPLATE_FILES, files):
        argv += ["--ro-bind", str(Path(__file__).with_name(name)), dest]
    argv += ["--perms", "0755", "--dir", "/workspace", "--bind", str(workspaces), "/workspaces",
             "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/",
             os.path.realpath(sys.executable), "-I", "-S", "-B", files[TEMPLATE_FILES.index("template.py")], config_json]
    return argv


def _isolation(bwrap: str, as_root: bool, caps: list[str], info_fd: int | None, files: list[str]) -> list[str]:
    """What every sandbox process gets: namespaces, a clean environment, the read-only runtime."""
    argv = [bwrap]
    if as_root:
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", *caps]
    else:
        argv += ["--unshare-all", *caps]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    argv += ["--die-with-parent", "--new-session", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/workspace",
             "--setenv", "TMPDIR", "/workspace", "--setenv", "LANG", "C.UTF-8",
             "--proc", "/proc", "--dev", "/dev"]
    binds = _binds()
    for folder in _ancestors([dest for _, dest in binds] + ["/workspace", *files]):
        argv += ["--perms", "0755", "--dir", folder]  # bwrap would make them 0700: unreadable to NOBODY
    for kind, dest in binds:
        argv += ["--symlink", os.readlink(dest), dest] if kind == "symlink" else ["--ro-bind", dest, dest]
    return argv


def _binds() -> list[tuple[str, str]]:
    """("bind" | "symlink", path), outer folders first, none inside another."""
    out: list[tuple[str, str]] = []
    kept: list[str] = []
    for path in sorted(set(SYSTEM_LIBRARIES) | set(runtime_paths()), key=lambda p: (p.count("/"), p)):
        if not os.path.lexists(path) or any(_inside(path, k) for k in kept):
            continue
        if os.path.islink(path) and os.path.dirname(path) == "/":
            out.append(("symlink", path))  # /lib -> usr/lib on merged-/usr systems
            continue
        out.append(("bind", os.path.realpath(path)))
        kept.append(os.path.realpath(path))
    return out


def _ancestors(paths: list[str]) -> list[str]:
    found = set()
    for p in paths:
        parent = os.path.dirname(p)
        while parent not in ("/", ""):
            found.add(parent)
            parent = os.path.dirname(parent)
    return sorted(found, key=lambda p: (p.count("/"), p))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def kill_sandbox(proc: subprocess.Popen, init_pid: int | None) -> None:
    """Kill a bubblewrap sandbox and everything in it. Killing the namespace's init first lets bwrap reap it,
    so no orphan is left for the host's init; then bwrap's own process group."""
    if init_pid and proc.poll() is None:
        try:
            os.kill(init_pid, signal.SIGKILL)
            proc.wait(timeout=1.0)
        except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
