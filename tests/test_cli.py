"""The `swarm` command line: real subprocesses for what a person sees, `main()` in-process for the rest.

Bad input always gets one `swarm: error:` line on stderr that says what to do,
a non-zero exit, and leaves the store as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.adapters.sqlite import runs as store_module
from store_support import raw_rows, raw_script, store_for
from swarm.cli import main
from swarm.testing.pytest_plugin import backends, postgres_only
from timeouts import scaled

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_model.jsonl"
GOAL = "Plan a three-day trip to Lisbon"


# --- how the tests drive the CLI ---------------------------------------------------------------


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a person with no swarm or OpenAI settings, a store in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env["SWARM_STORE"] = str(tmp_path / "swarm.db")
    env["SWARM_RUN_ROOT_SCRIPT"] = "break_down_goal"  # the decomposition tree these tests exercise (the default root is solve)
    env.update(extra)
    return env


def swarm(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess with cwd=tmp_path."""
    return subprocess.run(
        [sys.executable, "-m", "swarm.cli", *args], cwd=tmp_path, env=clean_env(tmp_path, **env),
        capture_output=True, text=True, timeout=scaled(60),
    )


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """`main(argv)` in this process, as if run in tmp_path with a clean environment: (exit code, out, err)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SWARM_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SWARM_STORE", str(tmp_path / "swarm.db"))
    monkeypatch.setenv("SWARM_RUN_ROOT_SCRIPT", "break_down_goal")  # the decomposition tree these tests exercise (the default root is solve)

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A store holding one finished run of the demo model: (store path, run id, the CompletedProcess)."""
    folder = tmp_path_factory.mktemp("finished")
    done = swarm(folder, "run", GOAL, SWARM_MODEL=f"scripted:{DEMO}")
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(folder / "swarm.db")
    (run_id,) = db.execute("SELECT id FROM runs").fetchone()
    db.close()
    return folder / "swarm.db", run_id, done


@pytest.fixture
def store(finished_run, tmp_path) -> tuple[Path, str]:
    """A copy of the finished run's store in this test's tmp_path (where SWARM_STORE points): an SQLite file, for
    the tests about the file itself (damaged, grown, another app's) or about arguments refused before any store
    is read; the commands that read the store use `stored`, on both backends."""
    source, run_id, _ = finished_run
    shutil.copy(source, tmp_path / "swarm.db")
    return tmp_path / "swarm.db", run_id


@pytest.fixture(scope="module", params=backends())
def finished_anywhere(tmp_path_factory, request):
    """The finished run on each backend: ("sqlite", finished_run's file, run id, its CompletedProcess), or
    ("postgres", the name of a database holding the same run made by `swarm run` on it, run id, CompletedProcess),
    to copy for each test."""
    if request.param == "sqlite":
        path, run_id, done = request.getfixturevalue("finished_run")
        yield "sqlite", str(path), run_id, done
        return
    cluster = request.getfixturevalue("throwaway_postgres")
    url = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    done = swarm(tmp_path_factory.mktemp("finished_pg"), "run", GOAL, SWARM_MODEL=f"scripted:{DEMO}", SWARM_STORE_URL=url)
    assert done.returncode == 0, done.stderr
    [(run_id,)] = raw_rows(url, "SELECT id FROM runs")
    yield "postgres", url.rsplit("/", 1)[1], run_id, done
    cluster.drop_database(url)


@pytest.fixture
def stored(finished_anywhere, tmp_path, monkeypatch, request) -> tuple[str, str]:
    """A copy of the finished run's store for this test, on SQLite and on PostgreSQL: (its URL, run id).
    SWARM_STORE_URL points at it (list `cli` before it; give it to `swarm` as SWARM_STORE_URL=...)."""
    backend, source, run_id, _ = finished_anywhere
    if backend == "sqlite":
        shutil.copy(source, tmp_path / "swarm.db")
        url = f"sqlite:///{tmp_path / 'swarm.db'}"
    else:
        cluster = request.getfixturevalue("throwaway_postgres")
        url = cluster.create_database(template=source)
        request.addfinalizer(lambda: cluster.drop_database(url))
    monkeypatch.setenv("SWARM_STORE_URL", url)
    return url, run_id


