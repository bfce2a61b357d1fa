"""The REST API and the viewer's files as one Starlette application (served by uvicorn: swarm.ui.server).

Every route is in the OpenAPI document (swarm/ui/openapi.py, served at /api/openapi.json and
committed as swarm/ui/openapi.json). Reads run in Starlette's thread pool (SQLite reads block);
changes run on the server's event loop, which also drives the runs the server started.
The Guard (outermost) checks every request's token, Host and Origin/Referer (swarm.ui.auth),
refuses a body that is too big or chunked, and puts the security headers on every answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from sse_starlette.sse import EventSourceResponse

from swarm import approvals, metrics, timetravel
from swarm.checkout import checkout
from swarm.errors import AlreadyDecided, SwarmError, UnknownApproval, UnknownNode, UnknownRun
from swarm.ui import axes, queries
from swarm.ui.auth import Refused
from swarm.ui.events import sse_message

if TYPE_CHECKING:
    from pathlib import Path

    from swarm.store import Store
    from swarm.ui.actions import Actions
    from swarm.ui.auth import Gate
    from swarm.ui.events import EventHub


class UIServer(Protocol):
    """What the application needs of the server it belongs to (swarm.ui.server.UIServer), so that this
    module does not import the server that imports it."""

    store: Store
    scripts_folder: Path
    hub: EventHub
    actions: Actions
    gate: Gate
    closing: bool

log = logging.getLogger("swarm.ui")

STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"), "/charts.js": ("charts.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8"),
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
MAX_INT = 2**63 - 1  # SQLite's largest integer: an event or approval number past it names nothing


class Reply(Exception):
    """Raised by a route to answer with a status and a JSON body."""

    def __init__(self, status: int, body: Any, close: bool = False):
        self.status, self.body, self.close = status, body, close


def json_response(status: int, value: Any, close: bool = False) -> Response:
    headers = {"Connection": "close"} if close else None
    return Response(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS), status, headers,
                    media_type="application/json")


def ui_of(request: Request) -> UIServer:
    return request.app.state.ui


def query(request: Request) -> dict[str, str]:
    return dict(request.query_params)  # the last value of a repeated name


def int_arg(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not re.fullmatch(r"[0-9]{1,19}", value) or int(value) > MAX_INT:
        raise Reply(400, {"error": f"?{name}= must be a whole number from 0, not {value[:40]!r}"})
    return int(value)


def approval_id(request: Request) -> int:
    text = request.path_params["approval_id"]
    if not re.fullmatch(r"[0-9]{1,19}", text) or int(text) > MAX_INT:
        raise UnknownApproval(text[:40])
    return int(text)


async def body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object ({} when there is no body); it must come within the server's idle timeout (else 408)."""
    if (request.headers.get("Content-Length") or "0") == "0" and "Transfer-Encoding" not in request.headers:
        return {}
    if not (request.headers.get("Content-Type") or "").startswith("application/json"):
        raise Reply(415, {"error": "send the request body as JSON (Content-Type: application/json)"}, close=True)
    timeout = ui_of(request).idle_timeout_s
    try:
        raw = await asyncio.wait_for(request.body(), timeout)
    except TimeoutError:
        raise Reply(408, {"error": f"the request body did not arrive within {timeout:g} s"}, close=True) from None
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Reply(400, {"error": f"the request body is not JSON ({exc})"}) from None
    if not isinstance(body, dict):
        raise Reply(400, {"error": "the request body must be a JSON object"})
    return body


# --- reads (in the thread pool) -----------------------------------------------------------------


def info(request: Request) -> Response:
    present = {"approvals": True, "timetravel": True, "metrics": True, "submit": True}
    return json_response(200, {"features": present, "statuses": list(queries.RUN_STATUSES),
                               "store": str(ui_of(request).store.path)})


def openapi(request: Request) -> Response:
    from swarm.ui.openapi import document

    return json_response(200, document())


