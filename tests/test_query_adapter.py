"""The query adapter: a linear map of sub-goal vectors learned from routing history, kept in step one
confirmed example at a time, and the identity while nothing was learned."""

from __future__ import annotations

import numpy as np
import pytest

from swarm.retrieval.adapter import BATCH_REFIT, QueryAdapter

DIM = 24


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture
def pairs():
    rng = np.random.default_rng(12)
    scripts = unit(rng.normal(size=(6, DIM)))
    register = unit(rng.normal(size=DIM))  # what every sub-goal shares and no description has
    of = np.arange(60) % 6
    examples = unit(scripts[of] + register + 0.2 * rng.normal(size=(60, DIM)))
    return examples, scripts[of]


def ridge(x, t, r):
    return np.linalg.solve(x.T @ x + r * np.eye(DIM), x.T @ (t - x))


def test_with_nothing_learned_a_query_is_left_as_it_is(pairs):
    q = pairs[0][0].astype(np.float32)
    assert QueryAdapter(DIM).apply(q) is q


def test_learning_examples_one_at_a_time_gives_the_fit_of_all_of_them_at_once(pairs):
    x, t = pairs
    adapter = QueryAdapter(DIM, ridge=2.0)
    for xi, ti in zip(x, t):
        adapter.update(xi, ti)

    assert adapter.weights == pytest.approx(ridge(x, t, 2.0), abs=1e-9)
    batch = QueryAdapter(DIM, ridge=2.0)
    batch.update(x, t)  # len(x) >= BATCH_REFIT: one refit
    assert len(x) >= BATCH_REFIT and batch.weights == pytest.approx(adapter.weights, abs=1e-9)


def test_unlearning_an_example_leaves_the_fit_of_the_others(pairs):
    x, t = pairs
    adapter = QueryAdapter(DIM, ridge=2.0)
    adapter.update(x, t)
    for i in (3, 7):
        adapter.update(x[i], t[i], sign=-1)

    keep = [i for i in range(len(x)) if i not in (3, 7)]
    assert adapter.weights == pytest.approx(ridge(x[keep], t[keep], 2.0), abs=1e-9)


def test_unlearning_everything_makes_it_the_identity_again(pairs):
    x, t = pairs
    adapter = QueryAdapter(DIM)
    adapter.update(x[:5], t[:5])
    adapter.update(x[:5], t[:5], sign=-1)

    assert adapter.pairs == 0 and not adapter.weights.any()
    q = x[9]
    assert adapter.apply(q) is q


def test_an_adapted_sub_goal_lands_nearer_its_scripts_vector(pairs):
    x, t = pairs
    adapter = QueryAdapter(DIM, ridge=1.0)
    adapter.update(x[:48], t[:48])

    unseen = range(48, 60)  # the same scripts, sub-goals it did not learn
    before = [float(x[i] @ t[i]) for i in unseen]
    after = [float(adapter.apply(x[i]) @ t[i]) for i in unseen]
    assert all(a > b for a, b in zip(after, before))
    assert np.linalg.norm(adapter.apply(x[25])) == pytest.approx(1.0, abs=1e-6)


def test_a_ridge_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="ridge must be positive"):
        QueryAdapter(DIM, ridge=0)