def counts(url: str) -> tuple[int, int]:
    """(runs, events) of a swarm store of either backend; an SQLite file's integrity checked on the way."""
    if url.startswith("sqlite:///"):
        assert store_state(Path(url[len("sqlite:///"):]))[0] == "ok"
    return raw_rows(url, "SELECT count(*) FROM runs")[0][0], raw_rows(url, "SELECT count(*) FROM events")[0][0]


def store_state(path: Path) -> tuple[str, int, int]:
    """(integrity check, runs, events) of a swarm store."""
    db = sqlite3.connect(path)
    try:
        return (db.execute("PRAGMA integrity_check").fetchone()[0],
                db.execute("SELECT count(*) FROM runs").fetchone()[0],
                db.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        db.close()


def assert_one_error_line(err: str, *expected: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("swarm: error: "), lines[0]
    for text in expected:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- running a goal ---------------------------------------------------------------------------------


def test_run_with_a_scripted_model_completes(finished_anywhere):
    _, _, run_id, done = finished_anywhere
    lines = done.stdout.splitlines()
    assert lines[0] == f"swarm: model scripted:{DEMO}"
    assert lines[1] == f"swarm: run {run_id}"
    assert f"run {run_id}: done" in done.stdout
    assert f"swarm show {run_id}" in done.stdout
    assert done.stderr == ""


def test_show_prints_the_tree_of_a_finished_run(cli, stored):
    _, run_id = stored
    code, out, err = cli("show", run_id)
    assert code == 0, err
    assert out.startswith(f"run {run_id}: done\ngoal: {GOAL}\n")
    for script in ("break_down_goal", "route", "write_text", "write_python", "review"):
        assert script in out
    assert "\nresult:\n" in out


def test_show_accepts_a_unique_prefix_of_the_run_id(cli, stored):
    _, run_id = stored
    code, out, _ = cli("show", run_id[:-2])
    assert code == 0 and out.startswith(f"run {run_id}: done")


def test_with_no_endpoint_configured_run_says_it_uses_the_demo_model(tmp_path):
    done = swarm(tmp_path, "run", GOAL)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert "scripted demo model" in first
    assert "[model].base_url" in first and "OPENAI_BASE_URL" in first


def test_runs_lists_the_run(cli, stored):
    _, run_id = stored
    code, out, _ = cli("runs")
    assert code == 0
    assert run_id in out and GOAL in out and "done" in out


def test_runs_on_a_new_store_says_how_to_start_and_creates_no_file(cli, tmp_path, store_url):
    code, out, _ = cli("runs", SWARM_STORE_URL=store_url)
    assert code == 0
    assert 'swarm run "GOAL"' in out
    assert not (tmp_path / "swarm.db").exists()


def test_history_lists_the_events_oldest_first(cli, stored):
    _, run_id = stored
    code, out, _ = cli("history", run_id)
    assert code == 0
    lines = out.splitlines()
    assert "run_start" in lines[0]
    assert "run_end" in out


def test_snapshot_writes_a_json_file_into_out(cli, stored, tmp_path):
    _, run_id = stored
    code, out, _ = cli("snapshot", run_id, "--out", str(tmp_path / "snaps"))
    assert code == 0
    path = Path(out.strip())
    assert path.parent == tmp_path / "snaps" and path.suffix == ".json"
    doc = json.loads(path.read_text())
    assert doc["format"] == "swarm-snapshot/1" and doc["run"]["id"] == run_id and doc["nodes"]


def test_resume_of_a_finished_runs_snapshot_says_it_already_ended(cli, stored, tmp_path):
    url, run_id = stored
    cli("snapshot", run_id, "--out", str(tmp_path))
    snapshot = next(tmp_path.glob(f"{run_id}-*.json"))
    before = counts(url)
    code, out, err = cli("resume", str(snapshot))
    assert code == 2
    assert_one_error_line(err, f"run {run_id} already ended (done)", f"swarm show {run_id}")
    assert out == ""
    assert counts(url) == before


def test_cancel_of_a_finished_run_says_it_already_ended(cli, stored):
    url, run_id = stored
    before = counts(url)
    code, out, _ = cli("cancel", run_id)
    assert code == 0
    assert out.strip() == f"run {run_id} already ended (done)"
    assert counts(url) == before


# --- bad input: one clear line, non-zero exit, store untouched ----------------------------------------


@pytest.mark.parametrize("command", ["show", "history", "resume", "snapshot", "cancel"])
def test_an_unknown_run_id_is_one_error_line(cli, stored, command):
    url, _ = stored
    before = counts(url)
    code, out, err = cli(command, "no-such-run")
    assert code == 2
    assert_one_error_line(err, "no run 'no-such-run'", "swarm runs")
    assert counts(url) == before


def test_an_unknown_run_id_in_a_real_process(stored, tmp_path):
    url, _ = stored
    done = swarm(tmp_path, "show", "no-such-run", SWARM_STORE_URL=url)
    assert done.returncode == 2
    assert done.stdout == ""
    assert_one_error_line(done.stderr, "no run 'no-such-run'")


@postgres_only
def test_a_postgresql_store_that_fails_a_read_is_named_by_its_url_without_the_password(cli, request, tmp_path):
    url = store_for(request, "postgres", None)
    raw_script(url, "DROP TABLE runs CASCADE")  # a database someone changed under the store: every read of runs fails
    with_password = url.replace("postgresql://swarm@", "postgresql://swarm:hunter2@")  # the test cluster trusts loopback
    code, out, err = cli("runs", SWARM_STORE_URL=with_password)
    assert code != 0 and out == ""
    assert_one_error_line(err, f"the PostgreSQL store {url} could not be read or written", "runs",
                          "check that its server runs")
    assert "hunter2" not in err and str(tmp_path / "swarm.db") not in err


def test_show_without_a_store_says_to_run_a_goal_first(cli, tmp_path):
    code, _, err = cli("show", "some-run")
    assert code == 2
    assert_one_error_line(err, "no store at", "run a goal first")
    assert not (tmp_path / "swarm.db").exists()


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("garbage.json", "this is not json", "is not a readable snapshot"),
        ("other.json", '{"some": "json"}', "is not a swarm snapshot"),
        ("missing.json", None, "does not exist"),
    ],
)
def test_an_unreadable_snapshot_file_is_one_error_line(cli, store, tmp_path, name, content, expected):
    path, _ = store
    if content is not None:
        (tmp_path / name).write_text(content)
    before = store_state(path)
    code, _, err = cli("resume", str(tmp_path / name))
    assert code == 2
    assert_one_error_line(err, expected, "swarm snapshot RUN")
    assert store_state(path) == before


