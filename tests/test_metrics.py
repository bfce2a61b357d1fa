"""Metrics: `swarm.metrics.stats`, `prometheus_text` and `swarm stats`, over real scripted runs."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import pytest
from lifecycle_support import ask_model, events, make_engine, run, script  # noqa: F401
from obs_support import backend_store, cli_store, scenario_engine, scenario_run
from prometheus_client.parser import text_string_to_metric_families

from swarm.errors import UnknownRun
from swarm.metrics import _labels, prometheus_text, quantile, stats
from swarm.testing.pytest_plugin import backends

# Every test that reads a store runs on SQLite and on PostgreSQL: those of the scenario through its fixture's
# parameters (one run per backend for the module), the others through store_url.
both_backends = pytest.mark.usefixtures("store_url")


@pytest.fixture(scope="module", params=backends())
def scenario(tmp_path_factory, request):
    """The scenario run of obs_support, finished, on each backend: (engine, run id). Read only."""
    folder = tmp_path_factory.mktemp("metrics")
    with backend_store(request, folder) as url, scenario_run(folder, store_url=url) as found:
        yield found


def test_stats_of_a_run_count_its_nodes_by_status_and_script(scenario):
    engine, run_id = scenario
    s = stats(engine.store, run_id)
    assert s["scope"] == run_id and s["run"]["status"] == "done"
    assert s["nodes"] == {"total": 6, "by_status": {"done": 5, "failed": 1}}
    assert s["scripts"]["ask"] == {"nodes": 2, "executions": 2, "by_status": {"done": 2}}
    assert s["scripts"]["boom"] == {"nodes": 1, "executions": 2, "by_status": {"failed": 1}}  # retried once
    assert s["scripts"]["plan"]["executions"] == 2  # down, then up with the reports


def test_stats_of_a_run_give_its_completion_time(scenario):
    engine, run_id = scenario
    run_row = engine.store.run(run_id)
    r = stats(engine.store, run_id)["run"]
    assert r["duration_s"] == pytest.approx(run_row["finished_at"] - run_row["created_at"], abs=1e-3)
    assert 0 < r["duration_s"] and 0 < r["active_s"] <= r["duration_s"] + 0.01


def test_failed_executions_are_grouped_by_error_type(scenario):
    engine, run_id = scenario
    errors = stats(engine.store, run_id)["errors"]
    assert errors["executions"] == 8
    assert errors["failed_executions"] == 2 and errors["by_type"] == {"ValueError": 2}
    assert errors["rate"] == 0.25
    assert errors["failed_nodes"] == 1 and errors["failed_nodes_by_type"] == {"ValueError": 1}


def test_tokens_and_cost_are_counted_per_model(scenario):
    engine, run_id = scenario
    s = stats(engine.store, run_id)
    model = s["models"]["gpt-4o-mini"]
    assert (model["calls"], model["errors"], model["prompt_tokens"], model["completion_tokens"]) == (2, 0, 22, 5)
    assert model["cost_usd"] == pytest.approx((22 * 1.0 + 5 * 2.0) / 1e6)
    assert model["latency_ms"]["count"] == 2 and model["latency_ms"]["median"] > 0
    assert s["llm"]["calls"] == 2 and s["llm"]["cost_usd"] == pytest.approx(model["cost_usd"])


def test_tool_calls_are_recorded_in_the_history_and_counted(scenario):
    engine, run_id = scenario
    recorded = [e for e in events(engine, run_id) if e["kind"] == "tool_calls"]
    assert [e["node_id"] for e in recorded] == ["1.3"]
    calls = recorded[0]["detail"]["calls"]
    assert [(c["tool"], c["ok"]) for c in calls] == [("write_file", True), ("read_file", False), ("read_file", True)]
    assert "missing.txt" in calls[1]["error"]
    tools = stats(engine.store, run_id)["tools"]
    assert tools["read_file"]["calls"] == 2 and tools["read_file"]["errors"] == 1
    assert tools["write_file"]["calls"] == 1 and tools["write_file"]["errors"] == 0


@both_backends
def test_stats_of_all_runs_give_median_and_p95_completion_time(make_engine):
    engine = scenario_engine(make_engine)
    ids = [run(engine, f"goal {i}", "plan")[0] for i in range(3)]
    s = stats(engine.store)
    assert s["scope"] == "all" and "run" not in s
    assert s["runs"]["count"] == 3 and s["runs"]["by_status"] == {"done": 3}
    durations = sorted(r["finished_at"] - r["created_at"] for r in map(engine.store.run, ids))
    assert s["runs"]["duration_s"]["count"] == 3
    assert s["runs"]["duration_s"]["median"] == pytest.approx(durations[1], abs=1e-3)
    assert s["runs"]["duration_s"]["p95"] == pytest.approx(quantile(durations, 0.95), abs=1e-3)
    assert s["nodes"]["total"] == 18 and s["models"]["gpt-4o-mini"]["calls"] == 6


@both_backends
def test_failed_model_calls_are_counted_by_error_type(make_engine):
    engine = make_engine(script("ask", ask_model), model=[{"fault": "500", "repeat": True}], node_max_attempts=1)
    run_id, status = run(engine, "ask", "ask", data={"question": "anyone there?"})
    assert status == "failed"
    llm = stats(engine.store, run_id)["llm"]
    assert llm["calls"] == 1 and llm["errors"] == 1 and llm["error_rate"] == 1.0
    ((kind, count),) = llm["errors_by_type"].items()
    assert count == 1 and kind and " " not in kind
    assert stats(engine.store, run_id)["models"]["unknown"]["errors"] == 1  # no reply, so no model name


@both_backends
def test_stats_of_a_paused_run_follow_it_when_it_goes_on(make_engine):
    from swarm.human import PreparedAnswers

    def careful(ctx):
        return ctx.answer if ctx.answer is not None else ctx.ask_human("go on?")

    paused = make_engine(script("careful", careful))
    run_id, status = run(paused, "ask first", "careful")
    assert status == "awaiting_approval"
    assert stats(paused.store, run_id)["nodes"]["by_status"] == {"awaiting_approval": 1}
    answering = make_engine(script("careful", careful), human=PreparedAnswers({"*": "yes"}))
    assert asyncio.run(answering.drive(run_id)) == "done"
    after = stats(answering.store, run_id)
    assert after["nodes"]["by_status"] == {"done": 1} and after["scripts"]["careful"]["executions"] == 2
    assert stats(answering.store, run_id) == after  # an ended run: read once, then kept


def test_stats_of_an_unknown_run_say_so(scenario):
    engine, _ = scenario
    with pytest.raises(UnknownRun):
        stats(engine.store, "no-such-run")


def test_quantiles_interpolate_between_ranks():
    assert quantile([], 0.5) is None
    assert quantile([3.0], 0.95) == 3.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile(list(map(float, range(101))), 0.95) == 95.0


# --- Prometheus ------------------------------------------------------------------------------------

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? '
                    r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')


def test_prometheus_text_is_valid_exposition_format_line_by_line(scenario):
    text = prometheus_text(scenario[0].store)
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped") and name in helped
            declared[name] = kind
        else:
            assert SAMPLE.match(line), line
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            family = next(f for f in declared if name == f or name in (f + "_sum", f + "_count"))
            assert family == list(declared)[-1], f"{line} is not under its own TYPE line"
    assert {"swarm_runs", "swarm_nodes", "swarm_llm_tokens_total", "swarm_llm_cost_usd_total",
            "swarm_node_errors_total", "swarm_run_duration_seconds", "swarm_tool_calls_total"} <= set(declared)


def test_prometheus_text_parses_with_the_reference_parser_and_holds_the_counts(scenario):
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(scenario[0].store))}

    def value(family: str, sample: str | None = None, **labels: str) -> float:
        return next(s.value for s in families[family].samples
                    if s.name == (sample or family) and all(s.labels.get(k) == v for k, v in labels.items()))

    assert families["swarm_llm_tokens"].type == "counter"  # the parser drops a counter's _total
    assert value("swarm_llm_tokens", "swarm_llm_tokens_total", model="gpt-4o-mini", kind="input") == 22
    assert value("swarm_llm_tokens", "swarm_llm_tokens_total", model="gpt-4o-mini", kind="output") == 5
    assert value("swarm_llm_cost_usd", "swarm_llm_cost_usd_total", model="gpt-4o-mini") == pytest.approx(3.2e-5)
    assert value("swarm_runs", status="done") == 1
    assert value("swarm_nodes", status="failed", script="boom") == 1
    assert value("swarm_node_errors", "swarm_node_errors_total", type="ValueError") == 2
    assert value("swarm_tool_calls", "swarm_tool_calls_total", tool="read_file", outcome="error") == 1
    assert families["swarm_run_duration_seconds"].type == "summary"
    assert value("swarm_run_duration_seconds", "swarm_run_duration_seconds_count") == 1


def test_prometheus_label_values_are_escaped():
    assert _labels({"type": 'say "hi"\\now\nthen'}) == '{type="say \\"hi\\"\\\\now\\nthen"}'


@both_backends
def test_prometheus_text_of_an_empty_store_is_still_valid(make_engine):
    engine = make_engine()
    families = list(text_string_to_metric_families(prometheus_text(engine.store)))
    assert {f.name for f in families} >= {"swarm_runs", "swarm_nodes"}
    assert all(s.value == 0 for f in families for s in f.samples)


# --- the command line ------------------------------------------------------------------------------


def swarm(engine, *args: str) -> subprocess.CompletedProcess:
    """`swarm ARGS` in another process, on the engine's store."""
    env = {**cli_store(engine), "PATH": "/usr/bin:/bin"}
    import os

    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=engine.config.path(engine.config.store.path).parent)


