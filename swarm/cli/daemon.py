"""`swarm daemon`, `swarm daemon --detach`, `swarm daemon stop`, `swarm daemon status`: thin commands over swarm.daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from swarm.cli.common import configuration, use_demo_model
from swarm.config import DEMO_SCRIPT
from swarm.errors import SwarmError


def register(sub) -> None:
    d = sub.add_parser(
        "daemon", help="run goals dropped into a watched folder (foreground, or --detach); `daemon stop|status`",
        description="swarm daemon: goal files dropped into FOLDER/inbox/ become runs; they move to processing/, "
                    "then done/ or failed/ with NAME.result.md or NAME.error.txt. `swarm daemon stop` stops a running "
                    "daemon cleanly (SIGTERM), `swarm daemon status` says whether one runs and what the folder holds.")
    d.add_argument("action", nargs="?", choices=("stop", "status"), help="stop or status (none: run the daemon)")
    d.add_argument("--detach", action="store_true", help="run in the background; logs go to [daemon].log_file or FOLDER/daemon.log")
    d.add_argument("--folder", help="the watched folder (default: [daemon].folder)")
    d.add_argument("--no-folder", action="store_true",
                   help="watch no folder: only drive the goals every daemon on the store shares (`swarm submit --queue`, "
                        "and runs other daemons left when killed)")
    d.add_argument("--host-id", help="this worker's name in run leases (default: HOST:PID); give each daemon its own")
    d.add_argument("--log-file", help="append the JSON-lines log to this file (default: [daemon].log_file, else stderr)")
    d.add_argument("--timeout", type=float, help="stop: seconds to wait for the daemon to exit (default: shutdown_timeout_s + 30)")
    d.add_argument("--json", action="store_true", help="status: print JSON")
    d.set_defaults(func=cmd_daemon)


class DaemonNotRunning(SwarmError):
    pass


def _paths(args, cfg) -> tuple[Path, Path | None]:
    """The watched folder and the pidfile that keeps a second daemon off it (none with --no-folder: any number of
    daemons may share a store, one a folder)."""
    folder = Path(args.folder).resolve() if args.folder else cfg.path(cfg.daemon.folder).resolve()
    if getattr(args, "no_folder", False):
        return folder, cfg.path(cfg.daemon.pidfile).resolve() if cfg.daemon.pidfile else None
    pidfile = cfg.path(cfg.daemon.pidfile).resolve() if cfg.daemon.pidfile else folder / "daemon.pid"
    return folder, pidfile


def _log_path(args, cfg, folder: Path, detached: bool) -> Path | None:
    if args.log_file:
        return Path(args.log_file).resolve()
    if cfg.daemon.log_file:
        return cfg.path(cfg.daemon.log_file).resolve()
    return folder / "daemon.log" if detached else None


def cmd_daemon(args) -> int:
    cfg = configuration(args)
    folder, pidfile = _paths(args, cfg)
    if args.no_folder and args.folder:
        raise SwarmError("--folder and --no-folder contradict each other; give one of them")
    if args.action in ("stop", "status") and pidfile is None:
        raise SwarmError(f"`swarm daemon {args.action}` finds a daemon by its folder's pidfile; a --no-folder daemon has "
                         "none: stop it with SIGTERM (kill PID), or give it a [daemon].pidfile")
    if args.action == "stop":
        return _stop(pidfile, args.timeout if args.timeout is not None else cfg.daemon.shutdown_timeout_s + 30)
    if args.action == "status":
        return _status(cfg, folder, pidfile, args.json)
    if args.host_id is not None:
        from swarm.leases import set_worker_name

        set_worker_name(args.host_id)
    if args.detach:
        if args.no_folder and not (args.log_file or cfg.daemon.log_file):
            raise SwarmError("--detach --no-folder has no folder to keep its log in; give --log-file FILE")
        return _detach(args, folder, pidfile, _log_path(args, cfg, folder, detached=True))
    return _foreground(cfg, None if args.no_folder else folder, pidfile, _log_path(args, cfg, folder, detached=False))


def _foreground(cfg, folder: Path | None, pidfile: Path | None, log_path: Path | None) -> int:
    import asyncio  # here, not at the top: `swarm --help` and `swarm runs` need not load it

    from swarm.daemon.eventlog import EventLog, stderr_is
    from swarm.daemon.pidfile import PidFile
    from swarm.daemon.service import Daemon
    from swarm.engine import Engine

    early: list[str] = []  # a stop asked for while the engine starts is honoured once the loop runs
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: early.append(signal.Signals(signum).name))
    log = EventLog.to_file(log_path) if log_path else EventLog()
    # From here on every line this process writes to its log is JSON: the library's warnings, any other
    # library's logging (watchdog's), uncaught exceptions, and stray stderr text when stderr is the log.
    log.take_over(stderr_is_log=log_path is None or stderr_is(log_path))
    try:
        held = PidFile(pidfile).acquire() if pidfile is not None else None
    except SwarmError as exc:
        log.emit("daemon_error", level="error", error=str(exc))
        raise
    try:
        if use_demo_model(cfg):
            log.emit("demo_model", level="warning", model=str(DEMO_SCRIPT),
                     hint="no model endpoint is configured; set [model].base_url in swarm.toml or OPENAI_BASE_URL")
        engine = Engine(cfg)
        daemon = Daemon(engine, folder, log, watch=folder is not None)
        try:
            asyncio.run(_serve_until_signal(daemon, early))
        finally:
            engine.close()
    except SwarmError as exc:
        log.emit("daemon_error", level="error", error=str(exc))
        raise
    except Exception as exc:  # a bug: said as one JSON line (with its traceback), never as loose text
        import traceback

        log.emit("daemon_error", level="error", error=f"{type(exc).__name__}: {exc}",
                 traceback="".join(traceback.format_exception(exc)).rstrip())
        raise SwarmError(f"the daemon stopped on an internal error ({type(exc).__name__}: {exc}); every goal it had "
                         "is kept in processing/ and resumed by the next `swarm daemon`") from None
    finally:
        if held is not None:
            held.release()
    if daemon.forced:
        # Everything is in the store; threads still inside a model call (or the warm-up) are not waited for
        # (their HTTP client would hold the interpreter's exit until the reply came).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


async def _serve_until_signal(daemon, early: list[str]) -> None:
    """SIGTERM/SIGINT: stop cleanly (running nodes may finish, up to shutdown_timeout_s); a second one interrupts them."""
    import asyncio

    loop = asyncio.get_running_loop()
    signals = []

    def on_signal(name: str) -> None:
        signals.append(name)
        if len(signals) == 1:
            daemon.stop(name)
        else:
            daemon.stop_now()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    for name in early:  # signals that came while the engine started
        on_signal(name)
    await daemon.serve()


def _detach(args, folder: Path, pidfile: Path | None, log_path: Path) -> int:
    from swarm.daemon.pidfile import DaemonRunning, running_pid

    if pidfile is not None and (pid := running_pid(pidfile)) is not None:
        raise DaemonRunning(pidfile, pid)
    command = [sys.executable, "-m", "swarm.cli"]
    if args.config:
        command += ["--config", str(Path(args.config).resolve())]
    if args.store:
        command += ["--store", str(Path(args.store).resolve())]
    command += ["daemon", *(["--no-folder"] if args.no_folder else ["--folder", str(folder)]), "--log-file", str(log_path)]
    if args.host_id is not None:
        command += ["--host-id", args.host_id]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as out:  # anything said before the log is open lands there too
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                 close_fds=True, cwd=os.getcwd())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pidfile is None and _started(log_path, child.pid):
            print(f"swarm: daemon started (pid {child.pid}), watching no folder; log: {log_path}; stop it with "
                  f"`kill {child.pid}`")
            return 0
        if pidfile is not None and running_pid(pidfile) == child.pid:
            print(f"swarm: daemon started (pid {child.pid}), watching {folder / 'inbox'}; log: {log_path}; "
                  "stop it with `swarm daemon stop`")
            return 0
        if child.poll() is not None:
            raise SwarmError(f"the daemon exited at start (code {child.returncode}); see the end of {log_path}")
        time.sleep(0.05)
    raise SwarmError(f"the daemon (pid {child.pid}) did not start within 30 s; see {log_path}")


def _started(log_path: Path, pid: int) -> bool:
    """The daemon of this pid logged its start."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "daemon_start" and event.get("pid") == pid:
            return True
    return False


