"""What a model call has in flight — the call, and its one HTTP request at a time — so another
thread can end it: the watchdog at the request's deadline, the lifecycle when its node times out.

A thread blocked reading a socket cannot be interrupted, and closing the socket from another
thread does not wake it (the read keeps waiting on the closed descriptor); shutting the socket
down does, at once. httpx hands us each request's socket through httpcore's `trace` extension
when it connects, so every request asks for a connection of its own (`Connection: close`): a
request on a reused keep-alive connection would never show us its socket. On loopback or a LAN
that costs nothing; on a remote HTTPS API it is one TLS handshake per call, small beside a reply.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

DEADLINE = "deadline"
CANCELLED = "cancelled"

_CONNECTED = ("connect_tcp.complete", "connect_unix_socket.complete", "start_tls.complete")
# After these httpcore closes the socket itself, and its number may be reused by another connection.
_CLOSING = (".failed", "response_closed.started")


class PendingRequest:
    """One HTTP request: its socket, once connected, and why it was ended early (None: it was not).

    `limit_s` is how long it may take in all; `deadline` the alarm that ends it then, set when it is sent.
    """

    def __init__(self, limit_s: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.ended: str | None = None
        self.limit_s = limit_s
        self.deadline: Any = None

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's `trace` extension: keep the socket while it is ours to shut down."""
        if event.endswith(_CONNECTED):
            sock = info["return_value"].get_extra_info("socket")
            with self._lock:
                self._sock = sock
                if self.ended is not None:  # ended while connecting
                    self._shut_down()
        elif event.endswith(_CLOSING):
            with self._lock:
                self._sock = None

    def end(self, why: str) -> None:
        """End the request now (DEADLINE or CANCELLED): its thread gets a connection error at once."""
        with self._lock:
            if self.ended is None:
                self.ended = why
                self._shut_down()

    def _shut_down(self) -> None:
        if self._sock is not None:
            try:  # the plain socket's shutdown, under TLS too: it wakes the reader without touching TLS state
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer or by httpcore


class PendingCall:
    """One `ModelClient.complete` call: cancelling it ends its request in flight and its wait between tries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: PendingRequest | None = None
        self.cancelled = False
        self.woken = threading.Event()  # set on cancel: the wait before a retry ends early

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            request = self._request
        self.woken.set()
        if request is not None:
            request.end(CANCELLED)

    def sending(self, request: PendingRequest | None) -> None:
        """The request now in flight (None: none); a call already cancelled ends it at once."""
        with self._lock:
            self._request = request
            cancelled = self.cancelled
        if cancelled and request is not None:
            request.end(CANCELLED)
