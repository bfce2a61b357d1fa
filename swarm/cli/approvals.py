"""`swarm approvals`, `swarm approve`, `swarm reject`, `swarm pause`: people's decisions, from any terminal.

Thin commands over `swarm.Swarm` (approvals, approve, reject) and swarm/approvals.py (the request, its
proposal as text, pause). A decision is written to the store; the process
driving the run (a foreground `swarm run --wait`, the daemon) acts on it within a second,
and a run nobody drives takes it when `swarm resume RUN` continues it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from swarm.cli.common import configuration, open_swarm, store_path
from swarm.errors import SwarmError
from swarm.render import age, printable


def register(sub) -> None:
    listing = sub.add_parser("approvals", help="requests waiting for a person, with what they propose")
    listing.add_argument("--run", help="only the requests of this run")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    listing.set_defaults(func=cmd_approvals)

    approve = sub.add_parser("approve", help="approve a request (optionally edited); the run goes on")
    approve.add_argument("id", help="the request's number, from `swarm approvals`")
    approve.add_argument("--note", help="a note kept with the decision in the history")
    edit = approve.add_mutually_exclusive_group()
    edit.add_argument("--edit", action="store_true",
                      help="edit the proposal (the code, or the answer) in $EDITOR before it goes on")
    edit.add_argument("--edit-file", metavar="FILE", help="like --edit, the edited proposal read from FILE")
    edit.add_argument("--edit-text", metavar="TEXT", help="like --edit, the edited proposal given as TEXT")
    approve.set_defaults(func=cmd_approve)

    reject = sub.add_parser("reject", help="reject a request: the node fails with the reason, its parent hears it")
    reject.add_argument("id", help="the request's number, from `swarm approvals`")
    reject.add_argument("--reason", required=True, help="why; it becomes the node's error")
    reject.set_defaults(func=cmd_reject)

    pause = sub.add_parser("pause", help="pause a whole run: no new node starts until `swarm resume RUN`")
    pause.add_argument("run", help="a run id, or a unique prefix of one")
    pause.set_defaults(func=cmd_pause)


def _swarm(args):
    """The Swarm over the configured store, which must exist; it opens the store with its integrity check
    (approve, reject and pause write: never into a damaged store) and starts no engine."""
    cfg = configuration(args)
    store_path(cfg)
    return open_swarm(cfg)


def cmd_approvals(args) -> int:
    from swarm import approvals  # here, not at the top: `swarm --help` need not load the store

    with _swarm(args) as swarm:
        rows = swarm.approvals(args.run)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no request waits for a person")
        return 0
    now = time.time()
    for row in rows:
        lines = [printable(line) for line in approvals.describe(row)]  # the question and proposal come from the model
        lines[0] += f"  asked {age(now - row['created_at'])} ago"
        print("\n".join(lines) + "\n")
    print("decide with `swarm approve ID [--note TEXT] [--edit]` or `swarm reject ID --reason TEXT`")
    return 0


def cmd_approve(args) -> int:
    from swarm import approvals

    with _swarm(args) as swarm:
        request = approvals.request(swarm.store, args.id)
        edited = _edited(args, request)
        decided = swarm.approve(request["id"], edited=edited, note=args.note, by=_who())
        print(f"approved request {decided['id']}" + (" as edited" if decided["edited"] else "")
              + _what_next(swarm.store, decided))
    return 0


def cmd_reject(args) -> int:
    with _swarm(args) as swarm:
        decided = swarm.reject(args.id, args.reason, by=_who())
        print(f"rejected request {decided['id']}" + _what_next(swarm.store, decided))
    return 0


def cmd_pause(args) -> int:
    from swarm import approvals

    with _swarm(args) as swarm:
        outcome = approvals.pause(swarm.store, args.run)
    run_id = outcome["run_id"]
    if outcome["status"] == "requested":
        print(f"pause requested: the process driving run {run_id} starts no new node within a second "
              f"(running ones finish); `swarm resume {run_id}` lifts it")
    else:
        print(f"run {run_id} paused; `swarm resume {run_id}` continues it")
    return 0


# --- helpers of these commands ----------------------------------------------------------------


def _who() -> str:
    """Who decided, as the history keeps it: the local user, through the command line."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        user = str(os.getuid())
    return f"cli:{user}"


def _edited(args, request: dict[str, Any]) -> Any:
    """The edited proposal from --edit-text, --edit-file or $EDITOR; None when there is no edit."""
    from swarm import approvals

    original = approvals.editable(request)
    if args.edit_text is not None:
        text = args.edit_text
    elif args.edit_file:
        try:
            text = Path(args.edit_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SwarmError(f"cannot read --edit-file {args.edit_file} ({exc}); pass a readable text file") from None
    elif args.edit:
        text = _run_editor(original, code=approvals.code_of(request["proposal"]) is not None)
        if text == original:
            return None  # closed without a change: approved as proposed
    else:
        return None
    return approvals.edited_proposal(request, text)


def _run_editor(text: str, code: bool) -> str:
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise SwarmError("--edit opens $EDITOR, which is not set; set EDITOR (e.g. EDITOR=nano), "
                         "or pass the edited proposal with --edit-text TEXT or --edit-file FILE")
    with tempfile.NamedTemporaryFile("w", suffix=".py" if code else ".txt", prefix="swarm-approval-",
                                     delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        try:
            code_ = subprocess.call([*shlex.split(editor), f.name])
        except OSError as exc:
            raise SwarmError(f"could not start the editor {editor!r} ({exc.strerror}); fix $EDITOR") from None
        if code_ != 0:
            raise SwarmError(f"the editor {editor!r} exited with status {code_}; nothing was decided")
        return Path(f.name).read_text(encoding="utf-8")
    finally:
        os.unlink(f.name)


def _what_next(store, decided: dict[str, Any]) -> str:
    from swarm import approvals
    from swarm.leases import holder

    run = store.run(decided["run_id"])
    where = f" (node {decided['node_id']} of run {run['id']})"
    if approvals.driven(run):
        return f"{where}; {holder(run)}, which drives the run, goes on within a second"
    return f"{where}; nobody drives the run now: continue it with `swarm resume {run['id']}`"
