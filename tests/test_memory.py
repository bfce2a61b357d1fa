"""Memory: files and run results kept in the store, found by the same hybrid retrieval as routing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lifecycle_support import make_engine, result, run  # noqa: F401

from swarm.memory import Memory, MemoryItemError
from swarm.retrieval.embedder import MiniLMEmbedder
from swarm.store import open_store

both_backends = pytest.mark.usefixtures("store_url")  # the test runs on SQLite and on PostgreSQL

NOTES = {
    "lisbon.md": "# Lisbon trip\n\n## Budget\n\nThe budget for the Lisbon trip is 1,200 EUR for three days.\n\n"
                 "## Hotels\n\nWe booked the Alfama guesthouse near the castle.\n",
    "garden.txt": "Tomatoes need watering every morning in July. The basil grows by the kitchen window.",
}


class CountingEmbedder:
    """The real offline embedder, counting the texts it is asked to embed."""

    def __init__(self):
        self.inner = MiniLMEmbedder()
        self.name = self.inner.name
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        return self.inner.embed(texts)


@pytest.fixture
def store(any_store):
    """Memory on each backend: an SQLite file, a PostgreSQL database."""
    return any_store


@pytest.fixture
def notes(tmp_path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    return folder


def test_files_are_cut_into_chunks_and_the_fitting_chunk_is_found(store, notes):
    memory = Memory(store)
    added = memory.add_files([notes])
    assert {Path(a["source"]).name: a["chunks"] for a in added} == {"garden.txt": 1, "lisbon.md": 2}
    best = memory.search("how much money can we spend in Lisbon?", limit=2)[0]
    assert "1,200 EUR" in best["text"] and best["meta"]["title"].endswith("Budget")
    assert memory.search("when should I water the tomatoes", limit=1)[0]["meta"]["source"].endswith("garden.txt")


def test_adding_a_file_again_replaces_its_chunks(store, notes):
    memory = Memory(store)
    memory.add_files([notes / "lisbon.md"])
    (notes / "lisbon.md").write_text("# Lisbon trip\n\nThe budget is now 2,000 EUR.\n")
    memory.add_files([notes / "lisbon.md"])
    texts = [m["text"] for m in memory.items()]
    assert len(texts) == 1 and "2,000 EUR" in texts[0]
    assert "2,000" in memory.search("Lisbon budget", limit=1)[0]["text"]


@pytest.mark.parametrize("name, content, message", [
    ("blob.bin", b"\x00\x01\x02binary", "binary file"),
    ("latin.txt", "caf\xe9".encode("latin-1"), "not UTF-8"),
    ("empty.md", b"  \n", "is empty"),
])
def test_a_bad_file_is_refused_and_nothing_of_the_batch_is_kept(store, notes, name, content, message):
    (notes / name).write_bytes(content)
    memory = Memory(store)
    with pytest.raises(MemoryItemError, match=message):
        memory.add_files([notes / "garden.txt", notes / name])
    assert memory.count() == 0


def test_a_file_over_the_size_limit_is_refused(store, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 600)
    with pytest.raises(MemoryItemError, match="max_file_kb"):
        Memory(store, max_file_kb=1).add_files([big])


def test_a_missing_path_is_refused(store, tmp_path):
    with pytest.raises(MemoryItemError, match="does not exist"):
        Memory(store).add_files([tmp_path / "nope.md"])


def test_items_can_be_forgotten_by_id_key_or_file_and_are_never_found_again(store, notes):
    memory = Memory(store)
    memory.add_files([notes])
    note = memory.add("The wifi password of the studio is on the fridge", key="studio/wifi")
    assert memory.search("wifi password", limit=1)[0]["id"] == note
    assert memory.remove("studio/wifi") == 1
    assert all(m["id"] != note for m in memory.search("wifi password", limit=5))
    assert memory.remove(str(notes / "lisbon.md")) == 2
    assert all("Lisbon" not in m["text"] for m in memory.search("Lisbon budget", limit=5))
    with pytest.raises(MemoryItemError, match="no item"):
        memory.remove("12345")


def test_a_new_item_is_indexed_alone_and_a_restart_embeds_nothing_again(store_url, notes):
    store = open_store(store_url)
    counting = CountingEmbedder()
    memory = Memory(store, lambda: counting)
    memory.add_files([notes])
    memory.search("anything", limit=1)
    first = counting.embedded
    memory.add("The car is parked on level 3")
    memory.search("where is the car", limit=1)
    assert counting.embedded == first + 2  # the new item and the query; nothing re-embedded
    store.close()

    store = open_store(store_url)
    again = CountingEmbedder()
    assert Memory(store, lambda: again).search("where is the car", limit=1)[0]["text"].startswith("The car")
    assert again.embedded == 1  # only the query: the items' vectors come from the store
    store.close()


def test_memory_is_a_llama_index_retriever(store, notes):
    memory = Memory(store)
    memory.add_files([notes])
    nodes = memory.retriever(top_k=2).retrieve("basil by the window")
    assert len(nodes) == 2 and "basil" in nodes[0].node.get_content() and nodes[0].score >= nodes[1].score


@both_backends
def test_a_finished_runs_result_is_kept_in_memory_and_found_later(make_engine):
    engine = make_engine(model=[{"reply": "Pack light: Lisbon has steep hills and trams.", "repeat": True}])
    run_id, status = run(engine, "Give one packing tip for Lisbon", "write_text")
    assert status == "done"
    kept = engine.memory.get(f"run:{run_id}")
    assert kept is not None and "steep hills" in kept
    assert engine.memory.search("what to pack for Lisbon", limit=1)[0]["run_id"] == run_id


@both_backends
def test_the_retrieve_script_answers_from_memory_and_cites_its_sources(make_engine, scripted_model, notes):
    server = scripted_model([{"match": "Question: What is the budget", "reply": "The budget is 1,200 EUR [1]."}])
    engine = make_engine(model=server)
    engine.memory.add_files([notes])
    run_id, status = run(engine, "What is the budget of the Lisbon trip?", "retrieve")
    assert status == "done"
    out = result(engine, run_id)
    assert out["answer"] == "The budget is 1,200 EUR [1]."
    assert out["sources"][0]["source"].endswith("lisbon.md")
    prompt = server.requests[0]["last_user"]
    assert "[1]" in prompt and "1,200 EUR" in prompt


@both_backends
def test_retrieve_with_nothing_in_memory_says_so_without_a_model_call(make_engine, scripted_model):
    server = scripted_model([{"reply": "should not be asked", "repeat": True}])
    engine = make_engine(model=server, settings={"SWARM_MEMORY_KEEP_RUN_RESULTS": "false"})
    run_id, status = run(engine, "What did we decide about the budget?", "retrieve")
    assert status == "done" and result(engine, run_id)["answer"] is None
    assert server.requests == []


@both_backends
def test_retrieve_does_not_trust_an_unrelated_passage_from_an_earlier_run(make_engine, scripted_model):
    server = scripted_model([{"reply": "should not be asked", "repeat": True}])
    engine = make_engine(model=server, settings={"SWARM_MEMORY_KEEP_RUN_RESULTS": "false"})
    engine.memory.add("sqlite3.OperationalError: database is locked while writing the events table", key="run:old")
    assert engine.memory.search("What is the capital of Japan?", limit=1)  # memory does return it, scored low

    run_id, status = run(engine, "What is the capital of Japan?", "retrieve")

    assert status == "done" and result(engine, run_id)["answer"] is None
    assert server.requests == []  # nothing worth a model call


def _cli(tmp_path, store_url, *args):
    env = {"PATH": "/usr/bin:/bin", "SWARM_STORE": str(tmp_path / "cli.db"), "SWARM_STORE_URL": store_url,
           "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "swarm.cli", "memory", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_memory_commands_add_search_and_list(tmp_path, notes, store_url):
    added = _cli(tmp_path, store_url, "add", str(notes), "--json")
    assert added.returncode == 0, added.stderr
    assert sum(a["chunks"] for a in json.loads(added.stdout)) == 3
    found = _cli(tmp_path, store_url, "search", "where", "do", "we", "stay", "in", "Lisbon", "--top-k", "1", "--json")
    assert "Alfama" in json.loads(found.stdout)[0]["text"]
    listed = _cli(tmp_path, store_url, "list", "--kind", "file", "--json")
    assert len(json.loads(listed.stdout)) == 3
    bad = _cli(tmp_path, store_url, "add", str(tmp_path / "missing.md"))
    assert bad.returncode != 0 and bad.stderr.startswith("swarm: error:") and "does not exist" in bad.stderr
