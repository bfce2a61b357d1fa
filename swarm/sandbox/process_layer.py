"""The process layer: each execution in a fresh bubblewrap worker, taken warm from a pool."""

from __future__ import annotations

import os
import shutil
from typing import Callable

from swarm.errors import SandboxUnavailable
from swarm.sandbox.pool import WarmPool
from swarm.sandbox.result import SandboxResult
from swarm.sandbox.worker_process import WorkerProcess


class ProcessLayer:
    def __init__(self, settings, pool_size: int):
        if shutil.which(settings.bwrap) is None:
            raise SandboxUnavailable(
                f"bubblewrap ({settings.bwrap}) is not installed, and the sandbox's process layer needs it; "
                "install it (sudo apt-get install bubblewrap), set [sandbox].bwrap to its path, "
                'or choose [sandbox].layer = "docker" in swarm.toml'
            )
        self.settings = settings
        self.as_root = os.geteuid() == 0
        self.pool = WarmPool(lambda: WorkerProcess(settings, self.as_root), pool_size)

    def run(self, request: dict, tools: dict[str, Callable], timeout_s: float) -> SandboxResult:
        return self.pool.run(request, tools, timeout_s)

    def close(self) -> None:
        self.pool.close()
