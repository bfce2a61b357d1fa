"""A server's tools are kept as it listed them (next to the store: the SQLite file, or for a PostgreSQL store
swarm.toml), so an engine offers the tools of a server
it knows without starting it; the server starts at the first call that needs it, and the catalogue follows
what the server lists then. A known server that no longer starts fails the node that calls it, clearly."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from lifecycle_support import make_engine, node_states, run  # noqa: F401  (make_engine is a fixture)
from mcp_support import calls, pids, settings, starts, stdio_toys
from swarm.mcp.scripts import LISTINGS_FILE

both_backends = pytest.mark.usefixtures("store_url")  # the engine's store: an SQLite file, a PostgreSQL database


def kept_here(tmp_path, servers: dict) -> dict[str, str]:
    """make_engine's settings for these servers, with this test's swarm.toml: what they listed is kept in tmp_path on
    either backend (beside the SQLite file tmp_path/swarm.db; beside tmp_path/swarm.toml for PostgreSQL)."""
    (tmp_path / "swarm.toml").touch()
    return settings(servers, SWARM_CONFIG=str(tmp_path / "swarm.toml"))


def toys(tmp_path, **env) -> dict:
    return stdio_toys(tmp_path, env={"TOYS_STARTS": str(tmp_path / "toys_starts.txt"),
                                     "TOYS_FEATURES": str(tmp_path / "features.txt"), **env})


@both_backends
def test_a_known_server_is_started_only_by_the_first_call_that_needs_it(make_engine, tmp_path):
    (tmp_path / "features.txt").write_text("")
    first = make_engine(settings=kept_here(tmp_path, {"toys": toys(tmp_path)}))
    assert starts(tmp_path) == 1  # never listed before: started to list its tools
    assert (tmp_path / LISTINGS_FILE).is_file()
    first.close()

    engine = make_engine(settings=kept_here(tmp_path, {"toys": toys(tmp_path)}))
    assert "mcp_toys_add" in engine.catalogue.scripts and starts(tmp_path) == 1  # offered, not started

    run_id, status = run(engine, "add", "mcp_toys_add", data={"a": 1, "b": 2})
    assert status == "done" and node_states(engine, run_id)["1"]["output"]["result"] == {"result": 3}
    assert starts(tmp_path) == 2
    run(engine, "add", "mcp_toys_add", data={"a": 2, "b": 2})
    assert starts(tmp_path) == 2  # one session, kept


@both_backends
def test_a_server_killed_while_idle_is_started_again_by_the_next_call(make_engine, tmp_path):
    (tmp_path / "features.txt").write_text("")
    engine = make_engine(settings=kept_here(tmp_path, {"toys": toys(tmp_path)}))
    run(engine, "add", "mcp_toys_add", data={"a": 1, "b": 1})
    [pid] = pids(tmp_path)

    os.kill(pid, signal.SIGKILL)  # between two calls, nobody calling

    run_id, status = run(engine, "add", "mcp_toys_add", data={"a": 2, "b": 3})
    assert status == "done" and node_states(engine, run_id)["1"]["output"]["result"] == {"result": 5}
    assert len(pids(tmp_path)) == 2 and calls(tmp_path) == ["add", "add"]


@both_backends
def test_the_catalogue_follows_the_tools_a_server_lists_when_it_starts(make_engine, tmp_path):
    (tmp_path / "features.txt").write_text("")
    make_engine(settings=kept_here(tmp_path, {"toys": toys(tmp_path)})).close()
    (tmp_path / "features.txt").write_text("echo")  # the server now offers one more tool

    engine = make_engine(settings=kept_here(tmp_path, {"toys": toys(tmp_path)}))
    assert "mcp_toys_echo" not in engine.catalogue.scripts  # as it listed them last time
    version = engine.catalogue.version

    run(engine, "add", "mcp_toys_add", data={"a": 1, "b": 1})

    assert "mcp_toys_echo" in engine.catalogue.scripts and engine.catalogue.version > version
    run_id, status = run(engine, "echo", "mcp_toys_echo", data={"text": "as it is"})
    assert status == "done" and node_states(engine, run_id)["1"]["output"]["result"] == {"result": "as it is"}


@both_backends
def test_a_known_server_that_no_longer_starts_fails_the_node_that_calls_it(make_engine, tmp_path):
    (tmp_path / "features.txt").write_text("")
    make_engine(settings=kept_here(tmp_path, {"toys": toys(tmp_path, TOYS_START_ONCE=str(tmp_path / "started"))})).close()

    engine = make_engine(settings=kept_here(tmp_path, {"toys": toys(tmp_path, TOYS_START_ONCE=str(tmp_path / "started"))}),
                         node_max_attempts=1)
    run_id, status = run(engine, "add", "mcp_toys_add", data={"a": 1, "b": 2})

    assert status == "failed"
    error = node_states(engine, run_id)["1"]["error"]
    assert "MCP server 'toys'" in error and "could not be started" in error and "refusing to start again" in error
    assert calls(tmp_path) == []


def test_the_kept_listings_are_ignored_by_git(tmp_path):
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", LISTINGS_FILE])
    assert done.returncode == 0, f"add {LISTINGS_FILE} to .gitignore: swarm writes it next to the store"
