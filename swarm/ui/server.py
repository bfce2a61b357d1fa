"""The web UI's HTTP server: the page's files, a JSON API over the store, live events, and /metrics.

Standard library only (`ThreadingHTTPServer`, one thread per request). Every API request
passes the Gate (token, Host, Origin/Referer); pages and assets need no token and carry no data.

    GET  /api/info                           features present (approvals, time travel, metrics)
    GET  /api/runs?status=S                  runs, newest first
    GET  /api/runs/RUN                       one run
    GET  /api/runs/RUN/graph[?at=SEQ]        the execution graph, now or as of an event
    GET  /api/runs/RUN/timeline              the run's event numbers and kinds (the scrubber)
    GET  /api/runs/RUN/nodes/NODE[?at=SEQ]   one node's detail
    GET  /api/events?run=RUN&after=SEQ       server-sent events: the run's node events, every run's run events
    GET  /api/approvals[?run=RUN]            pending approvals
    GET  /api/compare?a=RUN&b=RUN            two runs compared (swarm.timetravel.diff)
    GET  /api/stats[?run=RUN]                metrics (swarm.metrics.stats)
    GET  /metrics                            Prometheus text (swarm.metrics.prometheus_text)
    GET  /favicon.ico, /favicon.svg          the page's icon (an SVG)
    POST /api/approvals/ID                   {"decision": "approve"|"reject", "reason", "note", "edited" (a value)
                                             or "edited_text" (the edited text of `editable`)}
    POST /api/runs/RUN/fork                  {"at_event": SEQ, "sets": {...}}
    POST /api/runs/RUN/cancel                {"node": NODE (optional)}
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import orjson

from swarm import approvals, metrics, timetravel
from swarm.config import Config
from swarm.errors import SwarmError, UnknownNode, UnknownRun
from swarm.store import Store
from swarm.ui import queries
from swarm.ui.actions import Actions
from swarm.ui.auth import Gate, Refused, UIError, server_token
from swarm.ui.events import EventHub, sse_message

log = logging.getLogger("swarm.ui")

STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"), "/app.css": ("app.css", "text/css; charset=utf-8"),
          "/favicon.svg": ("favicon.svg", "image/svg+xml"), "/favicon.ico": ("favicon.svg", "image/svg+xml")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
KEEPALIVE_S = 15.0
REPLAY_LIMIT = 20000  # events a reconnecting stream may be sent from the store; past that the page reloads
MAX_BODY = 1_000_000
IDLE_TIMEOUT_S = 30.0  # a connection that sends nothing this long is closed, so its thread is freed
DROPPED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)  # the other side went away


class UIServer:
    """`swarm ui`: serve the page and its API for the store of `config` on host:port (port 0: any free one)."""

    def __init__(self, config: Config, host: str | None = None, port: int | None = None, engine=None,
                 idle_timeout_s: float = IDLE_TIMEOUT_S):
        self.config = config
        self.idle_timeout_s = idle_timeout_s
        self.host = host or config.ui.host
        store_path = config.path(config.store.path)
        if not store_path.exists():
            raise UIError(f"no store at {store_path}; run a goal first, or point --store / [store].path at an existing one")
        self.token = server_token(self.host, config.ui.token, store_path.resolve().parent)
        self.store = Store(store_path, config.store.synchronous)
        self.scripts_folder = config.path(config.toolsmith.folder)
        self.hub = EventHub(store_path)
        self.actions = Actions(config, self.store, engine)
        try:
            self.httpd = _Server((self.host, config.ui.port if port is None else port), _Handler)
        except OSError as exc:
            self.store.close()
            raise UIError(f"cannot listen on {self.host}:{config.ui.port if port is None else port} ({exc.strerror}); "
                          "choose another with --port (0 = any free port) or [ui].port") from None
        self.httpd.ui = self
        self.port = self.httpd.server_address[1]
        self.gate = Gate(self.token, self.host, self.port)
        self.thread: threading.Thread | None = None
        self.closing = False

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "localhost") else (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        """The URL to open: the token travels in the fragment, which the browser never sends to any server."""
        return f"{self.url}#token={self.token}"

    def start(self) -> UIServer:
        """Serve in a background thread (tests, embedding); `serve_forever` serves in this one. Once."""
        if self.thread is None:
            self.hub.start()
            self.thread = threading.Thread(target=self.httpd.serve_forever, name="swarm-ui", daemon=True)
            self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.hub.start()
        self.httpd.serve_forever()

    def close(self) -> None:
        self.closing = True
        if self.thread is not None:
            self.httpd.shutdown()
        self.hub.close()  # ends the event streams, so their threads finish
        self.httpd.server_close()
        self.actions.close()
        self.store.close()

    def __enter__(self) -> UIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ui: UIServer

    def handle_error(self, request, client_address) -> None:
        """A page closed or a client gave up mid-request is ordinary: one debug line, not a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, DROPPED):
            log.debug("a UI connection from %s ended early (%s)", client_address[0], type(exc).__name__)
        else:
            log.error("the UI server failed on a connection from %s", client_address[0], exc_info=exc)


