"""Who may use the web UI: a per-install token, same-origin requests only, loopback unless a token is set.

- The token: `[ui].token` when set, else a random one made on first use and kept in
  `.swarm-ui-token` next to the store file, created readable by its owner only (0600).
- Every API request carries it (header `X-Swarm-Token`, `Authorization: Bearer`, or for the
  page's event stream `?token=`); a request that changes state (POST) must use the header.
- A request whose Origin or Referer is not the server's own origin is refused, and so is a
  Host that is not the loopback address the server listens on (DNS rebinding).
- Listening on any other address than loopback needs `[ui].token` set explicitly.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from swarm.errors import SwarmError

TOKEN_FILE = ".swarm-ui-token"
MIN_EXPLICIT_TOKEN = 32
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


class UIError(SwarmError):
    """The web UI cannot start as configured."""

    exit_code = 2


class Refused(Exception):
    """A request the UI will not serve: HTTP status and a message saying why and what to do."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_file_token(folder: Path) -> str:
    """The install's token from `folder/.swarm-ui-token`, made (0600) on first use."""
    path = Path(folder) / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            raise UIError(f"{path} is empty; delete it and `swarm ui` makes a new token") from None
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def server_token(host: str, explicit: str | None, store_folder: Path) -> str:
    """The token this server checks; refuses a non-loopback host without an explicit, long token."""
    if explicit is not None and len(explicit) < MIN_EXPLICIT_TOKEN:
        raise UIError(f"[ui].token is {len(explicit)} characters; use at least {MIN_EXPLICIT_TOKEN} random ones "
                      f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if not is_loopback(host) and explicit is None:
        raise UIError(f"`swarm ui --host {host}` would let other machines reach the UI, and the token is not set: "
                      "set [ui].token in swarm.toml (or $SWARM_UI_TOKEN) to a long random secret, or use --host 127.0.0.1")
    return explicit if explicit is not None else token_file_token(store_folder)


class Gate:
    """Checks one request's token, Host and Origin/Referer against the server's own address."""

    def __init__(self, token: str, host: str, port: int):
        self.token = token
        self.loopback = is_loopback(host)
        self.port = port
        bound = host if ":" not in host.strip("[]") else f"[{host.strip('[]')}]"
        names = LOOPBACK_NAMES if self.loopback else (bound,)
        self.hosts = {f"{name}:{port}" for name in names}

    def check(self, method: str, path: str, headers: Mapping[str, str], query_token: str | None = None) -> None:
        """Raise Refused unless this request may be served. Static files need no token."""
        host = headers.get("Host", "")
        if self.loopback and host not in self.hosts:
            raise Refused(403, f"Host {host!r} is not this server's address; open the UI at http://127.0.0.1:{self.port}/")
        own = f"http://{host}"
        origin = headers.get("Origin")
        if origin is not None and origin != own:
            raise Refused(403, f"requests from {origin} are refused; the UI only answers its own page ({own})")
        referer = headers.get("Referer")
        if origin is None and referer is not None and urlsplit(referer)._replace(path="", query="", fragment="").geturl() != own:
            raise Refused(403, "requests referred by another site are refused; the UI only answers its own page")
        if not (path.startswith("/api/") or path == "/metrics"):
            return
        given = headers.get("X-Swarm-Token")
        bearer = headers.get("Authorization", "")
        if given is None and bearer.startswith("Bearer "):
            given = bearer[len("Bearer "):]
        if given is None and method == "GET":
            given = query_token
        if given is None:
            what = "changes state and needs" if method != "GET" else "needs"
            raise Refused(401, f"this request {what} the UI token in the X-Swarm-Token header; "
                               "open the page from the URL `swarm ui` prints")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise Refused(401, "wrong UI token; open the page from the URL `swarm ui` prints")