@pytest.mark.parametrize(
    "toml, expected",
    [
        ("[model\nmodel = 'x'\n", "is not valid TOML"),
        ("[models]\nmodel = 'x'\n", "unknown section [models]"),
        ("[run]\nconcurency = 4\n", "[run].concurency: unknown setting"),
        ("[run]\nconcurrency = 'four'\n", "[run].concurrency: expected a whole number, got 'four'"),
        ("[model]\nstructured = 'yaml'\n", "[model].structured must be one of"),
        ("model = 'gpt-4o'\n", "outside any section"),
    ],
)
def test_an_invalid_swarm_toml_is_one_error_line(cli, store, tmp_path, toml, expected):
    path, _ = store
    (tmp_path / "swarm.toml").write_text(toml)
    before = store_state(path)
    code, out, err = cli("run", GOAL)
    assert code == 2
    assert_one_error_line(err, "swarm.toml", expected)
    assert out == ""
    assert store_state(path) == before


def test_an_invalid_environment_override_names_the_variable(cli, store):
    code, _, err = cli("runs", SWARM_RUN_CONCURRENCY="lots")
    assert code == 2
    assert_one_error_line(err, "$SWARM_RUN_CONCURRENCY", "environment variable")


@pytest.mark.parametrize("goal", ["", "   "])
def test_an_empty_goal_is_one_error_line_and_no_run(cli, store, goal):
    path, _ = store
    before = store_state(path)
    code, out, err = cli("run", goal)
    assert code != 0
    assert_one_error_line(err, "the goal is empty", 'swarm run "')
    assert out == ""
    assert store_state(path) == before


def test_an_answer_without_equals_is_one_error_line(cli, store):
    path, _ = store
    before = store_state(path)
    code, out, err = cli("run", GOAL, "--answer", "yes")
    assert code != 0
    assert_one_error_line(err, "--answer 'yes'", "NODE=TEXT")
    assert out == ""
    assert store_state(path) == before


