"""One thread owns an Engine's event loop (swarm/loop_thread.py): runs asked for from any thread, loop or server
are driven there; the live loops and the slots are read and stopped through it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lifecycle_support import make_engine, scaled, script, wait_for  # noqa: F401
from ui_support import request, start_ui

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL

GATE_S = 60  # generous limit against hangs (scaled)


class Held:
    """A node script that notes the thread and event loop its run's loop is on, then waits for the test's gate."""

    def __init__(self):
        self.gate = threading.Event()
        self.loops: set[tuple[str, int]] = set()

    def observer(self, run_loop) -> None:
        self.loops.add((threading.current_thread().name, id(asyncio.get_running_loop())))

    def execute(self, ctx):
        if not self.gate.wait(scaled(GATE_S)):
            raise TimeoutError("the test never opened the gate")
        return ctx.data.get("goal", "")


def drive_in_own_thread(engine, run_id: str, observers, statuses: dict) -> threading.Thread:
    """As a program's thread would: its own asyncio loop, awaiting engine.drive."""
    thread = threading.Thread(target=lambda: statuses.update({run_id: asyncio.run(engine.drive(run_id, observers))}),
                              daemon=True)
    thread.start()
    return thread


def test_runs_asked_for_from_several_threads_are_all_driven_on_the_engines_one_loop_thread(make_engine):
    held = Held()
    engine = make_engine(script("held", held.execute))
    run_ids = [engine.create_run(f"goal {i}", script="held") for i in range(3)]
    statuses: dict[str, str] = {}
    threads = [drive_in_own_thread(engine, run_id, [held.observer], statuses) for run_id in run_ids[:2]]
    submitted = engine.submit(run_ids[2], observers=[held.observer])  # from this thread, no loop of its own

    wait_for(lambda: engine.active == 3, GATE_S, "three executions under way at once")
    assert {loop.run_id for loop in engine.loops} == set(run_ids) and engine.driving(run_ids[0])
    held.gate.set()
    for thread in threads:
        thread.join(scaled(GATE_S))
    statuses[run_ids[2]] = submitted.result(scaled(GATE_S))

    assert statuses == {run_id: "done" for run_id in run_ids}
    (owner,) = held.loops  # one thread, one loop, for all three runs
    assert owner[0] == "swarm-engine" and owner[0] != threading.current_thread().name
    assert engine.active == 0 and engine.loops == set()


def test_a_shutdown_from_another_thread_stops_every_run_cleanly_on_the_loop(make_engine):
    held = Held()
    engine = make_engine(script("held", held.execute))
    run_ids = [engine.create_run(f"goal {i}", script="held") for i in range(2)]
    statuses: dict[str, str] = {}
    threads = [drive_in_own_thread(engine, run_id, [], statuses) for run_id in run_ids]
    wait_for(lambda: engine.active == 2, GATE_S, "both runs executing")

    engine.shutdown("stopped by the test")  # as a signal handler on the main thread would
    for thread in threads:
        thread.join(scaled(GATE_S))
    held.gate.set()

    assert statuses == {run_id: "interrupted" for run_id in run_ids}
    assert {engine.store.run(r)["stop_reason"] for r in run_ids} == {"stopped by the test"}
    assert engine.active == 0 and engine.loops == set()


def test_the_ui_server_and_a_programs_thread_drive_runs_on_the_same_engine_loop(make_engine):
    held = Held()
    engine = make_engine(script("held", held.execute))
    with start_ui(engine) as server:
        headers = {"X-Swarm-Token": server.token}
        status, out = request(server.url + "api/runs", "POST", headers, body={"goal": "from the page", "script": "held"})
        assert status == 201 and out["driven_here"] is True, out
        by_ui = out["run_id"]
        by_thread = engine.create_run("from a thread", script="held")
        statuses: dict[str, str] = {}
        thread = drive_in_own_thread(engine, by_thread, [held.observer], statuses)

        wait_for(lambda: {loop.run_id for loop in engine.loops} == {by_ui, by_thread}, GATE_S, "both runs driven")
        by_ui_loop = wait_for(lambda: [loop for loop in engine.loops if loop.run_id == by_ui], GATE_S, "the UI's run")[0]
        by_ui_loop.observers.append(held.observer)  # noted from its next turn on
        held.gate.set()
        thread.join(scaled(GATE_S))
        wait_for(lambda: engine.store.run(by_ui)["status"] == "done", GATE_S, "the UI's run to end")

    assert statuses == {by_thread: "done"}
    (owner,) = held.loops
    assert owner[0] == "swarm-engine"


def test_a_cancel_right_after_a_run_was_handed_over_is_taken_by_that_run_not_a_second_driver(make_engine):
    held = Held()
    engine = make_engine(script("held", held.execute))
    try:
        for i in range(5):
            run_id = engine.create_run(f"goal {i}", script="held")
            driving = engine.submit(run_id)  # its coroutine may not have begun yet

            assert engine.driving(run_id)
            assert engine.cancel(run_id) == "requested"
            assert driving.result(scaled(GATE_S)) == "cancelled"
            assert not engine.driving(run_id) and engine.store.run(run_id)["status"] == "cancelled"
    finally:
        held.gate.set()
