"""A configuration of plain values is read without pydantic, to the same values pydantic gives; anything else is
left to pydantic (swarm/config_plain.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from swarm.config_model import read
from swarm.config_plain import plain_values
from swarm.settings import SECTIONS
from timeouts import scaled

REPO = Path(__file__).resolve().parent.parent


def defaults() -> dict[str, dict]:
    """Every setting at its default, as swarm.toml would spell it (no table for a setting that defaults to None)."""
    out: dict[str, dict] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if value is not None:
                out.setdefault(section, {})[f.name] = value
    return out


PLAIN = [
    ({}, {}),
    (defaults(), {}),
    (tomllib.loads((REPO / "swarm.toml").read_text()), {}),
    (tomllib.loads((REPO / "swarm.toml").read_text()), {"SWARM_STORE": "/tmp/x.db", "SWARM_MODEL": "m", "OPENAI_BASE_URL": "http://h/v1"}),
    ({"run": {"concurrency": 3, "max_cost_usd": 0.5}, "store": {"synchronous": "FULL"}, "ui": {"token": "t", "port": 65535}},
     {"SWARM_RUN_ROOT_SCRIPT": "plan", "SWARM_LOG_LEVEL": "debug", "SWARM_UI_TOKEN": "abc"}),
    ({"python": {"authorized_imports": ["math"]}, "mcp": {"servers": {"t": {"command": "x"}}}}, {}),
]


@pytest.mark.parametrize("raw, env", PLAIN)
def test_plain_values_are_what_pydantic_gives(raw, env):
    plain = plain_values(raw, env)
    assert plain is not None
    assert plain == read(raw, env, "swarm.toml")


NOT_PLAIN = [
    ({"model": {"timeout_s": 100}}, {}),  # a whole number for a float: pydantic converts it
    ({"run": {"concurrency": True}}, {}),  # a bool is no whole number
    ({"run": {"concurrency": 0}}, {}),  # out of bounds: pydantic words the error
    ({"run": {"max_wall_s": float("nan")}}, {}),
    ({"store": {"synchronous": "normal"}}, {}),  # pydantic takes it as NORMAL
    ({"store": {"no_such_key": 1}}, {}),
    ({"no_such_section": {}}, {}),
    ({"model": {"prices": {"m": {"input": 1.0, "output": 2.0}}}}, {}),
    ({"model": {"base_url": ""}}, {}),  # "" means none
    ({"python": {"authorized_imports": ["math", 1]}}, {}),
    ({}, {"SWARM_RUN_CONCURRENCY": "3"}),  # text for a number: pydantic-settings parses it
    ({}, {"SWARM_TELEMETRY_ENABLED": "yes"}),
    ({}, {"SWARM_MODEL_BASE_URL": ""}),
    ({}, {"SWARM_MCP_SERVERS": "{}"}),
]


@pytest.mark.parametrize("raw, env", NOT_PLAIN)
def test_anything_to_convert_or_refuse_is_left_to_pydantic(raw, env):
    assert plain_values(raw, env) is None


def test_a_reading_command_on_a_plain_configuration_does_not_load_pydantic(tmp_path):
    (tmp_path / "swarm.toml").write_text((REPO / "swarm.toml").read_text())
    code = ("import sys; from swarm.config import load_config; cfg = load_config(); "
            "print(cfg.store.synchronous, sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_settings')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=scaled(60),
                          env={"PATH": "/usr/bin:/bin", "SWARM_STORE": str(tmp_path / "s.db")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["NORMAL", "[]"]
