"""The toolsmith: generated scripts and tools are tested in the sandbox, versioned, registered at runtime, and managed.

Real bubblewrap sandboxes, a real scripted model server on loopback, real files in tmp dirs.
"""

# SQLite only: the toolsmith's library is files (SWARM_TOOLSMITH_FOLDER), not the store, and these sandboxed runs
# are slow; a person's decision kept in the store is tested on both backends in test_approvals.py.

from __future__ import annotations

import asyncio
import json
import os

import pytest

from lifecycle_support import make_engine, node_states, script  # noqa: F401,F811  (make_engine is a fixture)
from swarm.cli import main
from swarm.human import PreparedAnswers

# No skip when bubblewrap is missing: .ci/setup installs it, and a sandbox test that did not run proves nothing.

SLUG_TESTS = [{"input": {"text": "Hello World"}, "expected": {"slug": "hello-world"}},
              {"input": {"text": "Rock & Roll!"}, "expected": {"slug": "rock-roll"}}]
BUGGY = "def execute(ctx):\n    return {'slug': ctx.data['text'].lower().replace(' ', '-')}\n"
FIXED = ("import re\n\ndef execute(ctx):\n"
         "    return {'slug': '-'.join(re.findall(r'[a-z0-9]+', ctx.data['text'].lower()))}\n")


def proposal(code: str, name: str = "slugify", **extra) -> dict:
    return {"name": name, "kind": "script", "description": "Turn a text into a URL slug.",
            "arguments": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "returns": {"type": "object"}, "dependencies": ["re"], "code": code, "tests": SLUG_TESTS, **extra}


@pytest.fixture
def engine_for(make_engine):
    """Factory: an Engine on tmp_path with a scripted model, test scripts, and extra SWARM_* settings."""

    def make(lines=(), *scripts, human=None, **env):
        return make_engine(*scripts, model=lines, human=human, settings={"SWARM_RUN_NODE_MAX_ATTEMPTS": "1", **env})

    return make


def run(engine, goal, script="route", **data):
    run_id, status = asyncio.run(engine.run(goal, script=script, data=data or None))
    return run_id, status, engine.store.run(run_id)


def result(row):
    return json.loads(row["result"]) if row["result"] else None


# --- make_tool -----------------------------------------------------------------------------------


def test_failing_tests_never_register_anything(engine_for, tmp_path):
    engine = engine_for([{"match": "^Write a new swarm", "reply": proposal(BUGGY), "repeat": True},
                         {"match": "^Fix this swarm", "reply": proposal(BUGGY), "repeat": True}])
    run_id, status, row = run(engine, "make slugs", "make_tool")
    assert status == "failed"
    assert "no version of 'slugify' passed its tests after 3 attempt(s)" in row["error"]
    assert [n["script"] for n in engine.store.node_states(run_id)].count("fix_tool") == 2  # [toolsmith].max_attempts = 3
    assert "slugify" not in engine.catalogue.scripts
    assert engine.toolsmith.library.names() == []


def test_a_version_that_fails_is_fixed_by_a_fix_tool_child_then_registered(engine_for):
    engine = engine_for([{"match": "^Write a new swarm", "reply": proposal(BUGGY)},
                         {"match": "^Fix this swarm.*expected \\{'slug': 'rock-roll'\\}", "reply": proposal(FIXED)}])
    run_id, status, row = run(engine, "make slugs", "make_tool")
    assert status == "done", row["error"]
    assert result(row) == {"name": "slugify", "version": 1, "kind": "script", "registered": True}
    assert "slugify" in engine.catalogue.scripts
    assert engine.toolsmith.library.get("slugify").code == FIXED


def test_a_registered_script_is_usable_by_the_very_next_node(engine_for):
    def build_then_use(ctx):
        if ctx.reports is None:
            return ctx.spawn([ctx.child("make_tool", goal="make slugs")])
        made = ctx.reports[0].output
        if ctx.reports[0].script == "make_tool":
            assert made["name"] in {s["name"] for s in ctx.scripts}  # what route would offer
            return ctx.spawn([ctx.child(made["name"], text="Swarms Write Tools")])
        return made

    engine = engine_for([{"match": "^Write a new swarm", "reply": proposal(FIXED)}],
                        script("build_then_use", build_then_use))
    assert "slugify" not in engine.catalogue.scripts
    run_id, status, row = run(engine, "x", "build_then_use")
    assert status == "done", row["error"]
    assert result(row) == {"slug": "swarms-write-tools"}


def test_route_offers_a_script_made_in_an_earlier_run_of_the_same_process(engine_for):
    engine = engine_for([
        {"match": "^Write a new swarm", "reply": proposal(FIXED)},
        {"match": "^Choose the node script.*Sub-goal: build", "reply": {"script": "make_tool"}},
        {"match": "^Choose the node script.*Sub-goal: slug it.*- slugify: Turn a text into a URL slug",
         "reply": {"script": "slugify", "data": {"text": "A B"}}},
    ])
    assert run(engine, "build a slugger")[1] == "done"
    run_id, status, row = run(engine, "slug it")
    assert status == "done", row["error"]
    assert result(row)["slug"] == "a-b"
    assert [n["script"] for n in node_states(engine, run_id).values()] == ["route", "slugify"]


