"""The query adapter: a linear map of sub-goal vectors, learned from routing history, towards the
vectors of the scripts they were confirmed for.

Each confirmed example is a pair (x, t): the sub-goal's vector and its script's description vector.
The map is q -> unit(q + q W), with W the ridge regression of the residuals t - x on x:

    W = (X^T X + ridge I)^-1 X^T (T - X)

so with no history W is zero and a query is left as it is. The ridge keeps W small while history is
scarce and lets it fit as history grows. A sub-goal and a script's description are written in
different registers (a person's request against a tool's blurb); the map learns that shift once for
all scripts, so a script with no history of its own gains from the others' too.

One pair more or less is a rank-one change of X^T X, so `update` keeps the inverse and W in step by
Sherman-Morrison in O(d^2) (a fraction of a millisecond at d = 384), however many pairs there are;
a batch of many pairs refits W directly.
"""

from __future__ import annotations

import numpy as np

BATCH_REFIT = 16  # at least this many pairs at once: add them to X^T X and invert again (O(d^3), once)
REFIT_EVERY = 1000  # rank-one updates before the inverse is recomputed from X^T X, so rounding cannot pile up


class QueryAdapter:
    """A ridge-regression linear map of query vectors, fit on (example, description) pairs, one at a time."""

    def __init__(self, dim: int, ridge: float = 10.0):
        if ridge <= 0:
            raise ValueError(f"the query adapter's ridge must be positive (got {ridge})")
        self.dim, self.ridge = dim, ridge
        self.gram = ridge * np.eye(dim)  # X^T X + ridge I
        self.inverse = np.eye(dim) / ridge
        self.cross = np.zeros((dim, dim))  # X^T (T - X)
        self.weights = np.zeros((dim, dim))  # W
        self.pairs = 0
        self.rank_one = 0  # rank-one updates since the last refit

    def update(self, examples: np.ndarray, targets: np.ndarray, sign: int = 1) -> None:
        """Learn (sign 1) or unlearn (sign -1) pairs of example vectors and their scripts' vectors."""
        x = np.asarray(examples, np.float64).reshape(-1, self.dim)
        r = np.asarray(targets, np.float64).reshape(-1, self.dim) - x
        if not len(x):
            return
        self.pairs += sign * len(x)
        if len(x) >= BATCH_REFIT or self.rank_one + len(x) > REFIT_EVERY:
            self.gram += sign * x.T @ x
            self.cross += sign * x.T @ r
            self.inverse = np.linalg.inv(self.gram)
            self.weights = self.inverse @ self.cross
            self.rank_one = 0
            return
        self.rank_one += len(x)
        for xi, ri in zip(x, r):
            # A' = A + s x x^T, B' = B + s x r^T  =>  A'^-1 = A^-1 - s u u^T / c,  W' = W + s (u / c)(r - W^T x)^T
            u = self.inverse @ xi
            c = 1.0 + sign * float(xi @ u)
            self.weights += sign * np.outer(u / c, ri - xi @ self.weights)
            self.inverse -= sign * np.outer(u, u) / c
            self.gram += sign * np.outer(xi, xi)
            self.cross += sign * np.outer(xi, ri)
        if self.pairs <= 0:  # nothing learned any more: exactly the identity again, no rounding left over
            self.__init__(self.dim, self.ridge)

    def apply(self, query: np.ndarray) -> np.ndarray:
        """The adapted query vector (unit length); the query itself while nothing was learned."""
        if not self.pairs:
            return query
        adapted = query + (query.astype(np.float64) @ self.weights)
        norm = float(np.linalg.norm(adapted))
        return (adapted / norm).astype(np.float32) if norm > 0 else query
