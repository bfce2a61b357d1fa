"""The loop thread: one thread owns an Engine's asyncio event loop, and every other thread hands it work.

Every run of an Engine is driven on this one loop, whoever asks (the CLI's main thread, the UI server's loop,
the daemon's loop, a program's own loop or thread): the runs' loops, the slots they share and the set of live
loops are touched only on this thread, so they need no lock and no counter is shared. From elsewhere,
`submit` hands over a coroutine (asyncio.run_coroutine_threadsafe) and `call` runs a plain function there
and waits for its result. The thread starts on first use, so an engine that drives nothing starts none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable, Coroutine, TypeVar

T = TypeVar("T")
STOP_WAIT_S = 10.0  # how long stop() waits for the runs still on the loop to finish cancelling


class LoopThread:
    def __init__(self, name: str = "swarm-engine"):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, its thread started on first use."""
        with self._lock:
            if self._loop is None:
                if self._stopped:
                    raise RuntimeError("the engine is closed: its loop thread is stopped")
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._run, args=(self._loop,), name=self.name, daemon=True)
                self._thread.start()
            return self._loop

    def here(self) -> bool:
        """Whether the caller runs on the loop's own thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the loop; its future (cancelling the future cancels the coroutine's task)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop())

    def start(self, make: Callable[[], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        """Call `make()` on the loop's thread and run the coroutine it returns as a task there; its future.

        Unlike submit(), what `make` does (e.g. note that a run is being driven) is done before start() returns,
        so a call() made afterwards sees it."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()

        def begin() -> asyncio.Task:
            task = asyncio.get_running_loop().create_task(make())
            task.add_done_callback(lambda done: _settle(future, done))
            return task

        task = self.call(begin)
        future.add_done_callback(lambda f: f.cancelled() and self.loop().call_soon_threadsafe(task.cancel))
        return future

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine that must run on the loop, from any loop: at once when already there."""
        if self.here():
            return await coroutine
        return await asyncio.wrap_future(self.submit(coroutine))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the loop's thread, its result (or its exception) given back to the caller."""
        if self.here():
            return fn(*args)
        with self._lock:
            if self._stopped:  # nothing else runs there any more: the caller may do it
                return fn(*args)
        done: concurrent.futures.Future = concurrent.futures.Future()

        def on_the_loop() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 — handed to the caller
                done.set_exception(exc)

        self.loop().call_soon_threadsafe(on_the_loop)
        return done.result()

    def stop(self) -> None:
        """Cancel what still runs on the loop, stop it and wait for its thread (not from the loop's own thread)."""
        with self._lock:
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():  # never started, or stopped already
            return
        if self.here():
            loop.call_soon(loop.stop)
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # closed meanwhile
            return
        thread.join(STOP_WAIT_S)

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=STOP_WAIT_S))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _settle(future: concurrent.futures.Future, task: asyncio.Task) -> None:
    """Hand a task's outcome to the future of another thread (once: a future cancelled meanwhile stays so)."""
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())