class _Reply(Exception):
    """Raised by a route to answer with a status and a JSON body."""

    def __init__(self, status: int, body: Any):
        self.status, self.body = status, body


Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "swarm-ui"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # request lines hold the event stream's token; the UI logs nothing per request

    def setup(self) -> None:
        # Every read and write on the socket waits at most this long: an idle keep-alive connection is
        # closed (the base class ends it quietly on the timeout) and a client that stops reading is let go.
        # An event stream waits for events, not on the socket, so it stays open as long as its page.
        self.timeout = self.server.ui.idle_timeout_s
        super().setup()

    @property
    def ui(self) -> UIServer:
        return self.server.ui

    # --- dispatch ---------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._send_json(405, {"error": "use GET to read and POST to change"})

    do_DELETE = do_PATCH = do_PUT  # noqa: N815

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        self.length, self.body_read = 0, False
        if self.ui.closing:
            return self._send_json(503, {"error": "the UI server is stopping"})
        try:
            self.length = self._declared_length()
            self.ui.gate.check(method, path, self.headers, self.query.get("token"))
            if method == "GET" and path in STATIC:
                return self._send_static(*STATIC[path])
            for verb, pattern, handler in ROUTES:
                m = pattern.fullmatch(path)
                if m and verb == method:
                    return handler(self, *m.groups())
            if any(p.fullmatch(path) for _, p, _ in ROUTES):
                raise _Reply(405, {"error": f"{method} is not allowed on {path}"})
            raise _Reply(404, {"error": f"no such page or API: {path}"})
        except Refused as exc:
            self._send_json(exc.status, {"error": str(exc)})
        except _Reply as reply:
            self._send_json(reply.status, reply.body)
        except (UnknownRun, UnknownNode) as exc:
            self._send_json(404, {"error": str(exc)})
        except SwarmError as exc:
            self._send_json(400, {"error": str(exc)})
        except DROPPED as exc:
            self.close_connection = True
            log.debug("a UI connection ended during %s %s (%s)", method, path, type(exc).__name__)
        except Exception as exc:
            if self.ui.closing:  # the store closed under a request in flight
                return
            log.exception("the UI failed on %s %s", method, path)
            self._send_json(500, {"error": f"{type(exc).__name__}: {exc}"})

    # --- answers ----------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.length is None or (self.length and not self.body_read):
            self.send_header("Connection", "close")  # a body left unread would be taken for the next request
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, value: Any) -> None:
        self._send(status, orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS), "application/json")

    def _send_static(self, name: str, content_type: str) -> None:
        self._send(200, (resources.files("swarm.ui") / "static" / name).read_bytes(), content_type)

    def _declared_length(self) -> int:
        """The request body's length, checked before anything waits for the body: a length that is not a
        whole number (or is negative) is a 400, one over MAX_BODY a 413, and a chunked body a 411."""
        if self.headers.get("Transfer-Encoding"):
            self.length = None
            raise _Reply(411, {"error": "send the request body with a Content-Length, not Transfer-Encoding"})
        declared = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not declared:
            return 0
        if len(declared) > 1 or not re.fullmatch(r"[0-9]{1,12}", next(iter(declared))):
            self.length = None
            shown = ", ".join(sorted(declared))[:40]
            raise _Reply(400, {"error": f"Content-Length must be one whole number of bytes, not {shown!r}"})
        length = int(next(iter(declared)))
        if length > MAX_BODY:
            self.length = length
            raise _Reply(413, {"error": f"the request body is {length} bytes, over the limit of {MAX_BODY}"})
        return length

    def _body(self) -> dict[str, Any]:
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise _Reply(415, {"error": "send the request body as JSON (Content-Type: application/json)"})
        try:
            raw = self.rfile.read(self.length) if self.length else b"{}"
        except TimeoutError:
            raise _Reply(408, {"error": f"the request body did not arrive within {self.ui.idle_timeout_s:g} s"}) from None
        if len(raw) < self.length:  # the client closed before sending all of it
            raise ConnectionResetError("the request body ended early")
        self.body_read = True
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _Reply(400, {"error": f"the request body is not JSON ({exc})"}) from None
        if not isinstance(body, dict):
            raise _Reply(400, {"error": "the request body must be a JSON object"})
        return body

    def _int_arg(self, name: str) -> int | None:
        value = self.query.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise _Reply(400, {"error": f"?{name}= must be a whole number, not {value!r}"}) from None

    # --- reads ------------------------------------------------------------------------

    def info(self) -> None:
        present = {"approvals": True, "timetravel": True, "metrics": True}
        self._send_json(200, {"features": present, "statuses": queries.RUN_STATUSES, "store": str(self.ui.store.path)})

    def runs(self) -> None:
        self._send_json(200, queries.runs(self.ui.store, self.query.get("status"), self._int_arg("limit") or 200))

    def run(self, run_id: str) -> None:
        self._send_json(200, queries.run(self.ui.store, run_id))

    def graph(self, run_id: str) -> None:
        self._send_json(200, queries.graph(self.ui.store, run_id, self._int_arg("at")))

    def timeline(self, run_id: str) -> None:
        self._send_json(200, queries.timeline(self.ui.store, run_id))

    def node(self, run_id: str, node_id: str) -> None:
        self._send_json(200, queries.node_detail(self.ui.store, run_id, node_id, self._int_arg("at"), self.ui.scripts_folder))

    def approvals(self) -> None:
        run_id = self.query.get("run") or None
        rows = approvals.pending(self.ui.store, run_id)  # with the text a person edits: the code when there is code
        self._send_json(200, [{**r, "editable": approvals.editable(r)} for r in rows])

    def compare(self) -> None:
        a, b = self.query.get("a"), self.query.get("b")
        if not a or not b:
            raise _Reply(400, {"error": "compare needs two runs: ?a=RUN&b=RUN"})
        self._send_json(200, timetravel.diff(self.ui.store, self.ui.store.run(a)["id"], self.ui.store.run(b)["id"]))

    def stats(self) -> None:
        run_id = self.query.get("run") or None
        self._send_json(200, metrics.stats(self.ui.store, self.ui.store.run(run_id)["id"] if run_id else None))

    def metrics(self) -> None:
        text = metrics.prometheus_text(self.ui.store)
        self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")

    def events(self) -> None:
        """Server-sent events until the page goes away: batches of events, `reload` when it fell behind."""
        run_id = self.query.get("run") or None
        after = self._int_arg("after")
        if run_id:
            run_id = self.ui.store.run(run_id)["id"]
        sub = self.ui.hub.subscribe(run_id)  # before the replay: nothing falls between the two
        try:
            self.send_response(200)
            for k, v in {**SECURITY_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no",
                         "Connection": "close"}.items():
                self.send_header(k, v)
            self.end_headers()
            self.close_connection = True
            self.wfile.write(b"retry: 1000\n\n")
            if run_id and after is not None:
                self.wfile.write(self._replay(run_id, after))
            self.wfile.write(sse_message("hello", {"run": run_id}))
            self.wfile.flush()
            while True:
                item = sub.take(KEEPALIVE_S)
                if item is None:
                    self.wfile.write(b": keep-alive\n\n")  # also how a closed page is noticed
                elif item[0] == "closed":
                    return
                elif item[0] == "reload":
                    self.wfile.write(sse_message("reload", {}))
                else:
                    batch = item[1]
                    self.wfile.write(sse_message(None, batch, batch[-1]["seq"]))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            self.ui.hub.unsubscribe(sub)

    def _replay(self, run_id: str, after: int) -> bytes:
        from swarm.store import loads
        from swarm.ui.graph import node_view

        rows = self.ui.store.events(run_id, after=after, limit=REPLAY_LIMIT + 1)
        if len(rows) > REPLAY_LIMIT:
            return sse_message("reload", {})
        batch = [{"seq": r["seq"], "run_id": run_id, "node_id": r["node_id"], "kind": r["kind"], "at": r["at"],
                  "node": node_view(loads(r["state"])) if r["state"] else None,
                  "detail": None if r["node_id"] else loads(r["detail"])} for r in rows]
        return sse_message(None, batch, batch[-1]["seq"]) if batch else b""

    # --- changes (POST, token in the header) --------------------------------------------

    def decide(self, approval_id: str) -> None:
        self._send_json(200, self.ui.actions.decide(int(approval_id), self._body()))

    def fork(self, run_id: str) -> None:
        self._send_json(200, self.ui.actions.fork(run_id, self._body()))

    def cancel(self, run_id: str) -> None:
        self._send_json(200, self.ui.actions.cancel(run_id, self._body()))


