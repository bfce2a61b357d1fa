"""load_config: swarm.toml values are type-checked, environment overrides are parsed, mistakes are named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swarm.config import Config, load_config
from swarm.errors import ConfigError
from timeouts import scaled


def toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "swarm.toml"
    path.write_text(text)
    return str(path)


def test_no_file_and_no_environment_gives_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.source == "defaults"
    assert (cfg.model, cfg.run, cfg.store, cfg.python) == (Config().model, Config().run, Config().store, Config().python)


def test_environment_values_are_parsed_by_the_type_of_the_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={
        "SWARM_RUN_CONCURRENCY": "3",
        "SWARM_RUN_MAX_COST_USD": "1",
        "SWARM_PYTHON_AUTHORIZED_IMPORTS": "math, json",
        "SWARM_MODEL_PRICES": '{"m": {"input": 1, "output": 2.5}}',
        "SWARM_MODEL_BASE_URL": "",
    })
    assert cfg.run.concurrency == 3
    assert cfg.run.max_cost_usd == 1.0 and isinstance(cfg.run.max_cost_usd, float)
    assert cfg.python.authorized_imports == ["math", "json"]
    assert cfg.model.prices == {"m": {"input": 1.0, "output": 2.5}}
    assert cfg.model.base_url is None


def test_shortcuts_set_their_settings_and_specific_variables_win(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={"OPENAI_BASE_URL": "http://a/v1", "SWARM_MODEL": "m1", "SWARM_STORE": "x.db",
                           "SWARM_MODEL_MODEL": "m2"})
    assert (cfg.model.base_url, cfg.model.model, cfg.store.path) == ("http://a/v1", "m2", "x.db")


def test_swarm_config_comes_from_the_env_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.toml"
    other.write_text("[run]\nconcurrency = 2\n")
    assert load_config(env={"SWARM_CONFIG": str(other)}).run.concurrency == 2
    with pytest.raises(ConfigError, match="does not exist; pass an existing swarm.toml or unset SWARM_CONFIG"):
        load_config(env={"SWARM_CONFIG": str(tmp_path / "nope.toml")})


def test_paths_are_relative_to_the_folder_of_the_file(tmp_path):
    cfg = load_config(toml(tmp_path, '[store]\npath = "data/s.db"\n'), env={})
    assert cfg.path(cfg.store.path) == tmp_path / "data" / "s.db"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[run]\nconcurrency = 2.5\n", "[run].concurrency: expected a whole number, got 2.5"),
        ("[run]\nconcurrency = true\n", "[run].concurrency: expected a whole number, got True"),
        ("[run]\nmax_cost_usd = '5'\n", "[run].max_cost_usd: expected a number, got '5'"),
        ("[store]\npath = 3\n", "[store].path: expected a string, got 3"),
        ("[python]\nauthorized_imports = 'math'\n", "[python].authorized_imports: expected a list of strings"),
        ("[model]\nprices = { m = { input = 'cheap' } }\n", "[model].prices: expected a table of model"),
        ("[model]\nmax_retries = -1\n", "[model].max_retries must be 0 or more"),
        ("[run]\nconcurrency = 0\n", "[run].concurrency must be 1 or more"),
        ("[store]\nsynchronous = 'sometimes'\n", "[store].synchronous must be one of NORMAL, FULL, EXTRA, OFF"),
    ],
)
def test_a_wrong_value_in_the_file_is_named_with_what_was_expected(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_config(toml(tmp_path, text), env={})
    assert message in str(caught.value)
    assert str(tmp_path / "swarm.toml") in str(caught.value)
    assert "fix it in" in str(caught.value)


def test_a_wrong_environment_value_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"\$SWARM_MODEL_PRICES: expected a table .*; fix or unset the environment variable"):
        load_config(env={"SWARM_MODEL_PRICES": "{not json"})


def test_a_bound_is_named_with_the_variable_that_sets_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"\[ui\]\.port must be 0\.\.65535 \(got 70000\); fix it in swarm.toml or \$SWARM_UI_PORT"):
        load_config(env={"SWARM_UI_PORT": "70000"})
    with pytest.raises(ConfigError, match=r"\[run\]\.node_timeout_s must be more than 0 \(got 0\)"):
        load_config(toml(tmp_path, "[run]\nnode_timeout_s = 0\n"), env={})


def test_a_number_that_is_not_finite_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"\[run\]\.max_wall_s: expected a finite number, got nan; fix it in the file"):
        load_config(toml(tmp_path, "[run]\nmax_wall_s = nan\n"), env={})


def test_other_swarm_variables_are_not_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={"SWARM_LOG_LEVEL": "debug", "SWARM_RUN_NO_SUCH_KEY": "1", "SWARM_TEST_TIMEOUT_SCALE": "2",
                           "SWARM_TELEMETRY_ENABLED": "yes", "SWARM_STORE_SYNCHRONOUS": "full"})
    assert cfg.telemetry.enabled is True and cfg.store.synchronous == "FULL"
    assert cfg.run == Config().run


def test_a_local_model_changes_only_the_timeouts_neither_the_file_nor_the_environment_set(tmp_path):
    cfg = load_config(toml(tmp_path, "[model]\ngguf = 'm.gguf'\ntimeout_s = 100\n"), env={"SWARM_RUN_NODE_TIMEOUT_S": "50"})
    # [model].gguf gives the unset timeouts their CPU values; the ones set keep theirs
    assert (cfg.model.timeout_s, cfg.run.node_timeout_s, cfg.model.call_timeout_s) == (100.0, 50.0, 1200.0)


def test_the_settings_and_the_cli_parser_load_without_pydantic(tmp_path):
    """pydantic-settings is imported when a configuration is loaded, not by `import swarm.config` or `swarm --help`."""
    code = ("import sys; import swarm.config; from swarm.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_settings', 'rich')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=scaled(60))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
