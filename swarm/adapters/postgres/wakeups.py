"""Wakeups over PostgreSQL: LISTEN/NOTIFY.

A writer calls `notify` inside the transaction that writes what someone waits for (a cancel, a pause, a person's
decision, a submitted goal): `pg_notify` is delivered when, and only if, that transaction commits. A process that
subscribes gets one listening connection of its own, read by a thread of its own (`conn.notifies()`), which calls
the subscribers of a channel with each payload. When that connection breaks, the thread connects again and calls
every subscriber with None ("something may have come meanwhile: read the store"); the slow fallback poll of the
readers ([store].wakeup_poll_s) covers what a broken connection would hide for longer.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import psycopg

from swarm.ports import WAKEUP_CHANNELS

log = logging.getLogger(__name__)

LISTEN_TIMEOUT_S = 0.25  # how often the listening thread looks whether it should stop (closing waits for it)
RECONNECT_S = 1.0  # how long it waits before connecting again after the connection broke


class PostgresWakeups:
    instant = True

    def __init__(self, url: str):
        self.url = url
        self.received = 0  # notifications delivered to this process (for tests and logs)
        self.subscribers: dict[str, list[Callable[[str | None], None]]] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.listening = threading.Event()
        self.stopped = threading.Event()

    def written_elsewhere(self) -> bool:
        """Always True: a reader that asks reads (the notifications are what tells it sooner)."""
        return True

    def notify(self, c: Any, channel: str, payload: str) -> None:
        """Inside the writer's transaction: sent to every listener when it commits."""
        c.execute("SELECT pg_notify(?, ?)", (channel, payload))

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> Callable[[], None]:
        """Call `callback(payload)` (from the listening thread) for every notification on `channel` from now on;
        returns what ends the subscription. The first subscription waits until the connection listens."""
        with self.lock:
            self.subscribers.setdefault(channel, []).append(callback)
            if self.thread is None and not self.stopped.is_set():
                self.thread = threading.Thread(target=self._listen, name="swarm-wakeups", daemon=True)
                self.thread.start()
        self.listening.wait(5.0)  # a server that cannot be reached: the fallback poll still reads the store

        def unsubscribe() -> None:
            with self.lock:
                callbacks = self.subscribers.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)
        return unsubscribe

    def _deliver(self, channel: str, payload: str | None) -> None:
        with self.lock:
            callbacks = list(self.subscribers.get(channel, []))
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:  # noqa: BLE001 — one subscriber's fault must not deafen the others
                log.exception("a wake-up subscriber of %s failed", channel)

    def _listen(self) -> None:
        again = False
        while not self.stopped.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    for channel in WAKEUP_CHANNELS:
                        conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    if again:  # notifications sent while it was away are lost: everyone reads the store once
                        for channel in WAKEUP_CHANNELS:
                            self._deliver(channel, None)
                    again = True
                    while not self.stopped.is_set():
                        for note in conn.notifies(timeout=LISTEN_TIMEOUT_S):
                            self.received += 1
                            self._deliver(note.channel, note.payload)
            except psycopg.Error as exc:
                if not self.stopped.is_set():
                    log.warning("wake-ups from the store stopped (%s); listening again in %.0f s, reading the store "
                                "every [store].wakeup_poll_s meanwhile", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, RECONNECT_S)
                self.listening.set()
                self.stopped.wait(RECONNECT_S)

    def close(self) -> None:
        self.stopped.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(LISTEN_TIMEOUT_S * 2)
