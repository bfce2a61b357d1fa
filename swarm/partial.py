"""The best partial answer of a run stopped before its root answered (a budget ran out, or a person stopped it).

A stopped run still holds work worth keeping, and whoever reads its outcome should get it rather
than "no answer":
- a repair chain carries its best candidate so far (`best` in a node's input: code that runs but
  fails some of the goal's own examples); the deepest one holds the best of its chain;
- else, among the candidates several samples wrote at once (solve's `sample` children), the one failing
  the fewest of the goal's examples;
- otherwise, the answers of the finished nodes nearest the root (a decomposition's steps that ended
  before the stop), in the order they were planned.
The partial answer says it does not meet the goal (`approved: false`) and why (`issues`).
"""

from __future__ import annotations

from typing import Any

from swarm.node import Status, TaskNode


def partial_answer(nodes: dict[str, TaskNode], root_id: str, why: str) -> dict[str, Any] | None:
    """What a run stopped with `why` can still show, or None when nothing ended or was found on the way."""
    carried = [n for n in nodes.values() if isinstance(n.data.get("best"), dict)]
    if carried:
        deepest = max(carried, key=lambda n: n.depth)
        best = deepest.data["best"]
        kept = {key: best[key] for key in ("answer", "code", "logs") if key in best}
        return kept | {"approved": False, "issues": [why, *best.get("issues", [])], "from_node": deepest.id}
    samples = [n for n in nodes.values() if n.status == Status.DONE and isinstance(n.output, dict)
               and "sample" in n.output and n.output.get("code")]
    if samples:
        best = min(samples, key=lambda n: (int(n.output.get("wrong", 0)), n.output["sample"])).output
        kept = {"answer": best.get("answer", best["code"]), "code": best["code"]} | ({"logs": best["logs"]} if "logs" in best else {})
        issues = [why, best["error"]] if best.get("error") else [why]
        return kept | {"approved": False, "issues": issues, "from_node": next(n.id for n in samples if n.output is best)}
    finished = _finished_nearest(nodes, nodes[root_id])
    if not finished:
        return None
    answers = [{"node": n.id, "script": n.script, "answer": n.output} for n in finished]
    return {"answer": answers[0]["answer"] if len(answers) == 1 else answers, "approved": False, "issues": [why],
            "from_node": answers[0]["node"] if len(answers) == 1 else None}


def _finished_nearest(nodes: dict[str, TaskNode], node: TaskNode) -> list[TaskNode]:
    """Below `node`: each child that ended done with an output, else what its own subtree finished."""
    found: list[TaskNode] = []
    for child_id in node.children:
        child = nodes.get(child_id)
        if child is None or child_id == node.evaluator_node:
            continue  # a review's verdict is about an answer, not one
        if child.status == Status.DONE and child.output is not None:
            found.append(child)
        else:
            found += _finished_nearest(nodes, child)
    return found
