"""[mcp.servers] in swarm.toml: stdio and streamable-HTTP servers load into typed settings, and every bad entry
is one clear error saying what is wrong and what to do, before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.config import load_config
from swarm.errors import ConfigError
from timeouts import scaled


def load(tmp_path: Path, text: str, env: dict | None = None):
    path = tmp_path / "swarm.toml"
    path.write_text(text)
    return load_config(str(path), env=env or {})


def test_stdio_and_http_servers_load_with_their_lists(tmp_path):
    cfg = load(tmp_path, """
[mcp.servers.time]
command = "uvx"
args = ["mcp-server-time", "--local-timezone", "UTC"]
env = { TZ = "UTC" }

[mcp.servers.search]
url = "http://127.0.0.1:8931/mcp"
allow = ["search", "fetch"]
deny = ["drop"]
approve = ["fetch"]
""")
    time, search = cfg.mcp.servers["time"], cfg.mcp.servers["search"]
    assert time.transport == "stdio" and time.describe() == "uvx mcp-server-time --local-timezone UTC"
    assert dict(time.env) == {"TZ": "UTC"} and time.takes("anything")
    assert search.transport == "http" and search.url == "http://127.0.0.1:8931/mcp"
    assert search.takes("search") and not search.takes("drop") and not search.takes("other")
    assert search.needs_approval("fetch") and not search.needs_approval("search")


def test_no_server_is_the_default(tmp_path):
    assert load(tmp_path, "").mcp.configured() == {}


def test_servers_come_from_the_environment_as_json(tmp_path):
    cfg = load(tmp_path, "", env={"SWARM_MCP_SERVERS": '{"git": {"command": "mcp-server-git", "approve": ["*"]}}'})
    assert cfg.mcp.servers["git"].needs_approval("git_commit")


@pytest.mark.parametrize("table, said", [
    ('[mcp.servers.x]\nargs = ["a"]', "[mcp.servers.x]: give either command (a stdio server the swarm starts) or url"),
    ('[mcp.servers.x]\ncommand = "a"\nurl = "http://h/mcp"', "not both"),
    ('[mcp.servers.x]\nurl = "ftp://h/mcp"', "[mcp.servers.x].url: 'ftp://h/mcp' is not an http(s) URL"),
    ('[mcp.servers.x]\nurl = "http://h/mcp"\nargs = ["a"]', "[mcp.servers.x].args: only a stdio server (command = ...) takes args"),
    ('[mcp.servers.x]\ncommand = "a"\nargs = "b c"', "[mcp.servers.x].args: expected a list of strings, got 'b c'"),
    ('[mcp.servers.x]\ncommand = "a"\nenv = { N = 1 }', "[mcp.servers.x].env: expected a table of NAME = \"value\" strings"),
    ('[mcp.servers.x]\ncommand = "a"\ntimeout = 3', "[mcp.servers.x].timeout: unknown setting; remove it, or use one of command, args"),
    ('[mcp.servers.x]\ncommand = "a"\nallow = ["t"]\ndeny = ["t"]', "[mcp.servers.x]: t is both allowed and denied"),
    ('[mcp.servers."my server"]\ncommand = "a"', "[mcp.servers.my server]: a server name must start with a letter"),
    ('[mcp]\nservers = ["a"]', "[mcp].servers: expected a table of servers by name"),
    ('[mcp]\nservers = { x = "a" }', "[mcp.servers.x]: expected a table"),
    ('[mcp]\ncall_timeout_s = 0', "[mcp].call_timeout_s must be more than 0 (got 0); fix it in swarm.toml or $SWARM_MCP_CALL_TIMEOUT_S"),
    ('[mcp]\nstartup = 3', "[mcp].startup: unknown setting"),
])
def test_a_bad_entry_is_one_clear_error(tmp_path, table, said):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, table)
    assert said in str(caught.value)


def test_bad_json_in_the_environment_says_what_to_give(tmp_path):
    with pytest.raises(ConfigError, match=r"\$SWARM_MCP_SERVERS: not JSON .*give a JSON object of servers"):
        load(tmp_path, "", env={"SWARM_MCP_SERVERS": "{time: uvx}"})


def test_the_cli_refuses_a_bad_server_with_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "swarm.toml").write_text('[mcp.servers.time]\ncommand = "uvx"\nurl = "http://h/mcp"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    done = subprocess.run([sys.executable, "-m", "swarm.cli", "run", "What time is it?"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=scaled(120))
    assert done.returncode == 2
    assert "[mcp.servers.time]: give either command" in done.stderr and "Traceback" not in done.stderr


def test_the_readme_example_of_mcp_servers_loads(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Tools from MCP servers", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    servers = load(tmp_path, example).mcp.servers
    assert set(servers) == {"time", "git", "search"}
    assert servers["git"].needs_approval("git_commit") and not servers["git"].takes("git_reset")
    assert servers["search"].transport == "http"


def test_the_commented_example_in_swarm_toml_loads(tmp_path):
    text = (Path(__file__).resolve().parent.parent / "swarm.toml").read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.startswith("# servers = "))
    servers = load(tmp_path, "[mcp]\n" + line.removeprefix("# ")).mcp.servers
    assert servers["time"].describe() == "uvx mcp-server-time"
