"""Goals as a queue shared by several daemons on one store: submitted goals are shared out and no run is driven
twice; a run of another daemon's folder that ends elsewhere is handed back and filed by its folder's daemon;
what each daemon does with a goal row (pure); the CLI's `submit --queue` and `daemon --no-folder`."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from daemon_support import daemon_env, files, swarm
from lifecycle_support import make_engine, scaled  # noqa: F401
from swarm.daemon import ledger, queue
from swarm.daemon.eventlog import EventLog
from swarm.daemon.service import Daemon

both_backends = pytest.mark.usefixtures("store_url")  # the test runs on SQLite and on PostgreSQL (FOR UPDATE SKIP LOCKED)

LINES = [{"match": "^Write the text", "repeat": True, "reply": "Here is the text.", "delay_s": 0.3}]


def serve_until(daemons: list[Daemon], done, timeout: float = 60, once_warm=None) -> None:
    """Run the daemons in this process, on one asyncio loop, until `done()` holds; then stop them as SIGTERM would.
    `once_warm()` is called when every daemon has warmed up (before that, one may take all the work alone)."""

    async def main() -> None:
        tasks = [asyncio.create_task(d.serve()) for d in daemons]
        deadline = time.monotonic() + scaled(timeout)
        warm = once_warm is None
        while not (warm and done()):
            if not warm and all(d.log_path.exists() and '"warm_up"' in d.log_path.read_text() for d in daemons):
                once_warm()
                warm = True
            for task in tasks:
                assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "the daemons did not get there in time"
            await asyncio.sleep(0.05)
        for d in daemons:
            d.stop("test over")
        await asyncio.gather(*tasks)

    asyncio.run(main())


def events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def daemons(make_engine, scripted_model, tmp_path):
    """make(name, folder=None): a daemon on the test's one store, its worker named `name`, logging to NAME.log."""
    server = scripted_model(LINES)

    def make(name: str, folder=None, **settings) -> Daemon:
        engine = make_engine(model=server, settings={"SWARM_DAEMON_SETTLE_MS": "50", **{
            f"SWARM_DAEMON_{k.upper()}": str(v) for k, v in settings.items()}})
        engine.leases.owner = name
        daemon = Daemon(engine, folder, EventLog(open(tmp_path / f"{name}.log", "a", buffering=1)), watch=folder is not None)
        daemon.log_path = tmp_path / f"{name}.log"
        return daemon

    return make


def submit(store, n: int) -> None:
    for i in range(n):
        spec = json.dumps({"goal": f"Write note {i}", "script": "write_text"})
        store.queue.submit("submitted", f"Write note {i}", str(i), f"queued-{i}", spec, time.time())


@both_backends
def test_two_daemons_share_the_submitted_goals_and_never_drive_one_run_twice(daemons, tmp_path):
    a, b = daemons("a", max_concurrent_runs=2), daemons("b", max_concurrent_runs=2)
    serve_until([a, b], lambda: [g["state"] for g in a.store.goals.goal_rows()] == ["finished"] * 8,
                once_warm=lambda: submit(a.store, 8))
    goals = a.store.goals.goal_rows()
    assert {g["outcome"] for g in goals} == {"done"} and {g["folder"] for g in goals} == {""}
    runs = a.store.runs()
    assert sorted(r["id"] for r in runs) == sorted(g["run_id"] for g in goals)
    assert all(r["status"] == "done" and r["lease_epoch"] == 1 and r["lease_owner"] is None for r in runs)
    claimed = {name: [e["run"] for e in events(tmp_path / f"{name}.log") if e["event"] == "run_claimed"]
               for name in ("a", "b")}
    assert claimed["a"] and claimed["b"], claimed  # each could hold only two at a time: both took some
    assert not set(claimed["a"]) & set(claimed["b"])  # and no run was claimed by both
    ends = [e["goal_id"] for name in ("a", "b") for e in events(tmp_path / f"{name}.log") if e["event"] == "goal_done"]
    assert sorted(ends) == sorted(g["id"] for g in goals)  # each goal ended once


@both_backends
def test_a_folder_goal_driven_elsewhere_is_handed_back_and_filed_by_its_folder_daemon(daemons, tmp_path):
    folder = tmp_path / "goals"
    other = daemons("other")
    # As the folder's daemon leaves a goal after taking it: the file in processing/, its row, its run.
    owner = daemons("owner", folder)
    owner.folder.ensure()
    (owner.folder.processing / "note.md").write_text("Write a note")
    goal_id = ledger.record_claim(other.store, owner.key, "note.md", "note.md", "0" * 64, "folder-run")
    other.engine.create_run("Write a note", script="write_text", run_id="folder-run")

    serve_until([other], lambda: ledger.get(other.store, goal_id)["state"] == "finishing")
    row = ledger.get(other.store, goal_id)
    assert row["outcome"] == "done" and files(folder, "processing") == ["note.md"]  # not its folder: not filed
    assert [e["folder"] for e in events(tmp_path / "other.log") if e["event"] == "goal_handed_back"] == [owner.key]

    serve_until([owner], lambda: ledger.get(owner.store, goal_id)["state"] == "finished")
    assert files(folder, "processing") == [] and files(folder, "done") == ["note.md", "note.result.md"]
    assert "- status: done" in (folder / "done" / "note.result.md").read_text()


