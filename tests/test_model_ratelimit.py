"""The token-bucket rate limiter and the backoff policy that space out model requests."""

import random
import threading
import time

from swarm.model.backoff import backoff_delay, retry_after_seconds
from swarm.model.ratelimit import RateLimiter


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)


def test_rate_zero_never_waits():
    fake = FakeTime()
    limiter = RateLimiter(0, clock=fake.clock, sleep=fake.sleep)
    assert [limiter.acquire() for _ in range(100)] == [0.0] * 100
    assert fake.sleeps == []


def test_callers_arriving_together_are_spaced_one_interval_apart():
    fake = FakeTime()
    limiter = RateLimiter(10, clock=fake.clock, sleep=fake.sleep)
    waits = [limiter.acquire() for _ in range(3)]
    assert waits == [0.0, 0.1, 0.2]
    assert fake.sleeps == [0.1, 0.2]


def test_tokens_refill_with_time_up_to_the_burst():
    fake = FakeTime()
    limiter = RateLimiter(10, burst=2, clock=fake.clock, sleep=fake.sleep)
    assert [limiter.acquire(), limiter.acquire()] == [0.0, 0.0]
    fake.now = 10.0  # long idle: refills to the burst (2), not to 100
    assert [limiter.acquire(), limiter.acquire()] == [0.0, 0.0]
    assert limiter.acquire() == 0.1


def test_concurrent_threads_share_one_limit_in_real_time():
    limiter = RateLimiter(50)  # one every 20 ms
    started = time.monotonic()
    threads = [threading.Thread(target=limiter.acquire) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 0.09  # 5 intervals after the first free token


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    rng = random.Random(7)
    for retry in range(10):
        ceiling = min(4.0, 0.5 * 2**retry)
        draws = [backoff_delay(retry, base_s=0.5, max_s=4.0, rng=rng) for _ in range(50)]
        assert all(0.0 <= d <= ceiling for d in draws)
    assert max(backoff_delay(8, base_s=0.5, max_s=4.0, rng=rng) for _ in range(200)) > 2.0


def test_retry_after_wins_over_backoff_but_is_capped():
    assert backoff_delay(0, base_s=0.5, max_s=30, retry_after_s=3) == 3
    assert backoff_delay(0, base_s=0.5, max_s=30, retry_after_s=120) == 30


def test_retry_after_header_parsing():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_retry_after_as_an_http_date_counts_from_now():
    now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:45 GMT"}, now=now) == 45.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, now=now) == 0.0  # already past
