"""The sandbox: one interface, `Sandbox(settings).run(code)`, over the isolation layer swarm.toml chooses.

Layers, inside out: the AST layer (smolagents' LocalPythonExecutor: import allowlist, readable
errors; not a boundary), the process layer (a bubblewrap process per execution with no network, a
read-only runtime, a scratch workspace, rlimits and a wall-clock kill; the boundary, on by default;
forked from a template that imported smolagents once, or a worker of its own), and optionally the
Docker layer. A layer that cannot run is an error, never a quiet step down.
"""

from __future__ import annotations

from typing import Callable, Iterable

from swarm.errors import SandboxUnavailable
from swarm.sandbox.result import LIMITS, SandboxResult

__all__ = ["Sandbox", "SandboxResult", "SandboxUnavailable", "LIMITS"]

LAYERS = ("process", "docker")


class Sandbox:
    """Runs untrusted Python in the configured layer; safe to call from many threads at once."""

    def __init__(self, settings, authorized_imports: Iterable[str] = (), pool_size: int | None = None):
        self.settings = settings
        self.authorized_imports = list(authorized_imports)
        if settings.layer == "process":
            from swarm.sandbox.process_layer import ProcessLayer

            self.layer = ProcessLayer(settings, settings.pool_size if pool_size is None else pool_size)
        elif settings.layer == "docker":
            from swarm.sandbox.docker_layer import DockerLayer

            self.layer = DockerLayer(settings, settings.pool_size if pool_size is None else pool_size)
        else:
            raise SandboxUnavailable(f"unknown [sandbox].layer {settings.layer!r}; use one of {', '.join(LAYERS)}")

    def run(
        self,
        code: str,
        *,
        imports: Iterable[str] | None = None,
        allow_imports: Iterable[str] = (),
        tools: dict[str, Callable] | None = None,
        timeout_s: float | None = None,
    ) -> SandboxResult:
        """Execute `code`; the value of its last expression is the output.

        `imports` replaces the configured import allowlist (e.g. to narrow it), `allow_imports`
        widens it for this one call. `tools` run in the host; the code calls them through proxies.
        """
        base = self.authorized_imports if imports is None else list(imports)
        request = {"code": code, "imports": sorted(set(base) | set(allow_imports)), "tools": sorted(tools or {})}
        return self.layer.run(request, dict(tools or {}), timeout_s or self.settings.timeout_s)

    def close(self) -> None:
        """Stop every worker; nothing the sandbox started is left running."""
        self.layer.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
