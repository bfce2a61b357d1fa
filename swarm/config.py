"""Configuration: swarm.toml, then SWARM_* environment overrides, into typed settings."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from swarm.errors import ConfigError
from swarm.model.settings import ModelSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_SCRIPT = REPO_ROOT / "examples" / "demo_model.jsonl"


@dataclass
class RunSettings:
    concurrency: int = 8
    node_timeout_s: float = 300.0
    node_max_attempts: int = 2
    max_nodes: int = 500
    max_depth: int = 8
    max_tokens: int = 2_000_000
    max_cost_usd: float = 5.0
    max_wall_s: float = 3600.0


@dataclass
class StoreSettings:
    path: str = "swarm.db"
    snapshot_every: int = 2000
    snapshots_dir: str = "snapshots"
    synchronous: str = "NORMAL"


@dataclass
class PythonSettings:
    authorized_imports: list[str] = field(
        default_factory=lambda: ["math", "statistics", "random", "datetime", "json", "re", "collections", "itertools"]
    )
    max_operations: int = 1_000_000


@dataclass
class Config:
    model: ModelSettings = field(default_factory=ModelSettings)
    run: RunSettings = field(default_factory=RunSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    python: PythonSettings = field(default_factory=PythonSettings)
    source: str = "defaults"
    base_dir: Path = field(default_factory=Path.cwd)

    def path(self, value: str) -> Path:
        """A path from the configuration, relative to the folder of swarm.toml."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def endpoint_configured(self) -> bool:
        return bool(self.model.base_url) or self.model.model.startswith("scripted:")


SECTIONS = {"model": ModelSettings, "run": RunSettings, "store": StoreSettings, "python": PythonSettings}

# Shortcuts people already have in their environment, and what they set.
ENV_SHORTCUTS = {
    "OPENAI_BASE_URL": ("model", "base_url"),
    "SWARM_MODEL": ("model", "model"),
    "SWARM_STORE": ("store", "path"),
}


def find_config_file(explicit: str | None = None) -> Path | None:
    """--config, then $SWARM_CONFIG, then ./swarm.toml; None means built-in defaults."""
    for candidate in (explicit, os.environ.get("SWARM_CONFIG")):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                raise ConfigError(f"config file {p} does not exist; pass an existing swarm.toml or unset SWARM_CONFIG")
            return p
    local = Path.cwd() / "swarm.toml"
    return local if local.is_file() else None


def load_config(explicit: str | None = None, env: dict[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    path = find_config_file(explicit)
    raw: dict = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file or pass another with --config")
    cfg = Config(source=str(path) if path else "defaults", base_dir=path.parent.resolve() if path else Path.cwd())
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ConfigError(f"{cfg.source}: unknown section [{section}]; known sections: {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{cfg.source}: [{section}] must be a table")
        for key, value in values.items():
            _set(cfg, section, key, value, f"{cfg.source} [{section}].{key}")
    for var, (section, key) in ENV_SHORTCUTS.items():
        if env.get(var):
            _set(cfg, section, key, env[var], f"${var}")
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            var = f"SWARM_{section.upper()}_{f.name.upper()}"
            if env.get(var) is not None:
                _set(cfg, section, f.name, env[var], f"${var}")
    return cfg


def _set(cfg: Config, section: str, key: str, value, where: str) -> None:
    target = getattr(cfg, section)
    fields = {f.name: f for f in dataclasses.fields(target)}
    if key not in fields:
        raise ConfigError(f"{where}: unknown setting; known keys of [{section}]: {', '.join(fields)}")
    current = getattr(target, key)
    setattr(target, key, _coerce(value, current, fields[key], where))


def _coerce(value, current, f: dataclasses.Field, where: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if isinstance(value, str) and "dict" in kind:
            import json

            return json.loads(value)
        if isinstance(value, str) and "list" in kind:
            return [v.strip() for v in value.split(",") if v.strip()]
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError("a boolean is not an integer")
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if "str" in kind:
            return None if value in ("", None) and "None" in kind else str(value)
        return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {value!r} is not a valid {kind} ({exc})") from None
