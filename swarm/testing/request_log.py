"""Record of every request the scripted model received, in memory and optionally as JSONL."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class RequestLog:
    """Thread-safe list of request records; each finished record is also appended to `path`."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def begin(self, *, call_key: str | None, path: str) -> dict[str, Any]:
        """Open a record for a request that has just arrived."""
        with self._lock:
            record = {
                "n": len(self._records) + 1,
                "call_key": call_key,
                "path": path,
                "last_user": "",
                "max_tokens": None,  # as the request asked, if it did
                "temperature": None,  # likewise
                "line": None,
                "fault": None,
                "status": None,
                "received_at": time.time(),
                "responded_at": None,
                "client_hung_up": False,  # the client closed the connection before the whole reply was sent
            }
            self._records.append(record)
            return record

    def update(self, record: dict[str, Any], **fields: Any) -> None:
        """Fill in what became known while handling the request."""
        with self._lock:
            record.update(fields)

    def finish(self, record: dict[str, Any], *, completed: bool) -> None:
        """Close a record; `completed` means the whole response was written."""
        with self._lock:
            if completed:
                record["responded_at"] = time.time()
            if self._path is not None:
                # Flushed per record so another process can read it after this one is killed.
                with self._path.open("a", encoding="utf-8") as file:
                    file.write(json.dumps(record) + "\n")

    def snapshot(self) -> list[dict[str, Any]]:
        """Copies of all records so far, in arrival order."""
        with self._lock:
            return [dict(record) for record in self._records]
