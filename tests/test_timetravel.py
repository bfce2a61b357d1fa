"""Time travel: checkout at any event, fork with replay of recorded model replies, diff of two runs.

The run used throughout (real engine, real store, real scripted model on loopback):

    1 plan ─ Plan: trip          → questions sun, food, sights; then Combine: the three answers
    ├─ 1.1 ask   Ask: sun
    ├─ 1.2 split Split: food     → parts fish, wine; then Merge: the two answers
    │   ├─ 1.2.1 ask Ask: fish
    │   └─ 1.2.2 ask Ask: wine
    └─ 1.3 ask   Ask: sights

"Downstream" of a node E edited in a fork at event N, precisely: E and every node under it,
every ancestor of E (each hears of E's result on its way up), and every node an ancestor
spawns after N together with its subtree (e.g. a later sequence step or a reviewer that is
given E's result). Only those can be asked anything different; every other node must end
the same (status, output, error, input, tokens, cost) and be replayed without a model call.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from lifecycle_support import make_engine, node_states, run, script  # noqa: F401

from swarm.errors import TimeTravelError, UnknownRun
from swarm.fork import parse_set
from swarm.store import loads
from swarm.timetravel import checkout, diff, fork

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL

PRICES = {"SWARM_MODEL_PRICES": json.dumps({"gpt-4o-mini": {"input": 0.15, "output": 0.6}})}

MODEL = [
    {"match": "^Plan: trip$", "repeat": True, "reply": json.dumps({"questions": ["sun", "food", "sights"]})},
    {"match": "^Ask: sun$", "repeat": True, "reply": "sunny"},
    {"match": "^Ask: sights$", "repeat": True, "reply": "museums"},
    {"match": "^Split: food$", "repeat": True, "reply": json.dumps({"parts": ["fish", "wine"]})},
    {"match": "^Split: markets$", "repeat": True, "reply": json.dumps({"parts": ["fish", "cheese", "bread"]})},
    {"match": "^Ask: fish$", "repeat": True, "reply": "grilled sardines"},
    {"match": "^Ask: wine$", "repeat": True, "reply": "vinho verde"},
    {"match": "^Ask: cheese$", "repeat": True, "reply": "queijo"},
    {"match": "^Ask: bread$", "repeat": True, "reply": "broa"},
    {"match": "^Merge: grilled sardines \\| vinho verde$", "repeat": True, "reply": "food: sardines and wine"},
    {"match": "^Merge: grilled sardines \\| queijo \\| broa$", "repeat": True, "reply": "markets: sardines, cheese, bread"},
    {"match": "^Combine: sunny \\| food: sardines and wine \\| museums$", "repeat": True, "reply": "Trip A"},
    {"match": "^Combine: sunny \\| markets: sardines, cheese, bread \\| museums$", "repeat": True, "reply": "Trip B"},
]


def plan(ctx):
    if ctx.round == 0:
        questions = ctx.llm("Plan: " + ctx.goal, json=True).data["questions"]
        return ctx.spawn([ctx.child("split" if q == "food" else "ask", question=q) for q in questions])
    return ctx.llm("Combine: " + " | ".join(str(r.output) for r in ctx.reports)).text


def plan_in_sequence(ctx):
    """The same plan, its children one after another (each spawned on the way up from the one before)."""
    if ctx.round == 0:
        questions = ctx.llm("Plan: " + ctx.goal, json=True).data["questions"]
        return ctx.spawn([ctx.child("split" if q == "food" else "ask", question=q) for q in questions], policy="sequence")
    return ctx.llm("Combine: " + " | ".join(str(r.output) for r in ctx.reports)).text


def ask(ctx):
    return ctx.llm("Ask: " + ctx.data["question"]).text


def split(ctx):
    if ctx.round == 0:
        parts = ctx.llm("Split: " + ctx.data["question"], json=True).data["parts"]
        return ctx.spawn([ctx.child("ask", question=p) for p in parts])
    return ctx.llm("Merge: " + " | ".join(str(r.output) for r in ctx.reports)).text


QUESTION = {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}
SCRIPTS = (script("plan", plan), script("plan_in_sequence", plan_in_sequence), script("ask", ask, input_schema=QUESTION), script("split", split, input_schema=QUESTION))


@pytest.fixture
def trip(make_engine, scripted_model):
    """A finished run of the trip tree: (engine, server, run id); snapshots every 7 events."""
    server = scripted_model(MODEL)
    engine = make_engine(*SCRIPTS, model=server, settings={**PRICES, "SWARM_STORE_SNAPSHOT_EVERY": "7"})
    run_id, status = run(engine, "trip", "plan")
    assert status == "done"
    return engine, server, run_id


def drive(engine, run_id: str) -> str:
    return asyncio.run(engine.drive(run_id))


def first_event(engine, run_id: str, kind: str, node_id: str) -> int:
    return next(e["seq"] for e in engine.store.events(run_id) if e["kind"] == kind and e["node_id"] == node_id)


def requests_after(server, n: int) -> list[dict]:
    return server.requests[n:]


def node_of(call_key: str) -> str:
    return call_key.split("/")[1]


def downstream(nodes_after: dict[str, dict], nodes_at_fork: dict[str, dict], edited: str) -> set[str]:
    """The nodes that may differ after editing `edited` at the fork point (see the module docstring)."""
    ancestors = {".".join(edited.split(".")[:i]) for i in range(1, edited.count(".") + 1)}
    roots = {edited} | {n for n in nodes_after if n not in nodes_at_fork and n.rsplit(".", 1)[0] in ancestors}
    return ancestors | {n for n in nodes_after if any(n == r or n.startswith(r + ".") for r in roots)}


# --- checkout ---------------------------------------------------------------------------------


def test_checkout_between_snapshots_equals_the_history_replayed_by_hand(trip):
    engine, _, run_id = trip
    snapshots = [s["at_event"] for s in engine.store._query("SELECT at_event FROM snapshots WHERE run_id=?", (run_id,))]
    first, last = engine.store.event_range(run_id)
    between = [e for e in range(first, last) if e not in snapshots and any(s < e for s in snapshots)]
    assert len(snapshots) >= 3 and between  # the checkout really starts from a snapshot, not from the beginning
    for at in between[:: max(1, len(between) // 6)]:
        by_hand: dict[str, dict] = {}
        for ev in engine.store.events(run_id, until=at):
            if ev["state"]:
                state = loads(ev["state"])
                by_hand[state["id"]] = state
        view = checkout(engine.store, run_id, at)
        assert {n["id"]: n for n in view["nodes"]} == by_hand
        assert view["at_event"] == at and view["event"]["seq"] == at
        assert view["run"]["nodes"] == len(by_hand)


def test_checkout_tells_the_run_status_then_and_the_result_only_once_it_existed(trip):
    engine, _, run_id = trip
    first, last = engine.store.event_range(run_id)
    middle = checkout(engine.store, run_id, first_event(engine, run_id, "execute_end", "1"))
    end = checkout(engine.store, run_id, last)
    assert (middle["run"]["status"], middle["run"]["result"], middle["run"]["status_now"]) == ("running", None, "done")
    assert (end["run"]["status"], end["run"]["result"]) == ("done", "Trip A")
    assert end["events"] == {"first": first, "last": last}


def test_checkout_refuses_an_event_outside_the_run_naming_the_valid_range(trip):
    engine, _, run_id = trip
    first, last = engine.store.event_range(run_id)
    with pytest.raises(TimeTravelError, match=f"its events are {first} to {last}"):
        checkout(engine.store, run_id, last + 1)
    with pytest.raises(UnknownRun):
        checkout(engine.store, "no-such-run", first)


# --- fork ---------------------------------------------------------------------------------------


def test_fork_at_the_last_event_without_edits_makes_no_model_call_and_ends_alike(trip):
    engine, server, run_id = trip
    asked = len(server.requests)
    new_id = fork(engine, run_id, engine.store.event_range(run_id)[1])
    assert drive(engine, new_id) == "done"
    assert len(server.requests) == asked
    assert loads(engine.store.run(new_id)["result"]) == "Trip A"
    d = diff(engine.store, run_id, new_id)
    assert d["same_result"] and d["counts"]["same"] == 6 and d["counts"]["changed"] == 0


def test_fork_mid_run_without_edits_replays_every_call_and_is_exact(trip):
    engine, server, run_id = trip
    asked = len(server.requests)
    at = first_event(engine, run_id, "execute", "1.2.1")  # 1.2.1 running, 1.2.2 running or pending, root waiting
    new_id = fork(engine, run_id, at)
    assert drive(engine, new_id) == "done"
    assert requests_after(server, asked) == []
    d = diff(engine.store, run_id, new_id)
    assert d["same_result"] and {r["change"] for r in d["nodes"]} == {"same"}
    assert d["b"]["replayed_calls"] == d["b"]["model_calls"] > 0 and d["b"]["paid_cost_usd"] == 0
    assert d["b"]["tokens"] == d["a"]["tokens"]  # a replayed call counts its tokens: the fork hits budgets alike
    run = engine.store.run(new_id)
    assert (run["forked_from"], run["forked_at"]) == (run_id, at)
    assert [e["kind"] for e in engine.store.events(new_id)][0] == "fork"


def test_fork_with_an_edited_input_asks_the_model_only_downstream_of_the_edit(trip):
    """The issue's fork test: zero model calls before the edited node; the diff differs only downstream."""
    engine, server, run_id = trip
    at = first_event(engine, run_id, "execute_end", "1")  # root has spawned 1.1, 1.2, 1.3; none has run yet
    at_fork = {n["id"]: n for n in checkout(engine.store, run_id, at)["nodes"]}
    assert {i: n["status"] for i, n in at_fork.items()} == {"1": "waiting", "1.1": "pending", "1.2": "pending", "1.3": "pending"}
    asked = len(server.requests)

    new_id = fork(engine, run_id, at, {"1.2.data.question": "markets"})
    assert drive(engine, new_id) == "done"

    calls = [node_of(r["call_key"]) for r in requests_after(server, asked)]
    assert calls[0] == "1.2"  # nothing reached the model before the edited node did
    after = node_states(engine, new_id)
    down = downstream(after, at_fork, "1.2")
    assert down == {"1", "1.2", "1.2.1", "1.2.2", "1.2.3"}
    assert set(calls) <= down
    # 1.2.1 asks "fish" in both runs: downstream, yet its recorded reply is replayed (request match, not position)
    assert sorted(calls) == ["1", "1.2", "1.2", "1.2.2", "1.2.3"]
    assert loads(engine.store.run(new_id)["result"]) == "Trip B"

    d = diff(engine.store, run_id, new_id)
    by_change = {c: {r["id"] for r in d["nodes"] if r["change"] == c} for c in ("same", "changed", "added", "removed")}
    assert by_change == {"same": {"1.1", "1.3", "1.2.1"}, "changed": {"1", "1.2", "1.2.2"}, "added": {"1.2.3"}, "removed": set()}
    assert by_change["changed"] | by_change["added"] <= down
    assert {r["id"] for r in d["nodes"] if r["change"] == "same"} >= set(after) - down
    row = next(r for r in d["nodes"] if r["id"] == "1.2")
    assert {"data", "output", "children"} <= set(row["fields"])
    assert (row["a"]["output"], row["b"]["output"]) == ("food: sardines and wine", "markets: sardines, cheese, bread")
    assert not d["same_result"] and d["delta"]["nodes"] == 1
    assert d["b"]["model_calls"] - d["b"]["replayed_calls"] == 5
    assert 0 < d["b"]["paid_cost_usd"] < d["b"]["cost_usd"]


