"""swarm's logs are the standard library's `logging` tree under the "swarm" logger: an embedding program
routes them like any library's (handlers, levels, `logging.config`). This module adds what a service wants
on top: one JSON object a line (`JSONFormatter`), and `to_stderr()`, which the CLI uses for its warnings
(`swarm: ...` lines, or JSON lines with `--log-format json` / SWARM_LOG_FORMAT=json).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback

# What every LogRecord has: the rest of its attributes are the `extra=` fields a call added.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

logging.getLogger("swarm").addHandler(logging.NullHandler())  # a library logs nothing unless asked


class JSONFormatter(logging.Formatter):
    """A record as one JSON line: time (ISO 8601, UTC), level, logger, message, the `extra=` fields, and
    the exception's traceback when there is one. Values JSON cannot hold are written as their repr."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, ensure_ascii=False, default=repr)


def to_stderr(fmt: str = "text", level: int = logging.WARNING) -> logging.Handler:
    """A handler on the "swarm" logger writing to stderr: `swarm: MESSAGE` lines, or JSON lines (fmt "json")."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(JSONFormatter() if fmt == "json" else logging.Formatter("swarm: %(message)s"))
    logger = logging.getLogger("swarm")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    return handler
