"""The web UI in a real headless Chromium: a live run's tree changes without a reload, node details,
the history scrubber, the runs list, and a 5,000-node run. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest

from lifecycle_support import ask_model, make_engine, script  # noqa: F401
from swarm import timetravel
from ui_support import ARTIFACTS, browser, drive_in_thread, finish_run, page, start_ui, until, write_tree_run  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


def plan(ctx):
    """Three questions in parallel; on the way up, their answers joined."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question=q) for q in ("fast: what is 2+2?", "slow: spell swarm", "fast: name a colour")])
    return " / ".join(str(r.output) for r in ctx.reports)


MODEL = [
    {"match": "^slow", "reply": "s-w-a-r-m", "delay_s": 2.0, "usage": {"prompt_tokens": 30, "completion_tokens": 4}},
    {"match": "2\\+2", "reply": "four", "usage": {"prompt_tokens": 20, "completion_tokens": 1}},
    {"reply": "blue", "repeat": True},
]


@pytest.fixture
def engine(make_engine):
    """Answers at once: for runs that only need to have finished."""
    return make_engine(script("plan", plan), script("ask", ask_model), model=[{k: v for k, v in line.items() if k != "delay_s"}
                                                                             for line in MODEL])


def open_run(page, server, run_id: str) -> None:
    page.goto(f"{server.page_url}&run={run_id}")
    page.wait_for_selector('.row[data-node-id="1"]')


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_a_node_changes_status_on_the_page_without_reloading(make_engine, page):
    engine = make_engine(script("plan", plan), script("ask", ask_model), model=MODEL)  # the slow question takes 2 s
    run_id = engine.create_run("three questions", script="plan")
    with start_ui(engine) as server:
        open_run(page, server, run_id)
        assert page.locator('.row[data-node-id="1"]').get_attribute("data-status") == "pending"
        page.evaluate("window.__loadedOnce = 'same page'")
        driver = drive_in_thread(engine, run_id)
        slow = page.locator('.row[data-node-id="1.2"]')
        slow.wait_for()
        page.wait_for_selector('.row[data-node-id="1.2"][data-status="running"]')
        page.wait_for_selector('.row[data-node-id="1.1"][data-status="done"]')
        shot(page, "live-running")
        page.wait_for_selector('.row[data-node-id="1.2"][data-status="done"]', timeout=20_000)
        page.wait_for_selector('.row[data-node-id="1"][data-status="done"]')
        page.wait_for_selector('#run-status:text("done")')
        driver.join(timeout=10)
        assert page.evaluate("window.__loadedOnce") == "same page"  # no reload happened
        statuses = [e["status"] for e in page.evaluate("window.swarmEventLog") if e["node_id"] == "1.2"]
        assert statuses[0] == "pending" and statuses[-1] == "done" and "running" in statuses
        assert page.locator(".group.g-all").first.inner_text().startswith("parallel ×3")
        assert "in-all" in page.locator('.row[data-node-id="1.3"]').get_attribute("class")
        shot(page, "live-done")


def test_a_node_detail_shows_input_prompt_reply_and_costs(engine, page):
    run_id, status = finish_run(engine, "three questions", "plan")
    assert status == "done"
    with start_ui(engine) as server:
        open_run(page, server, run_id)
        page.click('.row[data-node-id="1.1"]')
        detail = page.locator("#detail")
        detail.locator("h2:text('1.1 · ask')").wait_for()
        text = detail.inner_text()
        assert "fast: what is 2+2?" in text  # the input and the prompt
        assert "four" in text  # the model's reply and the output
        assert "20 prompt + 1 completion" in text
        assert "model calls (1)" in text.lower() and "events (" in text.lower()
        assert page.locator('.row[data-node-id="1.1"]').get_attribute("class").count("selected") == 1
        shot(page, "node-detail")


def test_scrubbing_history_back_shows_the_earlier_tree_and_offers_a_fork(engine, page):
    run_id, status = finish_run(engine, "three questions", "plan")
    assert status == "done"
    with start_ui(engine) as server:
        open_run(page, server, run_id)
        assert page.locator(".row").count() == 4
        until(page, "S.timeline.seqs.length > 0")  # the scrubber's axis comes after the tree
        kinds = page.evaluate("S.timeline.kinds")
        root_spawn = kinds.index("spawn")  # the first event that holds a node: the root, just spawned
        page.locator("#scrub").evaluate("(el, i) => { el.value = String(i); el.dispatchEvent(new Event('input')); }", root_spawn)
        until(page, "document.querySelectorAll('.row').length === 1")
        assert page.locator('.row[data-node-id="1"]').get_attribute("data-status") == "pending"
        assert page.locator("#history-banner").is_visible()
        assert page.locator("#fork").is_visible()
        shot(page, "history-start")

        first_child_done = next(i for i, (k, n) in enumerate(zip(kinds, page.evaluate("S.timeline.nodes")))
                                if k == "terminate" and n and n.startswith("1."))
        page.locator("#scrub").evaluate("(el, i) => { el.value = String(i); el.dispatchEvent(new Event('input')); }", first_child_done)
        until(page, "document.querySelectorAll('.row[data-status=\"done\"]').length === 1")
        assert page.locator(".row").count() == 4
        assert page.locator('.row[data-node-id="1"]').get_attribute("data-status") == "waiting"

        page.click("#scrub-live")
        until(page, "document.querySelectorAll('.row[data-status=\"done\"]').length === 4")
        assert not page.locator("#history-banner").is_visible()