def test_an_endpoint_that_is_down_fails_the_run_naming_the_url(stored, tmp_path):
    store_url, _ = stored
    url = f"http://127.0.0.1:{closed_port()}/v1"
    done = swarm(tmp_path, "run", GOAL, OPENAI_BASE_URL=url, SWARM_MODEL_MAX_RETRIES="1",
                 SWARM_MODEL_BACKOFF_BASE_S="0.01", SWARM_RUN_NODE_MAX_ATTEMPTS="1", SWARM_STORE_URL=store_url)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == f"swarm: model gpt-4o-mini at {url}"
    stderr = done.stderr.strip().splitlines()
    assert all(line.startswith("swarm: ") for line in stderr), done.stderr  # retries are reported, no traceback
    errors = [line for line in stderr if line.startswith("swarm: error: ")]
    assert len(errors) == 1 and "failed" in errors[0] and url in errors[0] and "OPENAI_BASE_URL" in errors[0]
    runs, _ = counts(store_url)  # an SQLite file's integrity checked on the way
    assert runs == 2
    assert raw_rows(store_url, "SELECT status FROM runs ORDER BY created_at DESC")[0][0] == "failed"


@pytest.mark.parametrize("command", [["run", GOAL], ["runs"], ["show", "some-run"]])
def test_a_store_that_is_not_sqlite_is_left_alone(cli, tmp_path, command):
    notes = tmp_path / "swarm.db"
    notes.write_bytes(b"my notes, not a database\n" * 100)
    code, out, err = cli(*command)
    assert code == 2
    assert_one_error_line(err, str(notes), "is not a usable swarm store", "SWARM_STORE")
    assert notes.read_bytes() == b"my notes, not a database\n" * 100
    assert out == ""


def other_apps_database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
    db.execute("INSERT INTO contacts VALUES ('Ada', '555-0100')")
    db.commit()
    db.close()


@pytest.mark.parametrize("command", [["run", GOAL], ["runs"]])
def test_an_sqlite_file_of_another_app_is_left_alone(cli, tmp_path, command):
    other = tmp_path / "swarm.db"
    other_apps_database(other)
    code, _, err = cli(*command)
    assert code == 2
    assert_one_error_line(err, "is an SQLite file of something else", "contacts")
    db = sqlite3.connect(other)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["contacts"]
    assert db.execute("SELECT * FROM contacts").fetchall() == [("Ada", "555-0100")]
    db.close()


def test_an_sqlite_file_of_another_app_keeps_its_journal_mode(cli, tmp_path):
    other = tmp_path / "swarm.db"
    other_apps_database(other)
    cli("runs")
    db = sqlite3.connect(other)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()


def test_a_run_waiting_for_a_person_is_resumed_with_an_answer(cli, store_url):
    code, out, _ = cli("run", "Which city should the trip go to?", "--script", "ask_human", SWARM_STORE_URL=store_url)
    assert code == 3
    run_id = out.splitlines()[1].removeprefix("swarm: run ")
    assert f"swarm resume {run_id} --answer NODE=TEXT" in out

    code, out, err = cli("resume", run_id, "--answer", "1=Lisbon")
    assert code == 0, err
    assert out.splitlines()[0].startswith("swarm: model scripted:")  # the demo run goes on with its script
    assert f"run {run_id}: done" in out and "Lisbon" in out


# --- a damaged store: no new work goes into it, every command says what to do ------------------------


