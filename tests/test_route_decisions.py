"""The route decision log and a person's verdict on it: every routing is recorded (sub-goal, candidates
with scores, pick, run and node) with how it turned out; an approved run teaches the next run's
same-kind sub-goal, as its own recorded candidates show; `swarm route confirm/reject` teach at once;
forks and replays add nothing twice; a disabled script forgets its examples. Real engine, real SQLite
store, the scripted model on loopback, the real MiniLM embedder, the CLI as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle_support import make_engine, run  # noqa: F401  (make_engine is a fixture)
from node_scripts.route import NOT_ROUTABLE
from swarm.fork import fork
from test_node_scripts import services
from timeouts import scaled

FIRST = "Put on something relaxing for dinner"
NEXT = "Put on something relaxing for the evening"  # same kind: without history set_alarm ranks first


def evening(plans: dict[str, tuple[str, bool]], pick: str = "play_music") -> list[dict]:
    """A scripted model: each root goal (a key) is broken into one sub-goal, routed to `pick`, and its
    results approved or not by the review."""
    lines = [{"match": "^Choose the node script", "reply": {"script": pick}, "repeat": True}]
    for goal, (sub_goal, approved) in plans.items():
        lines.append({"match": f"^Break this goal down.*Goal: {goal}\n", "reply": {"subgoals": [sub_goal]}, "repeat": True})
        lines.append({"match": f"^Review these results.*Goal: {goal}\n",
                      "reply": {"approved": approved, "summary": f"{goal}: music is on", "issues": []}, "repeat": True})
    return lines


PLANS = {"Dinner for two": (FIRST, True), "A quiet night": (NEXT, True), "Guests tonight": (NEXT, False)}


def decision(engine, run_id: str) -> dict:
    [logged] = engine.store.route_decisions(run_id)
    return logged


def ranked(logged: dict) -> list[str]:
    return [c["name"] for c in logged["candidates"]]


both_backends = pytest.mark.usefixtures("store_url")  # the test runs on SQLite and on PostgreSQL


def cli(tmp_path: Path, *args: str, url: str = "") -> subprocess.CompletedProcess:
    """The CLI in a process of its own, on tmp_path's swarm.db or on the store of `url` (a PostgreSQL database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_STORE_URL=url, SWARM_TOOLSMITH_FOLDER=str(tmp_path / "generated"))
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=scaled(180))


def routes_first(engine, text: str) -> str:
    return engine.candidates(text, exclude=NOT_ROUTABLE)[0]["name"]


# --- the log ------------------------------------------------------------------------------------------

@both_backends
def test_each_route_decision_is_logged_with_its_candidates_their_scores_the_pick_and_how_it_turned_out(make_engine):
    engine = make_engine(*services(), model=evening(PLANS), node_max_attempts=1)
    engine.config.retrieval.top_k = 30

    run_id, status = run(engine, "Dinner for two", "break_down_goal")

    assert status == "done"
    logged = decision(engine, run_id)
    assert (logged["run_id"], logged["node_id"], logged["goal"], logged["pick"]) == (run_id, "1.1", FIRST, "play_music")
    scores = [c["score"] for c in logged["candidates"]]
    assert "play_music" in ranked(logged) and scores == sorted(scores, reverse=True)
    assert not NOT_ROUTABLE & set(ranked(logged))
    assert (logged["outcome"], logged["outcome_by"]) == ("positive", "run")


