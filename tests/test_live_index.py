"""The live routing index: incremental updates, and embeddings cached in the store across restarts (an SQLite
file and a PostgreSQL database: every test given a store runs on both)."""

from __future__ import annotations

import pytest

from swarm.retrieval import Entry, LiveIndex, MiniLMEmbedder, catalogue_entries
from swarm.store import open_store

ENTRIES = [
    Entry("weather_forecast", "Get the weather forecast for a city for the next days.", ["city", "days"]),
    Entry("recipe_finder", "Find cooking recipes from the ingredients you have at home."),
    Entry("flight_search", "Search cheap flights between two airports on a date.", ["origin", "destination"]),
    Entry("stock_quote", "Look up the current share price of a company on the stock market."),
]


class CountingEmbedder:
    """The real offline embedder, counting the texts it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.texts = inner, inner.name, 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder()


@pytest.fixture
def store(any_store):
    return any_store


def names(index, query, k=4, **kw):
    return [h.name for h in index.search(query, k, **kw)]


def test_adding_one_entry_embeds_only_that_entry_and_it_is_found_at_once(minilm, store):
    embedder = CountingEmbedder(minilm)
    index = LiveIndex(embedder, store)
    index.sync(ENTRIES)
    assert embedder.texts == 4
    index.sync([*ENTRIES, Entry("translate_text", "Translate a text from one language into another.")])
    assert embedder.texts == 5
    assert names(index, "say hello in French", 1) == ["translate_text"]


def test_a_removed_entry_is_never_returned_and_the_rest_still_rank(minilm, store):
    index = LiveIndex(minilm, store)
    index.sync(ENTRIES)
    index.sync(ENTRIES[1:])
    assert "weather_forecast" not in names(index, "weather forecast for Paris", 10)
    assert names(index, "cheap flights to Rome", 1) == ["flight_search"]
    assert len(index) == 3


def test_a_changed_description_replaces_the_entry(minilm, store):
    index = LiveIndex(minilm, store)
    index.sync(ENTRIES)
    index.sync([*ENTRIES[:3], Entry("stock_quote", "Translate a text from one language into another.")])
    assert names(index, "translate this sentence into Spanish", 1) == ["stock_quote"]
    assert len(index) == 4


def test_excluded_names_are_left_out(minilm, store):
    index = LiveIndex(minilm, store)
    index.sync(ENTRIES)
    assert "weather_forecast" not in names(index, "weather forecast", 4, exclude={"weather_forecast"})
    assert len(names(index, "weather forecast", 4, exclude={"weather_forecast"})) == 3


def test_embeddings_are_cached_in_the_store_so_a_restart_embeds_nothing(minilm, store_url):
    first = open_store(store_url)
    LiveIndex(minilm, first).sync(ENTRIES)
    first.close()

    again = open_store(store_url)
    embedder = CountingEmbedder(minilm)
    index = LiveIndex(embedder, again)
    index.sync(ENTRIES)
    assert embedder.texts == 0
    assert names(index, "weather in Oslo this week", 1) == ["weather_forecast"]
    again.close()


def test_keyword_scores_match_a_freshly_built_bm25(minilm, store):
    from swarm.retrieval.bm25 import BM25
    from swarm.retrieval.hybrid import keyword_text

    index = LiveIndex(minilm, store, fusion="bm25")
    index.sync(ENTRIES)
    index.sync(ENTRIES[1:])  # a removal must leave the same statistics as never having had the entry
    fresh = BM25([keyword_text(e) for e in ENTRIES[1:]]).scores("cheap flights and share price")
    live = index.keyword_scores("cheap flights and share price")[[index.rows[e.name] for e in ENTRIES[1:]]]
    assert live == pytest.approx(fresh, rel=1e-4)


def test_an_example_input_is_embedded_too_and_a_query_like_it_finds_the_entry(minilm, store):
    index = LiveIndex(minilm, store)
    index.add([Entry("currency", "Convert amounts between currencies at today's rate"),
               Entry("pantry", "Keep track of groceries", examples=["how many eggs do I have left at home"])])
    before = index.embedded
    assert index.search("eggs left at home?", 1)[0].name == "pantry"
    assert before == 3  # two main texts and one example
    index.remove("pantry")
    assert [h.name for h in index.search("eggs left at home?", 5)] == ["currency"]


def test_catalogue_entries_take_the_scripts_example_goals():
    entries = catalogue_entries([{"name": "write_python", "description": "Write and run Python",
                                  "input_schema": {"properties": {"goal": {}}},
                                  "examples": [{"goal": "Compute the compound interest"}, {"title": "Hello World"}]}])
    assert entries[0].examples == ["Compute the compound interest", "Hello World"]
    assert entries[0].args == ["goal"]


# --- NumPy's BLAS threads ------------------------------------------------------------------------------

def test_the_routing_index_asks_numpys_openblas_for_one_thread_and_the_answer_is_the_same(minilm):
    from swarm.retrieval.blas import blas_threads, set_blas_threads

    before = set_blas_threads(2)
    assert before is not None, "NumPy's OpenBLAS was not found in /proc/self/maps; swarm/retrieval/blas.py looks there"
    assert blas_threads() == 2
    wide = LiveIndex(minilm, None)
    assert blas_threads() == 1  # the embedder's thread pool has the cores to itself
    set_blas_threads(2)
    wide.add(ENTRIES)
    two = wide.dense_scores("Will it rain in Paris tomorrow?")
    set_blas_threads(1)

    assert wide.dense_scores("Will it rain in Paris tomorrow?") == pytest.approx(two, abs=1e-6)
    set_blas_threads(before)


# --- the query adapter learned from routing history ---------------------------------------------------

def test_without_routing_history_the_query_is_not_adapted(minilm):
    index = LiveIndex(minilm, None)
    index.add(ENTRIES)
    query = "Will it rain in Paris tomorrow?"

    assert index.adapter is None
    rows = [index.rows[e.name] for e in ENTRIES]
    plain = index.vectors[rows] @ minilm.embed([query])[0]
    assert index.dense_scores(query)[rows] == pytest.approx(plain, abs=1e-6)


def test_the_adapter_follows_the_history_the_index_holds_now(minilm):
    history = {"weather_forecast": ["Do I need an umbrella in Oslo on Friday?", "Is it going to snow this weekend?"],
               "recipe_finder": ["What can I cook with leftover rice and two eggs?", "dinner idea with spinach"],
               "stock_quote": ["How is Tesla trading today?"]}
    live = LiveIndex(minilm, None, examples_per_script=2)
    live.add(ENTRIES)
    for name, texts in history.items():
        for text in texts:
            live.add_example(name, text)
    live.add_example("stock_quote", "What is Apple's share price right now?")
    live.add_example("stock_quote", "Is Nvidia up or down today?")  # the oldest stock example drops out
    live.add_example("flight_search", "Cheapest way to fly from Lyon to Porto in May")
    live.remove("flight_search")  # its example leaves with it

    fresh = LiveIndex(minilm, None)
    held = {**history, "stock_quote": ["What is Apple's share price right now?", "Is Nvidia up or down today?"]}
    fresh.add([Entry(e.name, e.description, e.args, history=held.get(e.name, [])) for e in ENTRIES if e.name != "flight_search"])

    assert live.adapter.pairs == fresh.adapter.pairs == 6
    assert live.adapter.weights == pytest.approx(fresh.adapter.weights, abs=1e-5)
    query = "Will it rain in Paris tomorrow?"
    assert live.dense_scores(query)[[live.rows[n] for n in held]] == pytest.approx(
        fresh.dense_scores(query)[[fresh.rows[n] for n in held]], abs=1e-5)