def grow(path: Path, copies: int = 40) -> None:
    """Copies of the finished run (its row and its events) as runs copy-0, copy-1...: a store of a few hundred kilobytes."""
    db = sqlite3.connect(path)
    cursor = db.execute("SELECT * FROM runs")
    names, row = [d[0] for d in cursor.description], cursor.fetchone()
    with db:
        for i in range(copies):
            db.execute(f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                       (f"copy-{i}", *row[1:]))
            db.execute("INSERT INTO events (run_id, node_id, kind, at, state, patch, detail) "
                       "SELECT ?, node_id, kind, at, state, patch, detail FROM events WHERE run_id NOT LIKE 'copy-%'",
                       (f"copy-{i}",))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def damage(path: Path, at: float = 0.4, size: int = 8192) -> bytes:
    """8 KB of garbage at 40 % of the file, page-aligned; returns the damaged file's bytes."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at) // 4096 * 4096
    data[start:start + size] = bytes((i * 37 + 11) % 256 for i in range(size))
    path.write_bytes(bytes(data))
    return bytes(data)


def events_page(path: Path) -> float:
    """Where in the file (a fraction) the middle page of the events table is: under some run's events."""
    db = sqlite3.connect(path)
    pages = [p for (p,) in db.execute("SELECT pageno FROM dbstat WHERE name='events' AND pagetype='leaf' ORDER BY pageno")]
    db.close()
    return (pages[len(pages) // 2] - 1) * 4096 / path.stat().st_size


@pytest.fixture
def damaged(store) -> tuple[Path, str, bytes]:
    path, run_id = store
    grow(path)
    return path, run_id, damage(path, at=events_page(path), size=4096)


def assert_says_damaged(err: str, path: Path) -> None:
    assert_one_error_line(err, f"the store {path} is damaged", "Restore it from a backup", '".recover" | sqlite3 fixed.db')


@pytest.mark.parametrize("command", [["run", GOAL], ["resume", "RUN"], ["runs"], ["show", "RUN"], ["history", "RUN"],
                                     ["stats"], ["approve", "1"], ["fork", "RUN", "--at", "3"]])
def test_every_command_refuses_a_damaged_store_in_one_line_and_leaves_it_as_it_was(cli, damaged, command):
    path, run_id, damaged_bytes = damaged
    code, out, err = cli(*[run_id if a == "RUN" else a for a in command])
    assert code == 1
    assert_says_damaged(err, path)
    assert path.read_bytes() == damaged_bytes


def test_a_read_that_meets_a_damaged_page_is_one_error_line(cli, damaged, monkeypatch):
    path, _, damaged_bytes = damaged
    monkeypatch.setattr(store_module, "READ_CHECK_MAX_BYTES", 1024)  # a big store: readers skip the check at open
    code, out, err = cli("runs")
    assert code == 0  # what is intact can still be read
    histories = [cli("history", f"copy-{i}") for i in range(40)]
    failed = [(code, err) for code, _, err in histories if code != 0]
    assert failed, "the garbage should be under some run's events"
    for code, err in failed:
        assert code == 1
        assert_says_damaged(err, path)
    assert path.read_bytes() == damaged_bytes


def test_the_daemon_takes_no_goal_into_a_damaged_store(damaged, tmp_path):
    path, _, damaged_bytes = damaged
    inbox = tmp_path / "goals" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "trip.md").write_text(GOAL)
    done = swarm(tmp_path, "daemon", "--folder", str(tmp_path / "goals"))
    assert done.returncode == 1
    assert f"the store {path} is damaged" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in inbox.iterdir()] == ["trip.md"]  # the goal waits for a repaired store
    assert path.read_bytes() == damaged_bytes


# --- what a model wrote reaches the terminal without control sequences -------------------------------

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\x1bc\r\x00"  # clear the screen, retitle the window, C1 CSI, reset, CR, NUL


def hostile_demo_script(path: Path) -> Path:
    """The demo model's script with control sequences around every text it answers."""
    lines = []
    for line in DEMO.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entry = json.loads(line)
        reply = entry.get("reply")
        if isinstance(reply, str):
            entry["reply"] = HOSTILE + reply + HOSTILE
        elif isinstance(reply, dict) and isinstance(reply.get("summary"), str):
            entry["reply"] = {**reply, "summary": HOSTILE + reply["summary"] + HOSTILE}
        lines.append(json.dumps(entry))
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_no_control_characters(text: str) -> None:
    bad = sorted({c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F})
    assert not bad, f"control characters reached the terminal: {bad!r}"