def test_swarm_stats_prints_readable_tables(scenario):
    engine, run_id = scenario
    done = swarm(engine, "stats", run_id)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"run {run_id}: done" in out and "completion time:" in out
    assert re.search(r"^boom\s+1\s+2\s+0\s+1$", out, re.M), out  # SCRIPT NODES EXECUTIONS DONE FAILED
    assert re.search(r"^ValueError\s+2\s+1$", out, re.M)
    assert re.search(r"^gpt-4o-mini\s+2\s+0\s+22\s+5\s", out, re.M)
    assert re.search(r"^read_file\s+2\s+1\s", out, re.M)


def test_swarm_stats_json_of_all_runs(scenario):
    engine, run_id = scenario
    done = swarm(engine, "stats", "--json")
    assert done.returncode == 0, done.stderr
    s = json.loads(done.stdout)
    assert s["scope"] == "all" and s["runs"]["count"] == 1 and s["nodes"]["total"] == 6
    assert s == json.loads(json.dumps(stats(engine.store)))


def test_swarm_stats_prometheus(scenario):
    engine, _ = scenario
    done = swarm(engine, "stats", "--prometheus")
    assert done.returncode == 0, done.stderr
    assert 'swarm_llm_tokens_total{model="gpt-4o-mini",kind="input"} 22' in done.stdout.splitlines()


def test_swarm_stats_of_an_unknown_run_is_an_error(scenario):
    engine, _ = scenario
    done = swarm(engine, "stats", "nope-nope")
    assert done.returncode != 0
    assert done.stderr.startswith("swarm: error:") and "nope-nope" in done.stderr


@both_backends
def test_replies_mended_by_json_repair_are_counted(make_engine):
    engine = make_engine(model=[{"match": "^Break this goal down", "reply": '{subgoals: ["Say hello"]'},
                                {"match": "^Choose the node script", "reply": {"script": "write_text"}},
                                {"reply": "hello", "repeat": True}])
    run_id, _ = run(engine, "Greet the world", "break_down_goal")
    llm = stats(engine.store, run_id)["llm"]
    assert llm["json_repaired"] == 1
    assert stats(engine.store)["llm"]["json_repaired"] == 1
