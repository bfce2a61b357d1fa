"""Hybrid execution: a reply is one direct tool call (host) or a Python block (sandbox); file tools stay in the workspace."""

from __future__ import annotations

import os

import pytest

from lifecycle_support import make_engine, node_states, run  # noqa: F401
from swarm.hybrid import ActionUnclear, PythonBlock, ToolCall, parse_action
from swarm.workspace import OutsideWorkspace, Workspace

both_backends = pytest.mark.usefixtures("store_url")  # a run's workspace beside an SQLite store, or a PostgreSQL one


@pytest.mark.parametrize("reply", [
    '{"tool": "write_file", "args": {"path": "a.txt", "text": "hi"}}',
    'Sure.\n```json\n{"tool": "write_file", "args": {"path": "a.txt", "text": "hi"}}\n```',
    '<tool>{"tool": "write_file", "arguments": {"path": "a.txt", "text": "hi"}}</tool>',
])
def test_a_tool_call_is_read_in_any_of_its_forms(reply):
    assert parse_action(reply) == ToolCall("write_file", {"path": "a.txt", "text": "hi"})


@pytest.mark.parametrize("reply", [
    "Here:\n```python\nfor i in range(3):\n    write_file(f'{i}.txt', 'x')\n```",
    "<python>\nfor i in range(3):\n    write_file(f'{i}.txt', 'x')\n</python>",
])
def test_a_python_block_is_read_as_code(reply):
    assert parse_action(reply) == PythonBlock("for i in range(3):\n    write_file(f'{i}.txt', 'x')\n")


def test_a_reply_that_is_neither_says_what_was_expected():
    with pytest.raises(ActionUnclear, match="neither a tool call"):
        parse_action("I would write the file.")


def test_file_tools_refuse_every_way_out_of_the_workspace(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("s3cret")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    ws = Workspace(root)
    for path in ("../secret.txt", str(tmp_path / "secret.txt"), "link.txt", "sub/../../secret.txt"):
        with pytest.raises(OutsideWorkspace, match="outside the run's workspace"):
            ws.read_file(path)
    with pytest.raises(OutsideWorkspace):
        ws.write_file("../evil.txt", "x")
    assert not (tmp_path / "evil.txt").exists()
    assert ws.write_file("notes/a.txt", "hello") == "notes/a.txt"
    assert ws.read_file("notes/a.txt") == "hello"
    assert ws.list_files() == ["link.txt", "notes/a.txt"]


WRITE_HELLO = '{"tool": "write_file", "args": {"path": "hello.txt", "text": "hi"}}'


@both_backends
def test_a_direct_tool_call_runs_on_the_host_in_the_runs_workspace(make_engine):
    engine = make_engine(model=[{"match": "^Do this with the tools", "reply": WRITE_HELLO}])
    run_id, status = run(engine, "Write hi into hello.txt", "act")
    assert status == "done"
    assert node_states(engine, run_id)["1"]["output"] == {"mode": "tool", "tool": "write_file", "result": "hello.txt"}
    assert (engine.workspaces_dir / run_id / "hello.txt").read_text() == "hi"


def test_a_runs_workspace_is_beside_its_store_whatever_the_working_directory(make_engine, store_url, tmp_path,
                                                                             monkeypatch):
    """Beside the SQLite file; for a PostgreSQL store, beside swarm.toml: every process of one configuration finds
    a run's files there, whichever folder it was started in."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "swarm.toml").write_text("")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    engine = make_engine(model=[{"match": "^Do this with the tools", "reply": WRITE_HELLO}],
                         settings={"SWARM_CONFIG": str(tmp_path / "conf" / "swarm.toml")})
    run_id, status = run(engine, "Write hi into hello.txt", "act")
    assert status == "done"
    beside = tmp_path / "conf" if store_url.startswith("postgresql") else tmp_path  # the SQLite file: tmp_path/swarm.db
    assert (beside / "workspaces" / run_id / "hello.txt").read_text() == "hi"
    assert engine.workspaces_dir == beside / "workspaces"
    assert not (tmp_path / "elsewhere" / "workspaces").exists()


@both_backends
def test_a_python_block_runs_in_the_sandbox_and_reaches_files_only_through_the_tools(make_engine):
    code = "for i in range(3):\n    write_file(f'part{i}.txt', str(i))\nlist_files()"
    engine = make_engine(model=[{"match": "^Do this with the tools", "reply": f"```python\n{code}\n```"}])
    run_id, status = run(engine, "Write three parts", "act")
    assert status == "done"
    output = node_states(engine, run_id)["1"]["output"]
    assert output["mode"] == "python" and output["result"] == ["part0.txt", "part1.txt", "part2.txt"]
    assert sorted(os.listdir(engine.workspaces_dir / run_id)) == ["part0.txt", "part1.txt", "part2.txt"]


@both_backends
def test_sandboxed_code_cannot_use_the_tools_to_leave_the_workspace(make_engine, tmp_path):
    code = "write_file('../../escaped.txt', 'x')"
    engine = make_engine(model=[{"match": "^Do this with the tools", "reply": f"```python\n{code}\n```", "repeat": True}],
                         node_max_attempts=1)
    run_id, status = run(engine, "Escape", "act")
    assert status == "failed"
    assert "outside the run's workspace" in node_states(engine, run_id)["1"]["error"]
    assert not (engine.workspaces_dir.parent / "escaped.txt").exists()
