"""The pure transitions of a run's tree (swarm/transitions.py): state + what happened -> new state + events.

No loop, no threads, no store: a Tree of TaskNodes, a list for the events, and the callbacks noted."""

from __future__ import annotations

from swarm import transitions
from swarm.node import Child, Spawn, Status, TaskNode


class Recorder:
    """The events a transition recorded, each with the node's status at that moment; the loop's callbacks noted."""

    def __init__(self):
        self.events: list[tuple[str, str | None, str | None, dict | None]] = []
        self.cancelled: list[tuple[str, str]] = []
        self.ended: list[str] = []

    def record(self, kind, node, detail):
        self.events.append((str(kind), node.id if node else None, str(node.status) if node else None, detail))

    def kinds(self):
        return [(kind, node) for kind, node, _, _ in self.events]


def tree_with_root(status=Status.RUNNING) -> tuple[transitions.Tree, Recorder]:
    seen = Recorder()
    root = TaskNode(id="1", run_id="r", parent=None, script="plan", data={"goal": "g"}, status=status)
    tree = transitions.Tree("r", {"1": root}, seen.record, clock=lambda: 100.0,
                            on_cancel=lambda node, reason: seen.cancelled.append((node.id, reason)),
                            on_end=lambda node: seen.ended.append(node.id))
    return tree, seen


def spawned(tree, policy="all", n=3, evaluator="review") -> TaskNode:
    root = tree.root
    transitions.spawn_children(tree, root, Spawn([Child("leaf", {"i": i}) for i in range(n)], policy, evaluator))
    return root


def run_child(tree, node_id):
    """The loop took the node from the ready queue and executes it."""
    tree.ready.remove(node_id)
    tree.nodes[node_id].status = Status.RUNNING


def test_spawning_children_makes_the_parent_wait_and_queues_them_in_order():
    tree, seen = tree_with_root()
    root = spawned(tree, n=3)
    assert root.status == Status.WAITING and root.children == ["1.1", "1.2", "1.3"]
    assert list(tree.ready) == ["1.1", "1.2", "1.3"] and tree.open == {"1": 3}
    assert seen.kinds() == [("spawn", "1.1"), ("spawn", "1.2"), ("spawn", "1.3"), ("execute_end", "1")]
    assert seen.events[-1][3] == {"returned": "children", "policy": "all", "n": 3}
    assert tree.nodes["1.2"].depth == 1 and tree.nodes["1.2"].created_at == 100.0


def test_a_result_terminates_the_node_and_the_last_child_of_all_wakes_the_parent():
    tree, seen = tree_with_root()
    spawned(tree, n=2)
    for node_id in ("1.1", "1.2"):
        run_child(tree, node_id)
    transitions.returned(tree, tree.nodes["1.1"], "a")
    assert tree.root.status == Status.WAITING and tree.open["1"] == 1
    transitions.returned(tree, tree.nodes["1.2"], "b", logs=["said b"])
    assert seen.kinds()[-5:] == [("execute_end", "1.1"), ("terminate", "1.1"), ("execute_end", "1.2"),
                                 ("terminate", "1.2"), ("wake", "1")]
    assert seen.events[-3][3] == {"returned": "result", "logs": ["said b"]}
    assert tree.root.status == Status.PENDING and tree.root.round == 1 and list(tree.ready) == ["1"]
    assert seen.ended == ["1.1", "1.2"]


def test_a_sequence_spawns_its_next_step_when_a_step_ends_even_a_failed_one():
    tree, seen = tree_with_root()
    root = spawned(tree, policy="sequence", n=3)
    assert root.children == ["1.1"] and len(root.planned) == 2
    run_child(tree, "1.1")
    transitions.failed(tree, tree.nodes["1.1"], "boom", max_attempts=1)
    assert root.children == ["1.1", "1.2"] and list(tree.ready) == ["1.2"]
    assert seen.kinds()[-4:] == [("execute_end", "1.1"), ("terminate", "1.1"), ("spawn", "1.2"), ("step", "1")]
    assert seen.events[-1][3] == {"next": "1.2", "left": 1}


