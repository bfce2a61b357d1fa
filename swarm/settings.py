"""The settings: one dataclass per section of swarm.toml, with the tables that say what each accepts.

Cheap to import (node scripts and `swarm --help` read these types); swarm/config.py loads and checks a
configuration into them, and swarm/config_model.py turns them into pydantic models for that check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swarm.mcp.settings import McpSettings
from swarm.model.settings import ModelSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_SCRIPT = REPO_ROOT / "examples" / "demo_model.jsonl"


@dataclass
class RunSettings:
    concurrency: int = 8
    node_timeout_s: float = 300.0
    node_max_attempts: int = 2
    max_repairs: int = 3
    samples: int = 4
    root_script: str = "solve"
    max_nodes: int = 500
    max_depth: int = 8
    max_tokens: int = 2_000_000
    max_cost_usd: float = 5.0
    max_wall_s: float = 3600.0
    workspaces_dir: str = "workspaces"


@dataclass
class StoreSettings:
    path: str = "swarm.db"
    url: str = ""
    snapshot_every: int = 2000
    snapshots_dir: str = "snapshots"
    synchronous: str = "NORMAL"
    lease_ttl_s: float = 10.0
    wakeup_poll_s: float = 5.0


# The standard-library modules ordinary code needs and that reach nothing outside the process
# (no files, network, processes or interpreter internals); the sandbox's process layer is the boundary.
ORDINARY_IMPORTS = ("math", "cmath", "statistics", "random", "fractions", "decimal", "numbers", "datetime", "calendar", "time", "json", "re", "string", "textwrap", "unicodedata", "collections", "itertools", "functools", "operator", "heapq", "bisect", "array", "copy", "dataclasses", "enum", "typing", "hashlib", "base64", "binascii", "zlib", "struct", "csv", "difflib", "pprint", "uuid")


@dataclass
class PythonSettings:
    authorized_imports: list[str] = field(
        default_factory=lambda: list(ORDINARY_IMPORTS)
    )


@dataclass
class SandboxSettings:
    layer: str = "process"
    pool_size: int = 2
    timeout_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    file_size_mb: int = 16
    open_files: int = 64
    processes: int = 64
    output_chars: int = 100_000
    bwrap: str = "bwrap"
    template: bool = True
    docker_image: str = "swarm-sandbox:local"
    docker_cpus: float = 1.0


@dataclass
class ToolsmithSettings:
    folder: str = "node_scripts/generated"
    max_attempts: int = 3
    plugins_folder: str = ""


@dataclass
class RetrievalSettings:
    embed_url: str = ""
    embed_model: str = "nomic-embed-text"
    embed_api_key_env: str = "OPENAI_API_KEY"
    fusion: str = "mix"
    bm25_weight: float = 0.1
    top_k: int = 10
    examples_per_script: int = 20


@dataclass
class MemorySettings:
    keep_run_results: bool = True
    max_file_kb: int = 1024
    top_k: int = 5
    min_score: float = 0.35


@dataclass
class TelemetrySettings:
    enabled: bool = False
    exporter: str = "otlp"
    endpoint: str = "http://localhost:4318/v1/traces"
    service_name: str = "swarm"


@dataclass
class ApprovalSettings:
    new_scripts: bool = False
    sandbox_writes: bool = False
    non_default_imports: bool = False
    cost_over_usd: float = 0.0
    ask_human: bool = True
    timeout_s: float = 0.0


@dataclass
class DaemonSettings:
    folder: str = "goals"
    max_concurrent_runs: int = 4
    max_goal_bytes: int = 65536
    settle_ms: int = 250
    pidfile: str = ""
    log_file: str = ""
    shutdown_timeout_s: float = 30.0


@dataclass
class UISettings:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None


@dataclass
class Config:
    model: ModelSettings = field(default_factory=ModelSettings)
    run: RunSettings = field(default_factory=RunSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    python: PythonSettings = field(default_factory=PythonSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    toolsmith: ToolsmithSettings = field(default_factory=ToolsmithSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    ui: UISettings = field(default_factory=UISettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    source: str = "defaults"
    base_dir: Path = field(default_factory=Path.cwd)

    def path(self, value: str) -> Path:
        """A path from the configuration, relative to the folder of swarm.toml."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def endpoint_configured(self) -> bool:
        return bool(self.model.base_url) or bool(self.model.gguf) or self.model.model.startswith("scripted:")


SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA", "OFF")
FUSIONS = ("mix", "rrf", "dense", "bm25")
EXPORTERS = ("otlp", "console", "none")

SECTIONS = {"model": ModelSettings, "run": RunSettings, "store": StoreSettings, "python": PythonSettings,
            "sandbox": SandboxSettings, "toolsmith": ToolsmithSettings, "retrieval": RetrievalSettings,
            "memory": MemorySettings, "telemetry": TelemetrySettings, "approvals": ApprovalSettings,
            "daemon": DaemonSettings, "ui": UISettings, "mcp": McpSettings}

# Shortcuts people already have in their environment, and what they set.
ENV_SHORTCUTS = {
    "OPENAI_BASE_URL": ("model", "base_url"),
    "SWARM_MODEL": ("model", "model"),
    "SWARM_STORE": ("store", "path"),
}


# Bounds of numeric settings, as pydantic's Field takes them: (section, keys, bounds). The loader refuses a value
# outside them, and the JSON Schema of swarm.toml (swarm/config_schema.py) carries them.
BOUNDS = (
    ("run", ("concurrency", "node_max_attempts", "samples"), {"ge": 1}),
    ("run", ("max_repairs",), {"ge": 0}),
    ("run", ("node_timeout_s",), {"gt": 0}),
    ("sandbox", ("cpu_s", "memory_mb", "file_size_mb", "open_files", "processes", "output_chars"), {"ge": 1}),
    ("sandbox", ("timeout_s",), {"gt": 0}),
    ("toolsmith", ("max_attempts",), {"ge": 1}),
    ("retrieval", ("top_k",), {"ge": 1}),
    ("retrieval", ("examples_per_script",), {"ge": 0}),
    ("memory", ("top_k", "max_file_kb"), {"ge": 1}),
    ("approvals", ("cost_over_usd", "timeout_s"), {"ge": 0}),  # 0 = off
    ("daemon", ("max_concurrent_runs", "max_goal_bytes"), {"ge": 1}),
    ("daemon", ("settle_ms", "shutdown_timeout_s"), {"ge": 0}),
    ("store", ("lease_ttl_s", "wakeup_poll_s"), {"gt": 0}),
    ("ui", ("port",), {"ge": 0, "le": 65535}),
)
# Settings that take one of a few words: (section, key, the words).
ONE_OF = (
    ("store", "synchronous", SYNCHRONOUS),
    ("sandbox", "layer", ("process", "docker")),
    ("retrieval", "fusion", FUSIONS),
    ("telemetry", "exporter", EXPORTERS),
)
