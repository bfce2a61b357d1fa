"""HTTP endpoints of the scripted model: routing, script lookup, faults and replies."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from swarm.testing.cursor import ScriptCursor
from swarm.testing.request_log import RequestLog
from swarm.testing.script import TRICKLED_REPLY, ScriptLine
from swarm.testing.wire import (
    BadRequest,
    ChatRequest,
    chat_completion,
    error_body,
    models_list,
    parse_chat_request,
    usage,
)

CALL_KEY_HEADER = "X-Swarm-Call-Key"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
MALFORMED_BODY = b'{"id": "chatcmpl-scripted", "choices": [{"message": {"role": "assistant", "content": '
POLL_S = 0.05  # how often a waiting request looks whether the client hung up or the server is stopping


class ScriptedHTTPServer(ThreadingHTTPServer):
    """The listening socket plus the state every request handler shares."""

    daemon_threads = True
    request_queue_size = 256  # many nodes call at once; the default backlog of 5 drops connections

    def __init__(
        self,
        address: tuple[str, int],
        *,
        cursor: ScriptCursor,
        log: RequestLog,
        default_delay_s: float,
    ) -> None:
        self.cursor = cursor
        self.log = log
        self.default_delay_s = default_delay_s
        self.stopping = threading.Event()
        super().__init__(address, ScriptedRequestHandler)


class ScriptedRequestHandler(BaseHTTPRequestHandler):
    """Answers one HTTP request from the script (HTTP/1.0: one request per connection)."""

    server: ScriptedHTTPServer
    server_version = "swarm-scripted-model/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log, not stderr, is where requests are recorded."""

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, route) -> None:
        path = self.path.split("?", 1)[0]
        record = self.server.log.begin(call_key=self.headers.get(CALL_KEY_HEADER), path=path)
        completed = False
        try:
            completed = route(path, record)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its own timeout)
            self.server.log.update(record, client_hung_up=True)
        finally:
            self.server.log.finish(record, completed=completed)

    def _get(self, path: str, record: dict[str, Any]) -> bool:
        if path == MODELS_PATH:
            return self._send_json(record, 200, models_list())
        return self._not_found(record, path)

    def _post(self, path: str, record: dict[str, Any]) -> bool:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path != CHAT_PATH:
            return self._not_found(record, path)
        try:
            request = parse_chat_request(body)
        except BadRequest as exc:
            return self._send_json(record, 400, error_body(str(exc)))
        self.server.log.update(record, last_user=request.last_user, max_tokens=request.max_tokens,
                               temperature=request.temperature)
        line = self.server.cursor.take(request.last_user)
        if line is None:
            message = "scripted model: no script line matches the last user message: " + request.last_user[:200]
            return self._send_json(record, 400, error_body(message))
        self.server.log.update(record, line=line.index, fault=line.fault)
        wait_s = None if line.hangs else line.wait_s if line.wait_s is not None else self.server.default_delay_s
        if (wait_s is None or wait_s) and not self._hold(record, wait_s):
            self.close_connection = True  # the client hung up, or the server is stopping: no answer
            return False
        return self._answer(record, request, line)

    def _hold(self, record: dict[str, Any], seconds: float | None) -> bool:
        """Wait `seconds` (None: for ever); False as soon as the client hangs up (recorded) or the server stops."""
        until = None if seconds is None else time.monotonic() + seconds
        while not self.server.stopping.is_set():
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                return True
            step = POLL_S if left is None else min(POLL_S, left)
            readable, _, _ = select.select([self.connection], [], [], step)
            if readable and self._client_gone():
                self.server.log.update(record, client_hung_up=True)
                return False
            if readable:
                self.server.stopping.wait(step)  # bytes we do not read: do not spin on them
        return False

    def _client_gone(self) -> bool:
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _answer(self, record: dict[str, Any], request: ChatRequest, line: ScriptLine) -> bool:
        if line.fault == "429":
            retry_after = (formatdate(time.time() + line.retry_after, usegmt=True) if line.retry_after_form == "http-date"
                           else f"{line.retry_after:g}")
            body = error_body("scripted model: rate limited (scripted fault 429)", "rate_limit_error")
            return self._send_json(record, 429, body, headers={"Retry-After": retry_after})
        if line.fault == "500":
            return self._send_json(record, 500, error_body("scripted model: scripted fault 500", "server_error"))
        if line.fault == "malformed":
            return self._send_bytes(record, 200, MALFORMED_BODY)
        if line.fault == "trickle":
            reply = TRICKLED_REPLY if line.reply is None else line.reply
            completion = chat_completion(n=record["n"], model=request.model, content=reply,
                                         usage=usage(request, reply, line.usage))
            return self._trickle(record, json.dumps(completion).encode(), line.trickle_s)
        if line.reply is None:  # a "timeout" line with nothing to say once the wait is over
            return self._send_json(record, 504, error_body("scripted model: scripted timeout elapsed", "timeout"))
        completion = chat_completion(
            n=record["n"], model=request.model, content=line.reply, usage=usage(request, line.reply, line.usage),
            finish_reason=line.finish_reason,
        )
        if line.fault == "cutoff":
            return self._cut_off(record, json.dumps(completion).encode())
        return self._send_json(record, 200, completion)

    def _trickle(self, record: dict[str, Any], body: bytes, every_s: float) -> bool:
        """Send the whole body, one byte every `every_s` seconds, unless the client hangs up first."""
        self.server.log.update(record, status=200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for index in range(len(body)):
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()
            if index + 1 < len(body) and not self._hold(record, every_s):
                self.close_connection = True
                return False
        return True

    def _cut_off(self, record: dict[str, Any], body: bytes) -> bool:
        """Promise the whole body, send half of it, then drop the connection."""
        self.server.log.update(record, status=200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        return False

    def _not_found(self, record: dict[str, Any], path: str) -> bool:
        message = f"scripted model: no endpoint {self.command} {path}; use GET {MODELS_PATH} or POST {CHAT_PATH}"
        return self._send_json(record, 404, error_body(message))

    def _send_json(
        self, record: dict[str, Any], status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> bool:
        return self._send_bytes(record, status, json.dumps(payload).encode(), headers)

    def _send_bytes(
        self, record: dict[str, Any], status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> bool:
        self.server.log.update(record, status=status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        return True
