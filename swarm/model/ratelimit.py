"""RateLimiter: a thread-safe token bucket that spaces out requests to the model endpoint; SharedRateLimiter: the
same bucket kept in the store, shared by every process on it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class RateLimiter:
    """Allow `rate_per_s` acquisitions a second on average, `burst` at once.

    Shared by every thread using one client. Each caller reserves its slot under
    the lock and then sleeps outside it, so waiting callers are served in the
    order they arrived and no one busy-waits. `rate_per_s == 0` means no limit.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s < 0 or burst < 1:
            raise ValueError(f"RateLimiter needs rate_per_s >= 0 and burst >= 1 (got {rate_per_s}, {burst})")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def acquire(self) -> float:
        """Block until a request may go out; return how long this caller waited, in seconds."""
        if not self.rate_per_s:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
            self._tokens -= 1  # may go negative: that debt is this caller's place in the queue
            wait = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class SharedRateLimiter:
    """`rate_per_s` calls a second to one endpoint by every process on one store, together: the token bucket is a
    row of the store (ports.RateBuckets, taken atomically), so two `swarm daemon`s on one store with
    rate_per_s = 2 send at most 2 calls a second between them, on average. A take that fails (the store out of
    reach) falls back to this process's own bucket, so a call is never refused for it."""

    def __init__(self, buckets, name: str, rate_per_s: float, burst: int = 1, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.local = RateLimiter(rate_per_s, burst, sleep=sleep)  # checks the limits; the fallback bucket
        self.buckets = buckets
        self.name = name
        self.rate_per_s, self.burst = self.local.rate_per_s, self.local.burst
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> float:
        """Block until a request may go out; return how long this caller waited, in seconds."""
        if not self.rate_per_s:
            return 0.0
        try:
            wait = self.buckets.take(self.name, self.rate_per_s, self.burst, self._clock())
        except Exception as exc:  # noqa: BLE001 — the store's errors are the backend's own types
            log.warning("the shared rate limit of %s could not be read from the store (%s); this process limits "
                        "its own calls meanwhile", self.name, exc)
            return self.local.acquire()
        if wait > 0:
            self._sleep(wait)
        return wait
