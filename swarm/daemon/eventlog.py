"""The daemon's structured log: one JSON object a line, to stderr or a file, and everything else the process says with it.

Every line of the log is JSON, whoever speaks: the daemon's own events, the warnings of any
library's logger (watchdog's included), uncaught exceptions of any thread, and, when stderr is
the log itself, anything else written to it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
import traceback
from typing import Any, TextIO

# Every kind of event the daemon logs (README.md's daemon section lists them all; a test checks).
EVENTS = (
    "daemon_start", "demo_model", "warm_up", "goal_taken", "goal_recovered", "run_start", "goal_resume",
    "goal_done", "goal_failed", "goal_refused", "run_error", "run_left", "goal_claim_failed", "goal_deferred",
    "goal_filing_failed", "folder_error", "goal_error", "daemon_stopping", "daemon_interrupting", "daemon_stop", "daemon_error",
    "run_claimed", "run_elsewhere", "lease_lost", "goal_handed_back",
    "warning", "error", "stderr", "uncaught",
)


class EventLog:
    """`log.emit("goal_taken", file="trip.md", run="...")` → {"ts": ..., "level": "info", "event": "goal_taken", ...}."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.lock = threading.RLock()

    @classmethod
    def to_file(cls, path) -> EventLog:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return cls(open(path, "a", encoding="utf-8", errors="backslashreplace", buffering=1))

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        now = time.time()
        record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z",
                  "level": level, "event": event, **fields}
        # A lone surrogate (a file name that is not UTF-8) is written as its JSON escape, never dropped.
        line = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", "backslashreplace").decode("utf-8")
        with self.lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # a closed or full log must not stop the daemon
                pass

    def handler(self) -> logging.Handler:
        """A logging handler that writes warnings (of swarm or any library) as `{"event": "warning", ...}` lines."""
        log = self

        class Forward(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    message = record.getMessage()
                except Exception as exc:  # a library's bad format string is still one JSON line
                    message = f"{record.msg!r} (unformattable: {exc})"
                log.emit("warning" if record.levelno < logging.ERROR else "error",
                         level=record.levelname.lower(), message=message, logger=record.name)

        return Forward(logging.WARNING)

    def take_over(self, stderr_is_log: bool) -> None:
        """Make everything this process says a JSON line of this log (the daemon's process only, for its life).

        Every logger's warnings (not only swarm's: watchdog logs its own), Python's warnings, uncaught
        exceptions in any thread; and when stderr is the log itself (no --log-file, or --detach, whose
        log file is the process's stderr), any other text written to sys.stderr, one event a line.
        """
        root = logging.getLogger()
        root.handlers = [self.handler()]
        root.setLevel(logging.WARNING)
        swarm_logger = logging.getLogger("swarm")
        swarm_logger.handlers = []
        swarm_logger.propagate = True
        logging.captureWarnings(True)
        log = self

        def uncaught(kind, value, tb, thread: str | None = None) -> None:
            log.emit("uncaught", level="error", error=f"{kind.__name__}: {value}", thread=thread,
                     traceback="".join(traceback.format_exception(kind, value, tb)).rstrip())

        sys.excepthook = uncaught
        threading.excepthook = lambda a: uncaught(a.exc_type, a.exc_value, a.exc_traceback,
                                                  a.thread.name if a.thread else None)
        if stderr_is_log:
            sys.stderr = LinesToLog(self)


class LinesToLog(io.TextIOBase):
    """A stand-in for sys.stderr: each line written becomes a `{"event": "stderr", "message": ...}` line."""

    def __init__(self, log: EventLog):
        self.log = log
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self.log.lock:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.strip():
                self.log.emit("stderr", level="warning", message=line)
        return len(text)

    def flush(self) -> None:
        with self.log.lock:
            line, self.pending = self.pending, ""
        if line.strip():
            self.log.emit("stderr", level="warning", message=line)


def stderr_is(path) -> bool:
    """True when this process's stderr (fd 2) is the file at `path` (as for a daemon started with --detach)."""
    try:
        a, b = os.fstat(2), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
