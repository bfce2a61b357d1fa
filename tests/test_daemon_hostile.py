"""The daemon under hostile input, as a real process: whatever one goal file is (nested thousands deep, a name
too long or not UTF-8, a symlink to a secret, a FIFO, NaN budgets, several problems at once), it ends in
failed/ or done/ with a clear error or result file, one log line says what happened, every log line is JSON,
and the daemon goes on with the other goals. Trouble around the files (a folder that cannot be written,
a full or read-only disk) holds the goals where they are and they are filed once it clears."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from daemon_support import (ModelServer, daemon_command, daemon_env, every_line_json, files, log_events, start_daemon,
                            swarm, wait_for)
from store_support import raw_script
from timeouts import scaled

LONG = "x" * 249 + ".json"  # 254 bytes: fits in inbox/, but NAME.result.md would not
NOT_UTF8 = os.fsdecode(b"caf\xff\xfe.json")


@pytest.fixture
def model(tmp_path):
    server = ModelServer(tmp_path, delay=0.0)
    yield server
    server.stop()


def text_goal(goal: str, **more) -> str:
    """A goal whose root is one write_text node: one model call."""
    return json.dumps({"goal": goal, "script": "write_text", **more})


def stop(daemon: subprocess.Popen) -> str:
    """SIGTERM, exit 0; returns what it wrote to stderr."""
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(scaled(60)) == 0
    return daemon.stderr.read()


def side_files(folder: Path) -> list[Path]:
    return [p for sub in ("done", "failed") for p in (folder / sub).iterdir()
            if p.name.endswith((".result.md", ".error.txt"))]


def test_hostile_goal_files_are_refused_one_by_one_and_the_daemon_goes_on(tmp_path, model):
    folder = tmp_path / "goals"
    inbox, processing = folder / "inbox", folder / "processing"
    inbox.mkdir(parents=True)
    processing.mkdir()
    # Left in processing/ by a daemon that crashed on it: taken again, and this time refused.
    (processing / "crashed.json").write_text('{"goal": ' + "[" * 30000 + "]" * 30000 + "}")
    secret = tmp_path / "shadow"
    secret.write_text("root:TOP-SECRET-HASH:19000::::::\n")
    secret.chmod(0o600)
    bad = {
        "deep.json": '{"goal": ' + "[" * 30000 + "]" * 30000 + "}",
        "deep.toml": "goal = " + "[" * 30000 + "]" * 30000 + "\n",
        "nan.json": '{"goal": "Plan a trip", "max_cost_usd": NaN}',
        "inf.json": '{"goal": "Plan a trip", "max_wall_s": Infinity}',
        "negative.json": '{"goal": "Plan a trip", "max_nodes": -3}',
        "two.json": '{"goal": 3, "colour": "red"}',
        "surrogate.json": '{"goal": "Plan a trip \\ud800"}',
    }
    for name, text in bad.items():
        (inbox / name).write_text(text)
    (inbox / "link.md").symlink_to(secret)
    os.link(secret, inbox / "hard.md")  # the same file under a second name
    os.mkfifo(inbox / "pipe.md")
    (inbox / LONG).write_text(text_goal("Plan a long weekend"))
    (inbox / NOT_UTF8).write_text(text_goal("Plan a trip to a cafe"))
    (inbox / "lisbon.json").write_text(text_goal("Plan a three-day trip to Lisbon"))
    env = daemon_env(tmp_path, model.url, settle_ms=50)
    log = tmp_path / "daemon.log"
    daemon = subprocess.Popen(daemon_command(folder), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # no --log-file: stderr is the log
    try:
        wait_for(lambda: "lisbon.result.md" in files(folder, "done"), 60, "the good goal to be done")
        # The same name again: filed as lisbon-2.json, and its result says so.
        (inbox / "lisbon.json").write_text(text_goal("Plan a three-day trip to Lisbon, again"))
        total = len(bad) + 1 + 3 + 3 + 1  # bad, crashed, link, hard link and pipe, three good, the second lisbon
        wait_for(lambda: len(files(folder, "done")) + len(files(folder, "failed")) == 2 * total
                 and not files(folder, "processing"), 60, "every file filed")
    finally:
        stderr = stop(daemon)
    log.write_text(stderr)
    events = every_line_json(log)  # the daemon's stderr, every line of it

    failed = files(folder, "failed")
    error = {name: (folder / "failed" / name).read_text() for name in failed if name.endswith(".error.txt")}
    assert "nested too deeply" in error["crashed.error.txt"]
    assert "nested too deeply" in error["deep.error.txt"]
    deep_toml = next(n for n in failed if n.endswith(".toml"))  # deep.toml or deep-2.toml: deep.json has the stem
    assert "nested too deeply" in error[deep_toml.replace(".toml", ".error.txt")]
    assert "`max_cost_usd` must be a finite number more than 0 (got nan)" in error["nan.error.txt"]
    assert "`max_wall_s` must be a finite number more than 0 (got inf)" in error["inf.error.txt"]
    assert "`max_nodes` must be a whole number more than 0 (got -3)" in error["negative.error.txt"]
    assert "2 problems" in error["two.error.txt"] and "unknown key(s) colour" in error["two.error.txt"] \
        and "`goal` must be a non-empty string" in error["two.error.txt"]
    assert "lone surrogate" in error["surrogate.error.txt"]
    assert "symbolic link" in error["link.error.txt"] and "never follows links" in error["link.error.txt"]
    assert "FIFO" in error["pipe.error.txt"]
    assert "2 hard links" in error["hard.error.txt"] and "put a copy into inbox/" in error["hard.error.txt"]
    # The link itself was moved, its target never read: not sent to the model, not written anywhere.
    assert (folder / "failed" / "link.md").is_symlink() and secret.read_text().startswith("root:TOP-SECRET")
    assert not any("TOP-SECRET" in json.dumps(r) for r in model.served())
    assert not any("TOP-SECRET" in p.read_text() for p in side_files(folder))
    assert stat.S_ISFIFO(os.lstat(folder / "failed" / "pipe.md").st_mode)

    done = files(folder, "done")
    long_result = next(n for n in done if n.startswith("x") and n.endswith(".result.md"))
    assert len(long_result.encode()) <= 255 and "~" in long_result  # shortened, with a hash of the whole name
    assert f"(dropped into inbox/ as {LONG})" in (folder / "done" / long_result).read_text()
    cafe = "caf\ufffd\ufffd"
    assert f"{cafe}.json" in done and f"{cafe}.result.md" in done  # the bad bytes shown as U+FFFD
    lisbon2 = (folder / "done" / "lisbon-2.result.md").read_text()
    assert lisbon2.startswith("# lisbon-2.json\n") and "(dropped into inbox/ as lisbon.json)" in lisbon2
    host = model.url.split("//")[1].split("/")[0]
    assert f"- model: demo-model at {host}" in lisbon2 and "scripted demo" not in lisbon2
    for side in side_files(folder):  # readable by their owner only
        assert stat.S_IMODE(side.stat().st_mode) == 0o600, side

    # One line for each file saying what happened to it; the daemon went on to the end.
    refused = {e["file"] for e in events if e["event"] == "goal_refused"}
    assert refused >= {"crashed.json", *bad, "link.md", "hard.md", "pipe.md"}
    assert {e["file"] for e in events if e["event"] == "goal_done"} >= {LONG, "caf\ufffd\ufffd.json", "lisbon.json"}
    assert [e["event"] for e in events][-1] == "daemon_stop"
    runs = json.loads(swarm(["runs", "--json"], env).stdout)
    assert len(runs) == 4 and {r["status"] for r in runs} == {"done"}


def test_a_folder_that_cannot_be_written_holds_the_goals_until_it_can(tmp_path, model):
    folder = tmp_path / "goals"
    (folder / "inbox").mkdir(parents=True)
    env = daemon_env(tmp_path, model.url, settle_ms=50)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(folder, env, log)
    try:
        wait_for(lambda: (folder / "done").is_dir(), 60, "the daemon's folders")
        # done/ cannot take the result: something else is in its place (root ignores permissions, not this).
        (folder / "done").rmdir()
        (folder / "done").write_text("in the way")
        (folder / "inbox" / "walk.json").write_text(text_goal("Plan a walk"))
        wait_for(lambda: any(e["event"] == "goal_filing_failed" for e in log_events(log)), 60, "the failed filing")
        assert files(folder, "processing") == ["walk.json"]  # the run was paid for: nothing is lost
        (folder / "done").unlink()
        (folder / "done").mkdir()
        wait_for(lambda: any(e["event"] == "goal_done" for e in log_events(log)), 60, "the goal filed once done/ is back")

        # processing/ cannot take a new file: it waits in inbox/.
        shutil.rmtree(folder / "processing")
        (folder / "processing").write_text("in the way")
        (folder / "inbox" / "swim.json").write_text(text_goal("Plan a swim"))
        wait_for(lambda: any(e["event"] == "goal_claim_failed" for e in log_events(log)), 60, "the failed claim")
        assert files(folder, "inbox") == ["swim.json"]
        (folder / "processing").unlink()
        (folder / "processing").mkdir()
        wait_for(lambda: "swim.result.md" in files(folder, "done"), 60, "the goal taken once processing/ is back")
    finally:
        stop(daemon)
    events = every_line_json(log)
    filing = [e for e in events if e["event"] == "goal_filing_failed"]
    assert len(filing) == 1 and filing[0]["file"] == "walk.json" and "Not a directory" in filing[0]["error"]
    assert "free disk space or make the goals folder writable" in filing[0]["hint"]
    assert len([e for e in events if e["event"] == "goal_claim_failed"]) == 1
    assert "- status: done" in (folder / "done" / "walk.result.md").read_text()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs of its own, when this process may mount one (root in most containers)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip()}); the done/-is-a-file test covers the retry")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def pending_approval(store: Path) -> int | None:
    try:
        db = sqlite3.connect(store)
        try:
            row = db.execute("SELECT id FROM approvals WHERE status='pending' ORDER BY id LIMIT 1").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:  # No space left on device: the disk is full
            pass
    return filler


def test_a_full_disk_then_a_read_only_one_hold_the_goals_until_they_clear(tmp_path, model, small_disk):
    folder = small_disk / "goals"
    (folder / "inbox").mkdir(parents=True)
    # The store and the pidfile (held open for writing) stay on the roomy disk.
    env = daemon_env(tmp_path, model.url, settle_ms=50, pidfile=tmp_path / "daemon.pid")
    store, log = tmp_path / "swarm.db", tmp_path / "daemon.log"
    daemon = start_daemon(folder, env, log)
    try:
        # A goal that waits for a person holds its run open in processing/ for as long as it takes.
        (folder / "inbox" / "full.json").write_text(json.dumps({"goal": "Shall we go?", "script": "ask_human"}))
        request = wait_for(lambda: pending_approval(store), 60, "the question to a person")
        filler = fill(small_disk)
        assert swarm(["approve", str(request), "--edit-text", "yes"], env).returncode == 0
        wait_for(lambda: any(e["event"] == "goal_filing_failed" for e in log_events(log)), 60, "the failed filing")
        assert files(folder, "processing") == ["full.json"]
        filler.unlink()
        wait_for(lambda: "full.result.md" in files(folder, "done"), 60, "the goal filed once there is room")

        (folder / "inbox" / "ro.json").write_text(json.dumps({"goal": "Shall we swim?", "script": "ask_human"}))
        request = wait_for(lambda: pending_approval(store), 60, "the second question")
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        assert swarm(["approve", str(request), "--edit-text", "yes"], env).returncode == 0
        wait_for(lambda: len([e for e in log_events(log) if e["event"] == "goal_filing_failed"]) == 2, 60,
                 "the filing failed on the read-only disk")
        assert files(folder, "processing") == ["ro.json"]
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
        wait_for(lambda: "ro.result.md" in files(folder, "done"), 60, "the goal filed once the disk is writable")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=False)
        stop(daemon)
    filing = [e for e in every_line_json(log) if e["event"] == "goal_filing_failed"]
    assert [e["file"] for e in filing] == ["full.json", "ro.json"]  # once each, however often it was tried
    assert "No space left on device" in filing[0]["error"] and "Read-only file system" in filing[1]["error"]
    for name in ("full", "ro"):
        assert "- status: done" in (folder / "done" / f"{name}.result.md").read_text()


def test_a_full_disk_under_the_store_holds_the_run_until_there_is_room(tmp_path, model, small_disk):
    folder = tmp_path / "goals"
    (folder / "inbox").mkdir(parents=True)
    env = {**daemon_env(tmp_path, model.url, settle_ms=50), "SWARM_STORE": str(small_disk / "swarm.db")}
    log = tmp_path / "daemon.log"
    daemon = start_daemon(folder, env, log)
    try:
        (folder / "inbox" / "ask.json").write_text(json.dumps({"goal": "Shall we go?", "script": "ask_human"}))
        request = wait_for(lambda: pending_approval(small_disk / "swarm.db"), 60, "the question to a person")
        daemon.send_signal(signal.SIGSTOP)  # so the answer is taken up only once the disk is full
        try:
            assert swarm(["approve", str(request), "--edit-text", "yes"], env).returncode == 0
            filler = fill(small_disk)
        finally:
            daemon.send_signal(signal.SIGCONT)
        wait_for(lambda: any(e["event"] == "goal_deferred" for e in log_events(log)), 60, "the run held by the full disk")
        assert files(folder, "processing") == ["ask.json"] and daemon.poll() is None
        filler.unlink()
        wait_for(lambda: any(e["event"] == "goal_done" for e in log_events(log)), 60, "the run going on once there is room")
    finally:
        stop(daemon)
    deferred = [e for e in every_line_json(log) if e["event"] == "goal_deferred"]
    assert len(deferred) == 1 and "database or disk is full" in deferred[0]["error"]
    result = (folder / "done" / "ask.result.md").read_text()
    assert "- status: done" in result and "yes" in result


class SilentEndpoint:
    """A loopback port that takes connections and never answers: an embeddings endpoint stuck for good."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def close(self):
        self.sock.close()


