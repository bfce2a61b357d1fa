"""Deadlines: the node timeouts of one loop kept in one heap, with at most one timer on the asyncio loop.

Every test runs a real asyncio loop; deadlines are short, and only order and values are asserted, never
how late a timer fired (hang limits are scaled by SWARM_TEST_TIMEOUT_SCALE).
"""

from __future__ import annotations

import asyncio

from swarm.deadlines import Deadlines
from timeouts import scaled


def run_loop(body):
    return asyncio.run(asyncio.wait_for(body(), scaled(30)))


def test_a_deadline_fires_once_when_due_with_its_value_and_not_before():
    async def body():
        loop = asyncio.get_running_loop()
        fired = []
        done = asyncio.Event()

        def expire(key, value):
            fired.append((key, value, loop.time()))
            done.set()

        deadlines = Deadlines(loop, expire)
        added = loop.time()
        deadlines.add("1.1", "ctx of 1.1", 0.05)
        await done.wait()
        await asyncio.sleep(0.1)  # nothing more comes
        return fired, added

    fired, added = run_loop(body)
    assert [(k, v) for k, v, _ in fired] == [("1.1", "ctx of 1.1")]
    assert fired[0][2] >= added + 0.05 - 0.001


def test_a_discarded_deadline_never_fires_and_the_others_fire_in_order():
    async def body():
        loop = asyncio.get_running_loop()
        fired = []
        deadlines = Deadlines(loop, lambda key, value: fired.append(key))
        deadlines.add("a", None, 0.03)
        deadlines.add("b", None, 0.06)
        deadlines.add("c", None, 0.09)
        deadlines.discard("b")
        while len(fired) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        return fired, len(deadlines)

    fired, left = run_loop(body)
    assert fired == ["a", "c"]
    assert left == 0


def test_an_earlier_deadline_added_later_fires_first():
    # [run].node_timeout_s may change between executions: deadlines are not assumed to come in order.
    async def body():
        loop = asyncio.get_running_loop()
        fired = []
        deadlines = Deadlines(loop, lambda key, value: fired.append(key))
        deadlines.add("slow", None, 5)
        deadlines.add("quick", None, 0.02)
        while not fired:
            await asyncio.sleep(0.01)
        deadlines.close()
        return fired

    assert run_loop(body) == ["quick"]


def test_adding_a_key_again_replaces_its_deadline():
    # A node executed again (a retry) gets a new deadline; the old one must not time the new execution out.
    async def body():
        loop = asyncio.get_running_loop()
        fired = []
        deadlines = Deadlines(loop, lambda key, value: fired.append((key, value)))
        deadlines.add("1", "first execution", 0.02)
        deadlines.add("1", "second execution", 0.08)
        while not fired:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        return fired

    assert run_loop(body) == [("1", "second execution")]


def test_executions_that_end_in_time_leave_no_pile_of_entries_and_one_timer_at_most():
    async def body():
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(loop, lambda key, value: None)
        timers_before = len(loop._scheduled)
        biggest_heap = 0
        for i in range(10_000):
            deadlines.add(i, None, 300)
            if i >= 8:  # eight running at once, each ending in time
                deadlines.discard(i - 8)
            biggest_heap = max(biggest_heap, len(deadlines.heap))
        timers = len(loop._scheduled) - timers_before
        deadlines.close()
        return biggest_heap, timers, len(loop._scheduled) - timers_before

    biggest_heap, timers, after_close = run_loop(body)
    assert biggest_heap < 100  # bounded by the running ones, not by the 10,000 executions
    assert timers == 1
    assert after_close in (0, 1)  # a cancelled timer stays in asyncio's heap until the loop drops it


def test_close_stops_every_deadline():
    async def body():
        loop = asyncio.get_running_loop()
        fired = []
        deadlines = Deadlines(loop, lambda key, value: fired.append(key))
        deadlines.add("a", None, 0.02)
        deadlines.close()
        await asyncio.sleep(0.1)
        return fired

    assert run_loop(body) == []
