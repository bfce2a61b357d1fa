"""The child policies as pure decisions: what a waiting parent does when a child ends."""

from __future__ import annotations

from swarm import policies
from swarm.node import Status, TaskNode


def family(policy: str, statuses: list[str], **parent_fields) -> tuple[TaskNode, dict[str, TaskNode]]:
    parent = TaskNode(id="1", run_id="r", parent=None, script="p", data={}, status=Status.WAITING, policy=policy,
                      **parent_fields)
    nodes = {"1": parent}
    for i, status in enumerate(statuses, 1):
        child = TaskNode(id=f"1.{i}", run_id="r", parent="1", script="c", data={}, status=Status(status))
        nodes[child.id] = child
        parent.children.append(child.id)
        parent.group.append(child.id)
    return parent, nodes


def decide(parent, child, nodes):
    return policies.after_child_ended(parent, child, policies.open_children(parent, nodes), nodes)


def test_all_waits_until_every_child_has_ended():
    parent, nodes = family("all", ["done", "running"])
    assert decide(parent, nodes["1.1"], nodes) == policies.WAIT
    parent, nodes = family("all", ["done", "failed"])
    assert decide(parent, nodes["1.2"], nodes) == policies.WAKE


def test_sequence_spawns_the_next_step_after_a_success_or_a_failure_and_wakes_after_the_last():
    parent, nodes = family("sequence", ["done"], planned=[{"script": "c", "data": {}}])
    assert decide(parent, nodes["1.1"], nodes) == policies.NEXT_STEP
    parent, nodes = family("sequence", ["failed"], planned=[{"script": "c", "data": {}}])
    assert decide(parent, nodes["1.1"], nodes) == policies.NEXT_STEP
    parent, nodes = family("sequence", ["failed"])
    assert decide(parent, nodes["1.1"], nodes) == policies.WAKE


def test_first_wins_on_the_first_success_and_wakes_only_when_all_failed():
    parent, nodes = family("first", ["running", "done"])
    assert decide(parent, nodes["1.2"], nodes) == policies.WIN
    parent, nodes = family("first", ["failed", "running"])
    assert decide(parent, nodes["1.1"], nodes) == policies.WAIT
    parent, nodes = family("first", ["failed", "failed"])
    assert decide(parent, nodes["1.2"], nodes) == policies.WAKE


def test_best_of_n_evaluates_two_or_more_successes_and_reports_only_the_pick():
    parent, nodes = family("best_of_n", ["done", "done", "failed"])
    assert decide(parent, nodes["1.3"], nodes) == policies.EVALUATE
    parent, nodes = family("best_of_n", ["done", "failed"])
    assert decide(parent, nodes["1.2"], nodes) == policies.WAKE
    parent, nodes = family("best_of_n", ["done", "done", "done"], evaluator_node="1.3", round=1)
    nodes["1.1"].output, nodes["1.2"].output, nodes["1.3"].output = "a", "b", {"best": 1}
    assert [r.output for r in policies.reports_for(parent, nodes)] == ["b"]


def test_only_the_current_group_counts():
    parent, nodes = family("all", ["done", "done", "running"])
    parent.group = ["1.3"]  # a later round spawned only 1.3
    assert not policies.in_group(parent, nodes["1.1"])
    assert policies.in_group(parent, nodes["1.3"])
