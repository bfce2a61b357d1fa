"""Human approval: what needs a person ([approvals] in swarm.toml), the requests waiting for one, and decisions.

A node that needs a person goes to `awaiting_approval` with a request (kind, question,
proposal) recorded in the approvals table. Kinds:

- `ask_human`: the node returned `ctx.ask_human(question, proposal)`; the answer becomes `ctx.answer`;
- `new_script`, `sandbox_write`, `import`: a script asked `ctx.approved(kind, question, proposal)`
  (the toolsmith before it registers, `ctx.run_python`/`ctx.act` before code writes to the workspace
  or imports beyond [python].authorized_imports); on approval the node is executed again, its model
  call replayed from the run's cassette, and the same proposal (same key) passes;
- `cost`: the run spent past [approvals].cost_over_usd; on approval its next nodes start.

`decide` only writes a decision into the store; the loop that drives the run (this process or
another, e.g. the daemon) takes it on its next tick, records an `approval_decided` event, and
goes on. `pause` and `resume_paused` work the same way for a whole run.
"""

from __future__ import annotations

import ast
import hashlib
import json
from typing import TYPE_CHECKING, Any

from swarm.errors import AlreadyDecided, SwarmError, UnknownApproval
from swarm.leases import held
from swarm.statuses import RUN_FINAL, RunStatus
from swarm.store import dumps, loads

if TYPE_CHECKING:
    from swarm.store import Store

# Request kind -> the [approvals] setting that asks for it.
POLICY = {
    "ask_human": "ask_human",
    "new_script": "new_scripts",
    "sandbox_write": "sandbox_writes",
    "import": "non_default_imports",
    "cost": "cost_over_usd",
}
SCRIPT_KINDS = ("new_script", "sandbox_write", "import")  # the kinds a script asks through ctx.approved
WRITE_TOOLS = frozenset({"write_file"})  # tools that change the run's workspace
DECISIONS = ("approve", "reject")
YES = frozenset({"y", "yes", "ok", "approve", "approved", "go", "go on", "register"})


class NeedsApproval(BaseException):
    """Raised inside a script's execution: the node waits for a person, then is executed again.

    A BaseException, so that a script's `except Exception` cannot swallow the request.
    """

    def __init__(self, kind: str, question: str, proposal: Any):
        super().__init__(question)
        self.kind, self.question, self.proposal = kind, question, proposal
        self.key = proposal_key(kind, proposal)


# --- policy (pure) -----------------------------------------------------------------------------


def required(settings: object, kind: str) -> bool:
    """Whether [approvals] (`settings`: swarm.settings.ApprovalSettings, or anything with its fields) asks a
    person for this kind of request. The settings module is not imported here: it sits above this one."""
    if kind not in POLICY:
        raise SwarmError(f"unknown approval kind {kind!r}; use one of {', '.join(SCRIPT_KINDS)}")
    return bool(getattr(settings, POLICY[kind]))


def proposal_key(kind: str, proposal: Any) -> str:
    """Names one proposal: an execution that proposes the same thing again finds it approved."""
    return hashlib.sha256(dumps({"kind": kind, "proposal": proposal}).encode()).hexdigest()[:16]


def imports_in(code: str) -> set[str]:
    """Top-level modules the code imports (none when it does not parse: the sandbox reports that)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def names_in(code: str) -> set[str]:
    """Every name and attribute the code mentions: how sandboxed code asks for a tool."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    found = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            found.add(n.id)
        elif isinstance(n, ast.Attribute):
            found.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            found.add(n.value)
    return found


def read_answer(kind: str, text: str) -> tuple[str, Any, str | None]:
    """An answer typed inline (terminal, --answer) as (decision, answer, reason).

    For ask_human the text is the answer. For the other kinds "yes" approves and anything
    else rejects, the text being the reason.
    """
    if kind == "ask_human":
        return "approve", text, None
    if text.strip().lower() in YES:
        return "approve", None, None
    return "reject", None, text.strip() or "no"


def allowance(edited: Any, proposal: Any) -> float:
    """How much a person allowed a run to spend: the (edited) proposal's allow_up_to_usd, or a bare number."""
    for value in (edited, proposal):
        if isinstance(value, dict):
            value = value.get("allow_up_to_usd")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.0


def question_for(kind: str, question: str) -> str:
    """The question as a person sees it inline: for a policy request, how to answer."""
    if kind == "ask_human":
        return question
    return f"{question} Answer yes to approve, or give the reason to reject."


# --- editing a proposal --------------------------------------------------------------------------


def code_of(proposal: Any) -> str | None:
    """The code a proposal carries (a dict with a "code" string), or None."""
    if isinstance(proposal, dict) and isinstance(proposal.get("code"), str):
        return proposal["code"]
    return None


def editable(request: dict[str, Any]) -> str:
    """The text a person edits for a request (as `pending` or `request` return it): the code when there
    is code, else the proposal itself."""
    proposal = request.get("proposal")
    code = code_of(proposal)
    if code is not None:
        return code
    if isinstance(proposal, str):
        return proposal
    if proposal is None:
        return ""
    return json.dumps(proposal, indent=2, ensure_ascii=False) + "\n"


