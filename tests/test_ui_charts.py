"""The viewer's Stats charts and run controls, from real runs: the charts' numbers (GET /api/stats/charts)
and the SVG the page draws from them in headless Chromium (one bar per bucket, each bar the API's number,
heights in proportion, following runs as they end); a fork made through the API marked on the open page,
with the nodes it carried from its parent; pause, go on and resume from the page of a run another thread
drives, seen in the store. (A node's time over all its rounds: tests/test_ui.py.)"""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from lifecycle_support import ask_model, make_engine, scaled, script  # noqa: F401
from swarm import metrics
from swarm.ui import axes
from ui_support import ARTIFACTS, browser, drive_in_thread, finish_run, page, request, start_ui, until, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


def plan(ctx):
    """Three questions in parallel; on the way up, their answers joined."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question=q) for q in ("slow: spell swarm", "what is 2+2?", "name a colour")])
    return " / ".join(str(r.output) for r in ctx.reports)


def broken(ctx):
    raise LookupError("no such city in the atlas")


MODEL = [
    {"match": "^slow", "reply": "s-w-a-r-m", "delay_s": 0.4, "usage": {"prompt_tokens": 30, "completion_tokens": 4},
     "repeat": True},
    {"match": "2\\+2", "reply": "four", "usage": {"prompt_tokens": 20, "completion_tokens": 1}, "repeat": True},
    {"reply": "blue", "usage": {"prompt_tokens": 12, "completion_tokens": 2}, "repeat": True},
]


@pytest.fixture
def engine(make_engine):
    engine = make_engine(script("plan", plan), script("ask", ask_model), script("broken", broken), model=MODEL,
                         node_max_attempts=2)
    engine.config.model.prices = {engine.config.model.model: {"input": 1000.0, "output": 3000.0}}  # USD per 1M tokens
    return engine


def charts_of(server, run_id: str | None = None) -> dict:
    status, body = request(server.url + "api/stats/charts" + (f"?run={run_id}" if run_id else ""),
                           headers={"X-Swarm-Token": server.token})
    assert status == 200, body
    return body


def drawn(page, chart: str) -> list[dict]:
    """The bars of one chart as the page drew them: the number each stands for and its rectangles' heights."""
    return page.evaluate(f"""[...document.querySelectorAll('#{chart} svg g.bar')].map((g) => ({{
        value: Number(g.dataset.value), data: {{...g.dataset}},
        height: [...g.querySelectorAll('rect')].reduce((s, r) => s + Number(r.getAttribute('height')), 0)}}))""")


def assert_in_proportion(bars: list[dict]) -> None:
    """Every bar's height is its number on one scale (to the 0.01 px the page rounds to)."""
    scaled_bars = [b for b in bars if b["value"] > 0]
    assert scaled_bars
    px_per_unit = max(b["height"] / b["value"] for b in scaled_bars)
    for b in bars:
        assert abs(b["height"] - b["value"] * px_per_unit) <= 0.05, (b, px_per_unit)


# --- the axes: pure numbers ----------------------------------------------------------------------------------


def test_a_histogram_counts_each_value_once_in_round_buckets_from_zero():
    out = axes.histogram([0.1, 0.25, 1.0, 3.2, 3.3])
    assert out["edges"] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert out["counts"] == [2, 0, 1, 0, 0, 0, 2] and out["count"] == 5


def test_the_largest_value_falls_in_the_last_bucket_not_past_it():
    out = axes.histogram([0.0, 4.0, 12.0], buckets=12)
    assert out["edges"][-1] == 12.0 and out["counts"][-1] == 1 and sum(out["counts"]) == 3


def test_no_values_make_no_buckets():
    assert axes.histogram([]) == {"count": 0, "edges": [], "counts": []}