def test_the_runs_list_shows_status_goal_and_cost_and_filters(engine, page):
    done_id, _ = finish_run(engine, "three questions", "plan")
    pending_id = engine.create_run("a run not started yet", script="plan")
    with start_ui(engine) as server:
        page.goto(server.page_url)
        page.wait_for_selector(f'.run-item[data-run-id="{pending_id}"]')
        item = page.locator(f'.run-item[data-run-id="{done_id}"]')
        text = item.inner_text()
        assert "done" in text and "three questions" in text and "$0.0000" in text and "ago" in text
        page.select_option("#status-filter", "pending")
        until(page, "document.querySelectorAll('.run-item').length === 1")
        assert page.locator(".run-item").get_attribute("data-run-id") == pending_id
        page.select_option("#status-filter", "")
        until(page, "document.querySelectorAll('.run-item').length === 2")
        item.click()
        page.wait_for_selector('.row[data-node-id="1.3"]')
        assert page.locator("#run-goal").inner_text() == "three questions"


def test_a_5000_node_run_stays_usable(make_engine, page):
    """Folded at first, the rows on screen only once unfolded (how quick: bench/ui.py)."""
    engine = make_engine()
    run_id = write_tree_run(engine.store, nodes=5000)
    with start_ui(engine) as server:
        open_run(page, server, run_id)
        assert page.locator("#run-counts").inner_text().startswith("5000 nodes")
        assert page.locator(".row").count() == 11  # the root and its ten children, folded
        assert "+" in page.locator('.row[data-node-id="1.1"] .fold').inner_text()
        page.click('.row[data-node-id="1.1"] .toggle')
        page.wait_for_selector('.row[data-node-id="1.1.1"]')
        page.click("#expand-all")
        until(page, "S.rows.length === 5000")
        assert page.locator(".row").count() < 120  # only the rows on screen are in the page
        page.locator("#tree").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        until(page, "[...document.querySelectorAll('.row')].some(r => r.dataset.nodeId === S.rows[4999].id)")
        shot(page, "big-run")


def test_cancelling_a_running_node_from_the_page(make_engine, page):
    engine = make_engine(script("plan", plan), script("ask", ask_model),
                         model=[{**MODEL[0], "delay_s": 3.0}, *MODEL[1:]])
    run_id = engine.create_run("three questions", script="plan")
    with start_ui(engine) as server:
        open_run(page, server, run_id)
        driver = drive_in_thread(engine, run_id)
        page.wait_for_selector('.row[data-node-id="1.2"][data-status="running"]')
        page.click('.row[data-node-id="1.2"]')
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#cancel-node")
        page.wait_for_selector('.row[data-node-id="1.2"][data-status="cancelled"]', timeout=5_000)
        page.wait_for_selector('.row[data-node-id="1"][data-status="done"]')
        driver.join(timeout=10)
    cancelled = next(s for s in engine.store.node_states(run_id) if s["id"] == "1.2")
    assert cancelled["status"] == "cancelled" and cancelled["error"] == "cancelled by request"


# --- how long a node worked -----------------------------------------------------------------------


def deliberate(ctx):
    """Round 0 thinks (a slow model call) and delegates; round 1 joins the report at once."""
    if ctx.reports is None:
        ctx.llm("think: how to split the work?")
        return ctx.spawn([ctx.child("ask", question="fast: what is 2+2?")])
    return f"joined: {ctx.reports[0].output}"


def executions(engine, run_id: str, node_id: str) -> list[tuple[float, float]]:
    """(start, end) of each execution of a node, from its events: `execute` to its next event."""
    evs = [e for e in engine.store.events(run_id) if e["node_id"] == node_id and e["kind"] != "tool_calls"]
    return [(a["at"], b["at"]) for a, b in zip(evs, evs[1:]) if a["kind"] == "execute"]