def test_run_and_show_strip_control_sequences_from_what_the_model_wrote(tmp_path, store_url):
    script = hostile_demo_script(tmp_path / "hostile.jsonl")
    done = swarm(tmp_path, "run", GOAL, "--script", "break_down_goal", SWARM_MODEL=f"scripted:{script}",
                 SWARM_STORE_URL=store_url)
    assert done.returncode == 0, done.stderr
    assert_no_control_characters(done.stdout + done.stderr)
    assert "Done: the key facts are gathered" in done.stdout  # the text itself is kept
    run_id = done.stdout.splitlines()[1].removeprefix("swarm: run ")
    for command in (["show", run_id], ["history", run_id], ["runs"], ["stats", run_id]):
        shown = swarm(tmp_path, *command, SWARM_STORE_URL=store_url)
        assert shown.returncode == 0, shown.stderr
        assert_no_control_characters(shown.stdout + shown.stderr)
    assert "Done: the key facts are gathered" in swarm(tmp_path, "show", run_id, SWARM_STORE_URL=store_url).stdout
    as_json = json.loads(swarm(tmp_path, "show", run_id, "--json", SWARM_STORE_URL=store_url).stdout)  # JSON keeps the text exactly
    assert as_json["result"]["answer"].startswith(HOSTILE)


def test_printable_keeps_text_newlines_and_tabs_and_drops_every_control_sequence():
    from swarm.render import printable

    assert printable("a\x1b[1;31mred\x1b[0m b\tc\nd") == "ared b\tc\nd"
    assert printable("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "link"  # an OSC hyperlink, ST-terminated
    assert printable("x\x1b]0;title without end") == "x0;title without end"  # no terminator: only ESC ] goes
    assert printable("\x9b2J\x9d0;t\x9c\x85\x7f\x1b(B\x1b") == ""


# --- which model answered ---------------------------------------------------------------------------


def test_show_says_plainly_when_the_scripted_demo_model_answered(cli, stored):
    _, run_id = stored
    code, out, _ = cli("show", run_id)
    assert code == 0
    assert "model: the scripted demo model (demo_model.jsonl): canned replies, not a real model" in out.splitlines()[2]


def test_run_and_show_name_the_model_that_answered(tmp_path, scripted_model, store_url):
    server = scripted_model([{"reply": "Lisbon in three days.", "repeat": True}])
    done = swarm(tmp_path, "run", "Plan a trip", "--script", "write_text", OPENAI_BASE_URL=server.url,
                 SWARM_MODEL="gpt-4o-mini", SWARM_STORE_URL=store_url)
    assert done.returncode == 0, done.stderr
    said = f"model: gpt-4o-mini at {server.url}"
    assert said in done.stdout.splitlines()
    run_id = done.stdout.splitlines()[1].removeprefix("swarm: run ")
    shown = swarm(tmp_path, "show", run_id, SWARM_STORE_URL=store_url)
    assert said in shown.stdout.splitlines() and "scripted" not in shown.stdout
    shown_json = swarm(tmp_path, "show", run_id, "--json", SWARM_STORE_URL=store_url)
    assert json.loads(shown_json.stdout)["models_answered"] == ["gpt-4o-mini"]


# --- small frictions: every option explained, every wrong word named ----------------------------------


def parser_actions():
    """(command path, action) of every argument and option of every command and subcommand."""
    import argparse

    from swarm.cli import build_parser

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    yield path, choice
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                yield path, action

    return list(walk(build_parser(), "swarm"))


def test_every_command_argument_and_option_has_a_help_text():
    missing = [f"{path}: {'/'.join(action.option_strings) or action.dest}"
               for path, action in parser_actions() if not (action.help or "").strip()]
    assert not missing, "no help text for:\n" + "\n".join(missing)


def test_a_usage_error_is_one_line_that_says_where_to_read_more(tmp_path):
    done = swarm(tmp_path, "runs", "--limit", "many")
    assert done.returncode == 2 and done.stdout == ""
    assert_one_error_line(done.stderr, "swarm runs: argument --limit: invalid int value: 'many'", "see `swarm runs --help`")


def test_runs_with_an_unknown_status_names_the_valid_ones(store):
    path, _ = store
    done = swarm(path.parent, "runs", "--status", "bogus")
    assert done.returncode == 2 and done.stdout == ""
    line = assert_one_error_line(done.stderr, "invalid choice: 'bogus'", "swarm runs --help")
    for status in ("running", "awaiting_approval", "paused", "done", "failed", "cancelled", "stopped"):
        assert f"'{status}'" in line


def test_checkout_says_at_is_required(store):
    path, run_id = store
    done = swarm(path.parent, "checkout", run_id)
    assert done.returncode == 2
    assert_one_error_line(done.stderr, "the following arguments are required: --at")
    assert "--at EVENT" in swarm(path.parent, "checkout", "--help").stdout.split("options:")[0]  # usage: not [--at EVENT]


def test_history_of_an_unknown_node_is_an_error(cli, stored):
    _, run_id = stored
    code, out, err = cli("history", run_id, "--node", "x")
    assert code == 2 and out == ""
    assert_one_error_line(err, f"run {run_id} has no node 'x'", f"swarm show {run_id}")
    code, out, _ = cli("history", run_id, "--node", "1.1")
    assert code == 0 and out and all(" 1.1 " in line for line in out.splitlines())


def test_scripts_list_has_a_header_and_show_explains_a_built_in_script(cli):
    code, out, _ = cli("scripts", "list")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "KIND", "ORIGIN", "VERSION", "STATE", "DESCRIPTION"]
    code, out, err = cli("scripts", "show", "write_text")
    assert code == 0, err
    assert out.startswith("write_text: builtin script, version 1\n")
    assert f"source: {REPO / 'node_scripts' / 'write_text.py'}" in out
    assert "description: Write prose" in out and '"required": [' in out
    code, _, err = cli("scripts", "disable", "write_text")
    assert code != 0
    assert_one_error_line(err, "write_text is a builtin script", "generated scripts and tools only")
    code, _, err = cli("scripts", "show", "no_such_script")
    assert code == 2
    assert_one_error_line(err, "no node script named 'no_such_script'", "write_text")


