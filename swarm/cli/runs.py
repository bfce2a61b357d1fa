"""The commands of a run's life: `swarm run`, `runs`, `show`, `history`, `snapshot`, `resume` and `cancel`.

Running, resuming and cancelling go through `swarm.Swarm`; the reading commands read the store directly:
they never create a store or start an engine.
"""

from __future__ import annotations

import json
from pathlib import Path

from swarm.budgets import KEYS as BUDGET_KEYS
from swarm.budgets import wanted
from swarm.cli.common import (announce_model, budget_option, configuration, drive, model_line, one_line, open_store,
                              open_swarm, result_text, run_json, store_path, use_demo_model)
from swarm.errors import SwarmError, UnknownNode
from swarm.render import counters, event_lines, print_runs, printable, tree_lines
from swarm.snapshot import export_snapshot, state_at
from swarm.statuses import RUN_STATUSES, RunStatus
from swarm.store import loads

RUN_HELP = "a run id, or a unique prefix of one (see `swarm runs`)"
WAIT_HELP = ("when only people can let the run go on, keep waiting for `swarm approve`/`swarm reject` "
             "(and `swarm resume` after `swarm pause`) from any terminal instead of pausing the run")


def register(sub) -> None:
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
    from swarm.leases import holder

    run = swarm.store.run(run_id)
    if run["status"] == RunStatus.PAUSED or run.get("pause_requested"):
        resume_paused(swarm.store, run_id)
        message = f"run {run_id} unpaused; {holder(run)}, which drives it, goes on within a second"
    else:
        message = (f"run {run_id} is being driven by {holder(run)}; nothing to resume here "
                   f"(its requests: `swarm approvals --run {run_id}`)")
    if not driven(run):
        return False  # nobody drives it: this process does
    print(message)
    swarm.close()
    return True


def cmd_runs(args) -> int:
    from swarm.store import is_postgres, location, open_store

    cfg = configuration(args)
    where = location(cfg)
    exists = is_postgres(where) or Path(where).exists()
    rows = open_store(cfg, check="if_small").runs(args.status, args.limit) if exists else []
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
        for page in store.event_pages(run["id"], node_id=args.node, decoded=True):  # printed as it is read
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
