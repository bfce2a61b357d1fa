"""`swarm ui`'s server: the REST API, the viewer's files, live events and /metrics on uvicorn.

The application is swarm.ui.app (Starlette; the routes and their shapes are in the OpenAPI
document, /api/openapi.json). One event loop owns the server: it answers the changes and drives,
as asyncio tasks on one Engine, the runs the server started (submitted, forked, approved).
`start()` serves from a background thread (tests, embedding), `serve_forever()` from this one
(`swarm ui`, where SIGINT/SIGTERM stop it cleanly: runs driven here are recorded and resumable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from importlib import resources
from pathlib import Path

import uvicorn

from swarm.config import Config
from swarm.store import folder, is_postgres, location, open_store
from swarm.ui.actions import Actions
from swarm.ui.app import STATIC, make_app
from swarm.ui.auth import Gate, UIError, server_token
from swarm.ui.events import EventHub

log = logging.getLogger("swarm.ui")
IDLE_TIMEOUT_S = 30.0  # a keep-alive connection that sends nothing this long is closed; also how long a body may take
STOP_GRACE_S = 5.0


class UIServer:
    """`swarm ui`: serve the page and its API for the store of `config` on host:port (port 0: any free one)."""

    def __init__(self, config: Config, host: str | None = None, port: int | None = None, engine=None,
                 idle_timeout_s: float = IDLE_TIMEOUT_S):
        self.config = config
        self.idle_timeout_s = idle_timeout_s
        self.host = host or config.ui.host
        store_path = location(config)
        if not is_postgres(store_path) and not Path(store_path).exists():
            raise UIError(f"no store at {store_path}; run a goal first, or point --store / [store].path at an existing one")
        self.token = server_token(self.host, config.ui.token, folder(config))  # beside the store (file)
        wanted = config.ui.port if port is None else port
        try:
            self.socket = _listen(self.host, wanted)
        except OSError as exc:
            raise UIError(f"cannot listen on {self.host}:{wanted} ({exc.strerror}); "
                          "choose another with --port (0 = any free port) or [ui].port") from None
        self.port = self.socket.getsockname()[1]
        self.store = open_store(config)
        self.scripts_folder = config.path(config.toolsmith.folder)
        self.hub = EventHub(self.store.event_tail)
        self.actions = Actions(config, self.store, engine)
        self.gate = Gate(self.token, self.host, self.port)
        self.closing = False
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = make_app(self, lifespan=self._lifespan)
        self.server = _Uvicorn(self, uvicorn.Config(self.app, log_config=None, log_level="warning", access_log=False,
                                                    lifespan="on", timeout_keep_alive=max(1, round(idle_timeout_s)),
                                                    timeout_graceful_shutdown=STOP_GRACE_S, server_header=False,
                                                    date_header=False, http="h11", ws="none"))
        self._closed = False

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "localhost") else (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        """The URL to open: the token travels in the fragment, which the browser never sends to any server."""
        return f"{self.url}#token={self.token}"

    def connections(self) -> int:
        """HTTP connections open now (idle keep-alive ones included)."""
        return len(self.server.server_state.connections)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        self.loop = asyncio.get_running_loop()  # the one loop that answers changes and drives runs
        yield
        await self.actions.stop()  # on the server's loop: the runs it drives stop cleanly

    def start(self) -> UIServer:
        """Serve in a background thread (tests, embedding); `serve_forever` serves in this one. Once."""
        if self.thread is None:
            self.hub.start()
            self.thread = threading.Thread(target=self._serve, name="swarm-ui", daemon=True)
            self.thread.start()
            while not self.server.started and self.thread.is_alive():
                self.server.started_event.wait(0.05)
        return self

    def _serve(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.socket]))
        except Exception:
            log.exception("the UI server stopped on an error")

    def serve_forever(self) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn's handlers), then stop the runs driven here cleanly."""
        self.hub.start()
        self.server.run(sockets=[self.socket])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.hub.end_streams()  # the open event streams end, so their connections close
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=STOP_GRACE_S + 15)
        self.closing = True
        self.hub.close()
        self.socket.close()
        self.actions.close()
        self.store.close()

    def __enter__(self) -> UIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class _Uvicorn(uvicorn.Server):
    """uvicorn, telling the UIServer when it is up, and ending the event streams when a signal stops it."""

    def __init__(self, ui: UIServer, config: uvicorn.Config):
        super().__init__(config)
        self.ui = ui
        self.started_event = threading.Event()

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        self.started_event.set()

    def handle_exit(self, sig, frame) -> None:
        self.ui.hub.end_streams()
        super().handle_exit(sig, frame)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is an error at once and port 0 tells its number."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]") if host != "localhost" else "127.0.0.1", port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def static_files() -> list[Path]:
    """The page's files as shipped in the package (checked by the tests: nothing loaded from elsewhere)."""
    return [Path(str(resources.files("swarm.ui") / "static" / name)) for name, _ in set(STATIC.values())]