def test_first_cancels_the_other_children_when_one_succeeds_and_wakes_the_parent():
    tree, seen = tree_with_root()
    spawned(tree, policy="first", n=3)
    for node_id in ("1.1", "1.2"):
        run_child(tree, node_id)  # 1.3 is still queued
    transitions.returned(tree, tree.nodes["1.2"], "won")
    assert {i: str(tree.nodes[i].status) for i in ("1.1", "1.2", "1.3")} == {
        "1.1": "cancelled", "1.2": "done", "1.3": "cancelled"}
    assert seen.cancelled == [("1.1", "sibling 1.2 succeeded first"), ("1.3", "sibling 1.2 succeeded first")]
    assert tree.root.status == Status.PENDING and list(tree.ready)[-1] == "1"


def test_best_of_n_spawns_its_evaluator_over_the_successes_once_all_ended():
    tree, seen = tree_with_root()
    root = spawned(tree, policy="best_of_n", n=3, evaluator="judge")
    for node_id in ("1.1", "1.2", "1.3"):
        run_child(tree, node_id)
    transitions.returned(tree, tree.nodes["1.1"], "x")
    transitions.failed(tree, tree.nodes["1.2"], "no", max_attempts=1)
    transitions.returned(tree, tree.nodes["1.3"], "z")
    evaluator = tree.nodes["1.4"]
    assert root.evaluator_node == "1.4" and evaluator.script == "judge"
    assert evaluator.data["candidates"] == [{"node": "1.1", "output": "x"}, {"node": "1.3", "output": "z"}]
    assert seen.kinds()[-1] == ("evaluate", "1")


def test_a_failure_is_retried_while_attempts_are_left_then_fails_the_node():
    tree, seen = tree_with_root()
    transitions.failed(tree, tree.root, "ValueError: once", max_attempts=2)
    assert tree.root.status == Status.PENDING and tree.root.attempts == 1 and list(tree.ready) == ["1"]
    assert seen.events[-1][:3] == ("retry", "1", "pending")
    tree.ready.clear()
    transitions.failed(tree, tree.root, "ValueError: twice", max_attempts=2)
    assert tree.root.status == Status.FAILED and tree.root.error == "ValueError: twice"
    assert seen.kinds()[-2:] == [("execute_end", "1"), ("terminate", "1")]


def test_stopping_the_run_cancels_every_unfinished_node_deepest_first_and_says_why():
    tree, seen = tree_with_root()
    spawned(tree, n=2)
    run_child(tree, "1.1")
    transitions.returned(tree, tree.nodes["1.1"], "done before")
    transitions.stop(tree, "budget: max_tokens=10 exceeded (12 used)")
    assert tree.stop_reason.startswith("budget") and not tree.ready
    assert seen.kinds()[-3:] == [("cancel", "1.2"), ("cancel", "1"), ("budget_stop", None)]
    assert [c[0] for c in seen.cancelled] == ["1.2", "1"]
    transitions.failed(tree, tree.nodes["1.1"], "late", max_attempts=5)  # a stopped run retries nothing
    assert not tree.ready
    transitions.stop(tree, "cancelled by request")  # stopped once
    assert tree.stop_reason.startswith("budget")


def test_a_cancelled_child_is_heard_by_its_parent_like_any_other_ending():
    tree, seen = tree_with_root()
    spawned(tree, n=1)
    transitions.cancel(tree, tree.nodes["1.1"], "cancelled by request")
    assert seen.kinds()[-2:] == [("cancel", "1.1"), ("wake", "1")]


def test_nodes_running_when_the_process_died_are_queued_again():
    tree, seen = tree_with_root()
    spawned(tree, n=2)
    for node_id in ("1.1", "1.2"):
        run_child(tree, node_id)
    resumed = transitions.Tree("r", tree.nodes, seen.record)
    transitions.requeue_interrupted(resumed)
    assert list(resumed.ready) == ["1.1", "1.2"] and resumed.open == {"1": 2}
    assert seen.kinds()[-2:] == [("requeue", "1.1"), ("requeue", "1.2")]
    assert seen.events[-1][2] == "pending"
