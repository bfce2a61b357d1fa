"""Configuration: swarm.toml, then SWARM_* environment overrides, into typed settings."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from swarm.budgets import KEYS as BUDGET_KEYS
from swarm.budgets import budget_problem
from swarm.errors import ConfigError
from swarm.mcp.settings import McpSettings, servers_from
from swarm.mcp.settings import check as mcp_problems
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
    snapshot_every: int = 2000
    snapshots_dir: str = "snapshots"
    synchronous: str = "NORMAL"


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


def find_config_file(explicit: str | None = None, env: dict[str, str] | None = None) -> Path | None:
    """--config, then $SWARM_CONFIG, then ./swarm.toml; None means built-in defaults."""
    env = os.environ if env is None else env
    for candidate in (explicit, env.get("SWARM_CONFIG")):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                raise ConfigError(f"config file {p} does not exist; pass an existing swarm.toml or unset SWARM_CONFIG")
            return p
    local = Path.cwd() / "swarm.toml"
    return local if local.is_file() else None


def load_config(explicit: str | None = None, env: dict[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    path = find_config_file(explicit, env)
    raw: dict = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file or pass another with --config")
    cfg = Config(source=str(path) if path else "defaults", base_dir=path.parent.resolve() if path else Path.cwd())
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(
                f"{cfg.source}: `{section} = ...` is outside any section; "
                f"settings go under one of {', '.join(f'[{s}]' for s in SECTIONS)}"
            )
        if section not in SECTIONS:
            raise ConfigError(f"{cfg.source}: unknown section [{section}]; remove it, or use one of {', '.join(f'[{s}]' for s in SECTIONS)}")
        for key, value in values.items():
            _set(cfg, section, key, value, f"{cfg.source} [{section}].{key}", from_env=False)
    for var, (section, key) in ENV_SHORTCUTS.items():
        if env.get(var):
            _set(cfg, section, key, env[var], f"${var}", from_env=True)
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            var = f"SWARM_{section.upper()}_{f.name.upper()}"
            if env.get(var) is not None:
                _set(cfg, section, f.name, env[var], f"${var}", from_env=True)
    from swarm.local_model.timeouts import apply_cpu_model_defaults

    apply_cpu_model_defaults(cfg, _explicit(raw, env))
    _check(cfg)
    return cfg


def _explicit(raw: dict, env) -> set[tuple[str, str]]:
    """The (section, key) pairs swarm.toml or the environment set: the rest keep defaults."""
    keys = {(section, key) for section, values in raw.items() for key in values}
    keys |= {target for var, target in ENV_SHORTCUTS.items() if env.get(var)}
    return keys | {(section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
                   if env.get(f"SWARM_{section.upper()}_{f.name.upper()}") is not None}


def _set(cfg: Config, section: str, key: str, value, where: str, from_env: bool) -> None:
    target = getattr(cfg, section)
    fields = {f.name: f for f in dataclasses.fields(target)}
    if key not in fields:
        raise ConfigError(f"{where}: unknown setting; remove it, or use one of the keys of [{section}]: {', '.join(fields)}")
    fix = "fix or unset the environment variable" if from_env else "fix it in the file"
    if (section, key) == ("mcp", "servers"):  # a table of tables: swarm/mcp/settings.py checks each server
        return setattr(target, key, servers_from(value, where, from_env))
    setattr(target, key, _coerce(value, fields[key], where, from_env, fix))


# What each annotation of the settings dataclasses accepts, in words for error messages.
KINDS = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "str | None": "a string",
    "list[str]": "a list of strings",
    "dict[str, dict[str, float]]": 'a table of model -> {input = USD, output = USD}',
}


def _coerce(value, f: dataclasses.Field, where: str, from_env: bool, fix: str):
    """Check a value from swarm.toml against the field's type; parse one from the environment (always text)."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    wanted = KINDS.get(kind, kind)
    bad = ConfigError(f"{where}: expected {wanted}, got {value!r}; {fix}")
    if from_env:
        try:
            value = _parse_env(value, kind)
        except ValueError:
            raise bad from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):  # nan passes every bound check (all comparisons are false); inf means nothing
            raise ConfigError(f"{where}: expected a finite number, got {value!r}; {fix}")
        return float(value)
    if kind == "str | None":
        if value is not None and not isinstance(value, str):
            raise bad
        return value or None
    if kind == "str":
        if not isinstance(value, str):
            raise bad
        return value
    if kind == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return list(value)
    if kind.startswith("dict"):
        if not isinstance(value, dict) or not all(
            isinstance(v, dict) and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in v.values())
            for v in value.values()
        ):
            raise bad
        return {k: {n: float(x) for n, x in v.items()} for k, v in value.items()}
    return value


