"""What every command of the CLI shares: the configuration and the store it names, the `swarm.Swarm` that
runs goals, driving a run in the foreground and printing how it ended. The command modules of swarm/cli/
import these public names from here, never a private name from one another, so the command line is built
one way: parser -> command modules -> common."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from swarm.budgets import parse_budget
from swarm.config import DEMO_SCRIPT, Config, load_config
from swarm.errors import StoreError, SwarmError
from swarm.render import counters, printable
from swarm.snapshot import state_at
from swarm.statuses import NodeStatus, RunStatus
from swarm.store import loads


def warnings_to_stderr(fmt: str = "text", level: str = "warning") -> logging.Handler:
    """The library's log lines (a model call being retried...) go to stderr: `swarm: ...` lines, or JSON lines."""
    from swarm.logs import to_stderr

    if fmt not in ("text", "json") or level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SwarmError(f"SWARM_LOG_FORMAT must be text or json and SWARM_LOG_LEVEL debug, info, warning or error "
                         f"(got {fmt!r} and {level!r}); fix or unset them")
    return to_stderr(fmt, getattr(logging, level.upper()))


def store_failure(args, exc: Exception) -> StoreError:
    """An error of the store's database (sqlite3's, psycopg's) that reached the command line, as the store's error
    with what to do: it names the store in use (an SQLite file, or a PostgreSQL URL without its password)."""
    from swarm.errors import StoreDamaged
    from swarm.store import damaged, is_postgres, location

    try:
        path = location(configuration(args))
    except SwarmError:
        path = args.store or "the store"
    if is_postgres(path):
        from swarm.adapters.postgres.runs import shown

        return StoreError(f"the PostgreSQL store {shown(str(path))} could not be read or written ({exc}); check that "
                          "its server runs and its user may read and write the database, then run the command again")
    if damaged(exc):
        return StoreDamaged(path, str(exc))
    return StoreError(f"the store {path} could not be read or written ({exc}); check the disk's free space and the "
                      "file's permissions, then run the command again")


def configuration(args) -> Config:
    cfg = load_config(args.config)
    if args.store:  # a path, or a store URL (sqlite:///PATH, postgresql://…)
        if "://" in args.store:
            cfg.store.url = args.store
        else:
            cfg.store.path, cfg.store.url = str(Path(args.store).resolve()), ""
    return cfg


def use_demo_model(cfg: Config) -> bool:
    """With no endpoint configured, runs use the scripted demo model; True when that is the case."""
    if cfg.endpoint_configured:
        return False
    cfg.model.model = f"scripted:{DEMO_SCRIPT}"
    return True


def announce_model(swarm, demo: bool) -> None:
    if demo:
        print(
            f"swarm: no model endpoint is configured, so this uses the scripted demo model ({DEMO_SCRIPT.name}); "
            "set [model].base_url in swarm.toml or OPENAI_BASE_URL to use a real model",
            flush=True,
        )
    else:
        print(f"swarm: model {swarm.engine.endpoint.describe()}", flush=True)


def open_swarm(cfg: Config, answers: list[str] | None = None, interactive: bool = False, wait: bool = False):
    """The `swarm.Swarm` of a command that runs, changes or decides runs: questions are answered by --answer,
    else (for a command run at a terminal) asked there; `wait` keeps a run that waits for people open."""
    from swarm.api import Swarm
    from swarm.human import TerminalHuman

    prepared = parse_answers(answers or [])
    human = TerminalHuman() if not prepared and interactive and sys.stdin.isatty() else None
    return Swarm(cfg, answers=prepared, human=human, wait_for_people=wait)


