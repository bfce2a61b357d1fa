"""The web UI's actions in headless Chromium, over the other parts of swarm: approve, edit then approve and
reject a pending request from the page and see the run go on (swarm.approvals); fork from the history
scrubber and compare two runs (swarm.timetravel); the stats panel and /metrics (swarm.metrics)."""

from __future__ import annotations

import json
import threading

import pytest

from lifecycle_support import ask_model, make_engine, scaled, script  # noqa: F401
from ui_support import (ARTIFACTS, browser, drive_in_thread, finish_run, page, request, start_ui,  # noqa: F401
                        until, wait_for)

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


def trip(ctx):
    """Ask a person which city (proposing Lisbon); on the way up, the answer is the result."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_human", question="Which city should the trip go to?", proposal="Lisbon")])
    return ctx.reports[0].output if ctx.reports[0].ok else f"no city: {ctx.reports[0].error}"


def plan(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question=q) for q in ("what is 2+2?", "name a colour")])
    return " / ".join(str(r.output) for r in ctx.reports)


@pytest.fixture
def engine(make_engine):
    return make_engine(script("trip", trip), script("plan", plan), script("ask", ask_model),
                       model=[{"match": "2\\+2", "reply": "four"}, {"reply": "blue", "repeat": True}])


def waiting_run(engine) -> str:
    """A run whose ask_human node waits for a person."""
    run_id = engine.create_run("plan a trip", script="trip")
    drive_in_thread(engine, run_id)
    wait_for(lambda: engine.store.approvals(run_id), 15, "the approval request")
    return run_id


def open_inbox(page, server, run_id: str):
    page.goto(server.page_url)
    page.click('.tab[data-tab="approvals"]')
    card = page.locator(f'.approval[data-run-id="{run_id}"]')
    card.wait_for()
    return card


def node_events(engine, run_id: str, node_id: str) -> list[dict]:
    return [e for e in engine.store.events(run_id) if e["node_id"] == node_id]


def test_approving_from_the_page_lets_the_run_continue(engine, page):
    run_id = waiting_run(engine)
    with start_ui(engine) as server:
        card = open_inbox(page, server, run_id)
        assert "Which city should the trip go to?" in card.inner_text() and "Lisbon" in card.inner_text()
        assert page.locator("#approvals-count").inner_text() == "1"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "approvals.png"))
        card.locator("button.approve").click()
        wait_for(lambda: engine.store.run(run_id)["status"] == "done", 20, "the run to finish after the approval")
        page.locator(f'.approval[data-run-id="{run_id}"]').wait_for(state="detached")
    assert "approval_decided" in [e["kind"] for e in node_events(engine, run_id, "1.1")]


def test_editing_then_approving_continues_with_the_edit(engine, page):
    run_id = waiting_run(engine)
    with start_ui(engine) as server:
        card = open_inbox(page, server, run_id)
        card.locator("textarea.edit").fill("Porto")
        card.locator("button.approve").click()
        wait_for(lambda: engine.store.run(run_id)["status"] == "done", 20, "the run to finish after the edit")
    node = next(s for s in engine.store.node_states(run_id) if s["id"] == "1.1")
    assert "Porto" in json.dumps(node["output"]) and "Lisbon" not in json.dumps(node["output"])


def test_rejecting_needs_a_reason_and_ends_the_branch_with_it(engine, page):
    run_id = waiting_run(engine)
    with start_ui(engine) as server:
        card = open_inbox(page, server, run_id)
        card.locator("button.reject").click()  # no reason yet: refused, nothing decided
        page.locator(".toast.error").wait_for()
        assert engine.store.approvals(run_id)[0]["status"] == "pending"
        card.locator("input.reason").fill("too far this year")
        card.locator("button.reject").click()
        wait_for(lambda: engine.store.run(run_id)["status"] in ("done", "failed"), 20, "the run to end after the rejection")
    node = next(s for s in engine.store.node_states(run_id) if s["id"] == "1.1")
    assert node["status"] != "done"
    assert "too far this year" in json.dumps([e["detail"] for e in node_events(engine, run_id, "1.1")] + [node["error"]])


def test_approve_over_http_needs_the_token_and_is_recorded_as_decided_by_the_ui(engine):
    run_id = waiting_run(engine)
    approval = engine.store.approvals(run_id)[0]
    with start_ui(engine) as server:
        url = server.url + f"api/approvals/{approval['id']}"
        assert request(url, "POST", body={"decision": "approve"})[0] == 401
        status, body = request(url, "POST", {"X-Swarm-Token": server.token}, body={"decision": "approve", "note": "fine"})
        assert status == 200, body
        assert body["run_id"] == run_id
        wait_for(lambda: engine.store.run(run_id)["status"] == "done", 20, "the run to finish")
        status, body = request(url, "POST", {"X-Swarm-Token": server.token}, body={"decision": "approve"})
        assert status == 409  # already decided


def test_fork_from_the_history_scrubber_makes_a_new_run(engine, page):
    run_id, status = finish_run(engine, "two questions", "plan")
    assert status == "done"
    with start_ui(engine) as server:
        page.goto(f"{server.page_url}&run={run_id}")
        page.wait_for_selector('.row[data-node-id="1.2"]')
        until(page, "S.timeline.seqs.length > 0")  # the scrubber's axis comes after the tree
        kinds = page.evaluate("S.timeline.kinds")
        at = kinds.index("execute_end")  # the root has just spawned its children
        page.locator("#scrub").evaluate("(el, i) => { el.value = String(i); el.dispatchEvent(new Event('input')); }", at)
        page.locator("#fork").wait_for()
        page.click("#fork")
        wait_for(lambda: len(engine.store.runs()) == 2, 10, "the fork")
        fork_id = next(r["id"] for r in engine.store.runs() if r["id"] != run_id)
        wait_for(lambda: page.evaluate("S.runId") == fork_id, 10, "the page to show the fork")
        wait_for(lambda: engine.store.run(fork_id)["status"] == "done", 20, "the fork to finish")
        page.wait_for_selector('.row[data-node-id="1"][data-status="done"]')


def test_the_compare_tab_shows_the_two_newest_runs_side_by_side_at_once(engine, page):
    finish_run(engine, "two questions", "plan")  # the oldest: not among the two newest
    older, _ = finish_run(engine, "two questions", "plan")
    newer, _ = finish_run(engine, "two questions", "plan")
    with start_ui(engine) as server:
        page.goto(server.page_url)
        page.wait_for_selector(f'.run-item[data-run-id="{newer}"]')
        page.click('.tab[data-tab="compare"]')  # no button pressed
        page.locator("#compare-out table").first.wait_for()
        assert (page.input_value("#compare-a"), page.input_value("#compare-b")) == (older, newer)
        out = page.locator("#compare-out").inner_text()
        assert older in out and newer in out and "1.2" in out
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "compare.png"))


def test_the_compare_tab_says_what_to_do_with_one_run(engine, page):
    finish_run(engine, "two questions", "plan")
    with start_ui(engine) as server:
        page.goto(server.page_url)
        page.click('.tab[data-tab="compare"]')  # at once, before the runs list may have come
        prompt = page.locator("#compare-prompt")
        prompt.wait_for()
        until(page, "document.getElementById('compare-prompt').textContent.includes('there is one')")
        text = prompt.inner_text()
        assert "needs two runs" in text and "Fork from here" in text and "Run another goal" in text


def test_the_stats_tab_shows_the_stats_at_once_and_the_metrics_endpoint(engine, page):
    run_id, _ = finish_run(engine, "two questions", "plan")
    with start_ui(engine) as server:
        page.goto(server.page_url)
        page.click('.tab[data-tab="stats"]')  # no button pressed
        page.locator("#stats-out table").first.wait_for()
        assert "scope" in page.locator("#stats-out").inner_text()
        page.select_option("#stats-run", run_id)  # choosing a run shows its stats, again without a button
        until(page, f"document.getElementById('stats-out').textContent.includes('{run_id}')")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "stats.png"), full_page=True)
        status, text = request(server.url + "metrics", headers={"Authorization": f"Bearer {server.token}"})
    assert status == 200 and "swarm" in text


def test_pause_and_resume_a_run_from_the_page(make_engine, page):
    """A run the server drives (submitted through the API), paused while its first step runs: nothing new
    starts; resumed, it goes on to the end. The step ends only when the test says so (no race with the clock)."""
    released = threading.Event()

    def hold(ctx):
        released.wait(scaled(60))
        return "held"

    def steps(ctx):
        if ctx.reports is None:
            return ctx.spawn([ctx.child("hold"), *[ctx.child("ask", question=f"step {i}") for i in range(3)]],
                             policy="sequence")
        return len(ctx.reports)

    engine = make_engine(script("steps", steps), script("hold", hold), script("ask", ask_model),
                         model=[{"reply": "ok", "repeat": True}])
    with start_ui(engine) as server:
        status, out = request(server.url + "api/runs", "POST", {"X-Swarm-Token": server.token},
                              body={"goal": "four steps", "script": "steps"})
        assert status == 201, out
        run_id = out["run_id"]
        page.goto(f"{server.page_url}&run={run_id}")
        page.wait_for_selector('.row[data-node-id="1.1"][data-status="running"]')
        page.wait_for_selector('#pause-run:text("Pause"):enabled')
        page.click("#pause-run")
        wait_for(lambda: engine.store.run(run_id)["status"] == "paused", scaled(20), "the run to pause")
        released.set()
        page.wait_for_selector('#pause-run:text("Resume")')
        page.wait_for_selector('#run-status:text("paused")')
        wait_for(lambda: [e for e in engine.store.events(run_id) if e["kind"] == "run_pause"], scaled(20), "the loop to stop")
        assert engine.store.run(run_id)["status"] == "paused"
        assert {n["id"]: n["status"] for n in engine.store.node_states(run_id)}.get("1.2") in (None, "pending")
        page.click("#pause-run")
        wait_for(lambda: engine.store.run(run_id)["status"] == "done", scaled(30), "the resumed run to finish")
        page.wait_for_selector('#run-status:text("done")')
        assert page.locator("#pause-run").is_disabled()
    kinds = [e["kind"] for e in engine.store.events(run_id)]
    assert "paused" in kinds and kinds[-1] == "run_end"  # the loop recorded the pause, and went on to the end