@both_backends
def test_an_approved_run_makes_the_next_runs_same_kind_sub_goal_rank_its_script_first_as_recorded(make_engine):
    engine = make_engine(*services(), model=evening(PLANS), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    before_id, before_status = run(engine, "Guests tonight", "break_down_goal")  # NEXT, not approved by the review

    learned_id, learned_status = run(engine, "Dinner for two", "break_down_goal")  # FIRST, approved
    after_id, after_status = run(engine, "A quiet night", "break_down_goal")  # NEXT again

    assert (before_status, learned_status, after_status) == ("unmet", "done", "done")
    before, after = decision(engine, before_id), decision(engine, after_id)
    assert before["goal"] == after["goal"] == NEXT
    assert ranked(before)[0] != "play_music"
    assert ranked(after)[0] == "play_music"
    assert (before["outcome"], decision(engine, learned_id)["outcome"]) == ("negative", "positive")
    assert {(e["script"], e["text"], e["kind"]) for e in engine.store.route_examples()} >= {
        ("play_music", NEXT, "negative"), ("play_music", FIRST, "positive")}


@both_backends
def test_a_fork_of_a_learned_run_driven_to_its_end_adds_no_example_twice(make_engine):
    engine = make_engine(*services(), model=evening(PLANS), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    run_id, _ = run(engine, "Dinner for two", "break_down_goal")
    route_started = next(e["seq"] for e in engine.store.events(run_id) if e["kind"] == "execute" and e["node_id"] == "1.1")

    fork_id = fork(engine, run_id, route_started)  # the route node routes again in the fork
    assert asyncio.run(engine.drive(fork_id)) == "done"
    replay_id = fork(engine, run_id, engine.store.event_range(run_id)[1])  # the whole run, replayed
    assert asyncio.run(engine.drive(replay_id)) == "done"

    assert [(e["script"], e["text"], e["run_id"]) for e in engine.store.route_examples()] == [("play_music", FIRST, run_id)]
    assert [t for t, _ in engine.routing_index.history["play_music"]] == [FIRST]
    assert decision(engine, fork_id)["pick"] == "play_music"  # the fork's own decision is logged under its id


# --- a person's verdict -------------------------------------------------------------------------------

@both_backends
def test_a_person_confirms_a_routing_the_review_refused_and_it_counts_at_once(make_engine, tmp_path):
    engine = make_engine(*services(), model=evening(PLANS), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    run_id, status = run(engine, "Guests tonight", "break_down_goal")
    assert status == "unmet" and routes_first(engine, FIRST) != "play_music"

    done = cli(tmp_path, "route", "confirm", run_id, "1.1", url=engine.config.store.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"confirmed: {NEXT!r} is now an example of play_music"
    assert [(e["script"], e["text"], e["kind"]) for e in engine.store.route_examples()] == [("play_music", NEXT, "positive")]
    assert (decision(engine, run_id)["outcome"], decision(engine, run_id)["outcome_by"]) == ("positive", "person")
    assert routes_first(engine, FIRST) == "play_music"  # the running engine follows the store


@both_backends
def test_a_person_rejects_a_learned_routing_and_no_replay_of_that_run_learns_it_again(make_engine, tmp_path):
    engine = make_engine(*services(), model=evening(PLANS), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    run_id, _ = run(engine, "Dinner for two", "break_down_goal")
    assert routes_first(engine, NEXT) == "play_music"

    done = cli(tmp_path, "route", "reject", run_id[:12], "1.1", url=engine.config.store.url)  # a unique prefix of the run id will do

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rejected: {FIRST!r} is a negative of play_music"
    assert [(e["script"], e["kind"]) for e in engine.store.route_examples()] == [("play_music", "negative")]
    assert routes_first(engine, NEXT) != "play_music"
    replay_id = fork(engine, run_id, engine.store.event_range(run_id)[1])
    assert asyncio.run(engine.drive(replay_id)) == "done"
    assert [(e["script"], e["kind"]) for e in engine.store.route_examples()] == [("play_music", "negative")]


@both_backends
def test_a_person_can_say_which_script_a_sub_goal_was_for(make_engine, tmp_path):
    engine = make_engine(*services(), model=evening(PLANS, pick="set_alarm"), node_max_attempts=1)
    run_id, _ = run(engine, "Guests tonight", "break_down_goal")

    done = cli(tmp_path, "route", "confirm", run_id, "1.1", "--script", "play_music", url=engine.config.store.url)

    assert done.returncode == 0, done.stderr
    assert [(e["script"], e["text"], e["kind"]) for e in engine.store.route_examples() if e["kind"] == "positive"] == [
        ("play_music", NEXT, "positive")]


@both_backends
def test_route_decisions_lists_the_log_and_bad_verdicts_say_what_to_pass(make_engine, tmp_path):
    engine = make_engine(*services(), model=evening(PLANS), node_max_attempts=1)
    run_id, _ = run(engine, "Dinner for two", "break_down_goal")

    listed = cli(tmp_path, "route", "decisions", run_id, "--json", url=engine.config.store.url)
    text = cli(tmp_path, "route", "decisions", url=engine.config.store.url)
    not_route = cli(tmp_path, "route", "confirm", run_id, "1", url=engine.config.store.url)
    no_run = cli(tmp_path, "route", "reject", "no-such-run", "1.1", url=engine.config.store.url)
    short = cli(tmp_path, "route", "confirm", run_id, url=engine.config.store.url)

    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["run_id"], row["node_id"], row["goal"], row["pick"], row["outcome"]) == (run_id, "1.1", FIRST, "play_music", "positive")
    assert row["candidates"][0]["name"] and isinstance(row["candidates"][0]["score"], float)
    assert text.returncode == 0 and "-> play_music  [positive (run)]" in text.stdout
    assert not_route.returncode != 0 and "is not a route decision" in not_route.stderr and "swarm route decisions" in not_route.stderr
    assert no_run.returncode != 0 and "no run 'no-such-run'" in no_run.stderr
    assert short.returncode != 0 and "takes RUN_ID NODE_ID" in short.stderr
    assert len(engine.store.route_examples()) == 1  # nothing lost, nothing added


# --- a disabled script forgets ------------------------------------------------------------------------

@both_backends
def test_disabling_a_generated_script_forgets_its_examples_and_the_index_follows(make_engine, tmp_path, monkeypatch, capsys):
    from swarm.cli import main
    from test_toolsmith import FIXED, proposal, register

    monkeypatch.setenv("SWARM_TOOLSMITH_FOLDER", str(tmp_path / "generated"))
    monkeypatch.chdir(tmp_path)
    engine = make_engine()
    monkeypatch.setenv("SWARM_STORE_URL", engine.config.store.url)  # `swarm scripts` works on the engine's store
    register(engine, proposal(FIXED))
    engine.store.add_route_example("slugify", "Make a URL slug of my blog title", "positive", "run-1", "1.1")
    engine.candidates("Make a URL slug of my post title")
    capsys.readouterr()

    assert main(["scripts", "disable", "slugify"]) == 0
    assert "forgot 1 route example(s) of it" in capsys.readouterr().out
    assert engine.store.route_examples() == []
    assert main(["scripts", "enable", "slugify"]) == 0
    engine.candidates("Make a URL slug of my post title")
    assert engine.routing_index.history.get("slugify") == []  # enabled again, it starts afresh