def parse_answers(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        node, sep, text = item.partition("=")
        if not sep or not node:
            raise SwarmError(f"--answer {item!r} must look like NODE=TEXT (e.g. 1.2=yes, or *=yes for any node)")
        out[node] = text
    return out


def drive(swarm, run_id: str, as_json: bool) -> int:
    """Drive a recorded run here, with the live tree on a terminal, and print how it ended; the exit code."""
    import asyncio

    from swarm.live import LiveTree

    live = LiveTree() if not as_json else None
    # The live view and the signals work on the engine's loop (observers, shutdown): below what Swarm offers.
    status = asyncio.run(_drive_until_signal(swarm.engine, run_id, [live] if live else []))
    run = swarm.store.run(run_id)
    # The live view counted every node at the run's last turn: the summary needs no second load of the run.
    nodes = live.statuses() if live and live.complete else state_at(swarm.store, run_id)
    if as_json:
        print(json.dumps(run_json(swarm.store, run, nodes), ensure_ascii=False, indent=2))
    else:
        if live and live.tty:
            live.drawn = 0
        print(f"\nrun {run_id}: {status}" + (f" ({one_line(run['stop_reason'])})" if run.get("stop_reason") else ""))
        print(model_line(swarm.store, run))
        print(counters(nodes, run))
        if status == RunStatus.DONE:
            print(result_text(loads(run["result"])))
        elif status == RunStatus.UNMET:
            result = loads(run["result"])
            issues = result.get("issues") if isinstance(result, dict) else None
            print("the goal was NOT met (the run's own review did not approve its answer); the partial answer:")
            print(result_text(result))
            if issues:
                print("missing: " + "; ".join(one_line(str(i)) for i in issues))
        elif status in (RunStatus.STOPPED, RunStatus.CANCELLED) and run.get("result"):
            print(f"the run {status} before meeting its goal; what it had found (not checked as an answer):")
            print(result_text(loads(run["result"])))
        elif status == RunStatus.FAILED:
            print(f"swarm: error: run {run_id} failed: {one_line(run['error'])}", file=sys.stderr, flush=True)
        elif status == RunStatus.AWAITING_APPROVAL:
            waiting = [n["id"] for n in nodes if n["status"] == NodeStatus.AWAITING_APPROVAL]
            print(f"waiting for a person at node(s) {', '.join(waiting)}; see the requests with `swarm approvals --run {run_id}`, "
                  f"decide with `swarm approve ID` / `swarm reject ID --reason TEXT`, then `swarm resume {run_id}` "
                  f"(or answer directly: `swarm resume {run_id} --answer NODE=TEXT`)")
        elif status == RunStatus.PAUSED:
            print(f"run {run_id} is paused; continue it with `swarm resume {run_id}`")
        elif status == RunStatus.INTERRUPTED:
            print(f"swarm: run {run_id} stopped by a signal and kept; continue it with `swarm resume {run_id}`",
                  file=sys.stderr)
        print(f"see the tree with `swarm show {run_id}`")
    if status == RunStatus.INTERRUPTED:
        # Everything is in the store; scripts still running in worker threads are not waited for.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    swarm.close()
    return {RunStatus.DONE: 0, RunStatus.AWAITING_APPROVAL: 3, RunStatus.PAUSED: 3}.get(status, 1)


async def _drive_until_signal(engine, run_id: str, observers) -> str:
    """SIGINT or SIGTERM stops the run cleanly (snapshot, resumable); a second one exits at once."""
    import asyncio

    loop = asyncio.get_running_loop()

    def stop(signame: str) -> None:
        if any(l.interrupted for l in engine.loops):
            os._exit(130)
        print(f"\nswarm: {signame}: stopping; running nodes will be executed again on resume", file=sys.stderr)
        engine.shutdown(f"interrupted by {signame}")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig.name)
    return await engine.drive(run_id, observers)


def one_line(message) -> str:
    return " ".join(printable(message).split())


def result_text(result) -> str:
    """A run's (or a script's) result as terminal text: the answer when there is one, else JSON."""
    if isinstance(result, dict) and isinstance(result.get("answer"), str):
        return printable(result["answer"])
    return printable(result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, indent=2))


def model_line(store, run: dict) -> str:
    """Which model answered a run, saying plainly when it was canned replies rather than a model."""
    recorded = run.get("model") or ""
    if recorded.startswith("scripted:"):
        path = Path(recorded.removeprefix("scripted:"))
        if path == DEMO_SCRIPT:
            return (f"model: the scripted demo model ({DEMO_SCRIPT.name}): canned replies, not a real model; "
                    "set [model].base_url in swarm.toml or OPENAI_BASE_URL to use one")
        return f"model: a scripted model ({path}): canned replies, not a real model"
    answered = store.models_answered(run["id"])
    named = recorded.split(" at ")[0]
    if not answered:
        return f"model: {printable(recorded) or 'unknown'} (no model call was answered)"
    if answered == [named]:
        return f"model: {printable(recorded)}"
    return f"model: {printable(recorded)}; answered as {printable(', '.join(answered))}"


def run_json(store, run: dict, nodes: list[dict]) -> dict:
    return {**{k: v for k, v in run.items() if k not in ("result", "budgets")}, "result": loads(run["result"]),
            "budgets": loads(run["budgets"]), "models_answered": store.models_answered(run["id"]), "nodes": nodes}


def store_path(cfg: Config) -> Path | str:
    """The configured store's path (or PostgreSQL URL), which must exist: a command about recorded runs has
    nothing to work on else."""
    from swarm.store import is_postgres, location

    where = location(cfg)
    if not is_postgres(where) and not Path(where).exists():
        raise StoreError(f"no store at {where}; run a goal first, or point --store / [store].path at an existing one")
    return where


def open_store(args, check: str = "if_small"):
    """The configured store, which must exist; `check="always"` for a command that writes to it."""
    from swarm.store import open_store as open_at

    cfg = configuration(args)
    return cfg, open_at(store_path(cfg), cfg.store.synchronous, check=check)


def budget_option(key: str):
    """The argparse type of --max-*: a finite number more than 0 (whole for counts), else a usage error saying so."""

    def parse(text: str):
        try:
            return parse_budget(key, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{exc}; give e.g. --{key.replace('_', '-')} "
                                             f"{'50' if key in ('max_nodes', 'max_tokens') else '3' if key == 'max_depth' else '0.5'}")

    parse.__name__ = key  # argparse names the type in its message
    return parse
