"""People: the gate of a run where it waits for a person — approvals, questions, and the cost gate.

A node that needs a person waits in `awaiting_approval` with a request (swarm/approvals.py): a policy's approval
(NeedsApproval), a question of its own (AskHuman), or, once the run spent past [approvals].cost_over_usd, whether it
may spend more (while that is open, no new execution starts: `holding`). Only the node's branch waits. The decision
comes inline (services.human), from another process (`swarm approve`, read on the loop's tick), or from the timeout,
and is recorded as `approval_decided`; an approved node is ready again, a rejected one fails (a rejected spending
stops the run).

The RunLoop (swarm/lifecycle.py) owns when: it hands `People` the nodes that ask, the answers and decisions it took
in, and its tick; `People` records each step into the turn's batch (`batch()` gives the one being filled) and puts
the run's tree through swarm/transitions.py. An answer given inline comes back through `deliver(node_id, answer)`,
into the loop's inbox, and is settled there like any other outcome.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Callable

from swarm import transitions
from swarm.approvals import NeedsApproval, allowance, question_for, read_answer
from swarm.batch import Batch, dumps, loads
from swarm.node import AskHuman, Status, TaskNode
from swarm.statuses import EventKind

if TYPE_CHECKING:
    from swarm.human import HumanChannel
    from swarm.settings import ApprovalSettings
    from swarm.store import Store


class People:
    """The requests of one run that wait for a person, and what the run may spend before it asks."""

    def __init__(self, tree: transitions.Tree, store: Store, human: HumanChannel | None, settings: ApprovalSettings,
                 batch: Callable[[], Batch], deliver: Callable[[str, Any], None]):
        self.run_id = tree.run_id
        self.tree = tree
        self.nodes = tree.nodes
        self.store = store  # the run's approvals table
        self.human = human  # where a question is put inline (None: only through the store)
        self.settings = settings  # [approvals]: timeout_s, cost_over_usd
        self.batch = batch  # the batch of the turn being filled
        self.deliver = deliver  # (node id, answer): an answer given inline, into the loop's inbox
        self.asking: dict[str, asyncio.Task] = {}  # nodes whose question is being put to services.human
        self.awaiting: dict[str, float] = {}  # nodes waiting for a person -> when they were asked
        self.cost_allowed = self.settings.cost_over_usd  # spending past it asks a person; 0 = never
        self.cost_node: str | None = None  # the node held while a person decides about spending more

    @property
    def holding(self) -> bool:
        """A person decides whether the run may spend more: no new execution starts meanwhile."""
        return self.cost_node is not None

    # --- a node asks ----------------------------------------------------------------------

    def ask_human(self, node: TaskNode, ask: AskHuman) -> None:
        self.request(node, "ask_human", ask.question, ask.proposal)

    def needs_approval(self, node: TaskNode, need: NeedsApproval, logs: list[str]) -> None:
        self.request(node, need.kind, need.question, need.proposal, need.key, logs)

    def spending_past(self, cost: float) -> bool:
        """Whether the run spent past what it may spend without asking."""
        return bool(self.cost_allowed) and cost > self.cost_allowed

    def ask_to_spend(self, node: TaskNode, cost: float) -> None:
        """Spending passed [approvals].cost_over_usd: this node, and every other one, waits for a person."""
        self.cost_node = node.id
        allow = round(cost + self.settings.cost_over_usd, 6)
        question = (f"Run {self.run_id} has spent ${cost:.4f}, past ${self.cost_allowed:g}. "
                    f"Go on, spending up to ${allow:g}?")
        self.request(node, "cost", question, {"spent_usd": round(cost, 6), "over_usd": self.cost_allowed,
                                              "allow_up_to_usd": allow})

    def request(self, node: TaskNode, kind: str, question: str, proposal: Any, key: str | None = None,
                logs: list[str] | None = None) -> None:
        node.status = Status.AWAITING_APPROVAL
        node.approval = {"kind": kind, "question": question, "proposal": proposal, "key": key}
        self.awaiting[node.id] = now = time.time()
        detail = {"kind": kind, "question": question, "proposal": proposal, **({"logs": logs} if logs else {})}
        batch = self.batch()
        batch.event(self.run_id, EventKind.AWAITING_APPROVAL, node, detail)
        batch.approvals.append((self.run_id, node.id, kind, question, dumps(proposal), now, key))
        self._ask(node)

    def take_up(self) -> None:
        """On (re)start: the requests still open, the decisions taken while nobody drove the run, and
        what people allowed the run to spend."""
        waiting = [n for n in self.nodes.values() if n.status == Status.AWAITING_APPROVAL]
        if not waiting and not self.cost_allowed:
            return
        rows = self.store.approvals(self.run_id, status=None)
        open_rows = {r["node_id"]: r for r in rows if r["status"] == "pending"}
        decided = [r for r in rows if r["status"] in ("approved", "rejected") and r["handled_at"] is None]
        decided_nodes = {r["node_id"] for r in decided}
        for r in rows:
            if r["kind"] == "cost" and r["status"] == "approved":
                self.cost_allowed = max(self.cost_allowed, allowance(loads(r["answer"]), loads(r["proposal"])))
        for node in waiting:
            row = open_rows.get(node.id)
            if node.approval is None:  # recorded by a swarm that kept the request only in the table
                node.approval = {"kind": "ask_human", "question": (row or {}).get("question") or node.data.get("question", ""),
                                 "proposal": loads((row or {}).get("proposal")), "key": None}
            request = node.approval
            since = row["created_at"] if row else time.time()
            if row is None and node.id not in decided_nodes:  # e.g. a run imported from a snapshot
                self.batch().approvals.append((self.run_id, node.id, request["kind"], request["question"],
                                               dumps(request["proposal"]), since, request["key"]))
            self.awaiting[node.id] = since
            if request["kind"] == "cost":
                self.cost_node = node.id
        self.take_decisions(decided)
        self.check_timeouts()
        for node in waiting:
            if node.status == Status.AWAITING_APPROVAL:
                self._ask(node)

    # --- putting the question inline ----------------------------------------------------------

    def _ask(self, node: TaskNode) -> None:
        human = self.human
        if human is None:
            return
        request = node.approval

        async def ask() -> None:
            question = question_for(request["kind"], request["question"])
            answer = await human.ask(self.run_id, node.id, question, request["proposal"])
            self.deliver(node.id, answer)

        self.asking[node.id] = asyncio.get_running_loop().create_task(ask())

    def _stop_asking(self, node_id: str) -> None:
        """The question is settled (answered, decided elsewhere, timed out, cancelled): stop putting it."""
        task = self.asking.pop(node_id, None)
        if task is not None:
            task.cancel()

    # --- a person decides ------------------------------------------------------------------

    def answered(self, node: TaskNode, answer: Any) -> None:
        """An answer given inline (the terminal, --answer)."""
        self._stop_asking(node.id)
        if answer is None or node.status != Status.AWAITING_APPROVAL:
            return
        decision, value, reason = read_answer(node.approval["kind"], answer if isinstance(answer, str) else dumps(answer))
        by = getattr(self.human, "name", "person")
        self.batch().decisions.append((node.id, "approved" if decision == "approve" else "rejected", value, reason, by))
        self._decided(node, decision, answer=value, reason=reason, by=by)

    def take_decisions(self, rows: list[dict[str, Any]]) -> None:
        """Decisions written by `swarm approve` / `swarm reject` (any process), oldest first."""
        for row in rows:
            self.batch().handled.append(row["id"])
            node = self.nodes.get(row["node_id"])
            request = node.approval if node is not None else None
            if node is None or node.status != Status.AWAITING_APPROVAL or request is None or request["key"] != row["key"]:
                continue  # the node stopped waiting meanwhile (answered inline, timed out, cancelled)
            answer = loads(row["answer"])
            self._decided(node, "approve" if row["status"] == "approved" else "reject", approval=row["id"],
                          answer=answer, edited=answer if row["edited"] else None, note=row["note"],
                          reason=row["reason"], by=row["decided_by"] or "person")

    def check_timeouts(self) -> None:
        timeout = self.settings.timeout_s
        if not timeout:
            return
        now = time.time()
        for node_id, since in list(self.awaiting.items()):
            if now - since >= timeout:
                self.batch().decisions.append((node_id, "rejected", None, "timed out", "timeout"))
                self._decided(self.nodes[node_id], "reject", reason="timed out", by="timeout")

    def _decided(self, node: TaskNode, decision: str, *, approval: int | None = None, answer: Any = None,
                 edited: Any = None, note: str | None = None, reason: str | None = None, by: str = "person") -> None:
        """Carry out a decision: approved, the node goes on with the (edited) proposal; rejected, its branch ends."""
        request = node.approval
        kind = request["kind"]
        self.awaiting.pop(node.id, None)
        self._stop_asking(node.id)
        detail = {"approval": approval, "kind": kind, "decision": decision, "by": by, "edited": edited is not None}
        detail.update({k: v for k, v in (("note", note), ("reason", reason)) if v})
        if kind == "ask_human" and decision == "approve":
            detail["answer"] = answer
        if kind == "cost":
            self.cost_node = None
        if decision == "reject":
            self.batch().event(self.run_id, EventKind.APPROVAL_DECIDED, node, detail)
            who = "no person decided in time" if by == "timeout" else "rejected by a person"
            if kind == "cost":
                return transitions.stop(self.tree, f"{who}: spending past ${self.cost_allowed:g} ({reason})")
            return transitions.terminate(self.tree, node, Status.FAILED, error=f"{who}: {reason}")
        if kind == "ask_human":
            node.answer = answer
            node.round += 1
        elif kind == "cost":
            self.cost_allowed = allowance(edited, request["proposal"])
        else:
            node.approved[request["key"]] = edited  # the next execution proposes the same: it passes
        node.approval = None
        node.status = Status.PENDING
        self.tree.ready.appendleft(node.id)
        self.batch().event(self.run_id, EventKind.APPROVAL_DECIDED, node, detail)

    def cancelled(self, node: TaskNode, reason: str) -> None:
        """The node is being cancelled: its question stops, and its open request is closed as cancelled."""
        self._stop_asking(node.id)
        if self.awaiting.pop(node.id, None) is not None:
            self.batch().decisions.append((node.id, "cancelled", None, reason, "cancel"))
            if self.cost_node == node.id:
                self.cost_node = None
