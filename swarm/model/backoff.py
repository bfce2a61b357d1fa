"""How long to wait before retrying a model request: exponential backoff with full jitter, or Retry-After."""

from __future__ import annotations

import random
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
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

    A server's Retry-After wins (capped at `max_s`: the caller says so when it caps); otherwise
    a uniform draw from [0, min(max_s, base_s * 2**retry_index)] — full jitter keeps many
    clients that failed together from retrying together.
    """
    if retry_after_s is not None:
        return max(0.0, min(max_s, retry_after_s))
    ceiling = min(max_s, base_s * (2 ** min(retry_index, 62)))
    return (rng or random).uniform(0.0, ceiling)


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds asked for by `retry-after-ms` or `Retry-After` response headers, or None.

    `Retry-After` is either a number of seconds or an HTTP date (RFC 9110), e.g.
    "Wed, 21 Oct 2026 07:28:00 GMT"; a date is counted from `now` (Unix time, default the
    current time), and one already past asks for no wait. Anything else is ignored.
    """
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a date without a zone is taken as GMT too
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
