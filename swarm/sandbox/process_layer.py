"""The process layer: each execution in a fresh bubblewrap process, taken warm from a pool.

With [sandbox].template = true (the default) the pool holds children forked from one template
that imported smolagents once (template.py, template_process.py); with false, workers of their own
that each import it (worker.py, worker_process.py). Either way a process serves one execution.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

from swarm.errors import SandboxUnavailable
from swarm.sandbox.pool import WarmPool
from swarm.sandbox.result import SandboxResult
from swarm.sandbox.template_process import STOPPED, Supervisor, TemplateStopped
from swarm.sandbox.worker_process import WorkerProcess, remove_orphans


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
        remove_orphans()
        self.supervisor: Supervisor | None = None
        if getattr(settings, "template", True):
            self.supervisor = Supervisor(settings, self.as_root, start_now=pool_size > 0)
            self.pool = WarmPool(self.supervisor.child, pool_size)
        else:
            self.pool = WarmPool(lambda: WorkerProcess(settings, self.as_root), pool_size)

    def run(self, request: dict, tools: dict[str, Callable], timeout_s: float) -> SandboxResult:
        if self.supervisor is None:
            return self.pool.run(request, tools, timeout_s)
        # Children forked before the template died are dead too: the execution goes to the next,
        # up to a template started afresh (the pool's children, then one of its own).
        for _ in range(self.pool.size + 2):
            try:
                child = self.pool.take()
            except TemplateStopped:
                continue
            try:
                child.wait_ready()
            except TemplateStopped:
                self.pool.discard(child)
                continue
            except BaseException:
                self.pool.discard(child)
                raise
            try:
                return child.run(request, tools, timeout_s)
            except TemplateStopped:
                continue
            finally:
                self.pool.discard(child)
        raise SandboxUnavailable(STOPPED)

    def close(self) -> None:
        self.pool.close()
        if self.supervisor is not None:
            self.supervisor.close()