def runs(request: Request) -> Response:
    status = request.query_params.get("status") or None
    limit = int_arg(request, "limit") or 200
    return json_response(200, queries.runs(ui_of(request).store, status, min(limit, 10_000)))


def run(request: Request) -> Response:
    return json_response(200, queries.run(ui_of(request).store, request.path_params["run_id"]))


def graph(request: Request) -> Response:
    return json_response(200, queries.graph(ui_of(request).store, request.path_params["run_id"], int_arg(request, "at")))


def timeline(request: Request) -> Response:
    return json_response(200, queries.timeline(ui_of(request).store, request.path_params["run_id"]))


def node(request: Request) -> Response:
    ui = ui_of(request)
    return json_response(200, queries.node_detail(ui.store, request.path_params["run_id"], request.path_params["node_id"],
                                                  int_arg(request, "at"), ui.scripts_folder))


def run_checkout(request: Request) -> Response:
    store = ui_of(request).store
    at = int_arg(request, "at")
    run_row = store.run(request.path_params["run_id"])
    if at is None:
        at = run_row.get("last_event") or 0
    return json_response(200, checkout(store, run_row["id"], at))


def run_diff(request: Request) -> Response:
    other = request.query_params.get("with")
    if not other:
        raise Reply(400, {"error": "a diff needs the other run: ?with=RUN"})
    return json_response(200, _diff(ui_of(request).store, request.path_params["run_id"], other))


def compare(request: Request) -> Response:
    a, b = request.query_params.get("a"), request.query_params.get("b")
    if not a or not b:
        raise Reply(400, {"error": "compare needs two runs: ?a=RUN&b=RUN"})
    return json_response(200, _diff(ui_of(request).store, a, b))


def _diff(store, a: str, b: str) -> dict[str, Any]:
    return timetravel.diff(store, store.run(a)["id"], store.run(b)["id"])


def approval_list(request: Request) -> Response:
    store = ui_of(request).store
    run_id = request.query_params.get("run") or None
    if run_id:
        run_id = store.run(run_id)["id"]
    rows = approvals.pending(store, run_id)  # with the text a person edits: the code when there is code
    return json_response(200, [{**r, "editable": approvals.editable(r)} for r in rows])


def stats(request: Request) -> Response:
    store = ui_of(request).store
    run_id = request.query_params.get("run") or None
    return json_response(200, metrics.stats(store, store.run(run_id)["id"] if run_id else None))


def stats_charts(request: Request) -> Response:
    run_id = request.query_params.get("run") or None
    buckets = int_arg(request, "buckets")
    if buckets is not None and not 1 <= buckets <= axes.MAX_BUCKETS:
        raise Reply(400, {"error": f"?buckets= must be from 1 to {axes.MAX_BUCKETS}, not {buckets}"})
    return json_response(200, queries.charts(ui_of(request).store, run_id, buckets or axes.BUCKETS))


def prometheus(request: Request) -> Response:
    return Response(metrics.prometheus_text(ui_of(request).store), media_type="text/plain; version=0.0.4; charset=utf-8")


def static(request: Request) -> Response:
    name, content_type = STATIC[request.url.path]
    return Response((resources.files("swarm.ui") / "static" / name).read_bytes(), media_type=content_type)


# --- the live stream -----------------------------------------------------------------------------


async def events(request: Request) -> Response:
    """Server-sent events until the page goes away: batches of events, `reload` when it fell behind."""
    ui = ui_of(request)
    run_id = request.query_params.get("run") or None
    after = int_arg(request, "after")
    if run_id:
        run_id = ui.store.run(run_id)["id"]
    sub = ui.hub.subscribe(run_id, asyncio.get_running_loop())  # before the replay: nothing falls between the two
    try:
        replay = await asyncio.to_thread(_replay, ui, run_id, after) if run_id and after is not None else b""
    except BaseException:
        ui.hub.unsubscribe(sub)
        raise

    async def stream():
        try:
            yield b"retry: 1000\n\n"
            if replay:
                yield replay
            yield sse_message("hello", {"run": run_id})
            while True:
                item = await sub.take(KEEPALIVE_S)
                if item is None:
                    yield b": keep-alive\n\n"
                elif item[0] == "closed":
                    return
                elif item[0] == "reload":
                    yield sse_message("reload", {})
                else:
                    batch = item[1]
                    yield sse_message(None, batch, batch[-1]["seq"])
        finally:
            ui.hub.unsubscribe(sub)

    return EventSourceResponse(stream(), sep="\n", ping=3600, headers={"Cache-Control": "no-store"})


