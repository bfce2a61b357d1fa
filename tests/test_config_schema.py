"""The JSON Schema of swarm.toml (issue 15): made from the settings, committed, and in step with the loader."""

from __future__ import annotations

import json
import tomllib

import pytest

from swarm.config import ConfigError, load_config
from swarm.config_schema import DEFAULT_TOML, SCHEMA_FILE, config_schema
from swarm.model.structured import validate


def test_the_committed_schema_is_the_one_the_settings_make():
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == config_schema(), (
        "swarm/config.schema.json is out of date: regenerate it with "
        "`python -m swarm.config_schema > swarm/config.schema.json`")


def test_the_shipped_swarm_toml_is_valid_against_it():
    assert validate(tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8")), config_schema()) == []


def test_every_key_is_described_from_the_comment_above_it_in_swarm_toml():
    schema = config_schema()
    undescribed = [f"[{section}].{key}" for section, body in schema["properties"].items()
                   for key, prop in body["properties"].items() if not prop.get("description")]
    assert undescribed == []
    concurrency = schema["properties"]["run"]["properties"]["concurrency"]
    assert concurrency["minimum"] == 1 and concurrency["default"] == 8 and "SWARM_RUN_CONCURRENCY" in concurrency["description"]
    assert schema["properties"]["sandbox"]["properties"]["layer"]["enum"] == ["process", "docker"]


@pytest.mark.parametrize("text", [
    "[run]\nconcurency = 4\n",  # a misspelt key
    "[runs]\nconcurrency = 4\n",  # an unknown section
    "[run]\nconcurrency = 'four'\n",  # the wrong type
    "[run]\nconcurrency = 0\n",  # below its bound
    "[sandbox]\nlayer = 'vm'\n",  # not one of the words
    "[mcp.servers.time]\ncommand = 'uvx'\nargz = ['mcp-server-time']\n",  # a server's misspelt key
])
def test_what_the_schema_refuses_the_loader_refuses_too(text, tmp_path):
    assert validate(tomllib.loads(text), config_schema()) != []
    path = tmp_path / "swarm.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(str(path), env={})


def test_a_server_table_the_schema_accepts_loads(tmp_path):
    text = "[mcp.servers.time]\ncommand = 'uvx'\nargs = ['mcp-server-time']\nenv = { TZ = 'UTC' }\n"
    assert validate(tomllib.loads(text), config_schema()) == []
    (tmp_path / "swarm.toml").write_text(text)
    assert "time" in load_config(str(tmp_path / "swarm.toml"), env={}).mcp.servers
