"""Shared by the web UI tests (and bench/ui.py): a UI server on a free loopback port, headless Chromium,
a run driven in a background thread, and big synthetic runs written straight into a store.

    from lifecycle_support import make_engine  # noqa: F401
    from ui_support import browser, page, start_ui, drive_in_thread, finish_run, write_tree_run  # noqa: F401
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lifecycle_support import wait_for  # noqa: F401 (the UI tests import it from here too)

from swarm.node import Status, TaskNode
from swarm.store import Batch, Store

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots (gitignored)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """Debian's chromium (set-up installs it: .ci/setup-browser)."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no Chromium on PATH: run `bash .ci/setup-browser` (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no browser download: executable_path)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def start_ui(engine, **kwargs):
    """A started UIServer on a free loopback port over the engine's store, using the engine for actions."""
    from swarm.ui import UIServer

    return UIServer(engine.config, host="127.0.0.1", port=0, engine=engine, **kwargs).start()


def drive_in_thread(engine, run_id: str) -> threading.Thread:
    """Drive a recorded run in a background thread (as a daemon or another terminal would)."""
    thread = threading.Thread(target=lambda: asyncio.run(engine.drive(run_id)), daemon=True)
    thread.start()
    return thread


def finish_run(engine, goal: str, script: str, timeout: float = 30.0) -> tuple[str, str]:
    """Run a goal to its end in another thread (Playwright's sync API holds this thread's event loop)."""
    run_id = engine.create_run(goal, script=script)
    outcome: dict[str, str] = {}
    thread = threading.Thread(target=lambda: outcome.update(status=asyncio.run(engine.drive(run_id))), daemon=True)
    thread.start()
    thread.join(timeout)
    return run_id, outcome.get("status", "still running")


def until(page, js: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression in the page until it is truthy (the page's CSP forbids
    Playwright's eval-based wait_for_function, rightly)."""
    return wait_for(lambda: page.evaluate(js), timeout, js)


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
    """A plain HTTP request (no browser): (status, decoded JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers={**hdrs, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            status, raw, kind = res.status, res.read(), res.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        status, raw, kind = err.code, err.read(), err.headers.get("Content-Type", "")
    return status, json.loads(raw) if kind.startswith("application/json") else raw.decode()


def write_tree_run(store: Store, nodes: int = 5000, fanout: int = 10, run_id: str = "big-run",
                   status_of=lambda i: Status.DONE) -> str:
    """A finished run of `nodes` nodes (a tree of `fanout` children per parent, breadth first), written
    straight into the store as the lifecycle records it: a spawn, an execute and a terminate event per node."""
    now = time.time()
    store.create_run({"id": run_id, "goal": f"a synthetic tree of {nodes} nodes", "script": "fan", "status": "done",
                      "created_at": now, "finished_at": now + 1, "budgets": "{}", "model": "synthetic", "nodes": nodes})
    made: list[TaskNode] = [TaskNode(id="1", run_id=run_id, parent=None, script="fan", data={"goal": "root"},
                                     created_at=now, policy="all")]
    queue, i = [made[0]], 1
    while queue and i < nodes:
        parent = queue.pop(0)
        for _ in range(min(fanout, nodes - i)):
            child = TaskNode(id=parent.child_id(), run_id=run_id, parent=parent.id, script="fan",
                             data={"goal": f"part {i} of the work"}, depth=parent.depth + 1, created_at=now)
            parent.children.append(child.id)
            parent.group.append(child.id)
            parent.policy = "all"
            made.append(child)
            queue.append(child)
            i += 1
    batch = Batch()
    for n in made:
        batch.event(run_id, "spawn", n)
    for k, n in enumerate(reversed(made)):
        n.status, n.started_at = Status.RUNNING, now
        batch.event(run_id, "execute", n, {"round": 0, "attempt": 0})
        n.status = status_of(k)
        n.output, n.finished_at, n.prompt_tokens, n.completion_tokens = 1, now + 0.1, 10, 2
        batch.event(run_id, "terminate", n)
    batch.event(run_id, "run_end", None, {"status": "done"})
    store.commit(batch, run_id)
    return run_id
