"""The execution graph the page draws: pure functions from node states to nodes, edges, groups and folds; the graph
of a stored run read from either backend (`any_store`: an SQLite file, a PostgreSQL database)."""

from __future__ import annotations

from swarm.ui import queries
from swarm.ui.activity import activity, summary
from swarm.ui.graph import COLLAPSE_OVER, build_graph, node_view, order_key
from ui_support import write_tree_run

RUN = {"id": "r1", "goal": "g", "script": "s", "status": "running", "created_at": 0.0, "last_event": 7}


def state(node_id: str, status: str = "done", **extra) -> dict:
    parent = node_id.rsplit(".", 1)[0] if "." in node_id else None
    return {"id": node_id, "parent": parent, "script": "s", "status": status, "depth": node_id.count("."),
            "data": {"goal": f"goal of {node_id}"}, "children": [], "group": [], "planned": [], **extra}


def test_nodes_come_in_tree_order_with_parent_to_child_edges():
    states = [state("1.10"), state("1"), state("1.2"), state("1.2.1"), state("1.1")]
    graph = build_graph(RUN, states)
    assert [n["id"] for n in graph["nodes"]] == ["1", "1.1", "1.2", "1.2.1", "1.10"]
    assert graph["edges"] == [["1", "1.1"], ["1", "1.2"], ["1.2", "1.2.1"], ["1", "1.10"]]
    assert graph["nodes"][0]["children"] == ["1.1", "1.2", "1.10"]
    assert graph["seq"] == 7 and graph["at_event"] is None


def test_each_policy_group_is_named_with_its_members():
    states = [
        state("1", "waiting", policy="all", group=["1.1", "1.2"]),
        state("1.1", "waiting", policy="sequence", group=["1.1.1"], planned=[{"script": "s", "data": {}}] * 2),
        state("1.1.1", "running"),
        state("1.2", "waiting", policy="best_of_n", group=["1.2.1", "1.2.2", "1.2.3"], evaluator_node="1.2.3"),
        state("1.2.1"), state("1.2.2"), state("1.2.3", "running"),
        state("1.3", "waiting", policy="first", group=["1.3.1"]), state("1.3.1", "running"),
    ]
    groups = {g["parent"]: g for g in build_graph(RUN, states)["groups"]}
    assert groups["1"]["name"] == "parallel" and groups["1"]["members"] == ["1.1", "1.2"]
    assert groups["1.1"]["name"] == "sequence" and groups["1.1"]["planned"] == 2
    assert groups["1.2"]["name"] == "best_of_n" and groups["1.2"]["evaluator"] == "1.2.3"
    assert groups["1.3"]["name"] == "first"


def test_subtree_counts_say_what_a_fold_hides():
    states = [state("1", "waiting"), state("1.1", "waiting"), state("1.1.1", "failed"), state("1.1.2", "running"),
              state("1.2")]
    by_id = {n["id"]: n for n in build_graph(RUN, states)["nodes"]}
    assert by_id["1"]["descendants"] == 4
    assert by_id["1"]["active_below"] == 2  # 1.1 (waiting) and 1.1.2 (running)
    assert by_id["1"]["failed_below"] == 1
    assert by_id["1.2"]["descendants"] == 0


def test_small_runs_start_unfolded_and_big_ones_fold_quiet_subtrees():
    small = build_graph(RUN, [state("1"), state("1.1"), state("1.1.1")])
    assert not any(n["collapsed"] for n in small["nodes"])
    states = [state("1", "waiting"), state("1.1", "waiting"), state("1.1.1", "running"), state("1.2"), state("1.3"),
              state("1.3.1", "failed")]
    states += [state(f"1.2.{i}") for i in range(1, COLLAPSE_OVER)]
    by_id = {n["id"]: n for n in build_graph(RUN, states)["nodes"]}
    assert by_id["1.2"]["collapsed"]  # all done below: folded
    assert not by_id["1.1"]["collapsed"]  # something runs below: open
    assert not by_id["1.3"]["collapsed"]  # a failure below: open
    assert not by_id["1"]["collapsed"]  # the root always open


def test_a_node_view_is_small_and_labels_long_goals_on_one_line():
    long_goal = "word " * 100
    view = node_view(state("1.4", data={"goal": long_goal, "blob": "x" * 100_000}, output="y" * 100_000,
                           prompt_tokens=5, completion_tokens=7, cost_usd=0.25, error="E" * 1000))
    assert len(view["label"]) <= 120 and "\n" not in view["label"]
    assert view["tokens"] == 12 and view["cost_usd"] == 0.25
    assert len(view["error"]) == 200
    assert "output" not in view and "data" not in view
    assert len(str(view)) < 1000


