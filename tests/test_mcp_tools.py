"""Tools from MCP servers: a goal is routed to a tool of a real MCP server, the call is checked, made on the
host, recorded in the history and replayed by forks; tool errors, servers that die in the middle of a call
and servers that never start fail only the node, with a clear error, and the run goes on.

Real servers in real subprocesses: `mcp-server-time` and `mcp-server-git` from PyPI over stdio, and a
FastMCP server of the tests (tests/mcp_support.py) over stdio and over streamable HTTP on loopback; a real
engine on a real SQLite file; the scripted model on loopback. What the store keeps of the calls (the history,
forks replaying it, approvals) is also checked on a PostgreSQL database; the servers' faults do not depend on
the store and run once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from lifecycle_support import events, make_engine, node_states, run, script, wait_for  # noqa: F401  (make_engine is a fixture)
from mcp_support import HttpToys, calls, git_server, settings, stdio_toys, time_server
from swarm.fork import fork
from timeouts import scaled

both_backends = pytest.mark.usefixtures("store_url")


def here(tmp_path) -> dict[str, str]:
    """A swarm.toml of this test, so that on PostgreSQL too what the servers listed is kept in tmp_path."""
    (tmp_path / "swarm.toml").touch()
    return {"SWARM_CONFIG": str(tmp_path / "swarm.toml")}


def tool_calls(engine, run_id: str, node_id: str) -> list[dict]:
    """The tool calls a node's executions recorded in the history (what the UI shows of them)."""
    return [c for e in events(engine, run_id, node_id) if e["kind"] == "tool_calls" for c in e["detail"]["calls"]]


def route_to(script_name: str, data: dict, sub_goal: str = "") -> dict:
    """A scripted model's answer to route's prompt (for the sub-goal matching `sub_goal`): this script, this input."""
    return {"match": f"^Choose the node script.*Sub-goal: {sub_goal}", "reply": {"script": script_name, "data": data},
            "repeat": True}


