"""Tables on a terminal are drawn by rich and fit its width; through a pipe the plain text is as before, without rich.

The terminal is a real pseudo-terminal of a given size; the CLI a real subprocess.
"""

# SQLite only: how the tables are drawn does not depend on the store (the reading commands run on both backends
# in test_cli.py and test_metrics.py).

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from lifecycle_support import make_engine, scaled  # noqa: F401  (make_engine is a fixture)
from swarm.render import counters_line, runs_table
from swarm.store import Store

SGR = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold, which take no cells
WIDE_GOAL = "把这份报告翻译成英文 and check [bold]every[/bold] figure in it " * 3


def cells(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(SGR.sub("", line))


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_", "COLUMNS", "LINES"))}
    return {**env, "SWARM_STORE": str(tmp_path / "swarm.db"), "TERM": "xterm-256color"}


def in_a_terminal(tmp_path: Path, columns: int, *args: str) -> list[str]:
    """The lines `swarm ARGS` writes to a pseudo-terminal `columns` wide."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", *args], cwd=tmp_path, env=environment(tmp_path),
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    received = bytearray()
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    _, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 0, err.decode()
    return received.decode("utf-8").replace("\r\n", "\n").splitlines()


def through_a_pipe(tmp_path: Path, *args: str) -> tuple[str, list[str]]:
    """What `swarm ARGS` prints to a pipe, and which rich modules it imported."""
    code = ("import sys; from swarm.cli import main; code = main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'), file=sys.stderr); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=environment(tmp_path),
                          capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 0, done.stderr
    return done.stdout, eval(done.stderr.strip().splitlines()[-1])


@pytest.fixture
def runs(make_engine, tmp_path):
    engine = make_engine()
    return [engine.create_run(WIDE_GOAL, script="break_down_goal"), engine.create_run("short goal", script="break_down_goal")]


@pytest.mark.parametrize("columns", [80, 120])
def test_on_a_terminal_the_runs_table_fits_its_width_and_cuts_the_goal(tmp_path, runs, columns):
    lines = in_a_terminal(tmp_path, columns, "runs")

    assert SGR.sub("", lines[0]).split() == ["RUN", "STATUS", "AGE", "NODES", "TOKENS", "COST", "GOAL"]
    assert len(lines) == 3  # a row a run: a long goal is cut, never wrapped onto another line
    assert all(cells(line) <= columns for line in lines), [cells(line) for line in lines]
    wide = next(SGR.sub("", line) for line in lines if "把这份" in line)
    assert wide.rstrip().endswith("…") and "[bold]every[/bold]" in WIDE_GOAL  # cut; markup in a goal is text
    assert {run_id for run_id in runs} == {SGR.sub("", line).split()[0] for line in lines[1:]}


def test_through_a_pipe_the_runs_table_is_the_plain_text_and_rich_is_not_imported(tmp_path, runs):
    out, rich_modules = through_a_pipe(tmp_path, "runs")

    store = Store(tmp_path / "swarm.db")
    try:
        plain = runs_table(store.runs(None, 20))
    finally:
        store.close()
    assert [line.split()[:2] for line in out.splitlines()] == [line.split()[:2] for line in plain]
    assert out.splitlines()[0] == plain[0]
    assert "\x1b" not in out
    assert rich_modules == []


def test_through_a_pipe_json_stays_json(tmp_path, runs):
    import json

    out, rich_modules = through_a_pipe(tmp_path, "runs", "--json")
    assert {r["id"] for r in json.loads(out)} == set(runs) and rich_modules == []


def test_on_a_terminal_the_stats_tables_fit_its_width(tmp_path, runs):
    lines = [SGR.sub("", line) for line in in_a_terminal(tmp_path, 40, "stats")]

    head = next(i for i, line in enumerate(lines) if line.startswith("SCRIPT"))
    table = lines[head:lines.index("", head)]
    assert table[0].split()[:2] == ["SCRIPT", "NODES"] and len(table) >= 2
    assert all(cells(line) <= 40 for line in table), table
    assert any(line.startswith("tokens: ") for line in lines)


def test_the_counter_line_says_node_for_one_and_nodes_for_more():
    run = {"prompt_tokens": 200, "completion_tokens": 73, "cost_usd": 0.0}
    assert counters_line({"done": 1}, run) == "1 node (1 done) · 273 tokens · $0.0000"
    assert counters_line({"done": 2, "failed": 1}, run) == "3 nodes (2 done, 1 failed) · 273 tokens · $0.0000"