def test_a_fork_is_resumable_and_still_replays_from_its_parent(trip):
    engine, server, run_id = trip
    at = first_event(engine, run_id, "execute_end", "1")
    new_id = fork(engine, run_id, at)
    asked = len(server.requests)
    engine.store.update_run(new_id, status="interrupted")  # as if the process had died before driving it
    assert engine.prepare_resume(new_id) == new_id
    assert drive(engine, new_id) == "done"
    assert len(server.requests) == asked


def test_fork_of_a_fork_replays_through_both(trip):
    engine, server, run_id = trip
    first = fork(engine, run_id, first_event(engine, run_id, "execute_end", "1"), {"1.2.data.question": "markets"})
    drive(engine, first)
    asked = len(server.requests)
    second = fork(engine, first, first_event(engine, first, "edit", "1.2"))  # the edit is made; nothing has run
    assert drive(engine, second) == "done"
    assert len(server.requests) == asked
    assert loads(engine.store.run(second)["result"]) == "Trip B"


def test_running_nodes_at_the_fork_point_are_pending_in_the_fork(trip):
    engine, _, run_id = trip
    at = first_event(engine, run_id, "execute", "1.1")
    new_id = fork(engine, run_id, at)
    first, last = engine.store.event_range(new_id)
    copied = {n["id"]: n for n in checkout(engine.store, new_id, first)["nodes"]}  # the fork event: the parent's state
    states = {n["id"]: n for n in checkout(engine.store, new_id, last)["nodes"]}
    parent = {n["id"]: n for n in checkout(engine.store, run_id, at)["nodes"]}
    assert {i: n["status"] for i, n in copied.items()} == {i: n["status"] for i, n in parent.items()}
    assert copied["1.1"]["status"] == "running" and states["1.1"]["status"] == "pending"
    assert "requeue" in [e["kind"] for e in engine.store.events(new_id) if e["node_id"] == "1.1"]
    assert {n["run_id"] for n in states.values()} == {new_id}


