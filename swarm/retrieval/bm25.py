"""BM25 keyword scores over catalogue entry texts (bm25s), with a small English tokenizer."""

from __future__ import annotations

import re

import bm25s
import numpy as np

WORD = re.compile(r"[a-z0-9]+")
# Split identifiers like `getWeather2Day` or `air_quality` into words before matching.
CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
STOPWORDS = frozenset(
    "a an and are as at be but by can could do does for from get give had has have how i if in into is it its "
    "me my of on or our please so some that the their them then there these they this to us was we what when "
    "where which who will with would you your".split()
)


def stem(word: str) -> str:
    """A deliberately light suffix stripper: plurals and -ing/-ed, enough to match `recipes` to `recipe`."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed words of a text without stop words; identifiers are split into words."""
    return [stem(w) for w in WORD.findall(CAMEL.sub(" ", text).lower()) if w not in STOPWORDS]


class BM25:
    """BM25 over a fixed list of texts; `scores(query)` gives one score per text."""

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75):
        corpus = [tokens(t) or ["<empty>"] for t in texts]
        self.n = len(texts)
        self.index = bm25s.BM25(k1=k1, b=b)
        if corpus:
            self.index.index(corpus, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        q = [t for t in tokens(query) if t in self.index.vocab_dict] if self.n else []
        if not q:
            return np.zeros(self.n, np.float32)
        return np.asarray(self.index.get_scores(q), dtype=np.float32)