def edited_proposal(request: dict[str, Any], text: str) -> Any:
    """The proposal after a person edited `editable(request)` into `text`."""
    proposal = request.get("proposal")
    if code_of(proposal) is not None:
        return {**proposal, "code": text if text.endswith("\n") else text + "\n"}
    if proposal is None or isinstance(proposal, str):
        return text.rstrip("\n")  # an editor ends the file with a newline the answer did not have
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SwarmError(f"the edited proposal of request {request['id']} is not valid JSON ({exc}); edit it again") from None


# --- the library used by `swarm approvals / approve / reject / pause`, the daemon and the UI ------


def pending(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """Requests waiting for a person (of one run, or all), oldest first, with their proposal decoded."""
    if run_id is not None:
        run_id = store.run(run_id)["id"]
    return [_decoded(r) for r in store.approvals(run_id, status="pending")]


def decide(store: Store, approval_id: int | str, decision: str, *, note: str | None = None, reason: str | None = None,
           edited: Any = None, by: str = "cli") -> dict[str, Any]:
    """Record a person's decision on a pending request; returns the decided request.

    `edited`, on approval, replaces the proposal (for ask_human: the answer). The loop driving
    the run takes the decision on its next tick (within a second) and records it in the history.
    """
    if decision not in DECISIONS:
        raise SwarmError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if decision == "reject" and not (reason or "").strip():
        raise SwarmError("a rejection needs a reason: it becomes the error the node's parent hears; pass --reason TEXT")
    if decision == "reject" and edited is not None:
        raise SwarmError("only an approval takes an edited proposal; approve with --edit, or reject without one")
    row = request(store, approval_id)
    if row["status"] != "pending":
        raise AlreadyDecided(_already(row))
    answer = edited
    if decision == "approve" and row["kind"] == "ask_human" and edited is None:
        answer = "yes" if row["proposal"] is None else row["proposal"]
    status = "approved" if decision == "approve" else "rejected"
    if not store.decide_approval(row["id"], status, answer, note, reason, edited is not None, by):
        raise AlreadyDecided(_already(request(store, row["id"])))
    return request(store, row["id"])


def request(store: Store, approval_id: int | str) -> dict[str, Any]:
    """One request by its number, decided or not, with its proposal decoded."""
    try:
        number = int(str(approval_id).lstrip("#"))
    except ValueError:
        raise UnknownApproval(approval_id) from None
    row = store.approval(number)
    if row is None:
        raise UnknownApproval(approval_id)
    return _decoded(row)


def pause(store: Store, run_id: str) -> dict[str, Any]:
    """Ask for a whole run to pause: no new executions start; running ones finish and are recorded.

    Returns {"run_id", "status"}: "requested" when a live process drives the run (it pauses
    within a second), "paused" when nobody does (it stays paused until `resume_paused`).
    """
    run = store.run(run_id)
    if run["status"] in RUN_FINAL:
        raise SwarmError(f"run {run['id']} already ended ({run['status']}); there is nothing to pause")
    store.request_pause(run["id"], True)
    if driven(run):
        return {"run_id": run["id"], "status": "requested"}
    store.update_run(run["id"], status=RunStatus.PAUSED)
    return {"run_id": run["id"], "status": RunStatus.PAUSED}


def resume_paused(store: Store, run_id: str) -> dict[str, Any]:
    """Lift a pause. Returns {"run_id", "status"}: "requested" when a live process drives the run (it
    goes on within a second), "unpaused" when nobody does (drive it, e.g. `swarm resume RUN`)."""
    run = store.run(run_id)
    if run["status"] in RUN_FINAL:
        raise SwarmError(f"run {run['id']} already ended ({run['status']}); there is nothing to resume")
    store.request_pause(run["id"], False)
    return {"run_id": run["id"], "status": "requested" if driven(run) else "unpaused"}


def driven(run: dict[str, Any]) -> bool:
    """Whether a live worker (this process included: the daemon's own UI) holds the run's lease now."""
    return held(run)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "proposal": loads(row["proposal"]), "answer": loads(row["answer"]), "edited": bool(row.get("edited"))}


def _already(row: dict[str, Any]) -> str:
    by = f" by {row['decided_by']}" if row.get("decided_by") else ""
    return (f"approval request {row['id']} was already {row['status']}{by}; "
            f"list the pending ones with `swarm approvals`")


# --- what a person reads -------------------------------------------------------------------------------


def describe(request: dict[str, Any]) -> list[str]:
    """A request as lines of text: what is asked, then what is proposed (code, tests, imports...)."""
    proposal = request.get("proposal")
    lines = [f"#{request['id']}  run {request['run_id']}  node {request['node_id']}  {request['kind']}",
             f"  {request['question']}"]
    if isinstance(proposal, dict):
        for key, value in proposal.items():
            if key in ("code", "tests"):
                continue
            if value not in (None, "", [], {}):
                lines.append(f"  {key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
        code = code_of(proposal)
        if code is not None:
            lines.append("  code:")
            lines.extend("    " + line for line in code.rstrip("\n").splitlines())
        for i, test in enumerate(proposal.get("tests") or [], 1):
            expected = f" -> {json.dumps(test.get('expected'), ensure_ascii=False)}" if isinstance(test, dict) and "expected" in test else ""
            given = json.dumps(test.get("input", {}) if isinstance(test, dict) else test, ensure_ascii=False)
            lines.append(f"  test {i}: {given}{expected}")
    elif proposal is not None:
        lines.append(f"  proposal: {proposal if isinstance(proposal, str) else json.dumps(proposal, ensure_ascii=False)}")
    return lines