def test_a_sigterm_while_warming_up_stops_at_once_and_takes_nothing(tmp_path, model):
    stuck = SilentEndpoint()
    folder = tmp_path / "goals"
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "trip.json").write_text(text_goal("Plan a trip to Porto"))
    log = tmp_path / "daemon.log"
    # Routing embeds the catalogue with an endpoint that never answers: the warm-up is stuck there.
    env = {**daemon_env(tmp_path, model.url, settle_ms=50, shutdown_timeout_s=600),
           "SWARM_RETRIEVAL_FUSION": "mix", "SWARM_RETRIEVAL_EMBED_URL": stuck.url}
    try:
        daemon = start_daemon(folder, env, log)
        wait_for(lambda: any(e["event"] == "daemon_start" for e in log_events(log)), 60, "the daemon's start")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(scaled(20)) == 0  # far less than the 600 s shutdown timeout, or the embedder's 30 s
    finally:
        stuck.close()
    events = every_line_json(log)
    warm = [e for e in events if e["event"] == "warm_up"]
    assert len(warm) == 1 and warm[0]["finished"] is False  # the stop did not wait for the warm-up
    assert [e["event"] for e in events] == ["daemon_start", "daemon_stopping", "warm_up", "daemon_stop"]
    assert files(folder, "inbox") == ["trip.json"] and files(folder, "processing") == []  # nothing was taken
    assert not (tmp_path / "swarm.db").exists() or not sqlite3.connect(tmp_path / "swarm.db").execute(
        "SELECT count(*) FROM runs").fetchone()[0]

    # The next start (routing by keywords) takes the goal as if nothing had happened.
    daemon = start_daemon(folder, daemon_env(tmp_path, model.url, settle_ms=50), log)
    try:
        wait_for(lambda: "trip.result.md" in files(folder, "done"), 60, "the goal done after the restart")
    finally:
        stop(daemon)


