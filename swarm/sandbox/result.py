"""SandboxResult: what one execution in the sandbox gave back, and the names of the limits it can hit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The names `SandboxResult.limit` takes when the code hit a limit.
LIMITS = ("timeout", "cpu", "memory", "output", "file_size", "processes")


@dataclass
class SandboxResult:
    ok: bool
    output: Any  # value of the last expression: JSON-able as it is, anything else as its repr
    logs: str  # what the code printed, capped at [sandbox].output_chars
    error: str | None = None  # one line: the exception, or which limit was hit
    limit: str | None = None  # one of LIMITS, or None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
