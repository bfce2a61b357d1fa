"""The time-travel commands: `swarm checkout`, `swarm fork` and `swarm diff`, thin over swarm.timetravel
(the fork through `swarm.Swarm`)."""

from __future__ import annotations

import json
import os
from typing import Any

from swarm.checkout import TOP_NODES
from swarm.cli.common import announce_model, drive, open_store, open_swarm, result_text
from swarm.errors import TimeTravelError
from swarm.render import printable


def register(sub) -> None:
    co = sub.add_parser("checkout", help="a run's tree and node states as they were at one event of its history")
    co.add_argument("run", help="a run id, or a unique prefix of one")
    co.add_argument("--at", metavar="EVENT", required=True, help="event number, as `swarm history RUN` lists them")
    co.add_argument("--json", action="store_true", help="print the run, the event and every node state as JSON")
    co.add_argument("--all", action="store_true", help="list every node of a big tree too (by default a tree of "
                                                       f"more than {TOP_NODES} nodes shows its top levels, with counts of "
                                                       "what is under them, and the nodes that run, wait or failed)")
    co.set_defaults(func=cmd_checkout)

    fk = sub.add_parser("fork", help="a new run from a run's state at one event, optionally edited; replays "
                                     "the recorded model replies until it diverges")
    fk.add_argument("run", help="the run to fork: an id, or a unique prefix of one")
    fk.add_argument("--at", metavar="EVENT", required=True, help="event number, as `swarm history RUN` lists them")
    fk.add_argument("--set", action="append", default=[], metavar="NODE.data.KEY=VALUE",
                    help="change a key of a node's input (VALUE is JSON when it parses, else text); repeatable")
    fk.add_argument("--no-run", action="store_true", help="only record the fork; drive it later with `swarm resume`")
    fk.add_argument("--answer", action="append", default=[], metavar="NODE=TEXT", help="answer a node's question in advance")
    fk.add_argument("--json", action="store_true", help="print the finished fork as JSON")
    fk.set_defaults(func=cmd_fork)

    df = sub.add_parser("diff", help="compare two runs node by node: outputs, status, timings, tokens, cost, errors")
    df.add_argument("run_a", metavar="RUN_A", help="the first run (e.g. the original)")
    df.add_argument("run_b", metavar="RUN_B", help="the second run (e.g. its fork); deltas are B - A")
    df.add_argument("--all", action="store_true", help="list the nodes that are the same too")
    df.add_argument("--json", action="store_true", help="print the comparison as JSON")
    df.set_defaults(func=cmd_diff)


def _event(args) -> int:
    if args.at is None:
        raise TimeTravelError(f"say which event with --at EVENT (see `swarm history {args.run}`)")
    try:
        return int(args.at)
    except ValueError:
        raise TimeTravelError(f"--at must be an event number as `swarm history {args.run}` lists them, not {args.at!r}") from None


def cmd_checkout(args) -> int:
    from swarm.store import collector_paused

    # It builds a state for many nodes (100,000 in a big run), none of them in a cycle: the cycle collector
    # would walk them all, at least twice, and free nothing. They are freed before it is back on.
    with collector_paused():
        return _checkout(args)


def _checkout(args) -> int:
    from swarm.checkout import checkout_top
    from swarm.render import counters, counters_line, tree_lines, tree_top
    from swarm.timetravel import checkout

    _, store = open_store(args)
    at = _event(args)
    if args.json or args.all:
        view = checkout(store, args.run, at)
        if args.json:
            print(json.dumps(view, ensure_ascii=False, indent=2))
            return 0
    else:  # a big tree is shown by its top: only the nodes shown are made whole
        view = checkout_top(store, args.run, at)
    run, ev, span = view["run"], view["event"], view["events"]
    where = f": {ev['kind']}" + (f" of node {ev['node_id']}" if ev["node_id"] else "") if ev else " (another run's event)"
    print(f"run {run['id']} at event {view['at_event']}{where} · events {span['first']}–{span['last']}")
    print(f"status then: {run['status']} (now: {run['status_now']})")
    print(f"goal: {printable(run['goal'])}")
    if "by_status" not in view:
        print("\n".join([counters(view["nodes"], run)] + tree_lines(view["nodes"], outputs=True, width=200, ordered=True)))
    elif view["run"]["nodes"] == len(view["nodes"]):  # the whole tree fits
        print("\n".join([counters_line(view["by_status"], run)] + tree_lines(view["nodes"], outputs=True, width=200, ordered=True)))
    else:
        print("\n".join([counters_line(view["by_status"], run)] + tree_top(view, outputs=True, width=200)))
        print("--all lists every node; --json gives every state")
    if run["status"] == "done":
        print("\nresult:\n" + result_text(run["result"]))
    return 0


