"""The Docker layer, chosen with [sandbox].layer = "docker": not built yet, so it refuses, never falls back."""

from __future__ import annotations

from swarm.errors import SandboxUnavailable


class DockerLayer:
    def __init__(self, settings):
        raise SandboxUnavailable(
            'the sandbox\'s docker layer is not available in this version; set [sandbox].layer = "process" '
            "in swarm.toml (bubblewrap) to run code"
        )