@pytest.mark.parametrize(("row", "step"), [
    ({"run_status": None, "state": "running", "folder": ""}, None),  # no run yet: its taker creates it
    ({"run_status": "running", "state": "running", "folder": "", "lease_owner": None}, queue.DRIVE),
    ({"run_status": "running", "state": "running", "folder": "", "lease_owner": "w", "lease_expires": 1e12}, None),
    ({"run_status": "running", "state": "running", "folder": "/f", "lease_owner": "w", "lease_expires": 1.0}, queue.DRIVE),
    ({"run_status": "done", "state": "running", "folder": ""}, queue.CLOSE),
    ({"run_status": "done", "state": "running", "folder": "/mine"}, queue.FILE),
    ({"run_status": "failed", "state": "finishing", "folder": "/mine"}, queue.FILE),
    ({"run_status": "done", "state": "running", "folder": "/theirs"}, queue.HAND_BACK),
    ({"run_status": "done", "state": "finishing", "folder": "/theirs"}, None),  # handed back already
])
def test_what_a_daemon_does_with_a_goal_of_the_queue(row, step):
    assert queue.step(row, "/mine", time.time()) == step


@both_backends
def test_submit_to_the_queue_and_the_daemons_folder_options_from_the_command_line(tmp_path, store_url):
    env = {**daemon_env(tmp_path, "http://127.0.0.1:9/v1"), "SWARM_STORE_URL": store_url}
    out = swarm(["submit", "--queue", "--json", "--max-nodes", "5", "Plan a picnic"], env)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["status"] == "queued"
    from swarm.store import open_store

    store = open_store(store_url)
    [goal] = store.goals.goal_rows()
    assert (goal["state"], goal["run_id"], goal["folder"]) == ("queued", answer["run_id"], "")
    assert json.loads(store.queue.goal(goal["id"])["spec"]) == {"goal": "Plan a picnic", "budgets": {"max_nodes": 5}}
    store.close()

    empty = swarm(["submit", "--queue", "  "], env)
    assert empty.returncode == 2 and "the goal is empty" in empty.stderr
    both = swarm(["daemon", "--no-folder", "--folder", str(tmp_path)], env)
    assert both.returncode != 0 and "--folder and --no-folder contradict each other" in both.stderr
    stop = swarm(["daemon", "stop", "--no-folder"], env)
    assert stop.returncode != 0 and "a --no-folder daemon has none" in stop.stderr


def test_a_quiet_sqlite_daemon_reads_the_queue_only_when_another_connection_wrote_the_store(make_engine, scripted_model,
                                                                                            tmp_path):
    """A daemon with no folder on SQLite, whose fallback look comes once an hour: once a look found nothing but its
    own runs, a look only asks whether another connection committed (the file's data_version), and reads the queue
    when one did. (On PostgreSQL a notification wakes it: tests/test_wakeups.py.)"""
    from swarm.store import open_store

    engine = make_engine(model=scripted_model(LINES), settings={
        "SWARM_STORE_WAKEUP_POLL_S": "3600", "SWARM_STORE_LEASE_TTL_S": "3600"})
    daemon = Daemon(engine, None, EventLog(open(tmp_path / "a.log", "a", buffering=1)), watch=False)
    elsewhere = open_store(str(tmp_path / "swarm.db"))  # another connection, as `swarm submit --queue` in another process
    reads = []
    open_goals = daemon.store.queue.open_goals
    daemon.store.queue.open_goals = lambda *a: (reads.append(1), open_goals(*a))[1]

    async def main() -> list[int]:
        daemon.stopping = asyncio.Event()
        counted = []
        for step in ("first look", "quiet", "quiet", "submitted elsewhere", "its run to drive"):
            if step == "submitted elsewhere":
                submit(elsewhere, 1)
            daemon.share()
            counted.append(len(reads))
        await asyncio.wait_for(asyncio.gather(*daemon.tasks.values()), scaled(60))  # (a limit against a hang)
        return counted

    try:
        assert asyncio.run(main()) == [1, 1, 1, 2, 3]
        assert [(g["state"], g["outcome"]) for g in elsewhere.goals.goal_rows()] == [("finished", "done")]
    finally:
        elsewhere.close()