def test_the_sandbox_allows_exactly_the_configured_imports_and_says_which(tmp_path):
    code = tmp_path / "imports.py"
    for module in ("os", "queue"):  # queue: one of smolagents' own base modules, not configured here
        code.write_text(f"import {module}\n1\n")
        done = swarm(tmp_path, "sandbox", "exec", str(code), SWARM_PYTHON_AUTHORIZED_IMPORTS="math,json")
        assert done.returncode == 1
        assert_one_error_line(done.stderr, f"Import of {module} is not allowed. Authorized imports are: ['json', 'math']")
    code.write_text("import math\nmath.floor(2.5)\n")
    allowed = swarm(tmp_path, "sandbox", "exec", str(code), SWARM_PYTHON_AUTHORIZED_IMPORTS="math,json")
    assert allowed.returncode == 0 and allowed.stdout.strip() == "2"


# --- start-up: a command loads only what it needs ------------------------------------------------------

# What the model client, the sandbox, retrieval, the daemon's watcher and tracing need: none of it for
# printing help or reading the store.
HEAVY = ("openai", "smolagents", "llama_index", "onnxruntime", "numpy", "docker", "watchdog", "opentelemetry",
         "sqlite_utils", "httpx", "asyncio", "fastembed", "tokenizers")


def modules_loaded(tmp_path: Path, call: str, **env: str) -> list[str]:
    """The HEAVY modules a fresh process has loaded after `call` (Python code, "" for none) with its output hidden."""
    program = (
        "import contextlib, io, json, sys\n"
        "from swarm.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        {call or 'pass'}\n    except SystemExit:\n        pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=clean_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("argv", [None, ["--help"]])
def test_importing_the_cli_and_its_help_import_no_heavy_module(tmp_path, argv):
    call = "" if argv is None else f"main({argv!r})"
    assert modules_loaded(tmp_path, call) == [], f"`swarm {' '.join(argv or ['(import)'])}` loaded heavy modules"


@pytest.mark.parametrize("argv", [["runs"], ["show", "RUN"], ["history", "RUN"], ["stats"]])
def test_the_reading_commands_import_no_heavy_module(stored, tmp_path, argv):
    url, run_id = stored
    loaded = modules_loaded(tmp_path, f"main({[run_id if a == 'RUN' else a for a in argv]!r})", SWARM_STORE_URL=url)
    # A command that reads the store loads the configuration, checked by pydantic-settings, whose main
    # module imports asyncio at its top (issue 15 asked for the library; about 0.1 s a command, measured).
    loaded = [m for m in loaded if m != "asyncio"]
    assert loaded == [], f"`swarm {' '.join(argv)}` loaded heavy modules"