def both(ctx):
    """A parent that runs its children side by side and reports how each ended: the parent decides."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child(c["script"], **c["data"]) for c in ctx.data["children"]])
    return [{"script": r.script, "ok": r.ok, "output": r.output, "error": r.error} for r in ctx.reports]


def children(*pairs) -> dict:
    return {"children": [{"script": s, "data": d} for s, d in pairs]}


# --- routed to a tool ---------------------------------------------------------------------------------


@both_backends
def test_a_goal_is_routed_to_a_tool_of_mcp_server_time_and_the_call_is_in_the_history(make_engine, tmp_path):
    model = [route_to("mcp_time_get_current_time", {"timezone": "Europe/Lisbon"})]
    engine = make_engine(model=model, settings=settings({"time": time_server()}, **here(tmp_path)))

    offered = [c["name"] for c in engine.candidates("What time is it now in Lisbon?")]
    assert offered[0] == "mcp_time_get_current_time"  # found by retrieval, like any script

    run_id, status = run(engine, "What time is it now in Lisbon?", "route")

    assert status == "done"
    child = node_states(engine, run_id)["1.1"]
    assert child["script"] == "mcp_time_get_current_time" and child["status"] == "done"
    assert child["output"]["result"]["timezone"] == "Europe/Lisbon"
    assert child["output"]["server"] == "time" and child["output"]["tool"] == "get_current_time"
    [call] = tool_calls(engine, run_id, "1.1")
    assert call["ok"] and call["tool"] == "mcp:time/get_current_time" and call["server"] == "time"
    assert call["args"] == {"timezone": "Europe/Lisbon"}
    assert call["result"]["structured"]["timezone"] == "Europe/Lisbon"


def test_a_node_with_only_a_goal_gets_its_arguments_from_its_one_model_call(make_engine):
    model = [{"match": "^Give the arguments for one call of the tool get_current_time", "reply": {"timezone": "Asia/Tokyo"}}]
    engine = make_engine(model=model, settings=settings({"time": time_server()}))

    run_id, status = run(engine, "the time in Tokyo", "mcp_time_get_current_time")

    assert status == "done"
    assert node_states(engine, run_id)["1"]["output"]["result"]["timezone"] == "Asia/Tokyo"


def test_mcp_server_git_answers_about_a_real_repository_and_its_allow_list_keeps_the_rest_out(make_engine, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "notes.txt").write_text("hello\n")
    model = [route_to("mcp_git_git_status", {"repo_path": str(repo)})]
    engine = make_engine(model=model, settings=settings({"git": {**git_server(repo), "allow": ["git_status", "git_log"]}}))

    assert sorted(n for n in engine.catalogue.scripts if n.startswith("mcp_")) == ["mcp_git_git_log", "mcp_git_git_status"]
    assert engine.candidates("Show the working tree status")[0]["name"] == "mcp_git_git_status"
    run_id, status = run(engine, "Show the working tree status: which files are not committed yet?", "route")

    assert status == "done"
    assert "notes.txt" in json.dumps(node_states(engine, run_id)["1.1"]["output"]["result"])


def test_a_deny_list_keeps_a_tool_out_of_the_catalogue(make_engine, tmp_path):
    engine = make_engine(settings=settings({"toys": {**stdio_toys(tmp_path), "deny": ["crash", "divide", "wait", "meet"]}}))

    assert sorted(n for n in engine.catalogue.scripts if n.startswith("mcp_")) == ["mcp_toys_add", "mcp_toys_shout"]
    assert engine.catalogue.get("mcp_toys_add").input_schema["required"] == ["a", "b"]


def test_calls_of_nodes_running_at_once_are_in_flight_at_once_on_one_session(make_engine, tmp_path):
    engine = make_engine(script("both", both), settings=settings({"toys": stdio_toys(tmp_path)}), concurrency=3,
                         node_max_attempts=1)

    run_id, status = run(engine, "meet", "both", data=children(*[("mcp_toys_meet", {"n": 3})] * 3))

    assert status == "done"  # each call returns only once all three are in the server together
    assert [r["output"]["result"] for r in node_states(engine, run_id)["1"]["output"]] == [{"result": 3}] * 3


# --- checked before the call ------------------------------------------------------------------------


def test_arguments_that_do_not_fit_the_tools_schema_fail_the_node_without_a_call(make_engine, tmp_path):
    engine = make_engine(settings=settings({"toys": stdio_toys(tmp_path)}), node_max_attempts=1)

    run_id, status = run(engine, "add these", "mcp_toys_add", data={"a": "one", "b": 2})

    assert status == "failed"
    error = node_states(engine, run_id)["1"]["error"]
    assert "arguments for add of MCP server 'toys' do not match its input schema" in error and "$.a" in error
    assert calls(tmp_path) == []  # nothing was called


# --- tool errors, servers that die or never start: the node fails, the run goes on ------------------


def test_a_tool_error_fails_the_node_with_the_servers_message_and_the_parent_decides(make_engine, tmp_path):
    engine = make_engine(script("both", both), settings=settings({"toys": stdio_toys(tmp_path)}), node_max_attempts=1)

    run_id, status = run(engine, "divide and add", "both",
                         data=children(("mcp_toys_divide", {"a": 1, "b": 0}), ("mcp_toys_add", {"a": 2, "b": 3})))

    assert status == "done"
    divided, added = node_states(engine, run_id)["1"]["output"]
    assert not divided["ok"] and "the tool divide of MCP server 'toys' failed" in divided["error"]
    assert added["ok"] and added["output"]["result"] == {"result": 5}
    [failed] = tool_calls(engine, run_id, "1.1")
    assert not failed["ok"] and failed["result"]["is_error"]


def test_a_stdio_server_that_dies_mid_call_fails_that_node_and_is_started_again_for_the_next(make_engine, tmp_path):
    engine = make_engine(script("both", both), settings=settings({"toys": stdio_toys(tmp_path)}),
                         node_max_attempts=1, concurrency=1)  # one after the other: the crash comes first

    run_id, status = run(engine, "crash, then add", "both",
                         data=children(("mcp_toys_crash", {}), ("mcp_toys_add", {"a": 20, "b": 22})))

    assert status == "done"
    crashed, added = node_states(engine, run_id)["1"]["output"]
    assert not crashed["ok"]
    assert "MCP server 'toys' went away during the call to crash" in crashed["error"]
    assert "toys: exiting in the middle of crash" in crashed["error"]  # what the server said before it went
    assert added["ok"] and added["output"]["result"] == {"result": 42}
    assert calls(tmp_path) == ["crash", "add"]


def test_a_server_that_cannot_start_again_after_dying_fails_the_next_call_clearly(make_engine, tmp_path):
    toys = stdio_toys(tmp_path, env={"TOYS_START_ONCE": str(tmp_path / "started")})
    engine = make_engine(script("both", both), settings=settings({"toys": toys}), node_max_attempts=1, concurrency=1)

    run_id, status = run(engine, "crash, then add", "both",
                         data=children(("mcp_toys_crash", {}), ("mcp_toys_add", {"a": 1, "b": 1})))

    assert status == "done"
    crashed, added = node_states(engine, run_id)["1"]["output"]
    assert "went away during the call to crash" in crashed["error"]
    assert not added["ok"] and "MCP server 'toys'" in added["error"] and "could not be started" in added["error"]
    assert "refusing to start again" in added["error"]  # its own words, from its stderr
    assert calls(tmp_path) == ["crash"]


def test_a_call_past_the_call_timeout_fails_its_node_and_the_server_serves_the_next(make_engine, tmp_path):
    engine = make_engine(script("both", both), settings=settings({"toys": stdio_toys(tmp_path)}, SWARM_MCP_CALL_TIMEOUT_S="1"),
                         node_max_attempts=1, concurrency=1)

    run_id, status = run(engine, "wait, then add", "both",
                         data=children(("mcp_toys_wait", {"seconds": scaled(600)}), ("mcp_toys_add", {"a": 1, "b": 1})))

    assert status == "done"
    waited, added = node_states(engine, run_id)["1"]["output"]
    assert "the call to wait of MCP server 'toys' got no answer within 1 s" in waited["error"]
    assert "raise [mcp].call_timeout_s" in waited["error"]
    assert added["ok"] and added["output"]["result"] == {"result": 2}
    wait_for(lambda: "wait-cancelled" in calls(tmp_path), what="the server to hear that the call was cancelled")


def test_a_node_timed_out_during_a_call_stops_waiting_for_it(make_engine, tmp_path):
    engine = make_engine(script("both", both), settings=settings({"toys": stdio_toys(tmp_path)}),
                         node_max_attempts=1, concurrency=1, node_timeout_s=2)

    run_id, status = run(engine, "wait, then add", "both",
                         data=children(("mcp_toys_wait", {"seconds": scaled(600)}), ("mcp_toys_add", {"a": 3, "b": 4})))

    assert status == "done"
    waited, added = node_states(engine, run_id)["1"]["output"]
    assert waited["error"].startswith("NodeTimeout")
    assert added["ok"] and added["output"]["result"] == {"result": 7}
    wait_for(lambda: "wait-cancelled" in calls(tmp_path), what="the server to hear that the call was cancelled")


def test_servers_that_never_start_are_reported_and_the_swarm_goes_on_without_their_tools(make_engine, tmp_path, caplog):
    broken = {
        "missing": {"command": str(tmp_path / "no-such-server")},
        "exits": {"command": "python3", "args": ["-c", "import sys; sys.exit('bad configuration: no token')"]},
        "nobody": {"url": f"http://127.0.0.1:{_closed_port()}/mcp"},
        "toys": stdio_toys(tmp_path),
    }
    with caplog.at_level(logging.WARNING, logger="swarm.mcp"):
        engine = make_engine(settings=settings(broken))
    said = caplog.text
    assert "MCP server 'missing'" in said and "the command was not found" in said
    assert "MCP server 'exits'" in said and "bad configuration: no token" in said
    assert "MCP server 'nobody'" in said and "ConnectError" in said
    assert {n for n in engine.catalogue.scripts if n.startswith("mcp_")} == {
        "mcp_toys_add", "mcp_toys_shout", "mcp_toys_divide", "mcp_toys_wait", "mcp_toys_meet", "mcp_toys_crash"}

    run_id, status = run(engine, "add", "mcp_toys_add", data={"a": 1, "b": 2})
    assert status == "done"


def test_a_server_that_never_answers_the_handshake_is_given_up_on_and_stopped(make_engine, tmp_path, caplog):
    marker = f"silent-mcp-server-{uuid.uuid4().hex}"
    silent = {"command": sys.executable, "args": ["-c", "import time; time.sleep(3600)", marker]}
    with caplog.at_level(logging.WARNING, logger="swarm.mcp"):
        engine = make_engine(settings=settings({"silent": silent}, SWARM_MCP_STARTUP_TIMEOUT_S="1"))

    assert "MCP server 'silent'" in caplog.text and "did not answer the MCP handshake within 1 s" in caplog.text
    assert not any(n.startswith("mcp_silent") for n in engine.catalogue.scripts)
    wait_for(lambda: not _running(marker), what="the silent server's process to be stopped")


def test_closing_the_client_stops_a_server_that_is_still_starting(tmp_path):
    from swarm.config import load_config
    from swarm.mcp.client import McpClient

    marker = f"slow-mcp-server-{uuid.uuid4().hex}"
    cfg = load_config(env=settings({"slow": {"command": sys.executable, "args": ["-c", "import time; time.sleep(3600)", marker]}},
                                   SWARM_MCP_STARTUP_TIMEOUT_S=str(scaled(600))))
    client = McpClient(cfg.mcp.servers, cfg)
    listing = threading.Thread(target=client.list_all, daemon=True)
    listing.start()
    wait_for(lambda: _running(marker), what="the slow server to start")

    client.close()  # the engine closes while the server has not answered yet

    wait_for(lambda: not _running(marker), what="the slow server's process to be stopped")
    listing.join(scaled(30))
    assert not listing.is_alive()


def _running(marker: str) -> bool:
    """Whether a live process (not a zombie waiting to be reaped) has `marker` on its command line."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "cmdline").read_text() and \
                    (proc / "stat").read_text().split()[2] != "Z":
                return True
        except OSError:
            continue
    return False


