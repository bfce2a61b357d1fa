"""Configuration: swarm.toml, then SWARM_* environment overrides, into typed settings."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from swarm.budgets import KEYS as BUDGET_KEYS
from swarm.budgets import budget_problem
from swarm.errors import ConfigError
from swarm.mcp.settings import McpSettings, servers_from  # noqa: F401 — McpSettings: taken from here too
from swarm.mcp.settings import check as mcp_problems
from swarm.model.settings import ModelSettings  # noqa: F401
from swarm.settings import (  # noqa: F401 — the settings' types and tables, taken from here too
    REPO_ROOT,
    DEMO_SCRIPT,
    RunSettings,
    StoreSettings,
    ORDINARY_IMPORTS,
    PythonSettings,
    SandboxSettings,
    ToolsmithSettings,
    RetrievalSettings,
    MemorySettings,
    TelemetrySettings,
    ApprovalSettings,
    DaemonSettings,
    UISettings,
    Config,
    SYNCHRONOUS,
    FUSIONS,
    EXPORTERS,
    SECTIONS,
    ENV_SHORTCUTS,
    BOUNDS,
    ONE_OF,
)


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
    """swarm.toml (see find_config_file), then SWARM_<SECTION>_<KEY> and the shortcuts, into checked settings.

    pydantic-settings reads and checks the values (swarm/config_model.py, imported here and not before:
    importing this module stays cheap), unless each is plainly right as it is (swarm/config_plain.py); a
    mistake is one ConfigError saying where it is and what to write.
    """
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
    from swarm.config_plain import origin, plain_values

    if (plain := plain_values(raw, env)) is None:  # something to convert or refuse: pydantic-settings looks
        from swarm.config_model import read

        plain = read(raw, env, cfg.source)
    values, explicit = plain
    where = "" if cfg.source == "defaults" else f"{cfg.source}: "
    if (servers := values["mcp"]["servers"]) is not None:  # a table of tables: swarm/mcp/settings.py checks each server
        values["mcp"]["servers"] = servers_from(servers, *origin("mcp", "servers", env, cfg.source))
    for section, cls in SECTIONS.items():
        try:
            setattr(cfg, section, cls(**values[section]))  # ModelSettings checks its own values here
        except ValueError as exc:
            raise ConfigError(where + str(exc)) from None
    from swarm.local_model.timeouts import apply_cpu_model_defaults

    apply_cpu_model_defaults(cfg, explicit)
    _check(cfg)
    return cfg


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check(cfg: Config) -> None:
    """Rules a bound alone does not state."""
    where = "" if cfg.source == "defaults" else f"{cfg.source}: "
    problems = []
    for key in BUDGET_KEYS:  # shared with the budget options of `swarm run` (swarm/budgets.py)
        if problem := budget_problem(key, value := getattr(cfg.run, key)):
            problems.append((f"[run].{key} must be {problem} (got {_shown(value)})", f"SWARM_RUN_{key.upper()}"))
    if not cfg.approvals.ask_human:
        problems.append(("[approvals].ask_human cannot be false: an ask_human node exists to ask a person "
                         "(to go on without people, use a script that does not ask)", "SWARM_APPROVALS_ASK_HUMAN"))
    problems += mcp_problems(cfg.mcp)
    if problems:
        problem, var = problems[0]
        raise ConfigError(f"{where}{problem}; fix it in swarm.toml or ${var}")
