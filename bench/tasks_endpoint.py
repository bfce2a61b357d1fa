"""The endpoint the task benchmark uses: a URL as given, or a .gguf file served for the run by the swarm's own
local-model server (`swarm.local_model`: llama.cpp on a free loopback port, started as `[model].gguf`
would start it, stopped when the benchmark ends however it ends).
"""

from __future__ import annotations

import contextlib
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator


class EndpointError(RuntimeError):
    """No model could be reached; the message says what to do."""


def served_model(base_url: str, timeout_s: float = 30.0) -> str:
    """The name of the model an OpenAI-compatible endpoint serves (the first of GET /models)."""
    url = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            listing = json.load(response)
        return listing["data"][0]["id"]
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise EndpointError(f"no model listing at {url} ({exc}); start an OpenAI-compatible server there "
                            "(its base URL usually ends in /v1) or pass --model FILE.gguf") from None


@contextlib.contextmanager
def endpoint(model: str) -> Iterator[str]:
    """The base URL to use for `--model`: the URL itself, or the swarm's local server started on a .gguf file."""
    if not model.endswith(".gguf"):
        if not model.startswith(("http://", "https://")):
            raise EndpointError(f"--model {model!r} is neither a URL (http://HOST:PORT/v1) nor a .gguf file")
        yield model.rstrip("/")
        return
    from swarm.config import load_config
    from swarm.local_model import ServerOptions, acquire, release

    cfg = load_config()
    cfg.model.gguf = str(Path(model).expanduser().resolve())
    server = acquire(ServerOptions.from_config(cfg))  # raises ModelFileMissing, NotAModel, RuntimeMissing: clear errors
    try:
        print(f"tasks: serving {Path(model).name} at {server.url} (pid {server.pid}, loaded in {server.load_s:.1f} s)",
              file=sys.stderr, flush=True)
        yield server.url
    finally:
        release(server)
