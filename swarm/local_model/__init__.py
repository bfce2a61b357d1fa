"""A local model: a GGUF file served by llama.cpp's own OpenAI-compatible server, on loopback, with no API key.

`[model].gguf = PATH` makes swarm start that server in a child process (`swarm.local_model.serve`,
through the xllamacpp package: `pip install -e .[local]`), talk to it like any endpoint, share it
between the runs of the process, and stop it when the process ends — however it ends. `swarm model
serve` runs the same server in the foreground for other tools; `.ci/setup-local-model` fetches the
runtime and a model (`swarm.local_model.download`).
"""

from swarm.local_model.errors import (
    ChecksumMismatch,
    LocalModelError,
    ModelDownloadFailed,
    ModelFileMissing,
    NotAModel,
    RuntimeMissing,
    ServerFailed,
)


def __getattr__(name: str):
    # The server module pulls in subprocess and urllib: only load it when a local model is used
    # (load_config imports this package for its timeouts on every start).
    if name in ("LocalServer", "ServerOptions", "acquire", "release"):
        from swarm.local_model import server

        return getattr(server, name)
    raise AttributeError(name)


__all__ = [
    "ChecksumMismatch",
    "LocalModelError",
    "LocalServer",
    "ModelDownloadFailed",
    "ModelFileMissing",
    "NotAModel",
    "RuntimeMissing",
    "ServerFailed",
    "ServerOptions",
    "acquire",
    "release",
]