# --- over streamable HTTP ---------------------------------------------------------------------------


def test_a_fastmcp_server_over_http_is_called_and_its_death_mid_call_fails_only_that_node(make_engine, tmp_path):
    server = HttpToys(tmp_path).start()
    try:
        model = [route_to("mcp_toys_shout", {"text": "hello"}, "Repeat"), route_to("mcp_toys_crash", {}, "End")]
        engine = make_engine(script("both", both), model=model, settings=settings({"toys": {"url": server.url}}),
                             node_max_attempts=1, concurrency=1)

        run_id, status = run(engine, "hello, then break", "both",
                             data=children(("route", {"goal": "Repeat hello in capital letters"}),
                                           ("route", {"goal": "End the server process"})))

        assert status == "done"
        said, broke = node_states(engine, run_id)["1"]["output"]
        assert said["ok"] and said["output"]["result"] == {"result": "HELLO"}, said
        assert not broke["ok"] and "MCP server 'toys' went away during the call to crash" in broke["error"]
        assert server.wait_exited() == 3

        server.start()  # the same URL answers again: the next call reconnects
        run_id, status = run(engine, "add", "mcp_toys_add", data={"a": 2, "b": 2})
        assert status == "done" and node_states(engine, run_id)["1"]["output"]["result"] == {"result": 4}
    finally:
        server.stop()


