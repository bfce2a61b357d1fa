"""Routing evaluation: recall@k and latency of retrieval over a catalogue file and a query file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from swarm.errors import RetrievalError
from swarm.retrieval.hybrid import Entry, HybridIndex


def read_jsonl(path: str | Path, required: tuple[str, ...], what: str) -> list[dict]:
    """Objects of a JSON-lines file, each with the required keys; a one-line RetrievalError otherwise."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise RetrievalError(f"cannot read the {what} file {p} ({reason}); pass a JSON-lines file") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RetrievalError(f"{p}:{n}: not JSON ({exc.msg}); each line of the {what} file is one JSON object") from None
        if not isinstance(row, dict) or any(not isinstance(row.get(k), str) or not row[k].strip() for k in required):
            raise RetrievalError(
                f"{p}:{n}: a {what} line needs non-empty text fields {', '.join(repr(k) for k in required)}; "
                f"e.g. {json.dumps({k: '...' for k in required})}"
            )
        rows.append(row)
    if not rows:
        raise RetrievalError(f"{p} has no {what} lines; each line is one JSON object")
    return rows


def read_catalogue(path: str | Path) -> list[Entry]:
    """Catalogue lines `{"name", "description"}`, optionally with "args" and "examples" lists."""
    entries = []
    for row in read_jsonl(path, ("name", "description"), "catalogue"):
        entries.append(Entry(row["name"], row["description"],
                             [str(a) for a in row.get("args") or []], [str(e) for e in row.get("examples") or []]))
    return entries


def evaluate(index: HybridIndex, queries: list[dict], top_k: int = 10) -> dict:
    """recall@1/5/10 of the expected name among the top hits, and per-query latency in ms."""
    known = set(index.entries) if isinstance(index.entries, dict) else {e.name for e in index.entries}
    missing = sorted({q["expected"] for q in queries} - known)
    if missing:
        raise RetrievalError(
            f"{len(missing)} expected name(s) are not in the catalogue (first: {missing[0]!r}); "
            "every query's \"expected\" must be a catalogue \"name\""
        )
    depth = max(top_k, 10)
    hits = {1: 0, 5: 0, 10: 0}
    latencies = []
    for q in queries:
        start = time.perf_counter()
        names = [h.name for h in index.search(q["query"], depth)]
        latencies.append((time.perf_counter() - start) * 1000)
        for k in hits:
            hits[k] += q["expected"] in names[:k]
    n = len(queries)
    return {
        "n": n,
        **{f"recall@{k}": round(v / n, 4) for k, v in hits.items()},
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p95_ms": round(float(np.percentile(latencies, 95)), 2),
    }


def run_eval(catalogue: str | Path, queries: str | Path, embedder, top_k: int = 10,
             history: str | Path | None = None, examples_per_script: int = 20, synthetic: str | Path | None = None,
             **index_options) -> dict:
    """Build a throw-away index from a catalogue file and evaluate a query file against it.

    `history`: a file of lines {"query", "expected"} taken as confirmed routing history first (each
    query an example of its expected script, as the swarm records them); the routing index
    (LiveIndex) then answers. A query that is also in the history is refused: that measures nothing.
    `synthetic`: a file of lines {"name", "requests"}, requests the model wrote for catalogue scripts
    (swarm/retrieval/synthetic.py; bench/routing_synthetic.py writes such a file); the LiveIndex answers too."""
    entries = read_catalogue(catalogue)
    rows = read_jsonl(queries, ("query", "expected"), "query")
    start = time.perf_counter()
    if history is None and synthetic is None:
        index = HybridIndex(entries, embedder, **index_options)
        extra = {}
    else:
        index, extra = history_index(entries, rows, history, embedder, examples_per_script, index_options, synthetic)
    index_s = round(time.perf_counter() - start, 3)
    return {**evaluate(index, rows, top_k), "index_s": index_s, **extra}


def history_index(entries: list[Entry], rows: list[dict], history: str | Path | None, embedder, examples_per_script: int,
                  index_options: dict, synthetic: str | Path | None = None):
    """A LiveIndex over the catalogue whose scripts hold the history file's queries as examples (and the
    synthetic file's requests as synthetic examples)."""
    from swarm.retrieval.live import LiveIndex

    past = read_jsonl(history, ("query", "expected"), "history") if history is not None else []
    names = {e.name for e in entries}
    imagined: dict[str, list[str]] = {}
    for line in read_jsonl(synthetic, ("name",), "synthetic") if synthetic is not None else []:
        if line["name"] not in names:
            raise RetrievalError(f"the synthetic file {synthetic} names {line['name']!r}, which is not in the catalogue; "
                                 "every line's \"name\" must be a catalogue \"name\"")
        if not isinstance(line["requests"], list):
            raise RetrievalError(f"the synthetic file {synthetic}: \"requests\" of {line['name']!r} must be a list of texts")
        imagined.setdefault(line["name"], []).extend(str(t) for t in line["requests"])
    unknown = sorted({h["expected"] for h in past} - names)
    if unknown:
        raise RetrievalError(f"{len(unknown)} history \"expected\" name(s) are not in the catalogue (first: {unknown[0]!r}); "
                             "every history line's \"expected\" must be a catalogue \"name\"")
    seen = {h["query"].strip() for h in past}
    overlap = sum(q["query"].strip() in seen for q in rows)
    if overlap:
        raise RetrievalError(f"{overlap} of the queries are also in the history file {history}; evaluate on queries "
                             "that were not history (e.g. every other line as history, the rest as queries)")
    by_script: dict[str, list[str]] = {}
    for h in past:
        by_script.setdefault(h["expected"], []).append(h["query"].strip())
    index = LiveIndex(embedder, None, examples_per_script=examples_per_script, **index_options)
    index.add([Entry(e.name, e.description, e.args, e.examples, history=by_script.get(e.name, []),
                     synthetic=imagined.get(e.name, [])) for e in entries])
    return index, {"history": len(past), **({"synthetic": sum(map(len, imagined.values()))} if imagined else {})}
