"""The MCP client: one session per server, on an asyncio loop of its own thread, through the official `mcp` SDK.

Node scripts run in worker threads and the SDK is async, so every session lives on one event loop in a
background thread ("swarm-mcp"); `McpClient.list_tools` and `McpClient.call` are plain blocking calls
for a worker thread. A session is started when first needed (a call, or listing a server the engine
has never listed) and started again when its server died: before each call the session asks the
server for its tools (the protocol has no ping any more), so one whose server went away while idle
is started anew instead of failing the call, and the catalogue hears of tools that changed.

What the rest of the swarm gets back is plain JSON-able data, never an SDK type:
- a tool: {"name", "description", "input_schema"};
- a call: {"is_error", "text", "structured", "content"}, content being one small dict per block.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable

from swarm.mcp.errors import CallTimedOut, McpError, ServerDied, ServerUnavailable, ToolFailed
from swarm.mcp.settings import McpServer

STDERR_TAIL_CHARS = 400  # of a stdio server's stderr, quoted in the error when it would not start or died
CLOSE_WAIT_S = 5.0  # a session's own shutdown (the SDK terminates a stdio server's process tree) before giving up on it


class McpClient:
    """Sessions to the configured MCP servers, shared by every node of an engine."""

    def __init__(self, servers: dict[str, McpServer], config, on_tools: Callable[[str, list[dict]], None] | None = None):
        self.servers = servers
        self.on_tools = on_tools  # told each listing a session gets (on the loop's thread): the tools may have changed
        self.startup_timeout_s = config.mcp.startup_timeout_s
        self.call_timeout_s = config.mcp.call_timeout_s
        self._base_dir = Path(config.base_dir)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._closed = False

    # --- what worker threads call -------------------------------------------------------------

    def list_all(self, names: list[str] | None = None) -> dict[str, list[dict] | McpError]:
        """The tools of these servers (default: all; started at once), or the error that kept one from answering."""
        names = list(self.servers) if names is None else names

        async def every():
            found = await asyncio.gather(*(self._session(name).list_tools() for name in names), return_exceptions=True)
            return dict(zip(names, found))

        out = self._wait(every(), limit=self.startup_timeout_s * 2 + CLOSE_WAIT_S)
        for name, value in out.items():
            if isinstance(value, BaseException) and not isinstance(value, McpError):
                out[name] = ServerUnavailable(name, self.servers[name].describe(), describe(value))
        return out

    def call(self, server: str, tool: str, args: dict[str, Any], cancelled: Callable[[], bool] = lambda: False) -> dict:
        """Call one tool and return its result; raises an McpError saying what went wrong (the server's own
        error for a tool error). A node cancelled meanwhile stops waiting (the call is cancelled)."""
        return self._wait(self._session(server).call(tool, args, self.call_timeout_s), cancelled=cancelled,
                          limit=self.startup_timeout_s * 2 + self.call_timeout_s + CLOSE_WAIT_S)

    def close(self) -> None:
        """End every session (a stdio server's process is stopped) and the loop's thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None:
            return
        with self._lock:
            sessions = list(self._sessions.values())
        try:
            asyncio.run_coroutine_threadsafe(_close_all(sessions), loop).result(timeout=CLOSE_WAIT_S * 2)
        except (FutureTimeout, RuntimeError):
            pass  # a server that will not stop: the loop goes anyway, the SDK's process cleanup with it
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=CLOSE_WAIT_S)

    # --- the loop's thread ----------------------------------------------------------------------

    def _session(self, name: str) -> _Session:
        with self._lock:  # worker threads ask at once: one session per server all the same
            if name not in self._sessions:
                self._sessions[name] = _Session(self.servers[name], self._base_dir, self.startup_timeout_s,
                                                lambda tools, name=name: self._listed(name, tools))
            return self._sessions[name]

    def _listed(self, name: str, tools: list[dict]) -> None:
        if self.on_tools is not None:
            try:
                self.on_tools(name, tools)
            except Exception as exc:  # the catalogue keeps what it had; the call goes on
                import logging

                logging.getLogger("swarm.mcp").warning("could not take in the tools MCP server %r listed: %s", name, exc)

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise McpError("the MCP client was closed (the engine is shutting down); nothing more is called")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="swarm-mcp", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _wait(self, coro, limit: float, cancelled: Callable[[], bool] = lambda: False):
        """Run a coroutine on the loop and wait for it here; it bounds itself, `limit` only guards against a hang."""
        try:
            loop = self._start_loop()
        except McpError:
            coro.close()
            raise
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        waited = 0.0
        while True:
            try:
                return future.result(timeout=0.1)
            except FutureTimeout:
                waited += 0.1
                if cancelled():
                    future.cancel()
                    from swarm.errors import NodeCancelled

                    raise NodeCancelled("the node was cancelled during an MCP call") from None
                if waited > limit:
                    future.cancel()
                    raise McpError(f"an MCP request got no answer within {limit:g} s; check the server") from None
            except FutureCancelled:
                raise McpError("the MCP call was cancelled (the engine is shutting down)") from None