def test_with_new_scripts_approval_a_person_decides_before_anything_is_registered(engine_for):
    lines = [{"match": "^Write a new swarm", "reply": proposal(FIXED)}]  # one reply: the re-execution replays it
    engine = engine_for(lines, SWARM_APPROVALS_NEW_SCRIPTS="true")
    run_id, status, _ = run(engine, "make slugs", "make_tool")
    assert status == "awaiting_approval"
    assert engine.toolsmith.library.versions("slugify") == []  # nothing saved before a person decides
    assert "slugify" not in engine.catalogue.scripts
    engine.human = PreparedAnswers({"*": "yes"})
    assert asyncio.run(engine.drive(run_id)) == "done"
    assert "slugify" in engine.catalogue.scripts
    assert result(engine.store.run(run_id))["registered"] is True


def test_a_person_saying_no_registers_nothing(engine_for):
    engine = engine_for([{"match": "^Write a new swarm", "reply": proposal(FIXED)}],
                        human=PreparedAnswers({"*": "no, not today"}), SWARM_APPROVALS_NEW_SCRIPTS="true")
    run_id, status, row = run(engine, "make slugs", "make_tool")
    assert status == "failed" and row["error"] == "rejected by a person: no, not today"
    assert "slugify" not in engine.catalogue.scripts
    assert engine.toolsmith.library.versions("slugify") == []


def test_a_name_taken_by_a_built_in_is_refused(engine_for):
    engine = engine_for()
    problems = engine.toolsmith.check(proposal(FIXED, name="route"))
    assert problems == ["name 'route' is already a registered node script; choose another name"]


# --- versions, rollback, disable -------------------------------------------------------------


def register(engine, prop):
    saved = engine.toolsmith.save(prop)
    assert engine.toolsmith.check(prop) == []
    engine.toolsmith.register(saved)
    return saved


V2 = FIXED.replace("'-'.join", "'_'.join")


def test_versions_live_side_by_side_and_rollback_activates_the_previous_one(engine_for, tmp_path):
    engine = engine_for()
    register(engine, proposal(FIXED))
    register(engine, proposal(V2, tests=[{"input": {"text": "A B"}, "expected": {"slug": "a_b"}}]))
    folder = tmp_path / "generated" / "slugify"
    assert (folder / "v1" / "code.py").read_text() == FIXED and (folder / "v2" / "code.py").read_text() == V2
    assert engine.catalogue.get("slugify").version == "2"
    assert result(run(engine, "x", "slugify", text="A B")[2]) == {"slug": "a_b"}
    assert engine.toolsmith.rollback("slugify") == 1
    assert engine.catalogue.get("slugify").version == "1"
    assert result(run(engine, "x", "slugify", text="A B")[2]) == {"slug": "a-b"}
    assert (folder / "v2" / "code.py").read_text() == V2  # never overwritten, never deleted


def test_a_disabled_script_is_not_registered_and_route_cannot_choose_it(engine_for):
    engine = engine_for([{"match": "^Choose the node script", "reply": {"script": "slugify"}, "repeat": True}])
    register(engine, proposal(FIXED))
    engine.toolsmith.disable("slugify")
    assert "slugify" not in engine.catalogue.scripts
    assert "slugify" not in {s["name"] for s in engine.catalogue.describe()}
    run_id, status, row = run(engine, "slug this")
    assert status == "failed" and "got 'slugify'" in row["error"]  # not among the choices route offered


def test_a_registered_script_is_retrievable_at_once_and_a_disabled_one_never_is(engine_for):
    engine = engine_for()
    assert "slugify" not in [c["name"] for c in engine.candidates("turn a title into a URL slug")]  # index built
    register(engine, proposal(FIXED))
    assert engine.candidates("turn a title into a URL slug", top_k=1)[0]["name"] == "slugify"
    engine.toolsmith.disable("slugify")
    assert "slugify" not in [c["name"] for c in engine.candidates("turn a title into a URL slug", top_k=50)]
    engine.toolsmith.disable("slugify", False)
    assert engine.candidates("turn a title into a URL slug", top_k=1)[0]["name"] == "slugify"


def test_a_script_disabled_by_another_process_does_not_run(engine_for, tmp_path):
    engine = engine_for()
    register(engine, proposal(FIXED))
    engine.toolsmith.library.set_disabled("slugify", True)  # as `swarm scripts disable` in another process does
    run_id, status, row = run(engine, "x", "slugify", text="a")
    assert status == "failed" and "disabled" in row["error"]


def test_a_new_process_registers_the_active_versions_it_finds(engine_for, tmp_path):
    register(engine_for(), proposal(FIXED))
    fresh = engine_for()
    assert "slugify" in fresh.catalogue.scripts


# --- the sandbox is the boundary -------------------------------------------------------------------