def test_a_time_axis_covers_first_to_last_in_round_steps():
    start, width, n = axes.time_axis(1_700_000_000.5, 1_700_003_600.0)
    assert width == 300 and start % 300 == 0 and start <= 1_700_000_000.5 < 1_700_003_600.0 < start + n * width
    start, width, n = axes.time_axis(1000.003, 1000.9)  # a scripted run's calls, a second apart at most
    assert width == 0.1 and start == 1000.0 and n == 9


def test_a_time_axis_is_never_finer_than_a_millisecond_and_starts_at_or_before_the_first_call():
    for first, span, buckets in [(845_572_552.54354, 0.0007, 60), (1_795_791_371.31, 0.0, 12), (1_000.0, 86_400 * 30, 12)]:
        start, width, n = axes.time_axis(first, first + span, buckets)
        assert width >= 0.001 and start <= first and first + span < start + n * width + 1e-6 and n <= buckets + 2


def test_failures_by_type_come_from_executions_model_calls_and_tools_most_frequent_first():
    stats = {"errors": {"by_type": {"LookupError": 2}}, "llm": {"errors_by_type": {"ModelUnavailable": 1}},
             "tools": {"git_log": {"errors_by_type": {"McpToolError": 3}}, "now": {"errors_by_type": {}}}}
    assert axes.failures(stats) == [{"type": "McpToolError", "source": "tool calls", "count": 3},
                                    {"type": "LookupError", "source": "executions", "count": 2},
                                    {"type": "ModelUnavailable", "source": "model calls", "count": 1}]


# --- the API ----------------------------------------------------------------------------------------------------


def test_the_charts_numbers_add_up_to_what_the_store_recorded(engine):
    ended = [finish_run(engine, f"questions {i}", "plan", timeout=scaled(30)) for i in range(3)]
    failed = finish_run(engine, "find the city", "broken", timeout=scaled(30))
    assert [s for _, s in ended] == ["done"] * 3 and failed[1] == "failed"
    with start_ui(engine) as server:
        every = charts_of(server)
        one = charts_of(server, ended[0][0])
        status, bad = request(server.url + "api/stats/charts?buckets=0", headers={"X-Swarm-Token": server.token})
        assert status == 400 and "buckets" in bad["error"]
        assert request(server.url + "api/stats/charts?run=no-such-run", headers={"X-Swarm-Token": server.token})[0] == 404
    calls = [c for run_id, _ in ended for c in engine.store.llm_calls(run_id)]

    assert every["scope"] == "all" and every["completion"]["of"] == "runs"
    assert every["completion"]["count"] == 4 == sum(every["completion"]["counts"])
    assert len(every["completion"]["edges"]) == len(every["completion"]["counts"]) + 1
    usage = every["usage"]
    assert sum(usage["calls"]) == len(calls) == 9
    assert sum(usage["prompt_tokens"]) == sum(c["prompt_tokens"] for c in calls)
    assert sum(usage["tokens"]) == sum(c["prompt_tokens"] + c["completion_tokens"] for c in calls)
    assert abs(sum(usage["cost_usd"]) - sum(c["cost_usd"] for c in calls)) < 1e-9 and sum(usage["cost_usd"]) > 0
    assert min(c["at"] for c in calls) >= usage["start"]
    assert max(c["at"] for c in calls) < usage["start"] + len(usage["calls"]) * usage["width_s"]
    by_type = metrics.stats(engine.store)["errors"]["by_type"]
    assert {"type": "LookupError", "source": "executions", "count": by_type["LookupError"]} in every["failures"]
    assert by_type["LookupError"] == 2  # tried twice (node_max_attempts=2), both recorded

    assert one["scope"] == ended[0][0] and one["completion"]["of"] == "nodes"
    assert one["completion"]["count"] == 4  # the root and its three questions
    assert sum(one["usage"]["calls"]) == 3 and one["failures"] == []


# --- the page ----------------------------------------------------------------------------------------------------