def test_fork_refuses_bad_edits_with_what_to_do(trip):
    engine, _, run_id = trip
    at = first_event(engine, run_id, "execute_end", "1")
    before = len(engine.store.runs(limit=100))
    with pytest.raises(TimeTravelError, match=r"no node '1.9' at event"):
        fork(engine, run_id, at, {"1.9.data.question": "x"})
    with pytest.raises(TimeTravelError, match="must name NODE.data.KEY"):
        fork(engine, run_id, at, {"1.2.question": "x"})
    with pytest.raises(TimeTravelError, match="does not fit script 'split'"):
        fork(engine, run_id, at, {"1.2.data.question": 42})
    last = engine.store.event_range(run_id)[1]
    with pytest.raises(TimeTravelError, match=r"node 1.2 had already ended \(done\).*fork at an event from \d+ \(its spawn\) to \d+"):
        fork(engine, run_id, last, {"1.2.data.question": "markets"})
    with pytest.raises(TimeTravelError, match="its events are"):
        fork(engine, run_id, 0)
    assert len(engine.store.runs(limit=100)) == before  # nothing recorded


@pytest.mark.parametrize("item, expected", [
    ("1.2.data.question=markets", ("1.2.data.question", "markets")),
    ("1.data.n=3", ("1.data.n", 3)),
    ('1.3.data.tags=["a", "b"]', ("1.3.data.tags", ["a", "b"])),
    ('1.data.q="42"', ("1.data.q", "42")),
    ("1.data.q=", ("1.data.q", "")),
    ("1.data.text=a=b", ("1.data.text", "a=b")),
])
def test_set_values_are_json_when_they_parse_else_text(item, expected):
    assert parse_set(item) == expected


