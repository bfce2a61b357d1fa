"""Goal files: what the daemon accepts from its watched folder, and what it refuses with a useful message."""

from __future__ import annotations

import os
import time

import pytest

from swarm.daemon.folder import Settler, free_name, side_file, write_atomically
from swarm.daemon.goalfile import BadGoalFile, Goal, is_partial, parse_goal
from swarm.daemon.report import error_text, result_markdown

MAX = 1000


def refused(name: str, raw: bytes, max_bytes: int = MAX) -> str:
    with pytest.raises(BadGoalFile) as caught:
        parse_goal(name, raw, max_bytes)
    return str(caught.value)


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trip.md", "trip.txt", "TRIP.MD"])
def test_a_text_file_is_the_goal_itself(name):
    assert parse_goal(name, b"  Plan a trip to Lisbon\n", MAX) == Goal(text="Plan a trip to Lisbon")


def test_a_utf8_bom_and_non_ascii_text_are_fine():
    assert parse_goal("g.txt", "\ufeffPlan a trip to Łódź".encode("utf-8"), MAX).text == "Plan a trip to Łódź"


def test_json_with_goal_budgets_model_and_script():
    raw = b'{"goal": "Plan", "max_nodes": 40, "max_cost_usd": 1, "max_wall_s": 2.5, "model": "gpt-4o", "script": "write_text"}'
    goal = parse_goal("g.json", raw, MAX)
    assert goal == Goal(text="Plan", script="write_text", model="gpt-4o",
                        budgets={"max_nodes": 40, "max_cost_usd": 1.0, "max_wall_s": 2.5})


def test_toml_with_goal_and_budgets():
    raw = b'goal = "Plan a trip"\nmax_depth = 3\nmax_tokens = 5000\n'
    goal = parse_goal("g.toml", raw, MAX)
    assert goal.text == "Plan a trip" and goal.budgets == {"max_depth": 3, "max_tokens": 5000}
    assert goal.script is None and goal.model is None  # the engine's [run].root_script


# --- refused, with what is wrong and what to do ----------------------------------------------


def test_empty_and_blank_files_are_refused():
    assert "is empty" in refused("e.txt", b"")
    assert "is empty" in refused("e.md", b"  \n\t\n")


def test_binary_files_are_refused():
    assert "binary" in refused("b.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00")


def test_text_that_is_not_utf8_is_refused_naming_the_byte():
    message = refused("l.txt", "Plan a trip to Málaga".encode("latin-1"))
    assert "not UTF-8" in message and "0xe1" in message and "save it as UTF-8" in message


def test_too_large_files_are_refused_naming_the_setting():
    message = refused("big.txt", b"x" * (MAX + 1))
    assert "too large" in message and "[daemon].max_goal_bytes" in message
    assert "5000 bytes" in str(pytest.raises(BadGoalFile, parse_goal, "big.txt", b"x" * (MAX + 1), MAX, 5000).value)


def test_invalid_json_says_where():
    message = refused("g.json", b'{"goal": "x",}')
    assert "not valid JSON" in message and "line 1" in message


def test_json_that_is_not_an_object_is_refused():
    assert "not an object" in refused("g.json", b'["Plan a trip"]')


def test_invalid_toml_is_refused_with_an_example():
    message = refused("g.toml", b'goal = "unterminated\n')
    assert "not valid TOML" in message and 'goal = "Plan' in message


def test_unknown_keys_are_refused_listing_the_known_ones():
    message = refused("g.json", b'{"goal": "x", "max_node": 3, "colour": "red"}')
    assert "unknown key(s) colour, max_node" in message and "max_nodes" in message


def test_a_table_without_a_goal_is_refused():
    assert "has no `goal`" in refused("g.toml", b"max_nodes = 3\n")


@pytest.mark.parametrize("raw, key", [
    (b'{"goal": 3}', "goal"),
    (b'{"goal": "  "}', "goal"),
    (b'{"goal": "x", "max_nodes": 2.5}', "max_nodes"),
    (b'{"goal": "x", "max_nodes": true}', "max_nodes"),
    (b'{"goal": "x", "max_cost_usd": "1"}', "max_cost_usd"),
    (b'{"goal": "x", "max_wall_s": -1}', "max_wall_s"),
    (b'{"goal": "x", "model": ""}', "model"),
    (b'{"goal": "x", "script": 7}', "script"),
])
def test_wrong_types_are_refused_naming_the_key(raw, key):
    assert f"`{key}` must be" in refused("g.json", raw)


def test_other_file_types_are_refused():
    assert "not goal files" in refused("notes.docx", b"Plan a trip")
    assert "(no extension)" in refused("README", b"Plan a trip")


@pytest.mark.parametrize("name, partial", [
    (".trip.md", True), ("trip.md.tmp", True), ("trip.md.part", True), ("trip.md~", True), ("~trip.md", True),
    ("trip.md", False), ("trip.toml", False),
])
def test_names_of_files_still_being_written_are_never_taken(name, partial):
    assert is_partial(name) is partial


