"""How long to wait before retrying a model request: exponential backoff with full jitter, or Retry-After."""

from __future__ import annotations

import random
from typing import Mapping


def backoff_delay(
    retry_index: int,
    *,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to sleep before retry number `retry_index` (0 = first retry).

    A server's Retry-After wins (capped at `max_s`); otherwise a uniform draw
    from [0, min(max_s, base_s * 2**retry_index)] — full jitter keeps many
    clients that failed together from retrying together.
    """
    if retry_after_s is not None:
        return max(0.0, min(max_s, retry_after_s))
    ceiling = min(max_s, base_s * (2 ** min(retry_index, 62)))
    return (rng or random).uniform(0.0, ceiling)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds asked for by `Retry-After` / `retry-after-ms` response headers, or None.

    HTTP-date values are ignored (the jittered backoff is used instead).
    """
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds is not None:
        try:
            return float(seconds)
        except ValueError:
            return None
    return None