def _replay(ui: UIServer, run_id: str, after: int) -> bytes:
    from swarm.store import loads
    from swarm.ui.graph import node_view

    rows = ui.store.events(run_id, after=after, limit=REPLAY_LIMIT + 1)
    if len(rows) > REPLAY_LIMIT:
        return sse_message("reload", {})
    batch = [{"seq": r["seq"], "run_id": run_id, "node_id": r["node_id"], "kind": r["kind"], "at": r["at"],
              "node": node_view(loads(r["state"])) if r["state"] else None,
              "detail": None if r["node_id"] else loads(r["detail"])} for r in rows]
    return sse_message(None, batch, batch[-1]["seq"]) if batch else b""


# --- changes (on the loop; the token in a header) --------------------------------------------------


async def submit(request: Request) -> Response:
    body = await body_of(request)
    ui = ui_of(request)
    out = ui.actions.submit(body)
    return json_response(201, {**out, "run": queries.run(ui.store, out["run_id"])})


async def decide(request: Request) -> Response:
    number = approval_id(request)
    return json_response(200, ui_of(request).actions.decide(number, await body_of(request)))


async def approve(request: Request) -> Response:
    number = approval_id(request)
    body = await body_of(request)
    return json_response(200, ui_of(request).actions.decide(number, {**body, "decision": "approve"}))


async def reject(request: Request) -> Response:
    number = approval_id(request)
    body = await body_of(request)
    return json_response(200, ui_of(request).actions.decide(number, {**body, "decision": "reject"}))


async def fork(request: Request) -> Response:
    body = await body_of(request)
    return json_response(200, ui_of(request).actions.fork(request.path_params["run_id"], body))


async def cancel(request: Request) -> Response:
    body = await body_of(request)
    return json_response(200, await ui_of(request).actions.cancel(request.path_params["run_id"], body))


async def pause(request: Request) -> Response:
    await body_of(request)  # nothing is asked of it: read so the connection stays usable
    return json_response(200, ui_of(request).actions.pause(request.path_params["run_id"]))


async def resume(request: Request) -> Response:
    await body_of(request)
    return json_response(200, ui_of(request).actions.resume(request.path_params["run_id"]))


# --- errors --------------------------------------------------------------------------------------


async def on_reply(request: Request, exc: Reply) -> Response:
    return json_response(exc.status, exc.body, exc.close)


async def on_not_found(request: Request, exc: SwarmError) -> Response:
    return json_response(404, {"error": str(exc)})


async def on_conflict(request: Request, exc: SwarmError) -> Response:
    return json_response(409, {"error": str(exc)})


async def on_swarm_error(request: Request, exc: SwarmError) -> Response:
    if isinstance(exc, (UnknownRun, UnknownNode, UnknownApproval)):
        return await on_not_found(request, exc)
    return json_response(400, {"error": str(exc)})


