"""Routing that learns from use: a sub-goal whose routed script ended well, in a run that ended done,
becomes an example of that script and the next similar sub-goal ranks it first; a failed child's
sub-goal is a negative. Real engine, real SQLite store, the scripted model on loopback, the real
MiniLM embedder, and the `swarm route history/forget/eval` commands as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle_support import make_engine, run  # noqa: F401  (make_engine is a fixture)
from node_scripts.route import NOT_ROUTABLE
from swarm.plugin import NodeScript
from swarm.retrieval import Entry, LiveIndex, MiniLMEmbedder
from swarm.store import open_store

both_backends = pytest.mark.usefixtures("store_url")  # the test runs on SQLite and on PostgreSQL
from test_node_scripts import SERVICES, services
from timeouts import scaled

FIRST = "Put on something relaxing for dinner"
NEXT = "Put on something relaxing for the evening"  # same kind: without history set_alarm ranks first


def choose(name: str) -> list[dict]:
    return [{"match": "^Choose the node script", "reply": {"script": name}, "repeat": True}]


def ranking(engine, text: str) -> list[tuple[str, float]]:
    return [(c["name"], c["score"]) for c in engine.candidates(text, exclude=NOT_ROUTABLE)]


def cli(tmp_path: Path, *args: str, url: str = "") -> subprocess.CompletedProcess:
    """`swarm route ARGS` in a process of its own, on the store of `url` (default: tmp_path's swarm.db)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_STORE_URL=url, SWARM_TOOLSMITH_FOLDER=str(tmp_path / "generated"))
    return subprocess.run([sys.executable, "-m", "swarm.cli", "route", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=scaled(180))


def broken(ctx):
    raise RuntimeError("the speakers are unplugged")


# --- the engine learns from a run that ended done ---------------------------------------------------

@both_backends
def test_a_confirmed_routing_makes_the_next_similar_sub_goal_rank_that_script_first(make_engine):
    engine = make_engine(*services(), model=choose("play_music"), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    before = ranking(engine, NEXT)
    assert before[0][0] != "play_music"

    run_id, status = run(engine, FIRST, "route")

    assert status == "done"
    [example] = engine.store.route_examples()
    assert (example["script"], example["text"], example["kind"], example["run_id"], example["node_id"]) == \
        ("play_music", FIRST, "positive", run_id, "1")
    after = ranking(engine, NEXT)
    assert after[0][0] == "play_music"
    assert dict(after)["play_music"] > dict(before)["play_music"]
    assert engine.routing_index.history["play_music"][0][0] == FIRST  # learned at once, no rebuild


@both_backends
def test_the_recorded_candidates_of_the_next_run_show_the_learned_script_first(make_engine):
    engine = make_engine(*services(), model=choose("play_music"), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    run(engine, FIRST, "route")

    run_id, status = run(engine, NEXT, "route")

    assert status == "done"
    [logged] = engine.store.route_decisions(run_id)  # the decision log: what retrieval offered, best first
    assert (logged["goal"], logged["candidates"][0]["name"], logged["pick"]) == (NEXT, "play_music", "play_music")
    [call] = engine.store.llm_calls(run_id, "1")
    prompt = json.loads(call["request"])["messages"][0]["content"]
    assert prompt.split("Scripts:\n")[1].startswith("- play_music:")


@both_backends
def test_recording_a_run_twice_adds_nothing_so_forks_and_replays_never_count_twice(make_engine):
    engine = make_engine(*services(), model=choose("play_music"), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    run_id, _ = run(engine, FIRST, "route")

    engine.finished(run_id, "done", None)

    assert len(engine.store.route_examples()) == 1
    assert [t for t, _ in engine.routing_index.history["play_music"]] == [FIRST]


@both_backends
def test_a_failed_child_records_a_negative_and_teaches_nothing(make_engine):
    engine = make_engine(*services(), NodeScript(name="speaker_music", description="Play music on the speakers.",
                                                 execute=broken), model=choose("speaker_music"), node_max_attempts=1)
    engine.config.retrieval.top_k = 30

    run_id, status = run(engine, FIRST, "route")

    assert status == "failed"
    [example] = engine.store.route_examples()
    assert (example["script"], example["text"], example["kind"], example["run_id"]) == ("speaker_music", FIRST, "negative", run_id)
    assert ranking(engine, NEXT)[0][0] != "speaker_music"


@both_backends
def test_a_run_whose_review_did_not_approve_records_a_negative_and_teaches_nothing(make_engine):
    engine = make_engine(*services(), model=choose("play_music"), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    run_id, _ = run(engine, FIRST, "route")
    engine.store.forget_route_examples()

    engine.finished(run_id, "unmet", None)

    assert [(e["script"], e["text"], e["kind"]) for e in engine.store.route_examples()] == [("play_music", FIRST, "negative")]
    assert ranking(engine, NEXT)[0][0] != "play_music"


@both_backends
def test_a_run_that_stopped_teaches_nothing(make_engine):
    engine = make_engine(*services(), model=choose("play_music"), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    run_id, _ = run(engine, FIRST, "route")
    engine.store.forget_route_examples()

    for status in ("stopped", "cancelled"):
        engine.finished(run_id, status, None)

    assert engine.store.route_examples() == []


@both_backends
def test_the_history_survives_a_restart_and_forgetting_it_from_another_process_counts_at_once(make_engine, tmp_path):
    first = make_engine(*services(), model=choose("play_music"), node_max_attempts=1)
    first.config.retrieval.top_k = 30
    run(first, FIRST, "route")

    again = make_engine(*services())  # a new process on the same store
    assert ranking(again, NEXT)[0][0] == "play_music"

    forgot = cli(tmp_path, "forget", "--script", "play_music", url=again.config.store.url)

    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.strip() == "forgot 1 route example(s) of play_music"
    assert ranking(again, NEXT)[0][0] != "play_music"


# --- the commands -----------------------------------------------------------------------------------

def test_route_history_lists_the_examples_and_forget_drops_them(tmp_path, store_url):
    store = open_store(store_url)
    store.add_route_example("play_music", FIRST, "positive", "run-1", "1.2")
    store.add_route_example("set_alarm", "Wake me at seven", "negative", "run-2", "1")
    store.close()

    listed = cli(tmp_path, "history", "--json", url=store_url)
    one = cli(tmp_path, "history", "--script", "set_alarm", url=store_url)

    assert listed.returncode == 0, listed.stderr
    assert [(r["script"], r["text"], r["kind"], r["run_id"], r["node_id"]) for r in json.loads(listed.stdout)] == [
        ("play_music", FIRST, "positive", "run-1", "1.2"), ("set_alarm", "Wake me at seven", "negative", "run-2", "1")]
    assert one.returncode == 0 and "Wake me at seven" in one.stdout and FIRST not in one.stdout

    assert cli(tmp_path, "forget", "--all", url=store_url).stdout.strip() == "forgot 2 route example(s)"
    empty = cli(tmp_path, "history", url=store_url)
    assert empty.returncode == 0 and empty.stdout.startswith("no route examples recorded")


def test_route_forget_without_a_choice_says_what_to_pass_and_drops_nothing(tmp_path, store_url):
    store = open_store(store_url)
    store.add_route_example("play_music", FIRST)
    store.close()

    done = cli(tmp_path, "forget", url=store_url)

    assert done.returncode != 0
    assert "--script NAME" in done.stderr and "--all" in done.stderr
    assert len(open_store(store_url).route_examples()) == 1


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_route_eval_with_history_takes_it_as_confirmed_examples_and_refuses_queries_that_were_history(tmp_path):
    catalogue = write_jsonl(tmp_path / "catalogue.jsonl", [{"name": n, "description": d} for n, d in SERVICES.items()])
    queries = write_jsonl(tmp_path / "queries.jsonl", [{"query": NEXT, "expected": "play_music"}])
    history = write_jsonl(tmp_path / "history.jsonl", [{"query": FIRST, "expected": "play_music"}])

    without = cli(tmp_path, "eval", "--catalogue", str(catalogue), "--queries", str(queries), "--json")
    learned = cli(tmp_path, "eval", "--catalogue", str(catalogue), "--queries", str(queries), "--history", str(history), "--json")
    same = cli(tmp_path, "eval", "--catalogue", str(catalogue), "--queries", str(history), "--history", str(history))

    assert without.returncode == 0 and learned.returncode == 0, (without.stderr, learned.stderr)
    assert json.loads(without.stdout)["recall@1"] == 0.0
    assert json.loads(learned.stdout)["recall@1"] == 1.0 and json.loads(learned.stdout)["history"] == 1
    assert same.returncode != 0 and "also in the history file" in same.stderr


# --- the live index ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder()


def test_only_the_most_recent_examples_of_a_script_count(minilm):
    index = LiveIndex(minilm, None, examples_per_script=2)
    index.add([Entry(n, d) for n, d in SERVICES.items()])

    for text in ("Wake me with jazz", "Some jazz please", "Put on a jazz record"):
        index.add_example("play_music", text)

    assert [t for t, _ in index.history["play_music"]] == ["Some jazz please", "Put on a jazz record"]
    assert index.entries["play_music"].history == ["Some jazz please", "Put on a jazz record"]


def test_a_script_that_leaves_the_catalogue_takes_its_examples_with_it(minilm):
    index = LiveIndex(minilm, None)
    entries = [Entry(n, d) for n, d in SERVICES.items()]
    index.add(entries)
    index.add_example("play_music", FIRST)

    index.sync([e for e in entries if e.name != "play_music"])  # disabled
    index.sync(entries)  # enabled again, its history not given back

    assert "play_music" not in index.history or index.history["play_music"] == []
    assert index.search(NEXT, 1)[0].name != "play_music"


# --- a rolled-back script forgets what its other version was confirmed for ---------------------------

@both_backends
def test_rolling_back_a_generated_script_forgets_its_examples_and_the_index_follows(make_engine, tmp_path, monkeypatch, capsys):
    from swarm.cli import main
    from test_toolsmith import FIXED, V2, proposal, register

    monkeypatch.setenv("SWARM_TOOLSMITH_FOLDER", str(tmp_path / "generated"))
    monkeypatch.chdir(tmp_path)
    engine = make_engine()
    monkeypatch.setenv("SWARM_STORE_URL", engine.config.store.url)  # `swarm scripts` works on the engine's store
    register(engine, proposal(FIXED))
    register(engine, proposal(V2, tests=[{"input": {"text": "A B"}, "expected": {"slug": "a_b"}}]))
    engine.store.add_route_example("slugify", "Make a URL slug of my blog title", "positive", "run-1", "1.1")
    engine.candidates("Make a URL slug of my post title")
    assert [t for t, _ in engine.routing_index.history["slugify"]] == ["Make a URL slug of my blog title"]
    capsys.readouterr()

    assert main(["scripts", "rollback", "slugify"]) == 0

    assert "forgot 1 route example(s) of it" in capsys.readouterr().out
    assert engine.store.route_examples() == []
    engine.candidates("Make a URL slug of my post title")
    assert engine.routing_index.history.get("slugify") == []


@both_backends
def test_learning_an_example_keeps_the_index_in_step_without_a_resync(make_engine):
    engine = make_engine(*services(), model=choose("play_music"), node_max_attempts=1)
    engine.config.retrieval.top_k = 30
    engine.candidates(NEXT)
    synced = []
    real_sync = engine.routing_index.sync
    engine.routing_index.sync = lambda entries: synced.append(1) or real_sync(entries)

    run(engine, FIRST, "route")

    assert ranking(engine, NEXT)[0][0] == "play_music"
    assert synced == []  # the example went into its one row; nothing re-read the whole catalogue
