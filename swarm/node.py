"""TaskNode and the values a node script returns to the lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarm.statuses import NodeStatus as Status  # a node's status, spelled once in swarm/statuses.py

POLICIES = ("all", "sequence", "first", "best_of_n")


@dataclass
class Child:
    """The blueprint of a node to spawn: which script runs it, with what input."""

    script: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Spawn:
    """Returned by a script that delegates: children to run under a policy.

    The node waits, and is executed again with the children's reports.
    """

    children: list[Child]
    policy: str = "all"
    evaluator: str = "review"


@dataclass
class AskHuman:
    """Returned by a script that needs a person's answer before it can go on."""

    question: str
    proposal: Any = None


@dataclass
class Report:
    """What a terminated child tells its parent on the way up."""

    node_id: str
    script: str
    status: str
    output: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == Status.DONE


@dataclass
class TaskNode:
    id: str
    run_id: str
    parent: str | None
    script: str
    data: dict[str, Any]
    depth: int = 0
    status: Status = Status.PENDING
    output: Any = None
    error: str | None = None
    children: list[str] = field(default_factory=list)
    # The current group of children: policy, planned blueprints not yet spawned (sequence),
    # and for best_of_n the evaluator script and, once spawned, its node.
    policy: str | None = None
    planned: list[dict] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    evaluator: str | None = None
    evaluator_node: str | None = None
    round: int = 0
    attempts: int = 0
    answer: Any = None
    # The request to a person the node waits on ({kind, question, proposal, key}), and the
    # proposals people approved for it, by key (the edited version, or None for "as proposed").
    approval: dict[str, Any] | None = None
    approved: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    FIELDS = (
        "id", "run_id", "parent", "script", "data", "depth", "status", "output", "error", "children",
        "policy", "planned", "group", "evaluator", "evaluator_node", "round", "attempts", "answer", "approval",
        "approved", "created_at",
        "started_at", "finished_at", "prompt_tokens", "completion_tokens", "cost_usd",
    )

    def state(self) -> dict[str, Any]:
        """The node as plain data: what the history and snapshots record."""
        return dict(self.__dict__)  # exactly the dataclass fields; Status is a str, so JSON takes it as is

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> TaskNode:
        kwargs = {k: d[k] for k in cls.FIELDS if k in d}
        kwargs["status"] = Status(kwargs.get("status", "pending"))
        kwargs["children"] = list(kwargs.get("children") or [])
        kwargs["group"] = list(kwargs.get("group") or [])
        kwargs["planned"] = list(kwargs.get("planned") or [])
        kwargs["approved"] = dict(kwargs.get("approved") or {})
        return cls(**kwargs)

    @classmethod
    def adopt(cls, state: dict[str, Any]) -> TaskNode:
        """The node of a whole state that nobody else holds (as swarm.deltas.whole/apply make them), which
        becomes the node's own: no copy, no __init__. Resuming a run of 100,000 nodes builds them all, and
        this is about ten times quicker than from_state. Anything else (fields missing, extra or out of order,
        a list that is not one) goes through from_state, so the node is the same either way."""
        if tuple(state) != cls.FIELDS or type(state["children"]) is not list or type(state["planned"]) is not list \
                or type(state["group"]) is not list or type(state["approved"]) is not dict:
            return cls.from_state(state)
        status = _STATUSES.get(state["status"])
        if status is None:
            return cls.from_state(state)  # an unknown status: from_state says so
        node = cls.__new__(cls)
        state["status"] = status
        node.__dict__ = state
        return node

    def report(self) -> Report:
        return Report(self.id, self.script, str(self.status), self.output, self.error)

    def child_id(self) -> str:
        """Ids are paths (1, 1.2, 1.2.1): deterministic, so a re-executed parent names its children alike."""
        return f"{self.id}.{len(self.children) + 1}"


_STATUSES = {str(s): s for s in Status}  # a status as the store keeps it -> the enum member (adopt)