# --- the folder's rules ----------------------------------------------------------------------------


def test_free_name_adds_a_suffix_instead_of_overwriting(tmp_path):
    assert free_name(tmp_path, "trip.md", side_files=True) == tmp_path / "trip.md"
    (tmp_path / "trip.md").write_text("first")
    assert free_name(tmp_path, "trip.md", side_files=True) == tmp_path / "trip-2.md"
    (tmp_path / "trip-2.result.md").write_text("a result left alone")  # its side file takes the name too
    assert free_name(tmp_path, "trip.md", side_files=True) == tmp_path / "trip-3.md"
    assert free_name(tmp_path, "trip.md", side_files=False) == tmp_path / "trip-2.md"


def test_side_files_sit_next_to_the_goal_file(tmp_path):
    assert side_file(tmp_path / "trip.toml", ".result.md") == tmp_path / "trip.result.md"
    assert side_file(tmp_path / "trip-2.md", ".error.txt") == tmp_path / "trip-2.error.txt"


def test_write_atomically_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "r.md"
    write_atomically(target, "one")
    write_atomically(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]


def test_a_file_is_ready_only_after_it_stayed_the_same_for_the_settle_time(tmp_path):
    now = [100.0]
    settler = Settler(2.0, clock=lambda: now[0])  # fake seconds far longer than this test's real ones
    path = tmp_path / "slow.txt"
    path.write_text("Plan")
    settler.note(path)
    assert settler.ready() == []
    now[0] += 1.5
    with open(path, "a") as f:  # still being written: the quiet period starts again
        f.write(" a trip")
    time.sleep(0.01)  # so the mtime differs even on coarse clocks
    assert settler.ready() == []
    now[0] += 1.5
    assert settler.ready() == []
    now[0] += 1.0
    assert settler.ready() == [path]
    path.unlink()
    assert settler.ready() == [] and path not in settler.seen


def test_a_file_unchanged_since_long_before_it_was_seen_is_ready_at_once(tmp_path):
    path = tmp_path / "old.txt"
    path.write_text("Plan a trip")
    os.utime(path, (time.time() - 60, time.time() - 60))
    settler = Settler(0.2, clock=lambda: 100.0)
    settler.note(path)
    assert settler.ready() == [path]


def test_result_and_error_files_say_what_happened():
    run = {"id": "R1", "status": "done", "goal": "Plan", "result": '{"answer": "Go on Tuesday."}',
           "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.0012, "nodes": 3}
    text = result_markdown("trip.md", run)
    assert "Go on Tuesday." in text and "`swarm history R1`" in text and "$0.0012" in text and "15 (10 prompt" in text
    failed = result_markdown("trip.md", {**run, "status": "stopped", "result": None, "stop_reason": "budget: max_nodes=3 reached"})
    assert "max_nodes=3" in failed and "## No answer" in failed
    assert "What is wrong: x.txt is empty" in error_text("x.txt", "x.txt is empty")


def test_every_problem_of_a_table_is_reported_at_once():
    message = refused("g.json", b'{"goal": 3, "colour": "red", "max_nodes": 0, "max_cost_usd": NaN}')
    assert message.startswith("g.json has 4 problems: (1) unknown key(s) colour")
    assert "(2) `goal` must be a non-empty string (got 3)" in message
    assert "(3) `max_nodes` must be a whole number more than 0 (got 0)" in message
    assert "(4) `max_cost_usd` must be a finite number more than 0 (got nan)" in message


@pytest.mark.parametrize("name, raw", [
    ("deep.json", b'{"goal": ' + b"[" * 30000 + b"]" * 30000 + b"}"),
    ("deep.toml", b"goal = " + b"[" * 30000 + b"]" * 30000),
    ("deep2.toml", b"goal = " + b"{a = " * 5000 + b"1" + b"}" * 5000),
])
def test_a_file_nested_thousands_deep_is_refused_not_a_crash(name, raw):
    assert "nested too deeply" in refused(name, raw, max_bytes=10**6)


def test_text_json_cannot_hold_is_refused():
    assert "lone surrogate \\ud800" in refused("g.json", b'{"goal": "Plan \\ud800"}')


def test_names_are_made_safe_to_file_and_record():
    from swarm.daemon.folder import NAME_MAX, safe_name

    assert safe_name("trip.md") == "trip.md"
    assert safe_name(os.fsdecode(b"caf\xff.md")) == "caf\ufffd.md"  # valid UTF-8, so SQLite and logs take it
    long = safe_name("x" * 251 + ".md")
    assert long.endswith(".md") and "~" in long and long != safe_name("x" * 250 + "y.md")
    for kind in (".result.md", ".error.txt"):
        assert len((long[:-3] + "-99999" + kind).encode()) <= NAME_MAX
    odd = safe_name("a." + "e" * 250)  # an "extension" that long is part of the stem: its side files fit too
    assert len((odd + ".result.md").encode()) <= NAME_MAX
