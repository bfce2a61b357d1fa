"""Budgets that mean nothing (NaN, infinity, negative, zero) are refused with one clear message wherever they come
in: a goal file, `swarm run --max-*`, [run] in swarm.toml or SWARM_RUN_*, Engine.create_run. A run recorded with
one by an older version (stored as null) no longer hangs the daemon: its goal goes to failed/ with an error file."""

from __future__ import annotations

import json

import pytest

from daemon_support import ModelServer, daemon_env, every_line_json, files, start_daemon, swarm, wait_for
from swarm.budgets import budget_problem
from swarm.config import load_config
from swarm.daemon import ledger
from swarm.daemon.goalfile import BadGoalFile, parse_goal
from swarm.engine import Engine
from swarm.errors import ConfigError, SwarmError
from store_support import raw_rows
from timeouts import scaled


@pytest.mark.parametrize("key, value, ok", [
    ("max_cost_usd", float("nan"), False), ("max_wall_s", float("inf"), False), ("max_cost_usd", -0.5, False),
    ("max_wall_s", 0, False), ("max_nodes", 0, False), ("max_nodes", 2.5, False), ("max_tokens", True, False),
    ("max_depth", 0, True), ("max_depth", -1, False), ("max_nodes", 50, True), ("max_cost_usd", 1, True),
])
def test_one_rule_for_every_budget(key, value, ok):
    assert (budget_problem(key, value) is None) is ok


@pytest.mark.parametrize("raw, shown", [
    (b'{"goal": "x", "max_cost_usd": NaN}', "nan"), (b'{"goal": "x", "max_wall_s": Infinity}', "inf"),
    (b'{"goal": "x", "max_wall_s": -Infinity}', "-inf"), (b'{"goal": "x", "max_cost_usd": -1}', "-1"),
])
def test_a_goal_file_with_a_budget_that_is_not_a_finite_positive_number_is_refused(raw, shown):
    with pytest.raises(BadGoalFile) as caught:
        parse_goal("g.json", raw, 1000)
    assert f"must be a finite number more than 0 (got {shown})" in str(caught.value)


@pytest.mark.parametrize("option, value", [
    ("--max-cost-usd", "nan"), ("--max-wall-s", "inf"), ("--max-cost-usd", "-1"), ("--max-wall-s", "0"),
    ("--max-nodes", "2.5"), ("--max-nodes", "0"), ("--max-tokens", "many"),
])
def test_swarm_run_refuses_such_budget_options_before_any_run(tmp_path, option, value):
    env = daemon_env(tmp_path, "http://127.0.0.1:9/v1")
    done = swarm(["run", "Plan a trip", option, value], env)
    assert done.returncode == 2
    assert f"argument {option}: must be a" in done.stderr and f"(got '{value}')" in done.stderr
    assert not (tmp_path / "swarm.db").exists()


@pytest.mark.parametrize("toml, message", [
    ("max_cost_usd = nan", "expected a finite number, got nan"),
    ("max_wall_s = inf", "expected a finite number, got inf"),
    ("max_cost_usd = -0.5", "[run].max_cost_usd must be a finite number more than 0 (got -0.5)"),
    ("max_nodes = 0", "[run].max_nodes must be a whole number more than 0 (got 0)"),
])
def test_swarm_toml_refuses_them(tmp_path, toml, message):
    config = tmp_path / "swarm.toml"
    config.write_text(f"[run]\n{toml}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert message in str(caught.value)
    assert "SWARM_RUN_" in str(caught.value) or "fix it in the file" in str(caught.value)


def test_the_environment_refuses_them(tmp_path):
    with pytest.raises(ConfigError, match="SWARM_RUN_MAX_WALL_S: expected a finite number, got nan"):
        load_config(env={"SWARM_RUN_MAX_WALL_S": "nan"})


def test_engine_create_run_refuses_them(tmp_path):
    engine = Engine(load_config(env={"SWARM_STORE": str(tmp_path / "swarm.db"), "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                                     "SWARM_TOOLSMITH_FOLDER": str(tmp_path / "generated")}))
    try:
        with pytest.raises(SwarmError, match="budget max_cost_usd must be a finite number more than 0"):
            engine.create_run("Plan a trip", script="write_text", budgets={"max_cost_usd": float("nan")})
        assert engine.store.runs() == []
    finally:
        engine.close()


def test_a_run_recorded_with_a_null_budget_goes_to_failed_and_the_daemon_goes_on(tmp_path, store_url):  # both backends
    """An older daemon stored NaN budgets as null; every drive of such a run raised TypeError and its file sat
    in processing/ with no error file. Now the goal is filed under failed/ saying why, and others run."""
    model = ModelServer(tmp_path, delay=0.0)
    try:
        folder = tmp_path / "goals"
        env = {**daemon_env(tmp_path, model.url, settle_ms=50), "SWARM_STORE_URL": store_url}
        engine = Engine(load_config(env=env))
        try:
            processing = folder / "processing"
            processing.mkdir(parents=True)
            (processing / "old.json").write_text(json.dumps({"goal": "Plan a trip", "script": "write_text"}))
            run_id = engine.create_run("Plan a trip", script="write_text", budgets={"max_cost_usd": 1.0})
            engine.store.update_run(run_id, budgets='{"max_cost_usd": null}')  # as the older version stored NaN
            ledger.record_claim(engine.store, str(folder.resolve()), "old.json", "old.json", "sha", run_id)
        finally:
            engine.close()
        (folder / "inbox").mkdir()
        (folder / "inbox" / "new.json").write_text(json.dumps({"goal": "Plan a walk", "script": "write_text"}))
        log = tmp_path / "daemon.log"
        daemon = start_daemon(folder, env, log)
        try:
            wait_for(lambda: "old.error.txt" in files(folder, "failed") and "new.result.md" in files(folder, "done"),
                     60, "the broken run filed and the other goal done")
        finally:
            daemon.terminate()
            assert daemon.wait(scaled(60)) == 0
        error = (folder / "failed" / "old.error.txt").read_text()
        assert f"its run {run_id} broke off with an internal error (TypeError" in error
        assert files(folder, "processing") == []
        events = every_line_json(log)
        assert [e["run"] for e in events if e["event"] == "run_error"] == [run_id]
        assert raw_rows(store_url, "SELECT count(*) FROM goals WHERE state != 'finished'") == [(0,)]
    finally:
        model.stop()
