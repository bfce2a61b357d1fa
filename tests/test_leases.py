"""Run leases: one worker drives a run at a time, a lapsed lease is taken over with the next epoch, a long model
call keeps it renewed, and a worker that lost it is fenced — its commit is refused and nothing of its turn is
recorded. Each test runs on SQLite and on PostgreSQL (a throwaway cluster)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from lifecycle_support import ask_model, make_engine, scaled, script, wait_for  # noqa: F401
from swarm.batch import Batch
from swarm.leases import LeaseHeld, LeaseKeeper, LeaseLost, free, held, holder
from swarm.store import open_store

pytestmark = pytest.mark.usefixtures("store_url")


def other_store(engine):
    """A second connection to the engine's store, as another process would open it."""
    return open_store(engine.config)


def keeper(store, owner: str, ttl_s: float = 5.0) -> LeaseKeeper:
    lease_keeper = LeaseKeeper(store, ttl_s)
    lease_keeper.owner = owner
    return lease_keeper


def lease_of(store, run_id: str) -> dict:
    return store.leases.lease_row(run_id)


def test_of_many_workers_claiming_one_run_at_once_exactly_one_gets_it_and_the_others_are_told_who(make_engine):
    engine = make_engine(script("ask", ask_model))
    run_id = engine.create_run("a question", script="ask", data={"question": "?"})
    stores = [other_store(engine) for _ in range(6)]
    keepers = [keeper(store, f"worker-{n}") for n, store in enumerate(stores)]
    won, refused = [], []
    start = threading.Barrier(len(stores))

    def claim(n: int) -> None:
        start.wait()
        try:
            won.append(keepers[n].claim(run_id))
        except LeaseHeld as exc:
            refused.append(exc)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(30))
    assert len(won) == 1 and len(refused) == len(stores) - 1
    [lease] = won
    assert lease.epoch == 1 and lease_of(engine.store, run_id)["lease_owner"] == lease.owner
    assert all(f"driven by worker {lease.owner} (lease until" in str(exc) for exc in refused)
    for lease_keeper, store in zip(keepers, stores):
        lease_keeper.stop()
        store.close()


def test_a_lapsed_lease_is_taken_over_with_the_next_epoch_and_the_old_holder_can_no_longer_write(make_engine):
    engine = make_engine(script("ask", ask_model))
    run_id = engine.create_run("a question", script="ask", data={"question": "?"})
    frozen, other = other_store(engine), other_store(engine)
    now = time.time()
    assert frozen.leases.claim(run_id, "frozen", now + 1.0, now) == 1  # claimed, never renewed
    assert other.leases.claim(run_id, "other", now + 30, now) is None  # not lapsed yet: refused
    later = now + 2.0  # past the first lease's expiry
    assert free(lease_of(other, run_id), later) and not free(lease_of(other, run_id), now)
    assert other.leases.claim(run_id, "other", later + 30, later) == 2
    before = other.event_range(run_id)

    batch = Batch()
    batch.event(run_id, "note", None, {"by": "the frozen worker"})
    with pytest.raises(LeaseLost, match="lease lost .* this turn was not recorded"):
        frozen.commit(batch, run_id)
    assert other.event_range(run_id) == before  # nothing of the refused turn is in the history
    batch = Batch()
    batch.event(run_id, "note", None, {"by": "the worker holding it"})
    other.commit(batch, run_id)
    assert other.event_range(run_id)[1] > before[1]
    frozen.close()
    other.close()


def test_a_lease_whose_holder_died_on_this_host_is_taken_at_once(make_engine):
    engine = make_engine(script("ask", ask_model))
    run_id = engine.create_run("a question", script="ask", data={"question": "?"})
    gone = subprocess.Popen(["true"])
    gone.wait()
    engine.store.update_run(run_id, lease_owner=f"{socket.gethostname()}:{gone.pid}", lease_expires=time.time() + 300,
                            lease_epoch=4)
    assert not held(engine.store.run(run_id))  # its holder's process is gone: nobody drives it
    next_holder = keeper(engine.store, "next")
    assert next_holder.claim(run_id).epoch == 5
    next_holder.stop()


def test_a_drive_holds_the_lease_renewed_through_a_long_model_call_and_gives_it_up_at_the_end(make_engine):
    engine = make_engine(script("ask", ask_model), model=[{"reply": "slow answer", "delay_s": 1.5}],
                         settings={"SWARM_STORE_LEASE_TTL_S": "0.6"})
    run_id = engine.create_run("a question", script="ask", data={"question": "?"})
    other = other_store(engine)
    seen: list[float] = []
    result: dict = {}
    driver = threading.Thread(target=lambda: result.update(status=asyncio.run(engine.drive(run_id))))
    driver.start()
    try:
        wait_for(lambda: (lease_of(other, run_id) or {}).get("lease_owner"), 30, "the drive's lease")
        while driver.is_alive():  # the model call lasts longer than the lease: it is renewed meanwhile
            row = lease_of(other, run_id)
            if row["lease_owner"]:
                seen.append(row["lease_expires"])
                assert held(row)
                with pytest.raises(LeaseHeld, match=r"being driven by worker .*\(lease until"):
                    keeper(other, "another").claim(run_id)
            time.sleep(0.2)
    finally:
        driver.join(scaled(60))
    assert result["status"] == "done"
    assert len(set(seen)) >= 2, "the lease was never renewed during the call"
    row = lease_of(other, run_id)
    assert row["lease_owner"] is None and row["lease_epoch"] == 1  # given up; the next claim gets epoch 2
    assert holder(other.run(run_id)) == "nobody"
    other.close()