def test_the_stats_tab_draws_one_bar_per_bucket_with_the_api_s_numbers(engine, page):
    for i in range(3):
        finish_run(engine, f"questions {i}", "plan", timeout=scaled(30))
    finish_run(engine, "find the city", "broken", timeout=scaled(30))
    with start_ui(engine) as server:
        api = charts_of(server)
        page.goto(server.page_url)
        page.click('.tab[data-tab="stats"]')
        page.locator("#chart-failures svg g.bar").first.wait_for()

        completion = drawn(page, "chart-completion")
        assert [b["value"] for b in completion] == api["completion"]["counts"]
        assert [float(b["data"]["from"]) for b in completion] == api["completion"]["edges"][:-1]
        assert_in_proportion(completion)

        tokens = drawn(page, "chart-tokens")
        assert [b["value"] for b in tokens] == api["usage"]["tokens"]
        assert [int(b["data"]["prompt"]) for b in tokens] == api["usage"]["prompt_tokens"]
        assert [int(b["data"]["calls"]) for b in tokens] == api["usage"]["calls"]
        assert_in_proportion(tokens)

        cost = drawn(page, "chart-cost")
        assert [b["value"] for b in cost] == pytest.approx(api["usage"]["cost_usd"])
        assert_in_proportion(cost)

        failures = drawn(page, "chart-failures")
        assert [(b["data"]["label"], b["value"]) for b in failures] == \
            [(f"{r['type']} ({r['source']})", r["count"]) for r in api["failures"]]
        assert_in_proportion(failures)
        assert "Stats" in page.locator("#view-stats h2").inner_text() and page.locator("#stats-out table").count()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "stats-charts.png"), full_page=True)


def test_choosing_a_run_charts_its_nodes_and_its_model_calls(engine, page):
    run_id, status = finish_run(engine, "three questions", "plan", timeout=scaled(30))
    assert status == "done"
    finish_run(engine, "find the city", "broken", timeout=scaled(30))
    with start_ui(engine) as server:
        api = charts_of(server, run_id)
        page.goto(server.page_url)
        page.click('.tab[data-tab="stats"]')
        page.locator("#chart-failures svg g.bar").first.wait_for()  # all runs first: the broken one failed
        page.select_option("#stats-run", run_id)
        page.locator("#chart-failures .empty").wait_for()  # this run failed nowhere
        assert "4 nodes" in page.locator("#chart-completion figcaption").inner_text()
        assert [b["value"] for b in drawn(page, "chart-completion")] == api["completion"]["counts"]
        assert [b["value"] for b in drawn(page, "chart-tokens")] == api["usage"]["tokens"]
        assert sum(b["value"] for b in drawn(page, "chart-tokens")) == 30 + 4 + 20 + 1 + 12 + 2


def test_the_charts_say_so_when_there_is_nothing_to_draw_yet(make_engine, page):
    engine = make_engine(script("plan", plan), script("ask", ask_model), model=MODEL)
    engine.create_run("not started", script="plan")
    with start_ui(engine) as server:
        page.goto(server.page_url)
        page.click('.tab[data-tab="stats"]')
        page.locator("#chart-completion .empty").wait_for()
        assert page.locator("#chart-completion").inner_text().endswith("No runs ended yet.")
        assert "No model call yet." in page.locator("#chart-tokens").inner_text()
        assert "No failure." in page.locator("#chart-failures").inner_text()
        assert page.locator("#stats-charts svg").count() == 0


# --- forks and pauses, through the API the page uses ------------------------------------------------------------------