_ID = r"([^/]+)"
ROUTES: list[Route] = [
    ("GET", re.compile(r"/api/info"), _Handler.info),
    ("GET", re.compile(r"/api/runs"), _Handler.runs),
    ("GET", re.compile(rf"/api/runs/{_ID}"), _Handler.run),
    ("GET", re.compile(rf"/api/runs/{_ID}/graph"), _Handler.graph),
    ("GET", re.compile(rf"/api/runs/{_ID}/timeline"), _Handler.timeline),
    ("GET", re.compile(rf"/api/runs/{_ID}/nodes/{_ID}"), _Handler.node),
    ("GET", re.compile(r"/api/events"), _Handler.events),
    ("GET", re.compile(r"/api/approvals"), _Handler.approvals),
    ("GET", re.compile(r"/api/compare"), _Handler.compare),
    ("GET", re.compile(r"/api/stats"), _Handler.stats),
    ("GET", re.compile(r"/metrics"), _Handler.metrics),
    ("POST", re.compile(r"/api/approvals/(\d+)"), _Handler.decide),
    ("POST", re.compile(rf"/api/runs/{_ID}/fork"), _Handler.fork),
    ("POST", re.compile(rf"/api/runs/{_ID}/cancel"), _Handler.cancel),
]


def static_files() -> list[Path]:
    """The page's files as shipped in the package (checked by the tests: nothing loaded from elsewhere)."""
    return [Path(str(resources.files("swarm.ui") / "static" / name)) for name, _ in set(STATIC.values())]
