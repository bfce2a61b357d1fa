"""The daemon's structured log: one JSON object a line, to stderr or a file, and the library's warnings with it."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any, TextIO


class EventLog:
    """`log.emit("goal_taken", file="trip.md", run="...")` → {"ts": ..., "level": "info", "event": "goal_taken", ...}."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()

    @classmethod
    def to_file(cls, path) -> EventLog:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return cls(open(path, "a", encoding="utf-8", buffering=1))

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        now = time.time()
        record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z",
                  "level": level, "event": event, **fields}
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self.lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # a closed or full log must not stop the daemon
                pass

    def handler(self) -> logging.Handler:
        """A logging handler that writes the swarm library's warnings as `{"event": "warning", ...}` lines."""
        log = self

        class Forward(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                log.emit("warning" if record.levelno < logging.ERROR else "error",
                         level=record.levelname.lower(), message=record.getMessage(), logger=record.name)

        return Forward(logging.WARNING)
