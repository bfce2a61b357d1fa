"""The model client's watchdog (timed callbacks on one thread) and Cancellation (a cross-thread stop flag)."""

from __future__ import annotations

import queue
import threading

import swarm.model.watchdog as watchdog_module
from lifecycle_support import wait_for
from swarm.model.cancel import Cancellation
from swarm.model.watchdog import Watchdog
from timeouts import scaled


def test_alarms_run_in_the_order_they_are_due_and_a_cancelled_one_never_runs():
    ran: queue.SimpleQueue = queue.SimpleQueue()
    watchdog = Watchdog()
    try:
        watchdog.after(0.2, lambda: ran.put("late"))
        cancelled = watchdog.after(0.1, lambda: ran.put("cancelled"))
        watchdog.after(0.0, lambda: ran.put("first"))
        cancelled.cancel()
        assert [ran.get(timeout=scaled(10)) for _ in range(2)] == ["first", "late"]
        assert ran.empty()
    finally:
        watchdog.close()


def test_a_failing_callback_does_not_stop_the_alarms_after_it():
    ran: queue.SimpleQueue = queue.SimpleQueue()
    watchdog = Watchdog()
    try:
        watchdog.after(0.0, lambda: 1 / 0)
        watchdog.after(0.01, lambda: ran.put("still runs"))
        assert ran.get(timeout=scaled(10)) == "still runs"
    finally:
        watchdog.close()


def test_an_idle_watchdog_ends_its_thread_and_the_next_alarm_starts_another(monkeypatch):
    monkeypatch.setattr(watchdog_module, "IDLE_EXIT_S", 0.05)
    ran: queue.SimpleQueue = queue.SimpleQueue()
    watchdog = Watchdog(name="test-idle-watchdog")
    try:
        watchdog.after(0.0, lambda: ran.put(threading.current_thread()))
        first = ran.get(timeout=scaled(10))
        wait_for(lambda: not first.is_alive(), scaled(10), "the idle watchdog thread to end")
        watchdog.after(0.0, lambda: ran.put(threading.current_thread()))
        assert ran.get(timeout=scaled(10)) is not first
    finally:
        watchdog.close()


def test_a_closed_watchdog_ends_its_thread_and_runs_nothing_more():
    ran: queue.SimpleQueue = queue.SimpleQueue()
    watchdog = Watchdog(name="test-closed-watchdog")
    watchdog.after(0.05, lambda: ran.put("due after the close"))
    watchdog.close()
    watchdog.after(0.0, lambda: ran.put("asked after the close"))
    wait_for(lambda: not any(t.name == "test-closed-watchdog" for t in threading.enumerate()), scaled(10),
             "the closed watchdog's thread to end")
    assert ran.empty()


def test_cancellation_runs_its_callbacks_once_and_a_late_callback_at_once():
    calls = []
    cancel = Cancellation()
    cancel.on_cancel(lambda: calls.append("registered before"))
    forget = cancel.on_cancel(lambda: calls.append("forgotten"))
    forget()
    cancel.cancel()
    cancel.cancel()
    cancel.on_cancel(lambda: calls.append("registered after"))
    assert cancel.cancelled
    assert calls == ["registered before", "registered after"]
