"""`swarm submit GOAL`: hand a goal to a running `swarm ui` server over its REST API (POST /api/runs), or, with
--queue, put it into the store's goal queue, which every `swarm daemon` on that store shares.

The server records the run and drives it in the background; this prints the run id at once
(or, with --wait, follows the run until it ends and prints how it ended). The server's address is
[ui].host/[ui].port (or --url); the token is [ui].token, else the `.swarm-ui-token` file that
`swarm ui` made next to the store (or --token / $SWARM_UI_TOKEN).

--queue writes a goal row (state `queued`, its run id chosen now) into the store named by [store].url (or
[store].path, or --store), from any machine that reaches it; the first daemon with room takes it and creates and drives its run
(swarm/daemon/queue.py). No server is needed, only the store.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from swarm.budgets import KEYS as BUDGET_KEYS
from swarm.cli.common import budget_option, configuration
from swarm.errors import SwarmError
from swarm.statuses import RUN_FINAL, RunStatus

POLL_S = 0.5


class SubmitError(SwarmError):
    """The goal could not be handed to the server."""

    exit_code = 2


def register(sub) -> None:
    p = sub.add_parser("submit", help="hand a goal to a running `swarm ui` server (its REST API), or "
                                            "with --queue to the store's queue that every `swarm daemon` on it shares")
    p.add_argument("goal", help="what the swarm should do")
    p.add_argument("--script", help="node script of the root node (default: the server's [run].root_script)")
    p.add_argument("--model", help="a model name for this run's calls instead of [model].model")
    for key in BUDGET_KEYS:
        p.add_argument("--" + key.replace("_", "-"), type=budget_option(key), dest=key, help=f"budget: {key}")
    p.add_argument("--url", help="the server's address (default http://[ui].host:[ui].port/)")
    p.add_argument("--token", help="the UI token (default [ui].token, else .swarm-ui-token next to the store)")
    p.add_argument("--queue", action="store_true",
                   help="put the goal into the store's queue (any `swarm daemon` on the store runs it) instead of a server")
    p.add_argument("--wait", action="store_true", help="follow the run until it ends, and print how it ended")
    p.add_argument("--json", action="store_true", help="print the server's answer (or the ended run) as JSON")
    p.set_defaults(func=cmd_submit)


def _goal_spec(args) -> dict[str, Any]:
    """The goal as the UI's API and the store's queue both take it: the text, and the script, model and budgets given."""
    spec: dict[str, Any] = {"goal": args.goal}
    if args.script:
        spec["script"] = args.script
    if args.model:
        spec["model"] = args.model
    budgets = {k: getattr(args, k) for k in BUDGET_KEYS if getattr(args, k) is not None}
    if budgets:
        spec["budgets"] = budgets
    return spec


def cmd_submit(args) -> int:
    cfg = configuration(args)
    if args.queue:
        return _to_queue(args, cfg)
    url = (args.url or f"http://{_host(cfg.ui.host)}:{cfg.ui.port}/").rstrip("/") + "/"
    token = args.token or cfg.ui.token or _token_file(cfg)
    answer = call(url, "POST", "api/runs", token, _goal_spec(args))
    run_id = answer["run_id"]
    if not args.wait:
        print(json.dumps(answer, indent=2) if args.json else run_id)
        return 0
    print(f"swarm: submitted run {run_id}; waiting for it to end", file=sys.stderr, flush=True)
    while True:
        run = call(url, "GET", f"api/runs/{run_id}", token)
        if run["status"] in RUN_FINAL or run["status"] in (RunStatus.AWAITING_APPROVAL, RunStatus.PAUSED):
            break
        time.sleep(POLL_S)
    if args.json:
        print(json.dumps(run, indent=2))
    else:
        print(f"run {run_id} {run['status']}" + (f": {run['error']}" if run.get("error") else ""))
    return 0 if run["status"] == "done" else 1


def _to_queue(args, cfg) -> int:
    """The goal into the store's queue; with --wait, follow its run in the store until it ends."""
    import hashlib

    from swarm.engine import new_run_id
    from swarm.store import open_store

    if not args.goal.strip():
        raise SubmitError('the goal is empty; say what the swarm should do, e.g. swarm submit --queue "summarise README.md"')
    text = json.dumps(_goal_spec(args), sort_keys=True)
    run_id = new_run_id()
    store = open_store(cfg)  # [store].url (a PostgreSQL store other machines share), else [store].path
    try:
        shown = args.goal if len(args.goal) <= 80 else args.goal[:77] + "..."
        goal_id = store.queue.submit("submitted", shown, hashlib.sha256(text.encode()).hexdigest(), run_id, text,
                                     time.time())
        if not args.wait:
            answer = {"goal_id": goal_id, "run_id": run_id, "status": "queued"}
            print(json.dumps(answer, indent=2) if args.json else run_id)
            return 0
        print(f"swarm: queued goal {goal_id} (run {run_id}); waiting for a daemon to run it", file=sys.stderr, flush=True)
        while True:
            goal = store.queue.goal(goal_id) or {}
            run = store.run(run_id) if store.has_run(run_id) else None
            if goal.get("state") == "finished" or (run and (run["status"] in RUN_FINAL or run["status"] in (
                    RunStatus.AWAITING_APPROVAL, RunStatus.PAUSED))):
                break
            time.sleep(POLL_S)
    finally:
        store.close()
    if run is None:  # refused before it had a run (an unknown script, ...)
        print(json.dumps(goal, indent=2) if args.json else f"goal {goal_id} failed: {goal.get('error')}")
        return 1
    if args.json:
        print(json.dumps(run, indent=2))
    else:
        print(f"run {run_id} {run['status']}" + (f": {run['error']}" if run.get("error") else ""))
    return 0 if run["status"] == "done" else 1


def call(url: str, method: str, path: str, token: str, body: Any = None) -> Any:
    """One API request; an error answer or an unreachable server is a SubmitError saying what to do."""
    import urllib.error
    import urllib.request  # here, not at the top: `swarm --help` does not need it

    data = json.dumps(body).encode() if body is not None else None
    headers = {"X-Swarm-Token": token, **({"Content-Type": "application/json"} if data is not None else {})}
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return json.loads(res.read())
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read()).get("error") or err.reason
        except ValueError:
            message = err.reason
        raise SubmitError(f"the server at {url} refused the request ({err.code}): {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SubmitError(f"no swarm server answers at {url} ({reason}); start one with `swarm ui`, "
                          "or give its address with --url") from None


def _host(host: str) -> str:
    if host in ("0.0.0.0", "localhost"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _token_file(cfg) -> str:
    from swarm.store import folder
    from swarm.ui.auth import TOKEN_FILE

    path = folder(cfg) / TOKEN_FILE
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SubmitError(f"no UI token: {path} does not exist; start `swarm ui` once (it makes the token), "
                          "or set [ui].token / pass --token") from None
    if not token:
        raise SubmitError(f"{path} is empty; delete it and `swarm ui` makes a new token")
    return token
