"""Which model endpoint this swarm talks to: a configured URL, or a scripted model started in-process."""

from __future__ import annotations

import threading
from pathlib import Path

from swarm.config import Config


class ModelEndpoint:
    """Builds the model client on first use; `scripted:PATH` starts the scripted server first."""

    def __init__(self, config: Config, client=None):
        self.config = config
        self._client = client  # a ready client (anything with `complete`) skips the configured endpoint
        self._server = None
        self._lock = threading.Lock()

    @property
    def scripted_path(self) -> Path | None:
        name = self.config.model.model
        return self.config.path(name.split(":", 1)[1]) if name.startswith("scripted:") else None

    def describe(self, model: str | None = None) -> str:
        """What the run records as its model; `model` names another model than [model].model."""
        path = self.scripted_path
        if path is not None:
            return f"scripted:{path}"  # `swarm resume` reads this back to restart the same script
        return f"{model or self.config.model.model} at {self.config.model.base_url or '(no endpoint configured)'}"

    def client(self):
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self):
        from dataclasses import replace

        from swarm.model import ModelClient, NoModelConfigured

        settings = self.config.model
        path = self.scripted_path
        if path is not None:
            from swarm.testing import ScriptedModelServer

            self._server = ScriptedModelServer(path).start()
            settings = replace(settings, base_url=self._server.url, model="scripted")
        elif not settings.base_url:
            raise NoModelConfigured(
                "no model endpoint is configured; set [model].base_url in swarm.toml or OPENAI_BASE_URL "
                "(e.g. http://localhost:11434/v1 for Ollama), or SWARM_MODEL=scripted:FILE.jsonl for a scripted model"
            )
        return ModelClient(settings)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