def test_generated_code_runs_in_the_sandbox_not_in_the_host(engine_for, tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    monkeypatch.setenv("SWARM_TEST_CANARY", "host-secret")
    code = ("import os\n\ndef peek(path):\n"
            "    return {'env': os.environ.get('SWARM_TEST_CANARY'), 'file': os.path.exists(path), 'pid_ns': os.getpid()}\n")
    tool = {"name": "peek", "kind": "tool", "description": "Look around.", "dependencies": ["os", "posixpath"], "code": code,
            "tests": [{"input": {"path": "/nonexistent"}}]}
    engine = engine_for(SWARM_PYTHON_AUTHORIZED_IMPORTS="os,posixpath,re")
    register(engine, tool)
    seen = engine.catalogue.tools["peek"](path=str(secret))
    assert seen["env"] is None and seen["file"] is False
    assert seen["pid_ns"] != os.getpid()


def test_a_generated_script_calls_the_model_through_ctx_llm_once(engine_for):
    code = "def execute(ctx):\n    reply = ctx.llm('Say a word about ' + ctx.goal)\n    return {'word': reply['text'].upper()}\n"
    prop = {"name": "shout", "kind": "script", "description": "Shout a word.", "code": code,
            "tests": [{"input": {"goal": "x"}, "llm_reply": "hey", "expected": {"word": "HEY"}}]}
    engine = engine_for([{"match": "^Say a word about cats", "reply": "meow"}])
    register(engine, prop)
    run_id, status, row = run(engine, "cats", "shout")
    assert status == "done", row["error"]
    assert result(row) == {"word": "MEOW"}


def test_a_generated_script_spawns_children_through_ctx_spawn(engine_for):
    code = ("def execute(ctx):\n    if ctx.reports is None:\n"
            "        return ctx.spawn([ctx.child('slugify', text=t) for t in ctx.data['texts']])\n"
            "    return [r['output']['slug'] for r in ctx.reports]\n")
    prop = {"name": "slug_all", "kind": "script", "description": "Slug many texts.", "code": code,
            "tests": [{"input": {"texts": ["a"]}, "expected": {"swarm_spawn": {"children": [
                {"script": "slugify", "data": {"text": "a"}}], "policy": "all"}}}]}
    engine = engine_for()
    register(engine, proposal(FIXED))
    register(engine, prop)
    run_id, status, row = run(engine, "x", "slug_all", texts=["A b", "C d"])
    assert status == "done", row["error"]
    assert result(row) == ["a-b", "c-d"]


# --- plugins written by people -------------------------------------------------------------------


def test_every_file_of_the_plugins_folder_is_registered(engine_for, tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "echo.py").write_text(
        "from swarm import NodeScript, hookimpl\n\n"
        "@hookimpl\ndef swarm_node_scripts():\n"
        "    return [NodeScript(name='echo', description='Echo the input.', execute=lambda ctx: ctx.data)]\n")
    engine = engine_for(SWARM_TOOLSMITH_PLUGINS_FOLDER=str(folder))
    assert "echo" in engine.catalogue.scripts


def test_the_swarm_plugins_entry_point_group_is_loaded():
    from swarm import catalogue

    assert "swarm.plugins" in catalogue.ENTRY_POINT_GROUPS


# --- swarm scripts ------------------------------------------------------------------------------------


def test_swarm_scripts_list_show_test_disable_enable_rollback(engine_for, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SWARM_TOOLSMITH_FOLDER", str(tmp_path / "generated"))
    monkeypatch.chdir(tmp_path)
    engine = engine_for()
    register(engine, proposal(FIXED))
    register(engine, proposal(V2, tests=[{"input": {"text": "A B"}, "expected": {"slug": "a_b"}}]))
    capsys.readouterr()

    assert main(["scripts", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["slugify"]["origin"] == "generated" and rows["slugify"]["version"] == "v2"
    assert rows["route"]["origin"] == "builtin"

    assert main(["scripts", "show", "slugify", "--version", "1"]) == 0
    assert FIXED in capsys.readouterr().out

    assert main(["scripts", "test", "slugify"]) == 0
    assert "slugify v2: 1 test(s) passed" in capsys.readouterr().out

    assert main(["scripts", "disable", "slugify"]) == 0
    assert engine.toolsmith.library.state("slugify")["disabled"] is True
    assert main(["scripts", "enable", "slugify"]) == 0
    assert main(["scripts", "rollback", "slugify"]) == 0
    assert engine.toolsmith.library.state("slugify") == {"active": 1, "disabled": False, "activated": [1, 2]}
    assert main(["scripts", "show", "nope"]) == 2
    assert "no node script named 'nope'" in capsys.readouterr().err


def test_swarm_scripts_test_exits_1_when_a_stored_test_fails(engine_for, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SWARM_TOOLSMITH_FOLDER", str(tmp_path / "generated"))
    engine = engine_for()
    saved = register(engine, proposal(FIXED))
    meta = json.loads((saved.path / "meta.json").read_text())
    meta["tests"][0]["expected"] = {"slug": "wrong"}
    (saved.path / "meta.json").write_text(json.dumps(meta))
    assert main(["scripts", "test", "slugify"]) == 1
    assert "FAIL test 1" in capsys.readouterr().out
