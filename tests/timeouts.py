"""Hang limits of the tests: every timeout a test waits with is multiplied by SWARM_TEST_TIMEOUT_SCALE.

A timeout in a test is a guard against a hang, never a measure of speed (timing belongs in
bench/): it should be generous, and a slow or busy machine makes all of them longer at once,
e.g. `SWARM_TEST_TIMEOUT_SCALE=3 bash .ci/run`. Kept free of swarm imports, so conftest.py and
the security harness can use it cheaply; lifecycle_support re-exports it.
"""

from __future__ import annotations

import os

SCALE_ENV = "SWARM_TEST_TIMEOUT_SCALE"


def timeout_scale() -> float:
    """The factor from SWARM_TEST_TIMEOUT_SCALE (default 1); a bad value is an error that says what to set."""
    raw = os.environ.get(SCALE_ENV, "").strip() or "1"
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        raise ValueError(f"{SCALE_ENV}={raw!r} is not a positive number; set it to e.g. 1 or 3, or unset it")
    return scale


def scaled(seconds: float) -> float:
    """`seconds` times the timeout scale: a hang limit for this machine."""
    return seconds * timeout_scale()
