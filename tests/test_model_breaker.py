"""The circuit breaker that stops calling an endpoint which keeps failing."""

import pytest

from swarm.model import ModelUnavailable
from swarm.model.breaker import CircuitBreaker

URL = "http://127.0.0.1:9/v1"


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def test_opens_after_n_consecutive_failures_and_fails_fast_naming_the_url():
    clock = Clock()
    breaker = CircuitBreaker(2, 30, endpoint=URL, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    breaker.before_call()  # one failure: still closed
    breaker.record_failure()
    with pytest.raises(ModelUnavailable, match=r"model endpoint http://127.0.0.1:9/v1 failed 2 calls in a row.*30.0s.*base_url"):
        breaker.before_call()


def test_a_success_resets_the_count():
    breaker = CircuitBreaker(2, 30, endpoint=URL, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.before_call()
    assert breaker.state == "closed"


def test_after_reset_one_trial_goes_through_and_its_success_closes():
    clock = Clock()
    breaker = CircuitBreaker(1, 30, endpoint=URL, clock=clock)
    breaker.record_failure()
    clock.now += 30
    breaker.before_call()  # the trial
    assert breaker.state == "half-open"
    with pytest.raises(ModelUnavailable, match="trial call in flight"):
        breaker.before_call()  # everyone else still fails fast
    breaker.record_success()
    breaker.before_call()
    assert breaker.state == "closed"


def test_a_failed_trial_opens_again_for_another_reset_period():
    clock = Clock()
    breaker = CircuitBreaker(3, 30, endpoint=URL, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 31
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 29
    with pytest.raises(ModelUnavailable):
        breaker.before_call()


def test_an_abandoned_trial_lets_the_next_caller_try():
    clock = Clock()
    breaker = CircuitBreaker(1, 30, endpoint=URL, clock=clock)
    breaker.record_failure()
    clock.now += 30
    breaker.before_call()
    breaker.abandon()
    breaker.before_call()
    assert breaker.state == "half-open"


def test_zero_failures_disables_the_breaker():
    breaker = CircuitBreaker(0, 30, endpoint=URL, clock=Clock())
    for _ in range(10):
        breaker.record_failure()
    breaker.before_call()
