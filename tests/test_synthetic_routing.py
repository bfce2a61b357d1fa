"""Synthetic requests (issue 12): the model writes a few requests each script would answer ("doc2query");
they are stored as route examples of kind 'synthetic', move the script's vector in the routing index before it
has any history, never count as confirmed history, and go with the script. Real stores (an SQLite file and a
PostgreSQL database for every test given one), the real MiniLM embedder, the scripted model server on loopback,
and `swarm route describe` as a subprocess. A schema-3 store is made by hand as an SQLite file (PostgreSQL's
migrations from each older schema: tests/test_store_migration.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swarm.model.client import ModelClient
from swarm.model.settings import ModelSettings
from swarm.retrieval import Entry, LiveIndex, MiniLMEmbedder
from swarm.retrieval.live import stored_history
from swarm.retrieval.synthetic import clean_requests, describe_scripts, synthetic_requests
from swarm.store import Store
from timeouts import scaled

CRIBBAGE = "Scores a hand in the card game cribbage: fifteens, pairs, runs, flushes and nobs."
SCRIPTS = [
    {"name": "cribbage_scorer", "description": CRIBBAGE},
    {"name": "poker_odds", "description": "Computes the odds of winning a poker hand against other players."},
    {"name": "recipe_finder", "description": "Find cooking recipes from the ingredients you have at home."},
    {"name": "flight_search", "description": "Search cheap flights between two airports on a date."},
    {"name": "calculator", "description": "Evaluates an arithmetic formula and returns the number."},
]
CRIBBAGE_REQUESTS = ["How many points is my cribbage hand worth?", "Count my hand: 5, J, J, J and a 4 as the starter",
                     "What's the score of this hand with two fives and a ten?", "Did I get nobs with this jack?",
                     "Score my crib"]
QUERY = "How many points is my hand worth? I have a five and three jacks."  # poker_odds first on descriptions alone


def requests_for(name: str, texts: list[str]) -> dict:
    return {"match": f"Tool: {name}:", "reply": texts, "repeat": True}


MODEL = [requests_for("cribbage_scorer", CRIBBAGE_REQUESTS),
         {"match": "A chatbot can use this tool", "reply": ["a request", "another request"], "repeat": True}]


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder()


@pytest.fixture
def store(any_store):
    return any_store


def client(server) -> ModelClient:
    return ModelClient(ModelSettings(base_url=server.url, model="scripted", max_retries=0))


def entries(synthetic: dict[str, list[str]] | None = None) -> list[Entry]:
    synthetic = synthetic or {}
    return [Entry(s["name"], s["description"], synthetic=synthetic.get(s["name"], [])) for s in SCRIPTS]


# --- writing and storing them -------------------------------------------------------------------------

def test_the_models_requests_are_stored_as_synthetic_examples_never_as_confirmed_history(store, scripted_model):
    server = scripted_model(MODEL)

    written = describe_scripts(store, client(server), SCRIPTS)

    assert [w["name"] for w in written] == [s["name"] for s in SCRIPTS]
    assert written[0]["requests"] == CRIBBAGE_REQUESTS
    assert {r["kind"] for r in store.route_examples()} == {"synthetic"}
    assert stored_history(store) == {}  # not one confirmed routing
    assert stored_history(store, "synthetic")["cribbage_scorer"] == CRIBBAGE_REQUESTS


def test_scripts_that_have_requests_are_skipped_and_again_replaces_them(store, scripted_model):
    describe_scripts(store, client(scripted_model(MODEL)), SCRIPTS[:1])
    nothing = scripted_model([{"fault": "500", "repeat": True}])  # any call would fail

    assert describe_scripts(store, client(nothing), SCRIPTS[:1]) == []

    newer = ["Tally my cribbage hand", "Points for 5-5-10-J?"]
    describe_scripts(store, client(scripted_model([requests_for("cribbage_scorer", newer)])), SCRIPTS[:1], again=True)
    assert stored_history(store, "synthetic") == {"cribbage_scorer": newer}


def test_a_script_without_a_description_gets_no_requests_and_a_direct_call_says_why(store, scripted_model):
    server = scripted_model(MODEL)
    assert describe_scripts(store, client(server), [{"name": "blank", "description": "  "}]) == []
    with pytest.raises(ValueError, match="no description"):
        synthetic_requests(client(server), "blank", "")


def test_the_models_list_is_cleaned_to_distinct_one_line_texts():
    assert clean_requests(["  Score  my\nhand ", "score my hand", "", 7, {"x": 1}, "Another"], 5) == \
        ["Score my hand", "7", "Another"]
    assert clean_requests("not a list") == []


def test_forgetting_a_scripts_examples_drops_its_synthetic_requests_too(store, scripted_model):
    describe_scripts(store, client(scripted_model(MODEL)), SCRIPTS[:2])
    store.add_route_example("cribbage_scorer", "count my crib", "positive")

    assert store.forget_route_examples(script="cribbage_scorer") == 6  # what `swarm scripts disable` does

    assert set(stored_history(store, "synthetic")) == {"poker_odds"}


# --- what they do in the routing index -----------------------------------------------------------------

def test_synthetic_requests_rank_a_script_first_before_it_has_any_history(minilm):
    plain = LiveIndex(minilm, None)
    plain.add(entries())
    assert plain.search(QUERY, 2)[0].name == "poker_odds"

    imagined = LiveIndex(minilm, None)
    imagined.add(entries({"cribbage_scorer": CRIBBAGE_REQUESTS}))

    assert imagined.search(QUERY, 2)[0].name == "cribbage_scorer"
    assert imagined.history.get("cribbage_scorer") == []  # no confirmed history came of them


def test_dropping_the_requests_gives_back_exactly_the_index_without_them(minilm):
    index = LiveIndex(minilm, None)
    index.add(entries({"cribbage_scorer": CRIBBAGE_REQUESTS}))

    index.sync(entries())

    fresh = LiveIndex(minilm, None)
    fresh.add(entries())
    assert [h.name for h in index.search(QUERY, 5)] == [h.name for h in fresh.search(QUERY, 5)]
    assert np.allclose(index.scores(QUERY)[[index.rows[s["name"]] for s in SCRIPTS]],
                       fresh.scores(QUERY)[[fresh.rows[s["name"]] for s in SCRIPTS]], atol=1e-6)


def test_the_first_confirmed_example_retires_the_synthetic_requests_of_its_script(minilm):
    index = LiveIndex(minilm, None)
    index.add(entries({"cribbage_scorer": CRIBBAGE_REQUESTS, "poker_odds": ["What are my odds with two aces?"]}))

    index.add_example("cribbage_scorer", "count my crib")

    confirmed = LiveIndex(minilm, None)  # the same history, and the synthetic requests of poker_odds only
    confirmed.add([Entry(e.name, e.description, history=["count my crib"] if e.name == "cribbage_scorer" else [],
                         synthetic=e.synthetic if e.name == "poker_odds" else [])
                   for e in entries({"poker_odds": ["What are my odds with two aces?"]})])
    assert np.allclose(index.vectors[index.rows["cribbage_scorer"]], confirmed.vectors[confirmed.rows["cribbage_scorer"]],
                       atol=1e-6)
    assert np.allclose(index.adapter.weights, confirmed.adapter.weights, atol=1e-6)
    assert index.adapter.pairs == confirmed.adapter.pairs == 2  # one confirmed example, one synthetic request


def test_the_engines_index_reads_them_from_the_store(store, minilm, scripted_model):
    from swarm.retrieval import catalogue_entries

    describe_scripts(store, client(scripted_model(MODEL)), SCRIPTS)
    index = LiveIndex(minilm, store)

    index.sync(catalogue_entries(SCRIPTS, stored_history(store), stored_history(store, "synthetic")))

    assert index.search(QUERY, 1)[0].name == "cribbage_scorer"


# --- the store ---------------------------------------------------------------------------------------

def test_a_schema_3_store_keeps_its_route_examples_and_then_takes_synthetic_ones(tmp_path):
    path = tmp_path / "old.db"
    Store(path).close()
    with sqlite3.connect(path) as c:  # make it the file a swarm of schema 3 wrote
        c.execute("DROP TABLE route_examples")
        c.execute("""CREATE TABLE route_examples (id INTEGER PRIMARY KEY AUTOINCREMENT, script TEXT NOT NULL,
                     text TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('positive', 'negative')), run_id TEXT,
                     node_id TEXT, at REAL NOT NULL, UNIQUE (script, text, kind))""")
        c.execute("INSERT INTO route_examples (script, text, kind, at) VALUES ('poker_odds', 'my odds?', 'positive', 1)")
        c.execute("DELETE FROM schema_migrations WHERE version = 4")
        c.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")

    store = Store(path)
    try:
        assert store.add_route_example("cribbage_scorer", "Score my crib", "synthetic")
        assert [(r["script"], r["text"], r["kind"]) for r in store.route_examples()] == \
            [("poker_odds", "my odds?", "positive"), ("cribbage_scorer", "Score my crib", "synthetic")]
    finally:
        store.close()


# --- the command ---------------------------------------------------------------------------------------

def cli(tmp_path: Path, *args: str, store_url: str = "") -> subprocess.CompletedProcess:
    model = tmp_path / "model.jsonl"
    model.write_text("".join(json.dumps(line) + "\n" for line in MODEL))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_STORE_URL=store_url,
               SWARM_TOOLSMITH_FOLDER=str(tmp_path / "generated"), SWARM_MODEL=f"scripted:{model}")
    return subprocess.run([sys.executable, "-m", "swarm.cli", "route", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=scaled(180))


def test_swarm_route_describe_writes_requests_for_every_script_once(tmp_path, store_url):
    done = cli(tmp_path, "describe", "--json", store_url=store_url)

    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    assert written and all(w["requests"] == ["a request", "another request"] for w in written)
    history = json.loads(cli(tmp_path, "history", "--json", store_url=store_url).stdout)
    assert {h["kind"] for h in history} == {"synthetic"}
    assert len(history) == 2 * len(written)

    again = cli(tmp_path, "describe", store_url=store_url)
    assert again.returncode == 0, again.stderr
    assert "every script has synthetic requests already" in again.stdout


def test_swarm_route_describe_of_an_unknown_script_is_one_clear_error(tmp_path):
    done = cli(tmp_path, "describe", "--script", "no_such_script")

    assert done.returncode != 0
    assert "no active script is named 'no_such_script'" in done.stderr and "swarm scripts list" in done.stderr
    assert "Traceback" not in done.stderr


def test_swarm_route_eval_takes_a_file_of_synthetic_requests(tmp_path):
    catalogue = tmp_path / "catalogue.jsonl"
    catalogue.write_text("".join(json.dumps(s) + "\n" for s in SCRIPTS))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"query": QUERY, "expected": "cribbage_scorer"}) + "\n")
    synthetic = tmp_path / "synthetic.jsonl"
    synthetic.write_text(json.dumps({"name": "cribbage_scorer", "requests": CRIBBAGE_REQUESTS}) + "\n")

    without = cli(tmp_path, "eval", "--json", "--catalogue", str(catalogue), "--queries", str(queries))
    with_them = cli(tmp_path, "eval", "--json", "--catalogue", str(catalogue), "--queries", str(queries),
                    "--synthetic", str(synthetic))

    assert without.returncode == 0 and with_them.returncode == 0, without.stderr + with_them.stderr
    assert json.loads(without.stdout)["recall@1"] == 0.0
    assert json.loads(with_them.stdout)["recall@1"] == 1.0
    assert json.loads(with_them.stdout)["synthetic"] == 5
