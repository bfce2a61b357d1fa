"""Token and cost accounting: price one exchange, and keep a client's running totals."""

from __future__ import annotations

import threading


def cost_usd(prices: dict[str, dict[str, float]], model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for the tokens at `prices[model]` (USD per 1M tokens, keys "input"/"output"); 0 if unpriced."""
    price = prices.get(model)
    if not price:
        return 0.0
    return (prompt_tokens * price.get("input", 0.0) + completion_tokens * price.get("output", 0.0)) / 1_000_000


class Totals:
    """Thread-safe running totals of replies, tokens and cost for one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._cost_usd = 0.0

    def add(self, *, calls: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0, cost: float = 0.0) -> None:
        with self._lock:
            self._calls += calls
            self._prompt_tokens += prompt_tokens
            self._completion_tokens += completion_tokens
            self._cost_usd += cost

    def snapshot(self) -> dict[str, float | int]:
        with self._lock:
            return {
                "calls": self._calls,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
                "cost_usd": self._cost_usd,
            }
