"""Hybrid retrieval over catalogue entries: dense embeddings and BM25, fused into one ranking."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from swarm.retrieval.bm25 import BM25, CAMEL
from swarm.retrieval.embedder import Embedder


@dataclass
class Entry:
    """What retrieval knows of one script or tool: its name and the texts that describe it."""

    name: str
    description: str = ""
    args: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    plain: bool = False  # a document (a memory item, a docs section): its text is the description alone
    keywords: str = ""  # for a plain entry: the text BM25 indexes, when it is longer than what is embedded
    history: list[str] = field(default_factory=list)  # confirmed sub-goals of routing history (LiveIndex only)
    synthetic: list[str] = field(default_factory=list)  # requests the model wrote from the description (LiveIndex only)


@dataclass
class Hit:
    name: str
    score: float


def readable_name(name: str) -> str:
    """`get_weather`, `getWeather` and `get-weather` all read `get weather` to an embedder."""
    return " ".join(re.sub(r"[_\-./]+", " ", CAMEL.sub(" ", name)).split())


def entry_texts(entry: Entry) -> list[str]:
    """The texts embedded for an entry: a main one, then one per example (scored by max-sim)."""
    if entry.plain:
        return [entry.description]
    main = f"{readable_name(entry.name)}: {entry.description}".strip()
    if entry.args:
        main += f" (arguments: {', '.join(readable_name(a) for a in entry.args)})"
    return [main, *[e for e in entry.examples if e.strip()]]


def keyword_text(entry: Entry) -> str:
    if entry.plain:
        return entry.keywords or entry.description
    return " ".join([entry.name, readable_name(entry.name), entry.description, *entry.args, *entry.examples])


class HybridIndex:
    """An in-memory index of entries; `search` fuses cosine similarity with BM25.

    fusion "rrf" adds 1/(rrf_k + rank) of each ranking, weighting the BM25 term by bm25_weight;
    fusion "mix" adds the cosine to bm25_weight times the BM25 score scaled to 0..1 per query.
    """

    def __init__(self, entries: list[Entry], embedder: Embedder, *, fusion: str = "mix",
                 bm25_weight: float = 0.2, rrf_k: int = 60, query_prefix: str = ""):
        if fusion not in ("rrf", "mix", "dense", "bm25"):
            raise ValueError(f"fusion must be rrf, mix, dense or bm25 (got {fusion!r})")
        self.entries = list(entries)
        self.embedder = embedder
        self.fusion, self.bm25_weight, self.rrf_k, self.query_prefix = fusion, bm25_weight, rrf_k, query_prefix
        texts, owner = [], []
        for i, entry in enumerate(self.entries):
            for text in entry_texts(entry):
                texts.append(text)
                owner.append(i)
        self.owner = np.array(owner, dtype=np.int64)
        self.vectors = embedder.embed(texts) if texts and fusion != "bm25" else None
        self.bm25 = BM25([keyword_text(e) for e in self.entries])

    def dense_scores(self, query: str) -> np.ndarray:
        n = len(self.entries)
        if self.vectors is None or not n:
            return np.zeros(n, np.float32)
        sims = self.vectors @ self.embedder.embed([self.query_prefix + query])[0]
        best = np.full(n, -1.0, np.float32)
        np.maximum.at(best, self.owner, sims)  # max-sim over an entry's texts
        return best

    def scores(self, query: str) -> np.ndarray:
        """One fused score per entry, higher is better."""
        if self.fusion == "bm25":
            return self.bm25.scores(query)
        dense = self.dense_scores(query)
        if self.fusion == "dense" or self.bm25_weight == 0:
            return dense
        keyword = self.bm25.scores(query)
        if self.fusion == "mix":
            top = float(keyword.max()) if keyword.size else 0.0
            return dense + self.bm25_weight * (keyword / top if top > 0 else keyword)
        return rrf_scores(dense, self.rrf_k) + self.bm25_weight * rrf_scores(keyword, self.rrf_k)

    def search(self, query: str, top_k: int = 10) -> list[Hit]:
        s = self.scores(query)
        k = min(top_k, len(s))
        if k <= 0:
            return []
        best = np.argpartition(-s, k - 1)[:k]
        best = best[np.argsort(-s[best], kind="stable")]
        return [Hit(self.entries[i].name, float(s[i])) for i in best]


def rrf_scores(scores: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(scores), np.float32)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)
