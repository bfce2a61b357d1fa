"""A call of an MCP tool in the web UI (headless Chromium): the node's detail shows the tool, its arguments
and its result, from the node's `tool_calls` event in the history (an SQLite store's, a PostgreSQL one's)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from lifecycle_support import make_engine  # noqa: F401  (a fixture)
from mcp_support import settings, stdio_toys
from swarm.ui.queries import node_detail
from timeouts import scaled
from ui_support import browser, page, start_ui  # noqa: F401  (fixtures)


def drive(engine, run_id: str) -> str:
    """Drive a run in another thread (Playwright's sync API holds this thread's event loop)."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(status=asyncio.run(engine.drive(run_id))), daemon=True)
    thread.start()
    thread.join(scaled(120))
    return outcome.get("status", "still running")


@pytest.mark.usefixtures("store_url")
def test_the_node_detail_shows_the_tool_call_with_its_arguments_and_result(make_engine, page, tmp_path):
    (tmp_path / "swarm.toml").touch()  # the listings and the UI's token in tmp_path, on PostgreSQL too
    engine = make_engine(settings=settings({"toys": stdio_toys(tmp_path)}, SWARM_CONFIG=str(tmp_path / "swarm.toml")))
    run_id = engine.create_run("shout it", script="mcp_toys_shout", data={"text": "mind the gap"})
    assert drive(engine, run_id) == "done"

    [event] = [e for e in node_detail(engine.store, run_id, "1")["events"] if e["kind"] == "tool_calls"]
    assert event["detail"]["calls"][0]["args"] == {"text": "mind the gap"}  # what the page is given

    with start_ui(engine) as server:
        page.goto(f"{server.page_url}&run={run_id}")
        page.click('.row[data-node-id="1"]')
        detail = page.locator("#detail")
        detail.locator("h3:text('Tool calls (1)')").wait_for()
        text = detail.inner_text()
        assert "mcp:toys/shout · ok" in text
        assert "mind the gap" in text and "MIND THE GAP" in text
    assert page.js_errors == []