def test_the_demo_model_says_it_is_the_demo_in_every_result(tmp_path):
    folder = tmp_path / "goals"
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "lisbon.md").write_text("Plan a three-day trip to Lisbon")
    env = daemon_env(tmp_path, "unused")
    del env["OPENAI_BASE_URL"], env["SWARM_MODEL"]  # no endpoint configured: the scripted demo model
    log = tmp_path / "daemon.log"
    daemon = start_daemon(folder, env, log)
    try:
        wait_for(lambda: "lisbon.result.md" in files(folder, "done"), 60, "the demo goal done")
    finally:
        stop(daemon)
    result = (folder / "done" / "lisbon.result.md").read_text()
    assert result.startswith("# lisbon.md\n")
    assert "This answer comes from the scripted demo model, not a real model" in result
    assert "- model: the scripted demo model (demo_model.jsonl), not a real model" in result
    assert [e["event"] for e in every_line_json(log)][0] == "demo_model"


REFUSE_RUNS = {  # the store refuses every new run, as a store that cannot be written would
    "sqlite": "CREATE TRIGGER refuse_runs BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'no new runs now'); END;",
    "postgres": "CREATE FUNCTION refuse_runs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'no new runs now'; END $$; "
                "CREATE TRIGGER refuse_runs BEFORE INSERT ON runs FOR EACH ROW EXECUTE FUNCTION refuse_runs();",
}
ALLOW_RUNS = {"sqlite": "DROP TRIGGER refuse_runs;", "postgres": "DROP TRIGGER refuse_runs ON runs; DROP FUNCTION refuse_runs();"}


