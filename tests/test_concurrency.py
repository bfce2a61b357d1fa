"""The concurrency limit: never more executions at once than [run].concurrency, across runs."""

from __future__ import annotations

import pytest

import asyncio
import threading
import time

from lifecycle_support import make_engine, scaled, script  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


class Gauge:
    """Counts executions in flight and keeps the highest count seen.

    Each execution holds until `limit` of them were in flight at once (or a generous hang limit
    passed), then a little longer: so the peak reaches the limit however slowly the machine starts
    them, and an engine that let more through would be caught with the first ones still held.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.lock = threading.Condition()
        self.now = self.peak = 0

    def leaf(self, ctx):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.peak >= self.limit, timeout=scaled(30))
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return ctx.data["i"]


def fan_out(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("leaf", i=i) for i in range(12)])
    return sum(r.output for r in ctx.reports)


def test_no_more_executions_at_once_than_the_limit(make_engine):
    gauge = Gauge(3)
    engine = make_engine(script("fan_out", fan_out), script("leaf", gauge.leaf), concurrency=3)
    run_id, status = asyncio.run(engine.run("sum", script="fan_out"))
    assert status == "done"
    assert gauge.peak == 3


def test_two_runs_share_the_limit_and_both_finish(make_engine):
    gauge = Gauge(4)
    engine = make_engine(script("fan_out", fan_out), script("leaf", gauge.leaf), concurrency=4)

    async def both():
        return await asyncio.gather(engine.run("a", script="fan_out"), engine.run("b", script="fan_out"))

    results = asyncio.run(both())
    assert [status for _, status in results] == ["done", "done"]
    assert gauge.peak == 4