def test_a_run_taken_over_mid_call_stops_with_nothing_of_that_turn_recorded_but_its_paid_call_kept(make_engine):
    engine = make_engine(script("ask", ask_model), model=[{"reply": "the answer", "delay_s": 1.0}],
                         settings={"SWARM_STORE_LEASE_TTL_S": "30"})
    run_id = engine.create_run("a question", script="ask", data={"question": "?"})
    thief = other_store(engine)
    outcome: dict = {}

    def drive() -> None:
        try:
            outcome["status"] = asyncio.run(engine.drive(run_id))
        except LeaseLost as exc:
            outcome["lost"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    wait_for(lambda: any(e["kind"] == "execute" for e in thief.events(run_id, states=False)), 30, "the node's execution")
    # As if the driving worker had been frozen past its lease: another one takes the run over meanwhile.
    future = time.time() + 3600
    assert thief.leases.claim(run_id, "thief", future + 30, future) == 2
    taken_at = thief.event_range(run_id)[1]
    driver.join(scaled(60))
    assert isinstance(outcome.get("lost"), LeaseLost), outcome
    assert outcome["lost"].now_owner == "thief" and outcome["lost"].now_epoch == 2
    assert thief.event_range(run_id)[1] == taken_at  # not one event of the frozen worker after the takeover
    assert thief.run(run_id)["status"] != "done"
    # The call it had paid for is in the store: whoever drives the run next replays it instead of paying again.
    assert [c["reply"] is not None for c in thief.llm_calls(run_id)] == [True]
    thief.close()


def swarm_cli(engine, *args: str) -> subprocess.CompletedProcess:
    """`swarm ARGS` in another process, on the engine's store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(engine.config.path(engine.config.store.path)), SWARM_STORE_URL=engine.config.store.url or "")
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], env=env, capture_output=True, text=True,
                          timeout=scaled(60))


def test_resume_says_which_worker_holds_a_run_and_until_when(make_engine):
    engine = make_engine(script("ask", ask_model))
    run_id = engine.create_run("a question", script="ask", data={"question": "?"})
    busy = subprocess.Popen(["sleep", "300"])
    try:
        engine.store.update_run(run_id, status="running", lease_owner=f"{socket.gethostname()}:{busy.pid}",
                                lease_expires=time.time() + 300, lease_epoch=1)
        out = swarm_cli(engine, "resume", run_id)
        assert out.returncode == 0, out.stderr
        assert f"run {run_id} is being driven by worker {socket.gethostname()}:{busy.pid} (lease until" in out.stdout
    finally:
        busy.kill()
        busy.wait()


def test_a_worker_whose_renewals_fell_behind_asks_the_store_before_paying_and_is_refused_once_taken_over(make_engine):
    engine = make_engine(script("ask", ask_model))
    run_id = engine.create_run("a question", script="ask", data={"question": "?"})
    woken, thief = keeper(engine.store, "woken", ttl_s=1.0), other_store(engine)
    lease = woken.claim(run_id)
    woken.stop()  # no renewals from here on, as in a frozen process
    woken.confirm(run_id)  # renewed lately: nothing to ask
    overdue = lease.expires = time.time() + 0.1  # renewals a period overdue: the store is asked, and the lease is still its own
    woken.confirm(run_id)
    assert lease.expires > overdue and not lease.lost  # renewed by the store, not refused
    assert engine.store.leases.lease_row(run_id)["lease_expires"] == pytest.approx(lease.expires)
    future = time.time() + 3600
    assert thief.leases.claim(run_id, "thief", future + 30, future) == lease.epoch + 1
    lease.expires = time.time() - 5  # woken up long after its lease lapsed, and taken over meanwhile
    with pytest.raises(LeaseLost, match="lapsed before this worker could renew it"):
        woken.confirm(run_id)
    assert lease.lost
    thief.close()


DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "demo_model.jsonl")


def test_a_cli_run_that_held_a_lease_renewed_many_times_ends_without_a_word_about_renewals(make_engine, scripted_model):
    engine = make_engine()  # only for its store's URL and path
    server = scripted_model(DEMO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(engine.config.path(engine.config.store.path)), SWARM_STORE_URL=engine.config.store.url or "",
               OPENAI_BASE_URL=server.url, SWARM_MODEL="demo-model", SWARM_RUN_ROOT_SCRIPT="break_down_goal",
               SWARM_STORE_LEASE_TTL_S="0.06")  # renewed every 20 ms, up to the engine's close
    out = subprocess.run([sys.executable, "-m", "swarm.cli", "run", "Plan a three-day trip to Lisbon", "--json"],
                         env=env, capture_output=True, text=True, timeout=scaled(120))
    assert out.returncode == 0, out.stderr
    assert "renew" not in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_a_keeper_whose_store_closes_after_it_stopped_says_nothing_and_a_real_failure_is_one_line(make_engine, caplog):
    engine = make_engine(script("ask", ask_model))
    run_ids = [engine.create_run("a question", script="ask", data={"question": "?"}) for _ in range(2)]
    caplog.set_level("WARNING", logger="swarm")
    store = other_store(engine)
    quiet = keeper(store, "quiet", ttl_s=0.06)
    quiet.claim(run_ids[0])
    quiet.stop()
    store.close()
    time.sleep(0.2)
    assert not quiet.thread.is_alive() and not caplog.records
    # A store closed under a keeper still running: each round says so in one line, without a traceback.
    store = other_store(engine)
    failing = keeper(store, "failing", ttl_s=0.06)
    failing.claim(run_ids[1])
    store.close()
    wait_for(lambda: caplog.records, 10, "a warning")
    failing.stop()
    said = caplog.records[0]
    assert said.getMessage().startswith("could not renew the run leases (") and "trying again" in said.getMessage()
    assert said.exc_info is None and "\n" not in said.getMessage()
