"""The policy registry: a child policy is one module registering itself, found by name when a parent spawns."""

from __future__ import annotations

import textwrap

import pytest

from lifecycle_support import make_engine, node_states, result, run, script  # noqa: F401
from swarm import policies
from swarm.node import Spawn

# The runs of a registered or unknown policy on SQLite and on PostgreSQL (the policy's name and the node's error
# are kept in the stored node state).
both_backends = pytest.mark.usefixtures("store_url")

TWO_OF_N = '''
"""two_of_n: the parent goes on as soon as two children succeeded; the others are cancelled."""

from swarm.node import Status
from swarm.policies import WAIT, WAKE, WIN, ChildPolicy, register


@register
class TwoOfN(ChildPolicy):
    name = "two_of_n"

    def after_child_ended(self, parent, child, open_left, nodes):
        if sum(1 for c in parent.group if nodes[c].status == Status.DONE) >= 2:
            return WIN
        return WAKE if open_left == 0 else WAIT
'''


@pytest.fixture
def plugins(tmp_path):
    """A plugins folder holding the one file of the two_of_n policy; the policy is forgotten afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "two_of_n.py").write_text(textwrap.dedent(TWO_OF_N))
    yield folder
    policies.REGISTRY.pop("two_of_n", None)


def fan(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("leaf", n=i) for i in range(1, 5)], policy=ctx.data["policy"])
    return [[r.node_id, r.status] for r in ctx.reports]


def leaf(ctx):
    return ctx.data["n"]


def test_each_built_in_policy_is_a_module_of_the_package_that_registers_itself():
    for name in ("all", "sequence", "first", "best_of_n"):
        assert type(policies.get(name)).__module__ == f"swarm.policies.{name}"


@both_backends
def test_a_policy_written_in_one_plugins_folder_file_is_used_by_a_run(make_engine, plugins):
    engine = make_engine(script("fan", fan), script("leaf", leaf),
                         settings={"SWARM_TOOLSMITH_PLUGINS_FOLDER": str(plugins)})

    run_id, status = run(engine, "two of four", "fan", data={"policy": "two_of_n"})

    assert status == "done"
    reports = result(engine, run_id)
    assert [r[1] for r in reports].count("done") == 2 and [r[1] for r in reports].count("cancelled") == 2
    assert node_states(engine, run_id)["1"]["policy"] == "two_of_n"


@both_backends
def test_an_unknown_policy_fails_the_node_naming_the_registered_ones(make_engine):
    engine = make_engine(script("fan", fan), script("leaf", leaf), node_max_attempts=1)

    run_id, status = run(engine, "no such policy", "fan", data={"policy": "two_of_n"})

    assert status == "failed"
    error = node_states(engine, run_id)["1"]["error"]
    assert "unknown child policy 'two_of_n'" in error and "all, " in error


@both_backends
def test_a_spawn_returned_under_an_unknown_policy_fails_the_node_without_children(make_engine):
    engine = make_engine(script("direct", lambda ctx: Spawn([ctx.child("leaf", n=1)], policy="nope")),
                         script("leaf", leaf), node_max_attempts=1)

    run_id, status = run(engine, "a hand-made spawn", "direct")

    assert status == "failed"
    assert node_states(engine, run_id)["1"]["error"].startswith("UnknownPolicy: node 1 spawned its children under an "
                                                                "unknown policy 'nope'; registered: all")
    assert set(node_states(engine, run_id)) == {"1"}
