"""The `swarm` command line: its parser and `main`, which turns every error into one `swarm: error:` line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path

from swarm.budgets import KEYS as BUDGET_KEYS
from swarm.budgets import wanted
from swarm.cli import approvals, daemon, memory, model, obs, submit, timetravel, ui
from swarm.cli.common import (announce_model, budget_option, configuration, drive, model_line, one_line, open_store,
                              open_swarm, result_text, run_json, store_failure, store_path, use_demo_model,
                              warnings_to_stderr)
from swarm.config import Config
from swarm.errors import SwarmError, UnknownNode, UnknownScript
from swarm.render import counters, event_lines, print_runs, printable, tree_lines
from swarm.snapshot import export_snapshot, state_at
from swarm.statuses import RUN_STATUSES, RunStatus
from swarm.store import loads


RUN_HELP = "a run id, or a unique prefix of one (see `swarm runs`)"
WAIT_HELP = ("when only people can let the run go on, keep waiting for `swarm approve`/`swarm reject` "
             "(and `swarm resume` after `swarm pause`) from any terminal instead of pausing the run")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    warnings = None
    try:
        warnings = warnings_to_stderr(args.log_format or os.environ.get("SWARM_LOG_FORMAT") or "text",
                                       args.log_level or os.environ.get("SWARM_LOG_LEVEL") or "warning")
        return args.func(args) or 0
    except SwarmError as exc:
        print(f"swarm: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except sqlite3.Error as exc:  # met while reading or writing the store, past the checks at its open
        failure = store_failure(args, exc)
        print(f"swarm: error: {one_line(failure)}", file=sys.stderr)
        return failure.exit_code
    except BrokenPipeError:  # `swarm history RUN | head`: the reader has all it wants
        sys.stdout = open(os.devnull, "w")  # so the exit does not fail flushing the closed pipe
        return 1
    except KeyboardInterrupt:
        print("swarm: interrupted; the run is kept in the store: continue it with `swarm resume RUN`", file=sys.stderr)
        return 130
    finally:
        if warnings is not None:
            logging.getLogger("swarm").removeHandler(warnings)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one `swarm: error:` line saying where to read more (as every other error)."""

    def error(self, message: str):
        self.exit(2, f"swarm: error: {self.prog}: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="swarm", description="A self-extending agent runtime.")
    p.add_argument("--config", help="path of swarm.toml (default: $SWARM_CONFIG, then ./swarm.toml)")
    p.add_argument("--store", help="path of the SQLite store (overrides [store].path)")
    p.add_argument("--log-format", choices=("text", "json"),
                   help="how swarm's log lines on stderr look: `swarm: ...` text, or one JSON object a line "
                        "(default: $SWARM_LOG_FORMAT, else text)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   help="the least level logged to stderr (default: $SWARM_LOG_LEVEL, else warning)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a goal in the foreground, showing the live tree")
    run.add_argument("goal", help="what the swarm should do")
    run.add_argument("--script", default=None, help="node script of the root node (default: [run].root_script)")
    for key in BUDGET_KEYS:
        run.add_argument("--" + key.replace("_", "-"), type=budget_option(key), dest=key,
                         help=f"budget: {key} ({wanted(key)})")
    run.add_argument("--answer", action="append", default=[], metavar="NODE=TEXT", help="answer a node's question in advance ('*' for any)")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--wait", action="store_true", help=WAIT_HELP)
    run.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="list runs")
    runs.add_argument("--status", choices=RUN_STATUSES, metavar="STATUS",
                      help=f"only runs with this status: {', '.join(RUN_STATUSES)}")
    runs.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    runs.add_argument("--json", action="store_true", help="print the runs as JSON")
    runs.set_defaults(func=cmd_runs)

    show = sub.add_parser("show", help="a run's tree with each node's output")
    show.add_argument("run", help=RUN_HELP)
    show.add_argument("--json", action="store_true", help="print the run, its result and every node's state as JSON")
    show.set_defaults(func=cmd_show)

    hist = sub.add_parser("history", help="a run's events, oldest first")
    hist.add_argument("run", help=RUN_HELP)
    hist.add_argument("--node", help="only events of this node (an id such as 1.2, as `swarm show RUN` lists them)")
    hist.add_argument("--json", action="store_true", help="print the events as JSON, with each node state decoded")
    hist.set_defaults(func=cmd_history)

    snap = sub.add_parser("snapshot", help="export a run's snapshot as JSON")
    snap.add_argument("run", help=RUN_HELP)
    snap.add_argument("--out", help="folder (default: [store].snapshots_dir)")
    snap.set_defaults(func=cmd_snapshot)

    res = sub.add_parser("resume", help="continue a run (stopped, paused, waiting for a person) from the store, or from an exported snapshot file")
    res.add_argument("run", metavar="RUN|FILE", help="a run id (or a unique prefix of one), or a snapshot file from `swarm snapshot`")
    res.add_argument("--answer", action="append", default=[], metavar="NODE=TEXT",
                     help="answer a node's question ('*' for any); repeatable")
    res.add_argument("--json", action="store_true", help="print the result as JSON")
    res.add_argument("--wait", action="store_true", help=WAIT_HELP)
    res.set_defaults(func=cmd_resume)

    cancel = sub.add_parser("cancel", help="cancel a run (or one node of a run running in this process)")
    cancel.add_argument("run", help=RUN_HELP)
    cancel.add_argument("--node", help="cancel only this node and everything under it")
    cancel.set_defaults(func=cmd_cancel)

    sandbox = sub.add_parser("sandbox", help="run code through the configured sandbox")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    sexec = sandbox_sub.add_parser("exec", help="run a Python file in the sandbox and print its result")
    sexec.add_argument("file", metavar="FILE.py", help="the Python file; the value of its last expression is the result")
    sexec.add_argument("--json", action="store_true", help='print {"ok", "output", "logs", "error"} as JSON')
    sexec.add_argument("--allow-import", nargs="+", action="extend", default=[], metavar="MODULE",
                       help="widen the import allowlist for this call (the process layer still holds)")
    sexec.set_defaults(func=cmd_sandbox_exec)

    scripts = sub.add_parser("scripts", help="list, show, test, disable, enable or roll back node scripts and tools")
    scripts_sub = scripts.add_subparsers(dest="scripts_command", metavar="COMMAND", required=True)
    slist = scripts_sub.add_parser("list", help="every script and tool: built-in, plugin or generated")
    slist.add_argument("--json", action="store_true", help="print the list as JSON")
    slist.set_defaults(func=cmd_scripts_list)
    for name, helptext in (("show", "a generated script's metadata and code"),
                           ("test", "re-run a generated script's stored tests in the sandbox"),
                           ("disable", "stop offering and registering a generated script"),
                           ("enable", "offer and register a disabled generated script again"),
                           ("rollback", "make the previously active version active again")):
        cmd = scripts_sub.add_parser(name, help=helptext)
        cmd.add_argument("name", help="the script's or tool's name, as `swarm scripts list` shows it")
        if name in ("show", "test"):
            cmd.add_argument("--version", type=int, help="this version instead of the active one")
        cmd.set_defaults(func=cmd_scripts)

    route = sub.add_parser("route", help="retrieve the scripts that fit a sub-goal; `route eval` measures retrieval",
                           description="swarm route TEXT: the top-k scripts of the live catalogue for TEXT. "
                                       "swarm route eval --catalogue FILE --queries FILE: recall@1/5/10 and latency "
                                       "of retrieval over a catalogue file (a throw-away index). "
                                       "swarm route history [--script NAME]: the sub-goals routing learned from "
                                       "(positive) or recorded as refused (negative); "
                                       "swarm route forget (--script NAME | --all) drops them. "
                                       "swarm route decisions [RUN_ID]: the logged route decisions (goal, candidates "
                                       "with scores, pick, outcome). swarm route confirm|reject RUN_ID NODE_ID "
                                       "[--script NAME]: a person's verdict on one, an example (or a negative) at once.")
    route.add_argument("text", nargs="+", help="the sub-goal (quote it), or eval, history, forget, decisions, confirm, reject")
    route.add_argument("--top-k", type=int, help="candidates to return (default [retrieval].top_k)")
    route.add_argument("--catalogue", help="eval: JSON lines {\"name\", \"description\"}")
    route.add_argument("--queries", help="eval: JSON lines {\"query\", \"expected\"}")
    route.add_argument("--pick", action="store_true",
                       help="eval: also let the configured model choose among the top-k, as the route node does, "
                            "and report the accuracy of its pick (one model call per query)")
    route.add_argument("--sample", type=int, metavar="N", help="eval --pick: N queries taken evenly across the file")
    route.add_argument("--history", metavar="FILE",
                       help="eval: JSON lines {\"query\", \"expected\"} taken as confirmed routing history "
                            "(examples of their expected script) before evaluating; no query may also be history")
    route.add_argument("--script", metavar="NAME", help="history/forget: only this script's examples; "
                                                        "confirm/reject: the script it was for (default: the pick)")
    route.add_argument("--all", action="store_true", help="forget: drop every recorded route example")
    route.add_argument("--json", action="store_true", help="print JSON")
    route.set_defaults(func=cmd_route)

    # Commands that live in their own modules.
    memory.register(sub)
    timetravel.register(sub)
    obs.register(sub)
    approvals.register(sub)
    daemon.register(sub)
    ui.register(sub)
    submit.register(sub)
    model.register(sub)
    return p


# --- set-up shared by the commands ---------------------------------------------------


# --- commands ---------------------------------------------------------------------------


def cmd_run(args) -> int:
    if not args.goal.strip():
        raise SwarmError("the goal is empty; say what the swarm should do, e.g. swarm run \"summarise README.md\"")
    cfg = configuration(args)
    demo = use_demo_model(cfg)  # before the engine: the run records the model it uses
    swarm = open_swarm(cfg, args.answer, interactive=True, wait=args.wait)
    budgets = {k: v for k in BUDGET_KEYS if (v := getattr(args, k)) is not None}
    run_id = swarm.submit(args.goal, script=args.script, **budgets)
    if not args.json:
        announce_model(swarm, demo)
        print(f"swarm: run {run_id}", flush=True)
    return drive(swarm, run_id, args.json)


def cmd_resume(args) -> int:
    cfg = configuration(args)
    swarm = open_swarm(cfg, args.answer, interactive=True, wait=args.wait)
    run_id = swarm.resume(args.run, run=False)
    if _driven_elsewhere(swarm, run_id):
        return 0
    recorded = swarm.store.run(run_id).get("model") or ""
    if not cfg.endpoint_configured and recorded.startswith("scripted:"):
        cfg.model.model = recorded  # a scripted run goes on with its script; a real one never falls back to it
    if not args.json:
        announce_model(swarm, demo=False)
        print(f"swarm: resuming run {run_id}", flush=True)
    return drive(swarm, run_id, args.json)


def _driven_elsewhere(swarm, run_id: str) -> bool:
    """`swarm resume` lifts a pause; True when a live process drives the run, which then goes on by itself."""
    from swarm.approvals import driven, resume_paused

    run = swarm.store.run(run_id)
    if run["status"] == RunStatus.PAUSED or run.get("pause_requested"):
        resume_paused(swarm.store, run_id)
        message = f"run {run_id} unpaused; the process driving it (pid {run['owner_pid']}) goes on within a second"
    else:
        message = (f"run {run_id} is being driven by process {run['owner_pid']}; nothing to resume here "
                   f"(its requests: `swarm approvals --run {run_id}`)")
    if not driven(run):
        return False  # nobody drives it: this process does
    print(message)
    swarm.close()
    return True


def cmd_runs(args) -> int:
    from swarm.store import Store

    cfg = configuration(args)
    path = cfg.path(cfg.store.path)
    rows = Store(path, cfg.store.synchronous, check="if_small").runs(args.status, args.limit) if path.exists() else []
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no runs yet; start one with `swarm run \"GOAL\"`")
    else:
        print_runs(rows)
    return 0


def cmd_show(args) -> int:
    _, store = open_store(args)
    run = store.run(args.run)
    nodes = state_at(store, run["id"])
    if args.json:
        print(json.dumps(run_json(store, run, nodes), ensure_ascii=False, indent=2))
        return 0
    print(f"run {run['id']}: {run['status']}" + (f" ({one_line(run['stop_reason'])})" if run.get("stop_reason") else ""))
    print(f"goal: {printable(run['goal'])}")
    print(model_line(store, run))
    print(counters(nodes, run))
    print("\n".join(tree_lines(nodes, outputs=True, width=200)))
    if run["status"] == RunStatus.DONE:
        print("\nresult:\n" + result_text(loads(run["result"])))
    return 0


def cmd_history(args) -> int:
    _, store = open_store(args)
    run = store.run(args.run)
    if args.node is not None and not store.has_node(run["id"], args.node):
        raise UnknownNode(run["id"], args.node)
    if args.json:
        events = store.events(run["id"], node_id=args.node)
        print(json.dumps([{**e, "state": loads(e["state"]), "detail": loads(e["detail"])} for e in events], ensure_ascii=False, indent=2))
        return 0
    from swarm.store import collector_paused

    listed = False
    with collector_paused():  # the states kept between pages are many and in no cycle: nothing for it to free
        for page in store.event_pages(run["id"], node_id=args.node):  # a big run's history printed as it is read
            print("\n".join(event_lines(page)))
            listed = True
    if not listed:
        print("")
    return 0


def cmd_snapshot(args) -> int:
    cfg, store = open_store(args)
    path = export_snapshot(store, args.run, Path(args.out) if args.out else cfg.path(cfg.store.snapshots_dir))
    print(path)
    return 0


def cmd_cancel(args) -> int:
    cfg = configuration(args)
    store_path(cfg)
    with open_swarm(cfg) as swarm:
        outcome = swarm.cancel(args.run, args.node)
        run_id = swarm.result(args.run).run_id
    what = f"node {args.node} of run {run_id}" if args.node else f"run {run_id}"
    print({"requested": f"cancel requested; the process running {run_id} acts on it within a second",
           "cancelled": f"{what} cancelled",
           "pending": f"cancel of {what} recorded; it takes effect when the run is resumed"}.get(
        outcome, f"run {run_id} already ended ({outcome})"))
    return 0


def cmd_sandbox_exec(args) -> int:
    from swarm.sandbox import Sandbox

    cfg = configuration(args)
    try:
        code = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SwarmError(f"cannot read {args.file} ({exc.strerror if isinstance(exc, OSError) else exc}); pass a Python file")
    with Sandbox(cfg.sandbox, cfg.python.authorized_imports, pool_size=0) as sandbox:
        result = sandbox.run(code, allow_imports=args.allow_import)
    if args.json:
        print(json.dumps({k: getattr(result, k) for k in ("ok", "output", "logs", "error")}, ensure_ascii=False))
    else:
        if result.logs:
            print(result.logs, end="" if result.logs.endswith("\n") else "\n")
        if result.ok:
            print(result_text(result.output) if result.output is not None else "", end="\n" if result.output is not None else "")
        else:
            print(f"swarm: error: {one_line(result.error)}", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_scripts_list(args) -> int:
    from swarm.toolsmith import Toolsmith

    smith = Toolsmith.standalone(configuration(args))
    rows = smith.listing()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'NAME':<20} {'KIND':<6} {'ORIGIN':<9} {'VERSION':<12}{'STATE':<9} DESCRIPTION")
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        print(f"{r['name']:<20} {r['kind']:<6} {r['origin']:<9} {r['version'] or '-':<12}{state:<9} "
              f"{printable(r['description'])[:90]}")
    print("see one with `swarm scripts show NAME`")
    return 0


def _show_registered(described: dict) -> None:
    """`swarm scripts show` of a built-in or plugin script or tool: where its code is, what it does, what it takes."""
    d = described
    print(f"{d['name']}: {d['origin']} {d['kind']}" + (f", version {d['version']}" if d["version"] else ""))
    print(f"source: {d['source'] or '(no source file)'}")
    print(f"description: {printable(d['description'])}")
    if d["kind"] == "tool":
        print(f"call: {d['signature']}")
        return
    print("input schema:\n" + json.dumps(d["input_schema"], indent=2, ensure_ascii=False))
    if d["examples"]:
        print("examples:\n" + "\n".join(json.dumps(e, ensure_ascii=False) for e in d["examples"]))


def cmd_scripts(args) -> int:
    from swarm.toolsmith import Toolsmith

    smith = Toolsmith.standalone(configuration(args))
    library, name, command = smith.library, args.name, args.scripts_command
    if name not in library.names():
        described = smith.describe(name)
        if described is None:
            raise UnknownScript(name, [r["name"] for r in smith.listing()])
        if command == "show" and args.version is None:
            _show_registered(described)
            return 0
        what = "--version" if command == "show" else f"`swarm scripts {command}`"
        raise SwarmError(f"{name} is a {described['origin']} {described['kind']} (its code is {described['source']}); "
                         f"{what} works on generated scripts and tools only (origin `generated` in `swarm scripts list`)")
    if command == "show":
        g = library.get(name, args.version)
        print(printable(json.dumps({**g.meta, "state": library.state(name), "versions": library.versions(name)},
                                   indent=2, ensure_ascii=False)))
        code = printable(g.code)  # written by the model
        print(f"\n# {g.path / 'code.py'}\n{code}", end="" if code.endswith("\n") else "\n")
    elif command == "test":
        g = library.get(name, args.version)
        try:
            failures = smith.test(name, args.version, smith.catalogue.tools)
        finally:
            smith.close()
        for failure in failures:
            print(f"FAIL {failure}")
        print(f"{name} v{g.version}: " + (f"{len(failures)} problem(s)" if failures else f"{len(g.meta['tests'])} test(s) passed"))
        return 1 if failures else 0
    elif command in ("disable", "enable"):
        smith.disable(name, command == "disable")
        forgotten = _forget_routes(configuration(args), name) if command == "disable" else 0  # enabled again, it starts afresh
        print(f"{name} {command}d" + ("; route will not offer it and it is not registered" if command == "disable" else "")
              + (f"; forgot {forgotten} route example(s) of it" if forgotten else ""))
    elif command == "rollback":
        version = smith.rollback(name)
        forgotten = _forget_routes(configuration(args), name)  # they confirmed the version rolled back from
        print(f"{name}: v{version} is active again" + (f"; forgot {forgotten} route example(s) of it" if forgotten else ""))
    return 0


def _forget_routes(cfg: Config, name: str) -> int:
    """Drop the routing history of a script (a rolled-back one: its examples were of another version)."""
    from swarm.store import Store

    store = Store(cfg.path(cfg.store.path), cfg.store.synchronous)
    try:
        return store.forget_route_examples(script=name)
    finally:
        store.close()


def _route_pick(cfg: Config, args, top_k: int, options: dict) -> int:
    """`swarm route eval --pick`: retrieval's top-k, then the model's choice, over (a sample of) the queries."""
    from swarm.model_endpoint import ModelEndpoint
    from swarm.retrieval import HybridIndex, make_embedder, read_catalogue
    from swarm.retrieval.evaluate import read_jsonl
    from swarm.retrieval.pick import evaluate_pick, sample, stderr_progress

    if args.sample is not None and args.sample < 1:
        raise SwarmError(f"--sample must be 1 or more (got {args.sample})")
    queries = sample(read_jsonl(args.queries, ("query", "expected"), "query"), args.sample)
    index = HybridIndex(read_catalogue(args.catalogue), make_embedder(cfg.retrieval), **options)
    endpoint = ModelEndpoint(cfg)
    try:
        print(f"swarm: model {endpoint.describe()}", file=sys.stderr, flush=True)
        result = evaluate_pick(index, queries, endpoint.client(), top_k, stderr_progress)
    finally:
        endpoint.close()
    print(json.dumps(result) if args.json else "\n".join(f"{k:<18} {v}" for k, v in result.items()))
    return 0


def _route_history(cfg, args) -> int:
    """`swarm route history` lists the recorded route examples; `swarm route forget` drops them."""
    from swarm.store import Store

    if args.text == ["forget"] and not args.script and not args.all:
        raise SwarmError("swarm route forget needs --script NAME (that script's examples) or --all (every example)")
    if args.text == ["forget"] and args.script and args.all:
        raise SwarmError("swarm route forget takes --script NAME or --all, not both")
    store = Store(cfg.path(cfg.store.path), cfg.store.synchronous)
    try:
        if args.text == ["forget"]:
            n = store.forget_route_examples(script=args.script)
            print(f"forgot {n} route example(s)" + (f" of {args.script}" if args.script else ""))
            return 0
        rows = store.route_examples(args.script)
    finally:
        store.close()
    if args.json:
        print(json.dumps([{k: r[k] for k in ("script", "text", "kind", "run_id", "node_id", "at")} for r in rows]))
    elif not rows:
        print("no route examples recorded" + (f" for {args.script}" if args.script else "")
              + "; a sub-goal becomes one when its routed script ends well in a run that ends done")
    else:
        for r in rows:
            print(f"{r['kind']:<8}  {r['script']:<24}  {r['text'][:80]}  ({r['run_id'] or '-'} {r['node_id'] or ''})")
    return 0


def _route_decisions(cfg, args) -> int:
    """`swarm route decisions [RUN_ID]`: the decision log, oldest first."""
    from swarm.store import Store

    store = Store(cfg.path(cfg.store.path), cfg.store.synchronous)
    try:
        run_id = store.run(args.text[1])["id"] if len(args.text) == 2 else None
        rows = store.route_decisions(run_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps([{k: r[k] for k in ("run_id", "node_id", "goal", "candidates", "pick", "outcome", "outcome_by", "at")}
                          for r in rows]))
    elif not rows:
        print("no route decisions logged" + (f" in run {run_id}" if run_id else "") + "; a route node logs each one")
    else:
        for r in rows:
            offered = ", ".join(f"{c['name']} {c['score']}" for c in r["candidates"][:5])
            verdict = f"{r['outcome']} ({r['outcome_by']})" if r["outcome"] else "open"
            print(f"{r['run_id']} {r['node_id']:<8} {r['goal'][:60]!r} -> {r['pick'] or '-'}  [{verdict}]  offered: {offered}")
    return 0


def _route_verdict(cfg, args) -> int:
    """`swarm route confirm|reject RUN_ID NODE_ID [--script NAME]`: a person's verdict on one route decision."""
    from swarm.routing_history import judge
    from swarm.store import Store

    command = args.text[0]
    if len(args.text) != 3:
        raise SwarmError(f"swarm route {command} takes RUN_ID NODE_ID (got {' '.join(args.text[1:])!r}); "
                         "`swarm route decisions` lists them. To route a text that starts with this word, quote it")
    store = Store(cfg.path(cfg.store.path), cfg.store.synchronous)
    try:
        verdict = "positive" if command == "confirm" else "negative"
        script, goal = judge(store, args.text[1], args.text[2], verdict, args.script)
    finally:
        store.close()
    print(f"{command}ed: {goal[:80]!r} " + ("is now an example of " if verdict == "positive" else "is a negative of ") + script)
    return 0


def cmd_route(args) -> int:
    from swarm.retrieval import make_embedder, run_eval

    cfg = configuration(args)
    settings = cfg.retrieval
    top_k = settings.top_k if args.top_k is None else args.top_k
    if top_k < 1:
        raise SwarmError(f"--top-k must be 1 or more (got {top_k})")
    options = {"fusion": settings.fusion, "bm25_weight": settings.bm25_weight}
    if args.text in (["history"], ["forget"]):
        return _route_history(cfg, args)
    if args.text[0] == "decisions" and len(args.text) <= 2:
        return _route_decisions(cfg, args)
    if args.text[0] in ("confirm", "reject") and len(args.text) > 1:
        return _route_verdict(cfg, args)
    if args.text == ["eval"]:
        if not args.catalogue or not args.queries:
            raise SwarmError("swarm route eval needs --catalogue FILE.jsonl and --queries FILE.jsonl")
        if args.pick:
            return _route_pick(cfg, args, top_k, options)
        result = run_eval(args.catalogue, args.queries, make_embedder(settings), top_k, history=args.history,
                          examples_per_script=settings.examples_per_script, **options)
        print(json.dumps(result) if args.json else "\n".join(f"{k:<10} {v}" for k, v in result.items()))
        return 0
    from swarm.retrieval import Entry, LiveIndex
    from swarm.store import Store
    from swarm.toolsmith import Toolsmith

    rows = [r for r in Toolsmith.standalone(cfg).listing() if not r["disabled"]]
    store = Store(cfg.path(cfg.store.path), cfg.store.synchronous)
    try:  # the store caches the embeddings: the next call embeds only scripts it has not seen
        from swarm.retrieval.live import stored_history

        history = stored_history(store)  # what routing learned from use counts here too
        index = LiveIndex(make_embedder(settings), store, examples_per_script=settings.examples_per_script, **options)
        index.sync([Entry(r["name"], r["description"], history=history.get(r["name"], [])) for r in rows])
        hits = index.search(" ".join(args.text), top_k)
    finally:
        store.close()
    if args.json:
        print(json.dumps([{"name": h.name, "score": round(h.score, 4)} for h in hits]))
    else:
        for h in hits:
            print(f"{h.score:7.4f}  {h.name}")
    return 0

