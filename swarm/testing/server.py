"""ScriptedModelServer: a real OpenAI-compatible HTTP server on loopback that answers from a script."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from swarm.testing.cursor import ScriptCursor
from swarm.testing.endpoints import ScriptedHTTPServer
from swarm.testing.request_log import RequestLog
from swarm.testing.script import ScriptLine, load_script


class ServerNotStarted(RuntimeError):
    """The server has no address yet; call .start() (or use it as a context manager) first."""


class ScriptedModelServer:
    """Serves GET /v1/models and POST /v1/chat/completions from a script, in a daemon thread.

    `script` is a JSONL path or a list of dicts (see swarm.testing.script); it is
    checked here, so a bad script raises ScriptError before anything listens.
    """

    def __init__(
        self,
        script: str | os.PathLike[str] | Iterable[Mapping[str, Any] | ScriptLine],
        host: str = "127.0.0.1",
        port: int = 0,
        default_delay_s: float = 0.0,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.lines = load_script(script)
        self.host = host
        self._requested_port = port
        self._default_delay_s = default_delay_s
        self._cursor = ScriptCursor(self.lines)
        self._log = RequestLog(log_path)
        self._httpd: ScriptedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ScriptedModelServer:
        """Bind and serve in a daemon thread; returns self. Raises OSError if the port is taken."""
        if self._httpd is not None:
            return self
        self._httpd = ScriptedHTTPServer(
            (self.host, self._requested_port),
            cursor=self._cursor,
            log=self._log,
            default_delay_s=self._default_delay_s,
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scripted-model:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still sleeping on a delay are dropped unanswered."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (useful with port=0)."""
        if self._httpd is None:
            raise ServerNotStarted("scripted model server is not listening; call .start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL for an OpenAI client, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Copies of the request records so far, in arrival order."""
        return self._log.snapshot()

    @property
    def unused_lines(self) -> list[int]:
        """Indexes of non-repeat script lines that no request has consumed."""
        return self._cursor.unused()