def test_a_fork_made_through_the_api_appears_marked_on_the_open_page(engine, page):
    run_id, status = finish_run(engine, "three questions", "plan", timeout=scaled(30))
    assert status == "done"
    at = next(e["seq"] for e in engine.store.events(run_id) if e["kind"] == "spawn")
    with start_ui(engine) as server:
        page.goto(f"{server.page_url}&run={run_id}")
        page.wait_for_selector('.row[data-node-id="1"]')
        page.evaluate("window.__loadedOnce = 'same page'")
        status, out = request(f"{server.url}api/runs/{run_id}/fork", "POST", {"X-Swarm-Token": server.token},
                              body={"at_event": at})
        assert status == 200, out
        fork_id = out["run_id"]
        forked = page.locator(f'.run-item[data-run-id="{fork_id}"]')
        forked.wait_for(timeout=scaled(15) * 1000)  # the runs list follows the run events: no reload
        assert page.evaluate("window.__loadedOnce") == "same page"
        assert forked.get_attribute("data-forked-from") == run_id
        assert forked.locator(".run-fork").inner_text() == f"fork of {run_id} at event {at}"
        wait_for(lambda: engine.store.run(fork_id)["status"] == "done", scaled(30), "the fork, driven by the server, to end")
        assert engine.store.run(fork_id)["forked_from"] == run_id


def test_the_charts_follow_a_run_that_ends_while_the_stats_tab_is_open(engine, page):
    finish_run(engine, "questions 0", "plan", timeout=scaled(30))
    with start_ui(engine) as server:
        page.goto(server.page_url)
        page.click('.tab[data-tab="stats"]')
        page.locator("#chart-completion svg g.bar").first.wait_for(state="attached")
        assert sum(b["value"] for b in drawn(page, "chart-completion")) == 1
        finish_run(engine, "questions 1", "plan", timeout=scaled(30))  # no button pressed, no reload
        until(page, "[...document.querySelectorAll('#chart-completion svg g.bar')]"
                    ".reduce((s, g) => s + Number(g.dataset.value), 0) === 2", scaled(15))
        assert [b["value"] for b in drawn(page, "chart-completion")] == charts_of(server)["completion"]["counts"]


def test_a_fork_marks_the_nodes_it_carried_from_its_parent(engine, page):
    run_id, status = finish_run(engine, "three questions", "plan", timeout=scaled(30))
    assert status == "done"
    first_done = next(e for e in engine.store.events(run_id) if e["kind"] == "terminate")  # a quick question, answered
    with start_ui(engine) as server:
        status, out = request(f"{server.url}api/runs/{run_id}/fork", "POST", {"X-Swarm-Token": server.token},
                              body={"at_event": first_done["seq"]})
        assert status == 200, out
        fork_id = out["run_id"]
        wait_for(lambda: engine.store.run(fork_id)["status"] == "done", scaled(30), "the fork to end")
        forked_at = engine.store.run(fork_id)["forked_at"]
        status, then = request(f"{server.url}api/runs/{run_id}/checkout?at={forked_at}", headers={"X-Swarm-Token": server.token})
        ended_then = {n["id"] for n in then["nodes"] if n["status"] == "done"}
        executed_here = {e["node_id"] for e in engine.store.events(fork_id) if e["kind"] == "execute"}
        assert first_done["node_id"] in ended_then and not ended_then & executed_here

        page.goto(f"{server.page_url}&run={fork_id}")
        page.wait_for_selector('.row[data-node-id="1"]')
        carried = page.evaluate("[...document.querySelectorAll('.row.carried')].map((r) => r.dataset.nodeId)")
        assert set(carried) == ended_then  # the rest (the root among them) executed again in the fork
        tag = page.locator(f'.row[data-node-id="{first_done["node_id"]}"] .carried-tag')
        assert tag.inner_text() == "from parent" and f"in run {run_id} at event {forked_at}" in tag.get_attribute("title")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "fork-carried.png"))
        page.click(f'.run-item[data-run-id="{run_id}"]')  # the run it came from has no such mark
        # drawn: its model is loaded and the frame that draws it has run (`frame`: the drawing scheduled, app.js), so
        # the rows are the parent run's, not the fork's still on screen
        until(page, f"S.live && S.live.run.id === '{run_id}' && frame === null && document.querySelectorAll('.row').length === 4")
        assert page.locator(".row.carried").count() == 0


