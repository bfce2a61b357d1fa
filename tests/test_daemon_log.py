"""The daemon's log: every line JSON whoever writes it, and every kind of event it logs listed in the README."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from swarm.daemon.eventlog import EVENTS

REPO = Path(__file__).resolve().parent.parent
DAEMON_CODE = [*sorted((REPO / "swarm" / "daemon").glob("*.py")), REPO / "swarm" / "cli" / "daemon.py"]


def emitted_events() -> set[str]:
    """The first argument of every `.emit("...")` in the daemon's code."""
    found = set()
    for path in DAEMON_CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
            # log.later(key, action, "event", ...): logged when something around a goal fails
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "later"
                    and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant)):
                found.add(node.args[2].value)
    return found


def readme_daemon_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text[text.index("## The daemon"):][3:].split("\n## ", 1)[0]


def test_every_event_the_daemon_logs_is_a_known_kind():
    assert emitted_events() - set(EVENTS) == set()
    assert {"goal_done", "goal_failed"} <= set(EVENTS)  # emitted by outcome, not by a literal


def test_the_readme_lists_every_kind_of_daemon_event():
    listed = set(re.findall(r"`([a-z_]+)`", readme_daemon_section()))
    assert [e for e in EVENTS if e not in listed] == []


def test_whatever_the_process_writes_becomes_a_json_line(tmp_path):
    # The daemon's process after take_over: a library's logger (watchdog's, as at a stop), Python's warnings,
    # an exception in a thread, and stray text on stderr; every line it writes must still be JSON.
    program = """
import logging, sys, threading, warnings
from swarm.daemon.eventlog import EventLog
log = EventLog()
log.take_over(stderr_is_log=True)
logging.getLogger("watchdog.observers.inotify").error("InotifyEmitter.queue_events() called when the thread is inactive")
logging.getLogger("swarm").warning("a model call is retried")
logging.getLogger("some.library").info("below warning: not logged")
warnings.warn("something is deprecated")
t = threading.Thread(target=lambda: 1 / 0, name="worker")
t.start(); t.join()
print("stray text", file=sys.stderr)
print("no newline at the end", end="", file=sys.stderr)
sys.stderr.flush()
log.emit("goal_taken", file=b"caf\\xff.md".decode("utf-8", "surrogateescape"))
raise RuntimeError("the end")
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    events = [json.loads(line) for line in lines]  # fails on the first line that is not JSON
    assert [(e["event"], e.get("logger")) for e in events[:3]] == [
        ("error", "watchdog.observers.inotify"), ("warning", "swarm"), ("warning", "py.warnings")]
    uncaught = [e for e in events if e["event"] == "uncaught"]
    assert uncaught[0]["thread"] == "worker" and "ZeroDivisionError" in uncaught[0]["traceback"]
    assert [e["message"] for e in events if e["event"] == "stderr"] == ["stray text", "no newline at the end"]
    assert next(e for e in events if e["event"] == "goal_taken")["file"] == "caf\udcff.md"  # kept, as its escape
    assert "RuntimeError: the end" in uncaught[-1]["error"]
    assert "below warning" not in done.stderr
