"""Retrieval over the catalogue: the offline embedder, hybrid search, and `swarm route eval`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from swarm.cli import main
from swarm.config import RetrievalSettings, load_config
from swarm.errors import ConfigError, RetrievalError
from swarm.retrieval import Entry, HybridIndex, MiniLMEmbedder, OpenAIEmbedder, make_embedder, run_eval

CATALOGUE = [
    Entry("weather_forecast", "Get the weather forecast for a city for the next days.", ["city", "days"]),
    Entry("recipe_finder", "Find cooking recipes from the ingredients you have at home."),
    Entry("flight_search", "Search cheap flights between two airports on a date.", ["origin", "destination"]),
    Entry("stock_quote", "Look up the current share price of a company on the stock market."),
    Entry("translate_text", "Translate a text from one language into another.", examples=["say hello in French"]),
]


@pytest.fixture(scope="module")
def embedder():
    return MiniLMEmbedder()


def test_the_default_embedder_loads_offline_and_gives_unit_vectors(embedder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = embedder.embed(["the cat sat on the mat", "a kitten rests on a rug", "quarterly tax filing"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_the_default_settings_choose_the_offline_embedder():
    assert isinstance(make_embedder(RetrievalSettings()), MiniLMEmbedder)


@pytest.mark.parametrize("query, expected", [
    ("Will it rain in Paris tomorrow?", "weather_forecast"),
    ("What can I cook with eggs and spinach?", "recipe_finder"),
    ("I need a plane ticket from Boston to Denver in May", "flight_search"),
    ("How much is one Apple share worth today?", "stock_quote"),
    ("How do you say thank you in Japanese?", "translate_text"),
])
def test_hybrid_search_ranks_the_fitting_entry_first(embedder, query, expected):
    index = HybridIndex(CATALOGUE, embedder)
    hits = index.search(query, top_k=3)
    assert [h.name for h in hits][0] == expected
    assert hits[0].score >= hits[1].score >= hits[2].score


@pytest.mark.parametrize("fusion", ["mix", "rrf", "dense", "bm25"])
def test_every_fusion_finds_an_exact_keyword_match(embedder, fusion):
    index = HybridIndex(CATALOGUE, embedder, fusion=fusion, bm25_weight=0.5)
    assert index.search("translate this text into German", top_k=1)[0].name == "translate_text"


def test_an_empty_catalogue_returns_no_hits(embedder):
    assert HybridIndex([], embedder).search("anything") == []


class _Embeddings(BaseHTTPRequestHandler):
    """A loopback /v1/embeddings that returns a 3-d vector from each text's length."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((self.path, self.headers.get("Authorization"), body))
        data = [{"index": i, "embedding": [len(t), 1.0, 0.0]} for i, t in enumerate(body["input"])]
        payload = json.dumps({"data": list(reversed(data))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def embeddings_server():
    server = HTTPServer(("127.0.0.1", 0), _Embeddings)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_one_setting_switches_to_an_openai_compatible_endpoint(embeddings_server, monkeypatch):
    monkeypatch.setenv("EMBED_KEY", "sk-test")
    url = f"http://127.0.0.1:{embeddings_server.server_port}/v1"
    embedder = make_embedder(RetrievalSettings(embed_url=url, embed_model="m1", embed_api_key_env="EMBED_KEY"))
    assert isinstance(embedder, OpenAIEmbedder)
    vectors = embedder.embed(["a", "abc"])
    path, auth, body = embeddings_server.seen[0]
    assert (path, auth, body) == ("/v1/embeddings", "Bearer sk-test", {"model": "m1", "input": ["a", "abc"]})
    assert vectors.shape == (2, 3) and vectors[1][0] > vectors[0][0]  # rows back in input order, unit length


def test_an_endpoint_that_does_not_answer_is_a_clear_error():
    embedder = OpenAIEmbedder("http://127.0.0.1:9/v1", "m", timeout_s=2)
    with pytest.raises(RetrievalError, match=r"embeddings endpoint .* did not answer.*embed_url"):
        embedder.embed(["x"])


# --- swarm route eval ----------------------------------------------------------------------


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def eval_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no swarm.toml here: built-in defaults
    catalogue = write_jsonl(tmp_path / "cat.jsonl", [{"name": e.name, "description": e.description} for e in CATALOGUE])
    queries = write_jsonl(tmp_path / "q.jsonl", [
        {"query": "Is it going to snow in Oslo this weekend?", "expected": "weather_forecast"},
        {"query": "cheapest flight to Rome next Friday", "expected": "flight_search"},
        {"query": "dinner ideas with chicken and rice", "expected": "recipe_finder"},
    ])
    return catalogue, queries


def test_route_eval_prints_recall_and_latency_as_json(eval_files, capsys):
    catalogue, queries = eval_files
    assert main(["route", "eval", "--catalogue", str(catalogue), "--queries", str(queries), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"n", "recall@1", "recall@5", "recall@10", "p50_ms", "p95_ms", "index_s"}
    assert result["n"] == 3 and result["recall@5"] == 1.0
    assert 0 <= result["recall@1"] <= result["recall@5"] <= result["recall@10"] <= 1


def test_run_eval_is_the_library_behind_the_command(eval_files, embedder):
    catalogue, queries = eval_files
    assert run_eval(catalogue, queries, embedder)["recall@10"] == 1.0


@pytest.mark.parametrize("lines, message", [
    (None, "cannot read the catalogue file"),
    (["not json"], r"cat.jsonl:1: not JSON"),
    ([json.dumps({"name": "x"})], r"cat.jsonl:1: a catalogue line needs non-empty text fields 'name', 'description'"),
    ([json.dumps(["a", "b"])], r"cat.jsonl:1: a catalogue line needs"),
    ([""], r"cat.jsonl has no catalogue lines"),
])
def test_a_bad_catalogue_file_is_a_one_line_error(eval_files, capsys, lines, message):
    catalogue, queries = eval_files
    if lines is None:
        catalogue.unlink()
    else:
        catalogue.write_text("\n".join(lines), encoding="utf-8")
    assert main(["route", "eval", "--catalogue", str(catalogue), "--queries", str(queries)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("swarm: error: ") and err.count("\n") == 1
    assert __import__("re").search(message, err), err


def test_a_query_for_a_name_missing_from_the_catalogue_is_an_error(eval_files, capsys):
    catalogue, queries = eval_files
    write_jsonl(queries, [{"query": "hi", "expected": "no_such_tool"}])
    assert main(["route", "eval", "--catalogue", str(catalogue), "--queries", str(queries)]) == 2
    assert "'no_such_tool'" in capsys.readouterr().err


def test_route_eval_needs_both_files(eval_files, capsys):
    catalogue, _ = eval_files
    assert main(["route", "eval", "--catalogue", str(catalogue)]) == 1
    assert "--queries" in capsys.readouterr().err


def test_a_bad_fusion_setting_is_a_config_error():
    with pytest.raises(ConfigError, match=r"\[retrieval\].fusion must be one of .*SWARM_RETRIEVAL_FUSION"):
        load_config(env={"SWARM_RETRIEVAL_FUSION": "average"})


# --- swarm route TEXT ----------------------------------------------------------------------


def test_route_text_ranks_the_live_catalogue(tmp_path, monkeypatch, capsys, store_url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWARM_STORE", str(tmp_path / "swarm.db"))
    monkeypatch.setenv("SWARM_STORE_URL", store_url)  # its routing history and cached vectors: SQLite, PostgreSQL
    monkeypatch.setenv("SWARM_TOOLSMITH_FOLDER", str(tmp_path / "generated"))
    assert main(["route", "ask", "the", "user", "a", "question", "--top-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and hits[0]["name"] == "ask_human"


def test_route_text_refuses_a_top_k_below_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["route", "anything", "--top-k", "0"]) == 1
    assert "--top-k must be 1 or more" in capsys.readouterr().err
