"""The warm pool: workers started ahead of time, each used for exactly one request and then thrown away."""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable

from swarm.sandbox.conversation import Conversation
from swarm.sandbox.result import SandboxResult


class WarmPool:
    """Keeps `size` workers started; `take()` hands one out and starts its replacement in the background.

    Ready + booting always adds up to `size`, so the pool never grows past it; when no booted
    worker is waiting, the caller starts one of its own (a cold start). Used workers are
    disposed of (killed, workspace removed) on a background thread, off the caller's path.
    """

    def __init__(self, start: Callable[[], Conversation], size: int):
        self._start = start
        self.size = max(0, size)
        self._ready: queue.SimpleQueue[Conversation] = queue.SimpleQueue()
        self._used: queue.SimpleQueue = queue.SimpleQueue()
        self._booting: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._starts: queue.SimpleQueue = queue.SimpleQueue()
        # bwrap's --die-with-parent follows the thread that started it, so one long-lived thread starts them all.
        self._starter = threading.Thread(target=self._start_booting, name="swarm-sandbox-start", daemon=True)
        self._disposer = threading.Thread(target=self._dispose_used, name="swarm-sandbox-dispose", daemon=True)
        self._starter.start()
        self._disposer.start()
        for _ in range(self.size):
            self._boot()

    def take(self) -> Conversation:
        """A booted worker if one is waiting (its replacement starts now), else a fresh one."""
        try:
            worker = self._ready.get_nowait()
        except queue.Empty:
            return self._start()
        self._boot()
        return worker

    def run(self, request: dict, tools: dict[str, Callable], timeout_s: float) -> SandboxResult:
        """Take a worker, hold its one conversation, and discard it, whatever happened."""
        worker = self.take()
        try:
            worker.wait_ready()
            return worker.run(request, tools, timeout_s)
        finally:
            self.discard(worker)

    def discard(self, worker: Conversation) -> None:
        """A worker that served its request (or failed): dispose of it in the background."""
        self._used.put(worker)

    def warm(self, timeout_s: float = 30.0) -> bool:
        """Wait until every worker of the pool is booted and waiting; True when they are."""
        deadline = time.monotonic() + timeout_s
        while self._ready.qsize() < self.size and time.monotonic() < deadline:
            time.sleep(0.005)
        return self._ready.qsize() >= self.size

    def close(self) -> None:
        """Kill every worker, warm, booting or used, and wait until all are gone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._starts.put(None)
        self._starter.join()
        with self._lock:
            booting = list(self._booting)
        for t in booting:
            t.join()
        self._used.put(None)
        self._disposer.join()
        while True:
            try:
                self._ready.get_nowait().dispose()
            except queue.Empty:
                break

    def _boot(self) -> None:
        self._starts.put(True)

    def _start_booting(self) -> None:
        while self._starts.get():
            try:
                worker = self._start()
            except Exception:  # a broken start shows itself to the next caller, who starts its own
                continue
            with self._lock:
                t = threading.Thread(target=self._wait_booted, args=(worker,), name="swarm-sandbox-boot", daemon=True)
                self._booting.add(t)
            t.start()

    def _wait_booted(self, worker: Conversation | None) -> None:
        if worker is not None:
            try:
                worker.wait_ready()
            except Exception:
                worker.dispose()
                worker = None
        with self._lock:
            self._booting.discard(threading.current_thread())
            if worker is not None and not self._closed:
                self._ready.put(worker)
                worker = None
        if worker is not None:
            worker.dispose()

    def _dispose_used(self) -> None:
        while (worker := self._used.get()) is not None:
            worker.dispose()