@pytest.mark.parametrize("item", ["1.2.question=x", "1.2.data.=x", "data.q=x", "1.2.data.q", "x.data.q=1", "1..2.data.q=1"])
def test_malformed_sets_are_refused(item):
    with pytest.raises(TimeTravelError, match="must look like NODE.data.KEY=VALUE"):
        parse_set(item)


# --- diff ---------------------------------------------------------------------------------------


def test_diff_of_two_independent_runs_reports_timings_tokens_cost_and_errors(make_engine, scripted_model):
    server = scripted_model([{"match": "^Ask: good$", "repeat": True, "reply": "fine"},
                             {"match": "^Ask: bad$", "repeat": True, "fault": "500"}])
    engine = make_engine(script("ask", ask), model=server, settings=PRICES, node_max_attempts=1)
    good, _ = run(engine, "good", "ask", data={"question": "good"})
    bad, _ = run(engine, "bad", "ask", data={"question": "bad"})
    d = diff(engine.store, good, bad)
    json.dumps(d)  # JSON-serialisable as it is
    (root,) = d["nodes"]
    assert root["change"] == "changed" and {"status", "output", "error", "data"} <= set(root["fields"])
    assert root["b"]["status"] == "failed" and "500" in root["b"]["error"]
    assert root["a"]["duration_s"] is not None and root["a"]["tokens"] > 0 and root["a"]["cost_usd"] > 0
    assert (d["a"]["status"], d["b"]["status"]) == ("done", "failed")
    assert d["b"]["failed_calls"] == 1 and d["b"]["failed_nodes"] == 1
    assert d["delta"]["tokens"] == d["b"]["tokens"] - d["a"]["tokens"] < 0