def test_ids_sort_as_numbers():
    assert sorted(["1.10", "1.9", "1.1.2", "1"], key=order_key) == ["1", "1.1.2", "1.9", "1.10"]


def test_the_graph_of_a_5000_node_run_is_complete(any_store):
    store = any_store
    run_id = write_tree_run(store, nodes=5000)
    graph = queries.graph(store, run_id)
    assert len(graph["nodes"]) == 5000 and len(graph["edges"]) == 4999
    assert graph["counts"] == {"done": 5000}
    assert graph["nodes"][0]["descendants"] == 4999
    assert sum(n["collapsed"] for n in graph["nodes"]) > 0  # a big finished run starts folded below the root
    assert all(n["active"]["executions"] == 1 for n in graph["nodes"])  # bench/ui.py measures how quick


def test_the_graph_as_of_an_event_is_the_tree_at_that_moment(any_store):
    store = any_store
    run_id = write_tree_run(store, nodes=50)
    first_spawns = store.events(run_id)[4]["seq"]  # the fifth event: five nodes spawned, none ended
    then = queries.graph(store, run_id, at_event=first_spawns)
    assert [n["id"] for n in then["nodes"]] == ["1", "1.1", "1.2", "1.3", "1.4"]
    assert then["at_event"] == first_spawns
    assert set(then["counts"]) == {"pending"}


# --- how long a node worked: every execution, not only the last ------------------------------------


def test_a_node_s_active_time_is_every_execution_summed_not_only_the_last():
    """A parent that thinks for 16 s, waits 60 s for its children, then joins their reports in 4 ms."""
    rows = [(None, "run_start", 0.0), ("1", "spawn", 0.0),
            ("1", "execute", 1.0), ("1", "tool_calls", 9.0), ("1", "execute_end", 17.0),  # 16 s, then children
            ("1.1", "spawn", 17.0), ("1.1", "execute", 17.0), ("1.1", "terminate", 77.0),
            ("1", "wake", 77.0), ("1", "execute", 77.5), ("1", "execute_end", 77.504), ("1", "terminate", 77.504)]
    worked = activity(rows)
    assert worked["1"]["executions"] == 2 and worked["1"]["first_started_at"] == 1.0
    assert round(worked["1"]["active_s"], 3) == 16.004
    assert worked["1"]["running_since"] is None
    shown = summary(worked["1"], state("1", finished_at=77.504))
    assert shown == {"ms": 16004, "executions": 2, "span_ms": 76504}
    assert summary(worked["1"], state("1", "waiting")) == {"ms": 16004, "executions": 2, "first_started_at": 1.0}


def test_an_execution_still_going_is_open_and_one_cut_short_ends_where_the_history_does():
    rows = [("1", "execute", 10.0), ("1.1", "execute", 11.0), ("1.2", "execute", 12.0),
            ("1.2", "execute_end", 14.0), ("1.2", "terminate", 14.0),  # 1.1 is still running when the process dies
            ("1.1", "requeue", 500.0), ("1.1", "execute", 500.0)]  # found on resume, minutes later
    worked = activity(rows)
    assert worked["1.1"]["active_s"] == 3.0  # 11 → 14, the last event before the requeue, not 11 → 500
    assert worked["1.1"]["executions"] == 2 and worked["1.1"]["running_since"] == 500.0
    assert worked["1"]["running_since"] == 10.0 and worked["1"]["active_s"] == 0.0
    assert summary(worked["1.1"], state("1.1", "running")) == {"ms": 3000, "executions": 2, "first_started_at": 11.0,
                                                                "running_since": 500.0}


def test_a_run_that_stops_being_driven_ends_every_execution():
    rows = [("1", "execute", 0.0), ("1.1", "execute", 1.0), (None, "run_interrupt", 5.0), ("1.1", "requeue", 90.0)]
    worked = activity(rows)
    assert worked["1"]["active_s"] == 5.0 and worked["1.1"]["active_s"] == 4.0


def test_nodes_that_never_executed_in_this_history_have_no_account():
    graph = build_graph(RUN, [state("1", "waiting"), state("1.1", "pending")], worked=activity([("1", "execute", 0.0)]))
    by_id = {n["id"]: n for n in graph["nodes"]}
    assert by_id["1"]["active"]["executions"] == 1 and "active" not in by_id["1.1"]