def _parse_env(text: str, kind: str):
    """Environment values are text: numbers as usual, true/false, lists comma-separated, tables as JSON."""
    if kind == "bool":
        flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.strip().lower() not in flags:
            raise ValueError(text)
        return flags[text.strip().lower()]
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "list[str]":
        return [v.strip() for v in text.split(",") if v.strip()]
    if kind.startswith("dict"):
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(str(exc)) from None
    return text


# Numeric settings with a lower bound: (section, keys, the least allowed value).
AT_LEAST = (
    ("run", ("concurrency", "node_max_attempts", "samples"), 1),
    ("run", ("max_repairs",), 0),
    ("sandbox", ("cpu_s", "memory_mb", "file_size_mb", "open_files", "processes", "output_chars"), 1),
    ("toolsmith", ("max_attempts",), 1),
    ("retrieval", ("top_k",), 1),
    ("retrieval", ("examples_per_script",), 0),
    ("memory", ("top_k", "max_file_kb"), 1),
    ("daemon", ("max_concurrent_runs", "max_goal_bytes"), 1),
    ("daemon", ("settle_ms", "shutdown_timeout_s"), 0),
)
# Settings that take one of a few words: (section, key, the words).
ONE_OF = (
    ("store", "synchronous", SYNCHRONOUS),
    ("sandbox", "layer", ("process", "docker")),
    ("retrieval", "fusion", FUSIONS),
    ("telemetry", "exporter", EXPORTERS),
)


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check(cfg: Config) -> None:
    """Rules across values that a type alone does not catch."""
    where = "" if cfg.source == "defaults" else f"{cfg.source}: "
    try:
        dataclasses.replace(cfg.model)  # runs ModelSettings' own checks on the loaded values
    except ValueError as exc:
        raise ConfigError(where + str(exc)) from None
    problems = [(f"[{section}].{key} must be {least} or more (got {_shown(value)})", f"SWARM_{section.upper()}_{key.upper()}")
                for section, keys, least in AT_LEAST for key in keys
                if (value := getattr(getattr(cfg, section), key)) < least]
    for key in BUDGET_KEYS:  # NaN or inf would pass every comparison below and be stored as null
        if problem := budget_problem(key, value := getattr(cfg.run, key)):
            problems.append((f"[run].{key} must be {problem} (got {_shown(value)})", f"SWARM_RUN_{key.upper()}"))
    for section, key in (("run", "node_timeout_s"), ("sandbox", "timeout_s")):
        if (value := getattr(getattr(cfg, section), key)) <= 0:
            problems.append((f"[{section}].{key} must be more than 0 (got {value:g})", f"SWARM_{section.upper()}_{key.upper()}"))
    for section, key, allowed in ONE_OF:
        value = getattr(getattr(cfg, section), key)
        if (value.upper() if key == "synchronous" else value) not in allowed:
            problems.append((f"[{section}].{key} must be one of {', '.join(allowed)} (got {value!r})",
                             f"SWARM_{section.upper()}_{key.upper()}"))
    if not cfg.approvals.ask_human:
        problems.append(("[approvals].ask_human cannot be false: an ask_human node exists to ask a person "
                         "(to go on without people, use a script that does not ask)", "SWARM_APPROVALS_ASK_HUMAN"))
    for key in ("cost_over_usd", "timeout_s"):
        if getattr(cfg.approvals, key) < 0:
            problems.append((f"[approvals].{key} must be 0 (off) or more (got {getattr(cfg.approvals, key):g})",
                             f"SWARM_APPROVALS_{key.upper()}"))
    problems += mcp_problems(cfg.mcp)
    if not 0 <= cfg.ui.port <= 65535:
        problems.append((f"[ui].port must be 0..65535 (got {cfg.ui.port})", "SWARM_UI_PORT"))
    if problems:
        problem, var = problems[0]
        raise ConfigError(f"{where}{problem}; fix it in swarm.toml or ${var}")
