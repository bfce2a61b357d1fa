"""CircuitBreaker: stop calling a model endpoint that keeps failing, and try it again later."""

from __future__ import annotations

import threading
import time
from typing import Callable

from swarm.model.errors import ModelUnavailable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    """Thread-safe breaker counting failed calls (a call fails once its retries are exhausted).

    After `failures` failed calls in a row it opens: `before_call` raises
    ModelUnavailable at once, without touching the network, until `reset_s`
    has passed. Then it is half-open: one trial call goes through (others still
    fail fast); its success closes the breaker, its failure opens it again.
    `failures <= 0` disables the breaker.
    """

    def __init__(
        self,
        failures: int,
        reset_s: float,
        *,
        endpoint: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self.endpoint = endpoint
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def before_call(self) -> None:
        """Let the call through, or raise ModelUnavailable naming the endpoint if the circuit is open."""
        if self.failures <= 0:
            return
        with self._lock:
            if self._state == CLOSED:
                return
            remaining = self._opened_at + self.reset_s - self._clock()
            if self._state == OPEN and remaining <= 0:
                self._state = HALF_OPEN  # this caller is the trial
                return
            retry_in = max(remaining, 0.0) if self._state == OPEN else None
            raise ModelUnavailable.circuit_open(self.endpoint, self._consecutive, retry_in)

    def record_success(self) -> None:
        """The endpoint answered: close the circuit."""
        with self._lock:
            self._state = CLOSED
            self._consecutive = 0

    def record_failure(self) -> None:
        """A call got no answer after all its retries."""
        with self._lock:
            self._consecutive += 1
            if self.failures > 0 and (self._state == HALF_OPEN or self._consecutive >= self.failures):
                self._state = OPEN
                self._opened_at = self._clock()

    def abandon(self) -> None:
        """A call ended without telling us anything about the endpoint (e.g. interrupted).

        A half-open trial that ends this way must not leave the circuit stuck:
        the next caller becomes the trial instead.
        """
        with self._lock:
            if self._state == HALF_OPEN:
                self._state = OPEN
                self._opened_at = self._clock() - self.reset_s