# --- forks replay recorded calls ------------------------------------------------------------------------


@both_backends
def test_a_fork_replays_a_recorded_call_instead_of_calling_the_server_again(make_engine, tmp_path):
    model = [route_to("mcp_toys_add", {"a": 40, "b": 2})]
    engine = make_engine(model=model, settings=settings({"toys": stdio_toys(tmp_path)}, **here(tmp_path)))
    run_id, status = run(engine, "Add two whole numbers: forty and two", "route")
    assert status == "done" and calls(tmp_path) == ["add"]
    spawned = next(e["seq"] for e in events(engine, run_id, "1.1") if e["kind"] == "spawn")

    forked = fork(engine, run_id, spawned)  # from before the call: node 1.1 executes again in the fork
    assert asyncio.run(engine.drive(forked)) == "done"

    assert node_states(engine, forked)["1.1"]["output"]["result"] == {"result": 42}
    assert calls(tmp_path) == ["add"]  # the server was not called again
    [replayed] = tool_calls(engine, forked, "1.1")
    assert replayed["replayed_from"] == run_id and replayed["args"] == {"a": 40, "b": 2}

    started = engine.store.event_range(forked)[0]  # the fork's first event: node 1.1 has not executed yet
    again = fork(engine, forked, started)  # a fork of the fork finds the call in its parent's history
    assert asyncio.run(engine.drive(again)) == "done" and calls(tmp_path) == ["add"]
    assert [c["replayed_from"] for c in tool_calls(engine, again, "1.1")] == [forked]


@both_backends
def test_a_fork_whose_arguments_changed_calls_the_server(make_engine, tmp_path):
    engine = make_engine(settings=settings({"toys": stdio_toys(tmp_path)}, **here(tmp_path)))
    run_id, _ = run(engine, "add", "mcp_toys_add", data={"a": 1, "b": 2})
    spawned = next(e["seq"] for e in events(engine, run_id, "1") if e["kind"] == "spawn")

    forked = fork(engine, run_id, spawned, {"1.data.b": 5})
    assert asyncio.run(engine.drive(forked)) == "done"

    assert node_states(engine, forked)["1"]["output"]["result"] == {"result": 6}
    assert calls(tmp_path) == ["add", "add"]


# --- approvals ---------------------------------------------------------------------------------------------


@both_backends
def test_a_tool_on_the_approve_list_waits_for_a_person_who_may_edit_the_arguments(make_engine, tmp_path):
    engine = make_engine(settings=settings({"toys": {**stdio_toys(tmp_path), "approve": ["add"]}}, **here(tmp_path)))

    run_id, status = run(engine, "add", "mcp_toys_add", data={"a": 1, "b": 2})
    assert status in ("paused", "awaiting_approval") and calls(tmp_path) == []
    [request] = engine.store.approvals(run_id)
    assert request["kind"] == "tool_call" and "asks to call add of the MCP server toys" in request["question"]

    from swarm.approvals import decide

    decide(engine.store, request["id"], "approve", edited={"server": "toys", "tool": "add", "args": {"a": 1, "b": 41}})
    assert asyncio.run(engine.drive(run_id)) == "done"
    assert node_states(engine, run_id)["1"]["output"]["result"] == {"result": 42}
    assert calls(tmp_path) == ["add"]


def _closed_port() -> int:
    from mcp_support import free_port

    return free_port()  # bound and released at once: nothing listens there
