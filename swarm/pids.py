"""Whether a process id names a live process on this host (the one place that asks the kernel)."""

from __future__ import annotations

import os


def exists(pid: int | None) -> bool:
    """A process with this id runs on this host (this one included); False for None or 0."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
