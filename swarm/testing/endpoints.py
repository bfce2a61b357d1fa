"""HTTP endpoints of the scripted model: routing, script lookup, faults and replies."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from swarm.testing.cursor import ScriptCursor
from swarm.testing.request_log import RequestLog
from swarm.testing.script import ScriptLine
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
        self.server.log.update(record, last_user=request.last_user)
        line = self.server.cursor.take(request.last_user)
        if line is None:
            message = "scripted model: no script line matches the last user message: " + request.last_user[:200]
            return self._send_json(record, 400, error_body(message))
        self.server.log.update(record, line=line.index, fault=line.fault)
        wait_s = line.wait_s if line.wait_s is not None else self.server.default_delay_s
        if wait_s and self.server.stopping.wait(wait_s):
            self.close_connection = True  # server is stopping: drop the request unanswered
            return False
        return self._answer(record, request, line)

    def _answer(self, record: dict[str, Any], request: ChatRequest, line: ScriptLine) -> bool:
        if line.fault == "429":
            retry_after = f"{line.retry_after:g}"
            body = error_body("scripted model: rate limited (scripted fault 429)", "rate_limit_error")
            return self._send_json(record, 429, body, headers={"Retry-After": retry_after})
        if line.fault == "500":
            return self._send_json(record, 500, error_body("scripted model: scripted fault 500", "server_error"))
        if line.fault == "malformed":
            return self._send_bytes(record, 200, MALFORMED_BODY)
        if line.reply is None:  # a "timeout" line with nothing to say once the wait is over
            return self._send_json(record, 504, error_body("scripted model: scripted timeout elapsed", "timeout"))
        completion = chat_completion(
            n=record["n"], model=request.model, content=line.reply, usage=usage(request, line.reply, line.usage)
        )
        if line.fault == "cutoff":
            return self._cut_off(record, json.dumps(completion).encode())
        return self._send_json(record, 200, completion)

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