def test_a_run_paused_while_a_node_runs_can_go_on_at_once_or_pause_and_resume_later(make_engine, page):
    """Paused while a node runs, a run starts nothing new and the page offers Resume at once; resumed while
    the node still runs it goes on; paused again, it stops driving once the node ended, and resumes later.
    The node ends only when the test says so, so each step is seen by the loop before the next."""
    released = threading.Event()

    def hold(ctx):
        released.wait(scaled(60))
        return "held"

    def two_steps(ctx):
        if ctx.reports is None:
            return ctx.spawn([ctx.child("hold"), ctx.child("ask", question="and then?")], policy="sequence")
        return [r.output for r in ctx.reports]

    engine = make_engine(script("two_steps", two_steps), script("hold", hold), script("ask", ask_model),
                         model=[{"reply": "done", "repeat": True}])
    run_id = engine.create_run("hold, then ask", script="two_steps")
    status = lambda: engine.store.run(run_id)["status"]  # noqa: E731
    button = page.locator("#pause-run")
    with start_ui(engine) as server:
        page.goto(f"{server.page_url}&run={run_id}")
        page.wait_for_selector('.row[data-node-id="1"]')
        driver = drive_in_thread(engine, run_id)
        page.wait_for_selector('.row[data-node-id="1.1"][data-status="running"]')

        button.click()
        wait_for(lambda: status() == "paused", scaled(20), "the loop to take the pause")
        page.wait_for_selector('#pause-run:text-is("Resume")')
        page.wait_for_selector('#run-status:text("paused")')
        assert driver.is_alive()  # its node still runs: the loop waits for it
        button.click()  # go on
        wait_for(lambda: status() == "running" and not engine.store.pause_requested(run_id), scaled(20), "the run to go on")
        page.wait_for_selector('#pause-run:text-is("Pause")')

        button.click()
        wait_for(lambda: status() == "paused", scaled(20), "the loop to take the second pause")
        released.set()  # the running node ends; the next one must not start
        driver.join(scaled(20))
        assert not driver.is_alive() and status() == "paused"
        assert {n["id"]: n["status"] for n in engine.store.node_states(run_id)}.get("1.2") in (None, "pending")
        page.wait_for_selector('#pause-run:text-is("Resume")')
        button.click()
        wait_for(lambda: status() == "done", scaled(30), "the resumed run to end")
        page.wait_for_selector('#run-status:text("done")')
    kinds = [e["kind"] for e in engine.store.events(run_id) if e["node_id"] is None]
    # Two pauses, each taken by the loop once (no loop started only to record a pause again), and the end.
    assert kinds.count("paused") == 2 and kinds.count("run_pause") == 1 and kinds[-1] == "run_end"


def test_a_pause_the_driving_process_has_not_taken_yet_says_pausing_and_can_be_taken_back(engine, page):
    """A live process holds the run but has not looked at the store since the page asked for a pause (here a
    real process that never will): the page says "Pausing…" and offers to go on, which lifts the request."""
    run_id = engine.create_run("three questions", script="plan")
    busy = subprocess.Popen(["sleep", "300"])
    try:
        engine.store.update_run(run_id, status="running", lease_owner=f"{socket.gethostname()}:{busy.pid}",
                                lease_expires=time.time() + 300, lease_epoch=1)  # its lease, live and unexpired
        with start_ui(engine) as server:
            page.goto(f"{server.page_url}&run={run_id}")
            page.wait_for_selector('#pause-run:text-is("Pause"):enabled')
            page.click("#pause-run")
            page.wait_for_selector('#pause-run:text("Pausing")')
            assert engine.store.pause_requested(run_id) and engine.store.run(run_id)["status"] == "running"
            assert "pauses once the running ones end" in page.locator("#pause-run").get_attribute("title")
            page.click("#pause-run")
            page.wait_for_selector('#pause-run:text-is("Pause")')
            assert not engine.store.pause_requested(run_id) and engine.store.run(run_id)["status"] == "running"
    finally:
        busy.kill()
        busy.wait()