def _stop(pidfile: Path, timeout: float) -> int:
    from swarm.daemon.pidfile import running_pid

    pid = running_pid(pidfile)
    if pid is None or pid <= 0:
        raise DaemonNotRunning(f"no daemon is running (no live pidfile at {pidfile}); start one with `swarm daemon`")
    os.kill(pid, signal.SIGTERM)
    print(f"swarm: sent SIGTERM to the daemon (pid {pid}); waiting for running nodes to finish", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(pidfile) is None:
            print("swarm: daemon stopped; runs not finished stay in processing/ and resume on the next start")
            return 0
        time.sleep(0.1)
    raise SwarmError(f"the daemon (pid {pid}) did not exit within {timeout:g} s; `kill -9 {pid}` is safe: "
                     "the next `swarm daemon` resumes every run it had")


def _status(cfg, folder: Path, pidfile: Path, as_json: bool) -> int:
    from swarm.daemon import ledger
    from swarm.daemon.folder import GoalFolder
    from swarm.daemon.pidfile import running_pid
    from swarm.store import is_postgres, location, open_store

    pid = running_pid(pidfile)
    counts = GoalFolder(folder).counts()
    where = location(cfg)
    active = []
    if is_postgres(where) or Path(where).exists():
        store = open_store(cfg)
        try:
            for row in ledger.unfinished(store, str(folder)):
                run = store.run(row["run_id"]) if row["run_id"] and store.has_run(row["run_id"]) else None
                active.append({"file": row["original"], "run": row["run_id"], "status": run["status"] if run else None})
        finally:
            store.close()
    doc = {"running": pid is not None, "pid": pid, "pidfile": str(pidfile), "folder": str(folder), "files": counts,
           "in_processing": active}
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"daemon: {'running (pid %s)' % pid if pid is not None else 'not running'}; pidfile {pidfile}")
        print(f"folder: {folder}  " + "  ".join(f"{k}: {v}" for k, v in counts.items()))
        for a in active:
            print(f"  {a['file']:<30} run {a['run'] or '-'}  {a['status'] or 'not started'}")
    return 0 if pid is not None else 3