class _Session:
    """One server's connection: an owner task holds the SDK's `Client` open until told to stop or the server goes."""

    def __init__(self, server: McpServer, base_dir: Path, startup_timeout_s: float,
                 listed: Callable[[list[dict]], None] = lambda tools: None):
        self.server = server
        self.listed = listed
        self.base_dir = base_dir
        self.startup_timeout_s = startup_timeout_s
        self.client = None
        self.owner: asyncio.Task | None = None
        self.stop: asyncio.Event | None = None
        self.ended: asyncio.Event | None = None
        self.death: BaseException | None = None
        self.errlog = None
        self.said_from = 0  # where in its stderr the server's words about the current start or call begin
        self.lock: asyncio.Lock | None = None

    async def list_tools(self) -> list[dict]:
        client = await self.ready()
        try:
            return await self._listing(client)
        except (asyncio.TimeoutError, TimeoutError):
            raise ServerUnavailable(self.server.name, self.server.describe(),
                                    f"it did not list its tools within {self.startup_timeout_s:g} s") from None
        except McpError:
            raise
        except Exception as exc:
            self._broken()
            raise ServerUnavailable(self.server.name, self.server.describe(), f"listing its tools failed: {describe(exc)}") from exc

    async def _listing(self, client) -> list[dict]:
        """Every tool the server lists now (page by page), told to `listed`."""
        tools, cursor = [], None
        while True:
            page = await asyncio.wait_for(client.list_tools(cursor=cursor, cache_mode="refresh"), self.startup_timeout_s)
            tools += [{"name": t.name, "description": t.description or "", "input_schema": dict(t.input_schema or {})}
                      for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                self.listed(tools)
                return tools

    async def call(self, tool: str, args: dict, timeout: float) -> dict:
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        client = await self.ready(check=True)
        self.said_from = self._stderr_size()  # what the server prints from here on is about this call
        call = asyncio.ensure_future(client.call_tool(tool, args))
        gone = asyncio.ensure_future(self.ended.wait())
        try:
            done, _ = await asyncio.wait({call, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the node was cancelled (or timed out): the server is told to stop too
            call.cancel()
            raise
        finally:
            gone.cancel()
        if call not in done:
            call.cancel()
            if self.ended.is_set():
                raise ServerDied(self.server.name, tool, self._why_gone())
            raise CallTimedOut(self.server.name, tool, timeout)
        try:
            result = call.result()
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._broken()
                raise ServerDied(self.server.name, tool, self._why_gone(exc)) from None
            raise ToolFailed(self.server.name, tool, exc.message) from None
        except asyncio.CancelledError:  # the transport's task group was torn down under the call
            self._broken()
            raise ServerDied(self.server.name, tool, self._why_gone()) from None
        except Exception as exc:
            self._broken()
            raise ServerDied(self.server.name, tool, self._why_gone(exc)) from exc
        return plain_result(result)

    # --- starting and stopping ----------------------------------------------------------------------

    async def ready(self, check: bool = False):
        """The open client; started now when there is none or its server went away. With `check` (before a
        call), the server is asked for its tools first: an open session whose server died while idle is started
        again instead of failing the call (the protocol has no ping any more), and the catalogue hears of
        tools that changed."""
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if self.client is not None and not self.ended.is_set() and check:
                try:
                    await self._listing(self.client)
                except Exception:
                    self._broken()
            if self.client is None or self.ended.is_set():
                await self._wait_ended()  # the last owner has left its client (and stopped its server)
                await self._start()
                if check:
                    try:
                        await self._listing(self.client)
                    except Exception as exc:
                        self._broken()
                        raise ServerUnavailable(self.server.name, self.server.describe(),
                                                f"it started but did not list its tools ({describe(exc)})") from None
            return self.client

    async def _start(self) -> None:
        self.stop, self.ended, self.death, self.client = asyncio.Event(), asyncio.Event(), None, None
        started = asyncio.get_running_loop().create_future()
        self.owner = asyncio.ensure_future(self._own(started, self.stop, self.ended))
        try:
            await asyncio.wait_for(asyncio.shield(started), self.startup_timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            self._broken()
            self.owner.cancel()  # still inside the SDK's start: leaving it stops what it started
            raise ServerUnavailable(self.server.name, self.server.describe(),
                                    f"it did not answer the MCP handshake within {self.startup_timeout_s:g} s"
                                    f"{self._stderr_said()}") from None
        except asyncio.CancelledError:  # the node was cancelled while its server started
            self._broken()
            self.owner.cancel()
            raise
        except BaseException as exc:
            raise ServerUnavailable(self.server.name, self.server.describe(),
                                    f"{describe(exc)}{self._stderr_said()}") from None

    async def _own(self, started: asyncio.Future, stop: asyncio.Event, ended: asyncio.Event) -> None:
        """Hold the SDK's client open (its context must be entered and left in one task) until stop or failure."""
        from mcp import Client

        client = None
        try:
            async with Client(self._target()) as client:
                self.client = client
                started.set_result(client)
                await stop.wait()
        except BaseException as exc:  # the transport failed (an HTTP server went away), or it never started
            if self.ended is ended:
                self.death = exc
            if not started.done():
                started.set_exception(exc if isinstance(exc, Exception) else ConnectionError(describe(exc)))
                started.exception()  # read here too: a start already given up on no longer waits for it
        finally:
            if self.client is client:
                self.client = None
            ended.set()

    def _target(self):
        """What the SDK connects to: a URL (streamable HTTP), or the command it starts (stdio)."""
        if self.server.url:
            return self.server.url
        from mcp import StdioServerParameters

        if self.errlog is not None:
            self.errlog.close()
        self.errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        self.said_from = 0
        cwd = self.server.cwd and str(_under(self.base_dir, self.server.cwd))
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(command=self.server.command, args=list(self.server.args),
                                       env=dict(self.server.env) or None, cwd=cwd or None)
        return stdio_client(params, errlog=self.errlog)  # its stderr goes to our file (quoted in errors), not our terminal

    def _broken(self) -> None:
        """The connection is no good: let the owner leave the client (the SDK stops a stdio server's processes)."""
        self.client = None
        if self.stop is not None:
            self.stop.set()

    async def _wait_ended(self) -> None:
        if self.ended is not None:
            try:
                await asyncio.wait_for(self.ended.wait(), CLOSE_WAIT_S)
            except (asyncio.TimeoutError, TimeoutError):
                pass

    async def close(self) -> None:
        self._broken()
        await self._wait_ended()
        if self.owner is not None and not self.owner.done():
            self.owner.cancel()  # stuck in the SDK's start: leaving it stops the server's process...
            await asyncio.wait({self.owner}, timeout=CLOSE_WAIT_S)  # ...which takes a moment: the loop stops after
        if self.errlog is not None:
            self.errlog.close()
            self.errlog = None

    # --- what to tell a person ---------------------------------------------------------------------

    def _why_gone(self, exc: BaseException | None = None) -> str:
        cause = exc if exc is not None else self.death
        why = describe(cause) if cause is not None else "the connection ended"
        if self.server.command:
            why = f"the server process ended: {why}"
        return why + self._stderr_said()

    def _stderr_size(self) -> int:
        if self.errlog is None:
            return 0
        try:
            self.errlog.flush()
            return self.errlog.seek(0, os.SEEK_END)
        except (OSError, ValueError):
            return 0

    def _stderr_said(self) -> str:
        """The end of a stdio server's stderr, where a Python server prints why it stopped."""
        if self.errlog is None:
            return ""
        try:
            size = self._stderr_size()
            self.errlog.seek(max(self.said_from, size - STDERR_TAIL_CHARS * 4))
            text = self.errlog.read()
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        tail = " | ".join(lines[-4:])[-STDERR_TAIL_CHARS:]
        return f"; its stderr ends: {tail}" if tail else ""


def _under(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


async def _close_all(sessions: list[_Session]) -> None:
    await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def describe(exc: BaseException) -> str:
    """One line for an exception, looking inside the exception groups anyio's task groups raise."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"the command was not found ({exc.filename or message})"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def plain_result(result) -> dict:
    """A CallToolResult as plain data: the text of its text blocks, its structured content, a summary of each block."""
    blocks, texts = [], []
    for block in result.content or []:
        kind = getattr(block, "type", "unknown")
        if kind == "text":
            texts.append(block.text)
            blocks.append({"type": "text", "text": block.text})
        elif kind in ("image", "audio"):
            blocks.append({"type": kind, "mime_type": block.mime_type, "bytes_base64": len(block.data)})
        elif kind == "resource_link":
            blocks.append({"type": kind, "uri": str(block.uri), "name": block.name})
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            if text is not None:
                texts.append(text)
            blocks.append({"type": kind, "uri": str(resource.uri), **({"text": text} if text is not None else {})})
        else:
            blocks.append({"type": kind})
    return {"is_error": bool(result.is_error), "text": "\n".join(texts), "structured": result.structured_content,
            "content": blocks}