async def on_http(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        message = f"no such page or API: {request.url.path}; the API is described at /api/openapi.json"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; use GET to read and POST to change"
    else:
        message = exc.detail
    return json_response(exc.status_code, {"error": message}, close=exc.status_code == 405)


async def on_failure(request: Request, exc: Exception) -> Response:
    if ui_of(request).closing:  # the store closed under a request in flight
        return json_response(503, {"error": "the UI server is stopping"})
    log.error("the UI failed on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response(500, {"error": f"{type(exc).__name__}: {exc}"})


# --- the guard: token, origin, body size, security headers ------------------------------------------


class Guard:
    """Pure ASGI middleware (streams pass through untouched): who may ask, and the headers every answer has."""

    def __init__(self, app, ui: UIServer):
        self.app = app
        self.ui = ui

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    if k not in headers:
                        headers[k] = v
            await send(message)

        headers = Headers(scope=scope)
        try:
            if self.ui.closing:
                raise Reply(503, {"error": "the UI server is stopping"}, close=True)
            if headers.get("Transfer-Encoding"):
                raise Reply(411, {"error": "send the request body with a Content-Length, not Transfer-Encoding"}, close=True)
            declared = {v.strip() for v in headers.getlist("Content-Length")}
            if len(declared) > 1 or (declared and not re.fullmatch(r"[0-9]{1,12}", next(iter(declared)))):
                shown = ", ".join(sorted(declared))[:40]
                raise Reply(400, {"error": f"Content-Length must be one whole number of bytes, not {shown!r}"}, close=True)
            if declared and int(next(iter(declared))) > MAX_BODY:
                raise Reply(413, {"error": f"the request body is {next(iter(declared))} bytes, over the limit of {MAX_BODY}"},
                            close=True)
            token = None
            if scope["method"] == "GET":
                token = next((v for k, v in reversed(_query_pairs(scope)) if k == "token"), None)
            self.ui.gate.check(scope["method"], scope["path"], headers, token)
        except Refused as exc:
            return await json_response(exc.status, {"error": str(exc)}, close=scope["method"] != "GET")(scope, receive, secured)
        except Reply as reply:
            return await json_response(reply.status, reply.body, reply.close)(scope, receive, secured)
        await self.app(scope, receive, secured)


def _query_pairs(scope) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(scope.get("query_string", b"").decode("latin-1"))


# --- the application -----------------------------------------------------------------------------

_RUN = "/api/runs/{run_id}"
ROUTES = [
    Route("/api/openapi.json", openapi, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),  # where OpenAPI tools look first; a document, like the page: no token
    Route("/api/info", info, methods=["GET"]),
    Route("/api/runs", runs, methods=["GET"]),
    Route("/api/runs", submit, methods=["POST"]),
    Route(_RUN, run, methods=["GET"]),
    Route(_RUN + "/graph", graph, methods=["GET"]),
    Route(_RUN + "/timeline", timeline, methods=["GET"]),
    Route(_RUN + "/nodes/{node_id}", node, methods=["GET"]),
    Route(_RUN + "/checkout", run_checkout, methods=["GET"]),
    Route(_RUN + "/diff", run_diff, methods=["GET"]),
    Route(_RUN + "/fork", fork, methods=["POST"]),
    Route(_RUN + "/cancel", cancel, methods=["POST"]),
    Route(_RUN + "/pause", pause, methods=["POST"]),
    Route(_RUN + "/resume", resume, methods=["POST"]),
    Route("/api/events", events, methods=["GET"]),
    Route("/api/approvals", approval_list, methods=["GET"]),
    Route("/api/approvals/{approval_id}", decide, methods=["POST"]),
    Route("/api/approvals/{approval_id}/approve", approve, methods=["POST"]),
    Route("/api/approvals/{approval_id}/reject", reject, methods=["POST"]),
    Route("/api/compare", compare, methods=["GET"]),
    Route("/api/stats", stats, methods=["GET"]),
    Route("/api/stats/charts", stats_charts, methods=["GET"]),
    Route("/metrics", prometheus, methods=["GET"]),
    *[Route(path, static, methods=["GET"]) for path in STATIC],
]


def make_app(ui: UIServer, lifespan=None) -> Any:
    """The ASGI application of one UIServer: the Guard around the Starlette routes."""
    app = Starlette(routes=ROUTES, lifespan=lifespan, exception_handlers={
        Reply: on_reply, AlreadyDecided: on_conflict, SwarmError: on_swarm_error, HTTPException: on_http,
        Exception: on_failure})
    app.state.ui = ui
    return Guard(app, ui)