def test_a_fork_at_any_event_without_edits_ends_alike_without_a_model_call(trip):
    """Every event of a run under `all` and of one under `sequence`, including events inside a turn of
    the loop (children spawned before their parent's own event, a parent not yet told its children
    ended): the fork starts where that turn's events end, and replays everything."""
    engine, server, in_parallel = trip
    in_sequence, status = run(engine, "trip", "plan_in_sequence")
    assert status == "done"
    asked = len(server.requests)
    moved = 0
    for run_id in (in_parallel, in_sequence):
        first, last = engine.store.event_range(run_id)
        for at in range(first + 1, last + 1):  # at `first` (run_start) there is no node yet: refused
            new_id = fork(engine, run_id, at)
            assert drive(engine, new_id) == "done", (run_id, at)
            assert loads(engine.store.run(new_id)["result"]) == "Trip A", (run_id, at)
            moved += engine.store.run(new_id)["forked_at"] != at
    assert len(server.requests) == asked
    assert moved  # some events were inside a turn


def plan_first(ctx):
    """The same plan, its first child to succeed winning (the others cancelled)."""
    if ctx.round == 0:
        questions = ctx.llm("Plan: " + ctx.goal, json=True).data["questions"]
        return ctx.spawn([ctx.child("split" if q == "food" else "ask", question=q) for q in questions], policy="first")
    return "won: " + next(str(r.output) for r in ctx.reports if r.ok)


def test_a_fork_inside_the_turn_where_a_first_child_won_starts_after_the_win(make_engine, scripted_model):
    """Under `first`, a child's success and the parent's win (the others cancelled, the parent woken) are one
    turn; a fork at an event inside it starts where the turn ends, as the policy says, and asks no model."""
    server = scripted_model(MODEL)
    engine = make_engine(*SCRIPTS, script("plan_first", plan_first), model=server, concurrency=1)
    run_id, status = run(engine, "trip", "plan_first")
    assert status == "done" and loads(engine.store.run(run_id)["result"]) == "won: sunny"
    asked, moved = len(server.requests), 0
    first, last = engine.store.event_range(run_id)
    for at in range(first + 1, last + 1):
        new_id = fork(engine, run_id, at)
        assert drive(engine, new_id) == "done", at
        assert loads(engine.store.run(new_id)["result"]) == "won: sunny", at
        moved += engine.store.run(new_id)["forked_at"] != at
    assert len(server.requests) == asked and moved