def cmd_fork(args) -> int:
    from swarm.fork import parse_set

    at = _event(args)
    sets = dict(parse_set(item) for item in args.set)
    cfg, store = open_store(args)
    try:
        parent = store.run(args.run)
    finally:
        store.close()
    recorded = parent.get("model") or ""
    if not cfg.endpoint_configured and recorded.startswith("scripted:"):
        cfg.model.model = recorded  # a scripted run's fork answers from the same script when it diverges
    swarm = open_swarm(cfg, args.answer, interactive=True)
    try:
        new_id = swarm.fork(parent["id"], at, sets, run=False)
    except BaseException:
        swarm.close()
        raise
    edits = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sets.items())
    forked_at = swarm.store.run(new_id)["forked_at"]
    if forked_at != at and not args.json:
        print(f"swarm: event {at} is inside a turn of the loop (an effect recorded before the rest of its turn); "
              f"the fork starts at event {forked_at}, where that turn's events end", flush=True)
    at = forked_at
    if args.no_run:
        swarm.close()
        if args.json:
            print(json.dumps({"run": new_id, "forked_from": parent["id"], "forked_at": at, "sets": sets}, ensure_ascii=False))
        else:
            print(f"swarm: run {new_id} forked from {parent['id']} at event {at}" + (f" with {edits}" if edits else ""))
            print(f"drive it with `swarm resume {new_id}`")
        return 0
    if not args.json:
        announce_model(swarm, demo=False)
        print(f"swarm: run {new_id} forked from {parent['id']} at event {at}" + (f" with {edits}" if edits else "")
              + "; recorded model replies are replayed until a request differs", flush=True)
    code = drive(swarm, new_id, args.json)
    if not args.json:
        print(f"compare it with `swarm diff {parent['id']} {new_id}`")
    return code


def cmd_diff(args) -> int:
    from swarm.timetravel import diff

    _, store = open_store(args)
    d = diff(store, args.run_a, args.run_b)
    if args.json:
        print(json.dumps(d, ensure_ascii=False, indent=2))
    else:
        print("\n".join(diff_lines(d, show_same=args.all)))
    return 0


# --- the text view of a diff ---------------------------------------------------------------


def diff_lines(d: dict[str, Any], show_same: bool = False, width: int = 160) -> list[str]:
    """Run totals side by side, then one line per node that differs (with both outputs when they do)."""
    a, b = d["a"], d["b"]
    lines = []
    for tag, t in (("A", a), ("B", b)):
        fork = f" · fork of {t['forked_from']} at event {t['forked_at']}" if t["forked_from"] else ""
        lines.append(f"{tag} {t['id']}  {t['status']}{fork}")
    lines.append("")
    lines.append(f"{'':<16}{'A':>14}{'B':>14}{'B - A':>14}")
    for key, label, fmt in (("nodes", "nodes", "{}"), ("failed_nodes", "failed nodes", "{}"),
                            ("tokens", "tokens", "{}"), ("cost_usd", "cost", "${:.4f}"),
                            ("model_calls", "model calls", "{}"), ("replayed_calls", "replayed", "{}"),
                            ("paid_cost_usd", "paid", "${:.4f}"), ("failed_calls", "failed calls", "{}"),
                            ("wall_s", "wall s", "{:.2f}"), ("active_s", "active s", "{:.2f}")):
        delta = d["delta"][key]
        shown_delta = "" if delta is None else (fmt.format(delta) if delta < 0 else "+" + fmt.format(delta))
        lines.append(f"{label:<16}{_fmt(fmt, a[key]):>14}{_fmt(fmt, b[key]):>14}{shown_delta:>14}")
    lines.append("result: " + ("the same" if d["same_result"] else "differs"))
    if not d["same_result"]:
        lines.append(f"  A: {_short(a['result'] if a['status'] == 'done' else a['error'] or a['stop_reason'], width)}")
        lines.append(f"  B: {_short(b['result'] if b['status'] == 'done' else b['error'] or b['stop_reason'], width)}")
    lines.append("")
    lines.append(f"{'NODE':<12}{'CHANGE':<9}{'STATUS A → B':<24}{'TOKENS A → B':<16}{'SECONDS A → B':<18}DIFFERS IN")
    for row in d["nodes"]:
        if row["change"] == "same" and not show_same:
            continue
        x, y = row["a"] or {}, row["b"] or {}
        status = f"{x.get('status', '-')} → {y.get('status', '-')}" if x.get("status") != y.get("status") else y["status"]
        tokens = f"{x.get('tokens', '-')} → {y.get('tokens', '-')}"
        secs = f"{_fmt('{:.2f}', x.get('duration_s'))} → {_fmt('{:.2f}', y.get('duration_s'))}"
        lines.append(f"{row['id']:<12}{row['change']:<9}{status:<24}{tokens:<16}{secs:<18}{', '.join(row['fields'])}")
        for field in ("output", "error", "data"):
            if field in row["fields"]:
                left, right = _around_difference(*_differing(x.get(field), y.get(field)), width)
                lines.append(f"    {field} A: {left}")
                lines.append(f"    {field} B: {right}")
    c = d["counts"]
    lines.append(f"{c['changed']} changed, {c['added']} added, {c['removed']} removed, {c['same']} the same")
    return lines


def _differing(a: Any, b: Any) -> tuple[Any, Any]:
    """Of two dicts, only the keys whose values differ (the rest would hide the difference); else both as they are."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in {**a, **b} if a.get(k) != b.get(k)]
        return {k: a[k] for k in keys if k in a}, {k: b[k] for k in keys if k in b}
    return a, b


def _around_difference(a: Any, b: Any, width: int) -> tuple[str, str]:
    """Both sides as one line each, cut to `width`, showing where they first differ: two long texts that
    share their beginning would otherwise be cut at the same place and look the same."""
    left, right = _flat(a), _flat(b)
    same = len(os.path.commonprefix([left, right]))
    if same > width // 2:
        start = same - width // 4
        left, right = "…" + left[start:], "…" + right[start:]
    return _cut(left, width), _cut(right, width)


def _fmt(fmt: str, value: Any) -> str:
    return "-" if value is None else fmt.format(value)


def _flat(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(printable(text).split())


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(value: Any, width: int) -> str:
    return _cut(_flat(value), width)
