"""The watched folder on disk: inbox/ → processing/ → done/ or failed/, moves that never overwrite, and the watcher.

Every move is an `os.replace` within one folder tree (atomic on one filesystem), and every file
the daemon writes goes to a temporary name first and is then renamed, so a crash leaves either
the old state or the new one, never half a file. A name already taken in the destination gets a
suffix (`trip.md`, `trip-2.md`, ...) instead of overwriting.

Names come from whoever drops a file, so they are made safe once, when a file is taken: bytes
that are not UTF-8 become U+FFFD, and a name too long to carry a `-N` suffix and its
`.result.md` within the filesystem's 255 bytes is shortened, keeping a hash of the whole name.
Links are never followed: a symlink is moved as the link itself, never read through.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from swarm.daemon.goalfile import is_partial

SIDE_FILES = (".result.md", ".error.txt")
NAME_MAX = 255  # bytes in one file name, on every filesystem the daemon is meant for
SUFFIX_MAX = 16  # a longer "extension" is taken as part of the stem (so no name outgrows NAME_MAX)
ROOM = len("-99999") + max(SUFFIX_MAX, *map(len, SIDE_FILES))  # what a stem must leave free
SIDE_FILE_MODE = 0o600  # a result may hold what a goal file (or a run) should not show to everyone


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
        """Entries of inbox/ that may be goals (not hidden, not partial copies, not folders), oldest first.

        Symlinks and other non-regular files are listed too: they are taken and refused, not left to pile up.
        """
        found = []
        for entry in os.scandir(self.inbox):
            if not entry.is_dir(follow_symlinks=False) and not is_partial(entry.name):
                try:
                    found.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
                except FileNotFoundError:
                    continue
        return [self.inbox / name for _, name in sorted(found)]

    def claim(self, path: Path) -> Path:
        """Move a file (or a link, as itself) from inbox/ into processing/ under a safe name no other file
        there has; returns its new path."""
        target = free_name(self.processing, safe_name(path.name), side_files=False)
        os.replace(path, target)
        return target

    def destination(self, outcome: str, name: str) -> Path:
        """Where a file of processing/ goes: done/ or failed/, under a name whose side files are free too."""
        return free_name(self.done if outcome == "done" else self.failed, safe_name(name), side_files=True)

    def counts(self) -> dict[str, int]:
        out = {}
        for folder in (self.inbox, self.processing, self.done, self.failed):
            try:
                out[folder.name] = sum(1 for e in os.scandir(folder)
                                       if not e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
            except (FileNotFoundError, NotADirectoryError):
                out[folder.name] = 0
        return out


def stem_and_suffix(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0 or len(name.encode("utf-8", "surrogateescape")) - dot > SUFFIX_MAX:
        return name, ""
    return name[:dot], name[dot:]


def shown_name(name: str) -> str:
    """A file name as text that can be written anywhere: bytes that are not UTF-8 become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def safe_name(name: str) -> str:
    """`name` as valid UTF-8, short enough that `stem-N.suffix` and `stem.result.md` fit in NAME_MAX bytes.

    A shortened stem keeps its beginning and ends in `~` and 8 hex digits of the whole stem's hash,
    so two long names that begin alike stay apart.
    """
    stem, suffix = stem_and_suffix(shown_name(name))
    room = NAME_MAX - ROOM
    if len(stem.encode()) <= room:
        return stem + suffix
    tag = "~" + hashlib.sha256(stem.encode()).hexdigest()[:8]
    while len(stem.encode()) > room - len(tag):
        stem = stem[:-1]
    return stem + tag + suffix


def lstat_kind(path: Path) -> str | None:
    """None for a regular file; else what it is instead ('a symbolic link to /etc/shadow', 'a FIFO', ...)."""
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            return f"a symbolic link (to {shown_name(os.readlink(path))})"
        except OSError:
            return "a symbolic link"
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((what for test, what in kinds if test(st.st_mode)), "not a regular file")


def side_file(goal_path: Path, kind: str) -> Path:
    """NAME.result.md or NAME.error.txt next to the goal file NAME.EXT."""
    stem, _ = stem_and_suffix(goal_path.name)
    return goal_path.with_name(stem + kind)


def free_name(folder: Path, name: str, side_files: bool) -> Path:
    """`name` in folder, or `stem-2.ext`, `stem-3.ext`, ... when it (or, with side_files, its result/error file) exists.

    A dangling symlink takes its name too (nothing is overwritten, not even a link).
    """
    stem, suffix = stem_and_suffix(name)
    n = 1
    while True:
        candidate = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        taken = os.path.lexists(candidate) or (
            side_files and any(os.path.lexists(side_file(candidate, k)) for k in SIDE_FILES))
        if not taken:
            return candidate
        n += 1


def write_atomically(path: Path, text: str, mode: int = SIDE_FILE_MODE) -> None:
    """Write to a temporary file next to `path` (readable by its owner only, by default), flush it to disk,
    then rename: never half a file. The temporary name is short and hidden whatever `path`'s name is."""
    tmp = path.with_name(f".swarm-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=True) as f:
            os.fchmod(f.fileno(), mode)  # whatever the umask
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
            st = os.lstat(path)  # a link is looked at as itself, never followed
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
