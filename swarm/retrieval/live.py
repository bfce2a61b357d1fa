"""The live routing index: hybrid retrieval over the registered scripts, updated one script at a time.

Registering, disabling or rolling back a script changes only that script's row: its vector is
appended (or its row marked gone) and its words are added to (or taken from) the BM25 postings.
Embeddings are cached in the store by a hash of the model name and the entry text, so a restart
embeds nothing it embedded before.

Routing history (sub-goals a script was confirmed for, `Entry.history`) counts twice:
- it moves a script's main vector towards them: the row holds the normalised sum of the
  description's vector and HISTORY_WEIGHT times each example's vector (a prototype). Adding one
  example rewrites that one row (`add_example`); only the most recent `examples_per_script` count;
- every (example, description) pair teaches the query adapter (swarm/retrieval/adapter.py), a linear
  map that moves a sub-goal towards the register descriptions are written in, for all scripts. One
  example more or less is a rank-one update; with no history the query is left as it is.
Tuned on the MetaTool dev split only, never evaluating a query that was history (`python
bench/routing_cv.py`: two of each tool's three dev queries as history, the third evaluated, 3 folds
x 8 draws): recall@1/5/10 0.682/0.887/0.919 (fold std 0.025/0.021), against 0.678/0.874/0.913 with
the prototype alone (weight 0.7) and 0.623/0.828/0.869 with no history; the adapter was better at
recall@5 in 21 of 24 folds. Max-sim over the examples, k-nearest-example voting, reciprocal-rank
fusion, negatives, examples in BM25, pseudo-relevance feedback, a softmax-trained adapter or
per-script head and a hubness correction (CSLS) on top did no better, or gained less than their cost.
A script's row count does not grow with its history, so search costs the same.

Synthetic requests (`Entry.synthetic`: requests the model wrote from the description, `swarm route
describe`, swarm/retrieval/synthetic.py) stand in for history a script does not have yet: SYNTHETIC_WEIGHT
times each in its prototype, and each a query-adapter pair of weight SYNTHETIC_ADAPTER_WEIGHT. The first
confirmed example retires them (they stay stored). Same cross-validation, with requests the local
Qwen2.5-Coder-1.5B wrote for each MetaTool tool (bench/data/metatool_synthetic_*.jsonl): with no history
0.662/0.858/0.911 against 0.623/0.828/0.869; with history for every other tool 0.663/0.872/0.909 against
0.654/0.857/0.897; with history for every tool unchanged (kept alongside it, they added at most +0.01
recall@1 and took up to 0.01 from recall@5).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import replace
from typing import Callable, Iterable

import numpy as np

from swarm.retrieval.adapter import QueryAdapter
from swarm.retrieval.blas import set_blas_threads
from swarm.retrieval.bm25 import tokens
from swarm.retrieval.embedder import Embedder
from swarm.retrieval.hybrid import Entry, Hit, entry_texts, keyword_text, rrf_scores


EXAMPLE_WEIGHT = 0.5  # how much of the gap between a script's best example and its description counts
HISTORY_WEIGHT = 0.5  # an example of routing history against the description, in a script's prototype vector
# A synthetic request (swarm/retrieval/synthetic.py) counts only while its script has no confirmed history:
SYNTHETIC_WEIGHT = 0.3  # in the script's prototype vector
SYNTHETIC_ADAPTER_WEIGHT = 1.0  # as a pair of the query adapter (a confirmed example's weight is 1)
ADAPTER_RIDGE = 10.0  # the query adapter's ridge (swarm/retrieval/adapter.py): how much history it takes to move queries
BLAS_THREADS = 1  # the matrix product is small; more BLAS threads only fight the embedder's (swarm/retrieval/blas.py)


def catalogue_entries(described: list[dict], history: dict[str, list[str]] | None = None,
                      synthetic: dict[str, list[str]] | None = None) -> list[Entry]:
    """Entries for the scripts of `Catalogue.describe()`: name, description, argument names and examples,
    with the routing history of each script (sub-goals, oldest first) and its synthetic requests when given."""
    history, synthetic = history or {}, synthetic or {}
    return [Entry(s["name"], s.get("description") or "", list((s.get("input_schema") or {}).get("properties") or {}),
                  [example_text(x) for x in s.get("examples") or [] if example_text(x)], history=list(history.get(s["name"], [])),
                  synthetic=list(synthetic.get(s["name"], [])))
            for s in described]


def stored_history(store, kind: str = "positive") -> dict[str, list[str]]:
    """The route examples of one kind a store holds, by script, oldest first (the index keeps the most recent):
    "positive" (confirmed routings) or "synthetic" (requests the model wrote, swarm/retrieval/synthetic.py)."""
    history: dict[str, list[str]] = {}
    for row in store.route_examples():
        if row["kind"] == kind:
            history.setdefault(row["script"], []).append(row["text"])
    return history


def example_text(example) -> str:
    """An example input as text to embed: its goal when it has one (that reads like a sub-goal), else its values."""
    if isinstance(example, dict):
        if isinstance(example.get("goal"), str):
            return example["goal"].strip()
        return " ".join(str(v) for v in example.values() if isinstance(v, (str, int, float))).strip()
    return str(example).strip()


class LiveIndex:
    """Dense vectors and BM25 postings over entries, kept in step with a changing catalogue."""

    def __init__(self, embedder: Embedder, store=None, *, fusion: str = "mix", bm25_weight: float = 0.1,
                 k1: float = 1.2, b: float = 0.75, examples_per_script: int = 20):
        if fusion not in ("rrf", "mix", "dense", "bm25"):
            raise ValueError(f"fusion must be rrf, mix, dense or bm25 (got {fusion!r})")
        self.embedder, self.store = embedder, store
        set_blas_threads(BLAS_THREADS)
        self.examples_per_script = examples_per_script
        self.base: dict[str, np.ndarray] = {}  # name -> the vector of its main text (before its history)
        self.history: dict[str, list[tuple[str, np.ndarray]]] = {}  # name -> its most recent history examples
        self.synthetic: dict[str, list[np.ndarray]] = {}  # name -> the vectors of its synthetic requests
        self.fusion, self.bm25_weight, self.k1, self.b = fusion, bm25_weight, k1, b
        self.names: list[str | None] = []  # row -> name; None once the entry is gone
        self.rows: dict[str, int] = {}  # name -> the row of its main text (BM25 and the result live there)
        self.example_rows: dict[str, range] = {}  # name -> rows of its examples' vectors (dense only)
        self.owner = np.zeros(0, np.int64)  # row -> its entry's main row
        self.entries: dict[str, Entry] = {}  # name -> the entry its row was built from
        self.vectors: np.ndarray | None = None  # capacity rows; the first len(self.names) are used
        self.alive = np.zeros(0, bool)
        self.lengths = np.zeros(0, np.float32)  # BM25 document lengths, by row
        self.postings: dict[str, dict[int, int]] = {}  # word -> {row: term frequency}
        self.terms: dict[int, list[str]] = {}
        self.total_length = 0
        self.embedded = 0  # entry texts embedded by this index (not found in the store's cache)
        self.adapter: QueryAdapter | None = None  # learned from every script's history; made with the first vectors

    def __len__(self) -> int:
        return len(self.rows)

    def sync(self, entries: Iterable[Entry]) -> None:
        """Make the index hold exactly these entries, touching only those added, changed or gone."""
        wanted = {e.name: replace(e, history=self._recent(e.history)) for e in entries}
        for name in [n for n in self.rows if n not in wanted or self.entries[n] != wanted[n]]:
            self.remove(name)
        self.add([e for n, e in wanted.items() if n not in self.rows])

    def add(self, entries: list[Entry]) -> None:
        """Index new entries (an entry already indexed under the same name is replaced)."""
        for e in entries:
            if e.name in self.rows:
                self.remove(e.name)
        if not entries:
            return
        # An entry's main text, then one text per example; its dense score is the best of them (max-sim).
        texts = [entry_texts(e) if self.fusion != "bm25" else entry_texts(e)[:1] for e in entries]
        flat = [t for group in texts for t in group]
        recent = [self._recent(e.history) if self.fusion != "bm25" else [] for e in entries]
        past = [t for group in recent for t in group]
        imagined = [[t for t in e.synthetic if t.strip()] if self.fusion != "bm25" else [] for e in entries]
        vectors = self._embed(flat + past + [t for group in imagined for t in group]) if self.fusion != "bm25" else None
        past_vectors = vectors[len(flat):len(flat) + len(past)] if vectors is not None else None
        synthetic_vectors = vectors[len(flat) + len(past):] if vectors is not None else None
        vectors = vectors[:len(flat)] if vectors is not None else None
        start = len(self.names)
        self._grow(start + len(flat), vectors.shape[1] if vectors is not None else 1)
        if vectors is not None:
            self.vectors[start:start + len(flat)] = vectors
        row, at, at_synthetic = start, 0, 0
        learned: list[tuple[np.ndarray, np.ndarray]] = []
        for e, group, mine, theirs in zip(entries, texts, recent, imagined):
            if vectors is not None:
                self.base[e.name] = self.vectors[row].copy()
                self.history[e.name] = [(t, past_vectors[at + i]) for i, t in enumerate(mine)]
                self.synthetic[e.name] = list(synthetic_vectors[at_synthetic:at_synthetic + len(theirs)])
                learned += self._pairs(e.name)
                at += len(mine)
                at_synthetic += len(theirs)
                self._prototype(e.name, row)
            self.names.extend([e.name] * len(group))
            self.owner[row:row + len(group)] = row
            self.rows[e.name] = row
            self.example_rows[e.name] = range(row + 1, row + len(group))
            self.entries[e.name] = e
            self.alive[row] = True
            words = tokens(keyword_text(e)) or ["<empty>"]
            for word, count in Counter(words).items():
                self.postings.setdefault(word, {})[row] = count
            self.terms[row] = list(set(words))
            self.lengths[row] = len(words)
            self.total_length += len(words)
            row += len(group)
        self._adapt(learned, 1)

    def remove(self, name: str) -> None:
        """Take an entry out of the index; unknown names are ignored."""
        row = self.rows.pop(name, None)
        if row is None:
            return
        self.entries.pop(name, None)
        self._adapt(self._pairs(name), -1)
        self.base.pop(name, None)
        self.history.pop(name, None)
        self.synthetic.pop(name, None)
        for r in (row, *self.example_rows.pop(name, ())):
            self.names[r] = None
        self.alive[row] = False
        for word in self.terms.pop(row, []):
            posting = self.postings.get(word)
            if posting is not None:
                posting.pop(row, None)
                if not posting:
                    del self.postings[word]
        self.total_length -= int(self.lengths[row])

    def add_example(self, name: str, text: str) -> bool:
        """A sub-goal confirmed for an indexed script joins its history at once (its one row is rewritten);
        the oldest drops out past `examples_per_script`. False when the script is not indexed."""
        text = text.strip()
        if name not in self.rows or not text:
            return False
        entry = self.entries[name]
        history = self._recent([t for t in entry.history if t != text] + [text])
        self.entries[name] = replace(entry, history=history)
        if self.fusion == "bm25" or self.vectors is None:
            return True
        known = dict(self.history.get(name, []))
        vector = known[text] if text in known else self._embed([text])[0]
        known[text] = vector
        before = self._keyed_pairs(name)
        self.history[name] = [(t, known[t]) for t in history]
        after = self._keyed_pairs(name)  # the first confirmed example also retires the synthetic requests
        self._adapt([before[k] for k in before.keys() - after.keys()], -1)
        self._adapt([after[k] for k in after.keys() - before.keys()], 1)
        self._prototype(name, self.rows[name])
        return True

    def _pairs(self, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
        return list(self._keyed_pairs(name).values())

    def _keyed_pairs(self, name: str) -> dict[tuple[str, object], tuple[np.ndarray, np.ndarray]]:
        """What a script teaches the query adapter: (example, description) for each history example and, scaled
        by the square root of SYNTHETIC_ADAPTER_WEIGHT (a weighted least-squares pair), each synthetic request
        while the script has no confirmed history; keyed so that a change can be taught as a difference."""
        base = self.base.get(name)
        if base is None:
            return {}
        pairs: dict[tuple[str, object], tuple[np.ndarray, np.ndarray]] = {
            ("history", t): (v, base) for t, v in self.history.get(name, [])}
        if SYNTHETIC_ADAPTER_WEIGHT > 0 and not pairs:
            c = math.sqrt(SYNTHETIC_ADAPTER_WEIGHT)
            pairs.update({("synthetic", i): (c * v, c * base) for i, v in enumerate(self.synthetic.get(name, []))})
        return pairs

    def _adapt(self, pairs: list[tuple[np.ndarray, np.ndarray]], sign: int) -> None:
        """Teach (sign 1) or unteach (-1) the query adapter pairs of (example vector, its script's vector)."""
        if not pairs:
            return
        if self.adapter is None:
            self.adapter = QueryAdapter(len(pairs[0][0]), ADAPTER_RIDGE)
        self.adapter.update(np.stack([x for x, _ in pairs]), np.stack([t for _, t in pairs]), sign)

    def _recent(self, history: list[str]) -> list[str]:
        kept = [t.strip() for t in history if t.strip()]
        return kept[-self.examples_per_script:] if self.examples_per_script > 0 else []

    def _prototype(self, name: str, row: int) -> None:
        """The main row's vector: the description's, moved towards the script's history examples."""
        vector = self.base[name].copy()
        for _, v in self.history.get(name, []):
            vector += HISTORY_WEIGHT * v
        for v in self.synthetic.get(name, []) if not self.history.get(name) else []:
            vector += SYNTHETIC_WEIGHT * v
        norm = float(np.linalg.norm(vector))
        self.vectors[row] = vector / norm if norm > 0 else vector

    def search(self, query: str, top_k: int = 10, exclude: Iterable[str] = ()) -> list[Hit]:
        """The best `top_k` entries for a query, leaving out the names in `exclude`."""
        n = len(self.names)
        valid = self.alive[:n].copy()
        for name in exclude:
            if name in self.rows:
                valid[self.rows[name]] = False
        k = min(top_k, int(valid.sum()))
        if k <= 0:
            return []
        s = self.scores(query)
        s[~valid] = -np.inf
        best = np.argpartition(-s, k - 1)[:k]
        best = best[np.argsort(-s[best], kind="stable")]
        return [Hit(self.names[i], float(s[i])) for i in best]

    def scores(self, query: str) -> np.ndarray:
        """One fused score per row (rows of removed entries included; `search` masks them)."""
        if self.fusion == "bm25":
            return self.keyword_scores(query)
        dense = self.dense_scores(query)
        if self.fusion == "dense" or self.bm25_weight == 0:
            return dense
        keyword = self.keyword_scores(query)
        if self.fusion == "mix":
            top = float(keyword.max()) if keyword.size else 0.0
            return dense + self.bm25_weight * (keyword / top if top > 0 else keyword)
        return rrf_scores(dense, 60) + self.bm25_weight * rrf_scores(keyword, 60)

    def dense_scores(self, query: str) -> np.ndarray:
        n = len(self.names)
        if self.vectors is None or not n:
            return np.zeros(n, np.float32)
        vector = self.embedder.embed([query])[0]
        sims = self.vectors[:n] @ (self.adapter.apply(vector) if self.adapter is not None else vector)
        if len(self.rows) == n:  # no examples anywhere: one row an entry
            return sims
        best = sims.copy()
        np.maximum.at(best, self.owner[:n], sims)  # an entry's main row gets the best of its texts...
        # ...counted half: an example close to the query lifts its script, but one shared word with an
        # example (a city name, say) does not outrank a script whose description fits.
        best = sims + EXAMPLE_WEIGHT * (best - sims)
        best[self.owner[:n] != np.arange(n)] = -2.0  # example rows are no results of their own (below any cosine)
        return best

    def keyword_scores(self, query: str) -> np.ndarray:
        """BM25 as bm25s computes it (the Lucene variant), from postings kept up to date."""
        n_rows, docs = len(self.names), len(self.rows)
        out = np.zeros(n_rows, np.float32)
        if not docs:
            return out
        norm = self.k1 * (1 - self.b + self.b * self.lengths[:n_rows] / (self.total_length / docs))
        for word in tokens(query):
            posting = self.postings.get(word)
            if not posting:
                continue
            idf = math.log(1 + (docs - len(posting) + 0.5) / (len(posting) + 0.5))
            rows = np.fromiter(posting.keys(), np.int64, len(posting))
            tf = np.fromiter(posting.values(), np.float32, len(posting))
            out[rows] += idf * tf / (tf + norm[rows])  # bm25s leaves out the constant (k1 + 1)
        return out

    def _grow(self, needed: int, dim: int) -> None:
        capacity = len(self.alive)
        if needed <= capacity and (self.vectors is not None or self.fusion == "bm25"):
            return
        capacity = max(needed, 2 * capacity, 64)
        vectors = np.zeros((capacity, dim), np.float32)
        if self.vectors is not None:
            vectors[:len(self.names)] = self.vectors[:len(self.names)]
        self.vectors = vectors
        self.alive = np.concatenate([self.alive, np.zeros(capacity - len(self.alive), bool)])
        self.lengths = np.concatenate([self.lengths, np.zeros(capacity - len(self.lengths), np.float32)])
        self.owner = np.concatenate([self.owner, np.zeros(capacity - len(self.owner), np.int64)])

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for texts, from the store's cache when it has them; the rest are embedded and cached."""
        keys = [hashlib.sha256(f"{self.embedder.name}\0{t}".encode()).hexdigest() for t in texts]
        cached = self.store.embeddings(keys) if self.store is not None else {}
        missing = [i for i, k in enumerate(keys) if k not in cached]
        fresh = self.embedder.embed([texts[i] for i in missing]) if missing else None
        self.embedded += len(missing)
        if fresh is not None and self.store is not None:
            self.store.save_embeddings(self.embedder.name, [(keys[i], fresh[j].tobytes()) for j, i in enumerate(missing)])
        rows = [None] * len(texts)
        for j, i in enumerate(missing):
            rows[i] = fresh[j]
        for i, k in enumerate(keys):
            if rows[i] is None:
                rows[i] = np.frombuffer(cached[k], np.float32)
        return np.stack(rows).astype(np.float32)


def live_index(embedder: Callable[[], Embedder] | None, store=None, *, fusion: str = "mix",
               bm25_weight: float = 0.1, examples_per_script: int = 20) -> LiveIndex:
    """A LiveIndex for the [retrieval] settings; the embedder (a factory) is made only when fusion needs it."""
    return LiveIndex(embedder() if embedder is not None and fusion != "bm25" else None, store,
                     fusion=fusion, bm25_weight=bm25_weight, examples_per_script=examples_per_script)