def test_a_store_error_of_either_backend_holds_the_goal_until_the_store_takes_its_run(tmp_path, model, store_url):
    from swarm.store import open_store

    backend = "sqlite" if store_url.startswith("sqlite") else "postgres"
    open_store(store_url).close()  # its tables, to put the trigger on
    raw_script(store_url, REFUSE_RUNS[backend])
    folder, log = tmp_path / "goals", tmp_path / "daemon.log"
    (folder / "inbox").mkdir(parents=True)
    env = {**daemon_env(tmp_path, model.url, settle_ms=50), "SWARM_STORE_URL": store_url}
    daemon = start_daemon(folder, env, log)
    try:
        (folder / "inbox" / "held.json").write_text(text_goal("Plan a three-day trip to Lisbon"))
        deferred = wait_for(lambda: [e for e in log_events(log) if e["event"] == "goal_deferred"], 60, "the goal deferred")
        assert "no new runs now" in deferred[0]["error"] and files(folder, "processing") == ["held.json"]
        assert files(folder, "failed") == []  # not the goal file's fault: never refused for it
        raw_script(store_url, ALLOW_RUNS[backend])
        wait_for(lambda: "held.result.md" in files(folder, "done"), 60, "the goal done once the store takes its run")
    finally:
        stop(daemon)
