"""Runs Python that a model wrote, with smolagents' LocalPythonExecutor (the AST layer).

This restricts imports and counts operations; it is not a security boundary.
The process-level sandbox replaces the call site in a later version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from smolagents.local_python_executor import LocalPythonExecutor


@dataclass
class PythonResult:
    ok: bool
    output: Any
    logs: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_code(
    code: str,
    authorized_imports: list[str],
    tools: dict[str, Callable] | None = None,
    max_output_chars: int = 20_000,
) -> PythonResult:
    """Execute `code` in a fresh executor; the value of its last expression is the output."""
    executor = LocalPythonExecutor(
        additional_authorized_imports=list(authorized_imports),
        max_print_outputs_length=max_output_chars,
        additional_functions=dict(tools or {}),
        timeout_seconds=None,
    )
    executor.send_tools({})
    try:
        result = executor(code)
    except Exception as exc:  # the executor reports every failure of the code as an exception
        logs = getattr(executor, "state", {}).get("_print_outputs", "")
        return PythonResult(False, None, str(logs)[:max_output_chars], f"{type(exc).__name__}: {exc}")
    return PythonResult(True, _plain(result.output), str(result.logs)[:max_output_chars])


def _plain(value: Any) -> Any:
    """Keep JSON-able values as they are; anything else becomes its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)
