"""Which model endpoint this swarm talks to: a configured URL, a local GGUF model served by llama.cpp in a
child process ([model].gguf), or a scripted model started in-process."""

from __future__ import annotations

import threading
from pathlib import Path

from swarm.config import Config


class ModelEndpoint:
    """Builds the model client on first use; `scripted:PATH` starts the scripted server first, [model].gguf
    the local model's server (shared with the other users in this process, stopped with the last)."""

    def __init__(self, config: Config, client=None, store=None):
        """`store`: a store whose rate buckets hold [model].rate_per_s for every process on it (None: this
        process's own bucket)."""
        self.config = config
        self.store = store
        self._client = client  # a ready client (anything with `complete`) skips the configured endpoint
        self._server = None
        self._local = None  # the local model's server, while this endpoint uses it
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None
        if client is None and config.model.gguf and self.scripted_path is None:
            from swarm.local_model.server import ServerOptions, check

            check(ServerOptions.from_config(config))  # a missing file or runtime: said now, not by every run

    @property
    def scripted_path(self) -> Path | None:
        name = self.config.model.model
        return self.config.path(name.split(":", 1)[1]) if name.startswith("scripted:") else None

    def describe(self, model: str | None = None) -> str:
        """What the run records as its model; `model` names another model than [model].model."""
        path = self.scripted_path
        if path is not None:
            return f"scripted:{path}"  # `swarm resume` reads this back to restart the same script
        if self.config.model.gguf:
            gguf = self.config.path(self.config.model.gguf).resolve()
            return f"{gguf.name.removesuffix('.gguf')} at local llama.cpp ({gguf})"
        return f"{model or self.config.model.model} at {self.config.model.base_url or '(no endpoint configured)'}"

    def client(self):
        client = self._client
        if client is not None:  # started: every node's call comes here, so no lock once it is there
            return client
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def warm(self) -> None:
        """Start the client in a background thread, off the critical path: importing the openai package
        alone takes most of a second, and a scripted model's server starts too, so the first node that asks
        the model would wait for it all. A failure (no endpoint configured...) is left to that node to say.
        A local model's server ([model].gguf) is not started here: only the client's code is loaded."""
        with self._lock:
            if self._client is not None or self._warming is not None:
                return
            self._warming = threading.Thread(target=self._warm, name="swarm-model-start", daemon=True)
            self._warming.start()

    def _warm(self) -> None:
        try:
            if self.config.model.gguf and self.scripted_path is None:
                import swarm.model.client  # noqa: F401
            else:
                self.client()
        except Exception:  # said again, with what to do, by the first call that needs the client
            pass

    def _build(self):
        from dataclasses import replace

        from swarm.model import ModelClient, NoModelConfigured

        settings = self.config.model
        path = self.scripted_path
        if path is not None:
            from swarm.testing import ScriptedModelServer

            self._server = ScriptedModelServer(path).start()
            settings = replace(settings, base_url=self._server.url, model="scripted")
        elif settings.gguf:
            from swarm.local_model.server import ServerOptions, acquire

            self._local = acquire(ServerOptions.from_config(self.config))
            settings = replace(settings, base_url=self._local.url, model=self._local.options.alias,
                               api_key_env="")  # no key: the user's API key never goes to it
        elif not settings.base_url:
            raise NoModelConfigured(
                "no model endpoint is configured; set [model].base_url in swarm.toml or OPENAI_BASE_URL "
                "(e.g. http://localhost:11434/v1 for Ollama), or SWARM_MODEL=scripted:FILE.jsonl for a scripted model"
            )
        limiter = None
        if self.store is not None and settings.rate_per_s > 0:
            from swarm.model.ratelimit import SharedRateLimiter

            limiter = SharedRateLimiter(self.store.rate_buckets, self.rate_key(), settings.rate_per_s)
        return ModelClient(settings, limiter=limiter)

    def rate_key(self) -> str:
        """The name of this endpoint's bucket in the store: the same for every process that calls it."""
        path = self.scripted_path
        if path is not None:
            return f"scripted:{path.resolve()}"
        if self.config.model.gguf:
            return f"gguf:{self.config.path(self.config.model.gguf).resolve()}"
        return self.config.model.base_url.rstrip("/")

    def close(self) -> None:
        if self._warming is not None:
            self._warming.join()  # a server it is starting must not outlive this endpoint
        if self._local is not None:
            from swarm.local_model.server import release

            release(self._local)
            self._local = None
        if self._server is not None:
            self._server.stop()
            self._server = None
