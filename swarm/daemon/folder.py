"""The watched folder on disk: inbox/ → processing/ → done/ or failed/, moves that never overwrite, and the watcher.

Every move is an `os.replace` within one folder tree (atomic on one filesystem), and every file
the daemon writes goes to a temporary name first and is then renamed, so a crash leaves either
the old state or the new one, never half a file. A name already taken in the destination gets a
suffix (`trip.md`, `trip-2.md`, ...) instead of overwriting.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from swarm.daemon.goalfile import is_partial

SIDE_FILES = (".result.md", ".error.txt")


class GoalFolder:
    """The four sub-folders of the watched folder."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.inbox = self.root / "inbox"
        self.processing = self.root / "processing"
        self.done = self.root / "done"
        self.failed = self.root / "failed"

    def ensure(self) -> GoalFolder:
        for folder in (self.inbox, self.processing, self.done, self.failed):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def waiting(self) -> list[Path]:
        """Files in inbox/ that may be goals (not hidden, not partial copies), oldest first."""
        found = []
        for entry in os.scandir(self.inbox):
            if entry.is_file() and not is_partial(entry.name):
                try:
                    found.append((entry.stat().st_mtime, entry.name))
                except FileNotFoundError:
                    continue
        return [self.inbox / name for _, name in sorted(found)]

    def claim(self, path: Path) -> Path:
        """Move a file from inbox/ into processing/ under a name no other file there has; returns its new path."""
        target = free_name(self.processing, path.name, side_files=False)
        os.replace(path, target)
        return target

    def destination(self, outcome: str, name: str) -> Path:
        """Where a file of processing/ goes: done/ or failed/, under a name whose side files are free too."""
        return free_name(self.done if outcome == "done" else self.failed, name, side_files=True)

    def counts(self) -> dict[str, int]:
        out = {}
        for folder in (self.inbox, self.processing, self.done, self.failed):
            try:
                out[folder.name] = sum(1 for e in os.scandir(folder) if e.is_file() and not e.name.startswith("."))
            except FileNotFoundError:
                out[folder.name] = 0
        return out


def stem_and_suffix(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if dot > 0 else (name, "")


def side_file(goal_path: Path, kind: str) -> Path:
    """NAME.result.md or NAME.error.txt next to the goal file NAME.EXT."""
    stem, _ = stem_and_suffix(goal_path.name)
    return goal_path.with_name(stem + kind)


def free_name(folder: Path, name: str, side_files: bool) -> Path:
    """`name` in folder, or `stem-2.ext`, `stem-3.ext`, ... when it (or, with side_files, its result/error file) exists."""
    stem, suffix = stem_and_suffix(name)
    n = 1
    while True:
        candidate = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        taken = candidate.exists() or (side_files and any(side_file(candidate, k).exists() for k in SIDE_FILES))
        if not taken:
            return candidate
        n += 1


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file next to `path`, flush it to disk, then rename: never half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fsync_folder(folder: Path) -> None:
    """Make renames into/out of `folder` durable (a rename is an entry of the folder)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # when this size and mtime were first seen


class Settler:
    """Decides when a file in inbox/ is complete: its size and mtime unchanged for `settle_s`.

    Fed by the watcher (any event about a file) and by rescans; `ready()` stats the candidates.
    """

    def __init__(self, settle_s: float, clock: Callable[[], float] = time.monotonic):
        self.settle_s = settle_s
        self.clock = clock
        self.seen: dict[Path, _Seen] = {}

    def note(self, path: Path) -> None:
        """Something happened to this file: look at it again (and restart its quiet period if it changed)."""
        self._look(path)

    def _look(self, path: Path) -> _Seen | None:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            self.seen.pop(path, None)
            return None
        now = self.clock()
        old = self.seen.get(path)
        if old is None or (old.size, old.mtime_ns) != (st.st_size, st.st_mtime_ns):
            # Every write moves the mtime, so a file is known to be unchanged since its mtime, not just since
            # it was first seen here (watcher events can come late): its quiet period starts there.
            unchanged_for = max(0.0, time.time() - st.st_mtime_ns / 1e9)
            old = self.seen[path] = _Seen(st.st_size, st.st_mtime_ns, now - unchanged_for)
        return old

    def ready(self) -> list[Path]:
        """Candidates quiet for long enough, in the order they were first seen."""
        now = self.clock()
        out = []
        for path in list(self.seen):
            seen = self._look(path)
            if seen is not None and now - seen.since >= self.settle_s:
                out.append(path)
        return out

    def forget(self, path: Path) -> None:
        self.seen.pop(path, None)


class Watcher:
    """A watchdog observer on inbox/: calls `notify(path)` (from its own thread) for every file event there."""

    def __init__(self, folder: Path, notify: Callable[[Path], None]):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        inbox = Path(folder)

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.is_directory:
                    return
                for raw in (getattr(event, "dest_path", ""), event.src_path):
                    if raw:
                        path = Path(os.fsdecode(raw))
                        if path.parent == inbox and not is_partial(path.name):
                            notify(path)

        self.observer = Observer()
        self.observer.schedule(Handler(), str(inbox), recursive=False)

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