def test_a_node_shows_its_time_over_every_execution_not_only_the_last(make_engine, page):
    engine = make_engine(script("deliberate", deliberate), script("ask", ask_model),
                         model=[{"match": "^think", "reply": "in one part", "delay_s": 0.5}, *MODEL[1:]])
    run_id = engine.create_run("think, delegate, join", script="deliberate")
    with start_ui(engine) as server:
        open_run(page, server, run_id)  # before it runs: the page follows it live
        driver = drive_in_thread(engine, run_id)
        page.wait_for_selector('.row[data-node-id="1"][data-status="done"]', timeout=20_000)
        driver.join(timeout=10)
        ran = executions(engine, run_id, "1")
        active_ms = sum(end - start for start, end in ran) * 1000
        last_ms = (ran[-1][1] - ran[-1][0]) * 1000
        assert len(ran) == 2 and active_ms > last_ms  # the thinking round outweighs the joining one

        followed = page.evaluate("S.live.nodes.get('1').active")  # kept up to date from live events alone
        assert followed["executions"] == 2 and abs(followed["ms"] - active_ms) <= 1
        nums = page.locator('.row[data-node-id="1"] .nums')
        assert nums.inner_text().endswith("×2")
        assert "over 2 executions" in nums.get_attribute("title") and "from first start to end" in nums.get_attribute("title")

        page.click('.row[data-node-id="1"]')
        page.wait_for_selector("#d-active")
        assert abs(int(page.locator("#d-active").get_attribute("data-active-ms")) - active_ms) <= 1
        assert page.locator("#d-active").inner_text().endswith("over 2 executions")
        assert page.locator("#d-last").inner_text() != page.locator("#d-active").inner_text().split(" over ")[0]
        shot(page, "node-time")

        page.reload()  # the server's account (from the history) says the same as the live one did
        page.wait_for_selector('.row[data-node-id="1"]')
        assert page.locator('.row[data-node-id="1"] .nums').get_attribute("title") == nums.get_attribute("title")


# --- the runs list: it fits, and forks say what they come from ------------------------------------------


def test_the_runs_list_fits_its_width_cutting_the_goal_not_the_numbers(engine, page):
    goal = "Write a Python function that parses ISO 8601 durations, test it against many odd cases, and " * 3
    run_id, status = finish_run(engine, goal.strip(), "plan")
    assert status == "done"
    engine.store.update_run(run_id, prompt_tokens=1_234_567, completion_tokens=89_012, cost_usd=1234.5678)  # a long run's
    with start_ui(engine) as server:
        open_run(page, server, run_id)
        item = page.locator(f'.run-item[data-run-id="{run_id}"]')
        assert "$1234.5678" in item.locator(".run-cost").inner_text()
        fits = page.evaluate("""() => {
            const list = document.getElementById('runs-list'), edge = list.getBoundingClientRect().right;
            const cut = [...list.querySelectorAll('.run-item *')].filter(el => el.getBoundingClientRect().right > edge + 0.5);
            return {scrolls: list.scrollWidth > list.clientWidth, cut: cut.map(el => el.className),
                    page: document.documentElement.scrollWidth <= window.innerWidth,
                    detail: document.getElementById('detail').getBoundingClientRect().right <= window.innerWidth};
        }""")
        assert fits == {"scrolls": False, "cut": [], "page": True, "detail": True}
        goal_el = item.locator(".run-goal")
        assert goal_el.evaluate("el => el.scrollWidth > el.clientWidth && getComputedStyle(el).textOverflow === 'ellipsis'")
        assert goal_el.get_attribute("title") == goal.strip()  # the whole goal on hover
        shot(page, "runs-list-fits")


def test_a_forked_run_is_marked_with_where_it_comes_from(engine, page):
    run_id, status = finish_run(engine, "three questions", "plan")
    assert status == "done"
    at = next(e["seq"] for e in engine.store.events(run_id) if e["kind"] == "execute_end")
    fork_id = timetravel.fork(engine, run_id, at)
    with start_ui(engine) as server:
        page.goto(server.page_url)
        forked = page.locator(f'.run-item[data-run-id="{fork_id}"]')
        forked.wait_for()
        assert forked.locator(".run-fork").inner_text() == f"fork of {run_id} at event {at}"
        assert forked.get_attribute("data-forked-from") == run_id
        assert page.locator(f'.run-item[data-run-id="{run_id}"] .run-fork').count() == 0  # the original is not a fork
        forked.click()
        page.wait_for_selector('.row[data-node-id="1"]')
        assert f"fork of {run_id} at event {at}" in page.locator("#run-meta").inner_text()
        shot(page, "fork-marked")
        forked.locator(".fork-parent").click()  # the mark leads to the run it was forked from
        until(page, f"S.runId === '{run_id}'")
