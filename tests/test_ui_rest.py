"""The REST API of `swarm ui` (Starlette on uvicorn): submit a goal, pause and resume, checkout and diff,
approve and reject, the OpenAPI document (served = committed), `swarm submit`, and schemathesis against
every operation of the served document (no 5xx, every answer as documented)."""

from __future__ import annotations

import json
import threading

import pytest

from lifecycle_support import ask_model, make_engine, scaled, script  # noqa: F401
from swarm.cli import main
from swarm.ui.openapi import COMMITTED, document
from ui_support import drive_in_thread, request, start_ui, wait_for

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


def echo(ctx):
    return f"echo: {ctx.data['goal']}"


def plan(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question=q) for q in ("what is 2+2?", "name a colour")])
    return " / ".join(str(r.output) for r in ctx.reports)


def trip(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_human", question="Which city?", proposal="Lisbon")])
    return ctx.reports[0].output if ctx.reports[0].ok else f"no city: {ctx.reports[0].error}"


def slow(ctx):
    """Ten children one after another, each asking the (slow) model: a run that takes a while."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question=f"step {i}") for i in range(10)], policy="sequence")
    return len(ctx.reports)


MODEL = [{"match": "2\\+2", "reply": "four"}, {"match": "^step", "reply": "ok", "delay_s": 0.3, "repeat": True},
         {"reply": "blue", "repeat": True}]


@pytest.fixture
def engine(make_engine):
    return make_engine(script("echo", echo), script("plan", plan), script("trip", trip), script("slow", slow),
                       script("ask", ask_model), model=MODEL, root_script="echo")


@pytest.fixture
def server(engine):
    with start_ui(engine) as server:
        yield server


def api(server, method: str, path: str, body=None):
    return request(server.url + path, method, {"X-Swarm-Token": server.token}, body=body)


def ended(engine, run_id: str) -> bool:
    return engine.store.run(run_id)["status"] in ("done", "failed", "unmet", "cancelled")


# --- submit ------------------------------------------------------------------------------------


def test_a_submitted_goal_is_recorded_and_driven_by_the_server(engine, server):
    status, out = api(server, "POST", "api/runs", {"goal": "say hello", "budgets": {"max_nodes": 5}})
    assert status == 201, out
    run_id = out["run_id"]
    assert out["run"]["id"] == run_id and out["run"]["goal"] == "say hello" and out["driven_here"] is True
    wait_for(lambda: ended(engine, run_id), scaled(20), "the submitted run to end")
    status, run = api(server, "GET", f"api/runs/{run_id}")
    assert status == 200 and run["status"] == "done"
    assert json.loads(engine.store.run(run_id)["result"]) == "echo: say hello"
    assert json.loads(engine.store.run(run_id)["budgets"]) == {"max_nodes": 5}


def test_runs_are_driven_on_the_servers_own_loop_not_a_thread_each(engine, server):
    before = {t.name for t in threading.enumerate()}
    ids = [api(server, "POST", "api/runs", {"goal": f"question {i}", "script": "plan"})[1]["run_id"] for i in range(3)]
    wait_for(lambda: all(ended(engine, r) for r in ids), scaled(30), "the three runs to end")
    assert all(engine.store.run(r)["status"] == "done" for r in ids)
    assert not any(name.startswith("swarm-ui-drive") for name in {t.name for t in threading.enumerate()} - before)
    assert set(server.actions.tasks) >= set(ids)  # each was an asyncio task of the server


def test_submitting_needs_the_token_in_a_header_and_the_servers_own_origin(engine, server):
    goal = {"goal": "say hello"}
    assert request(server.url + "api/runs", "POST", body=goal)[0] == 401
    assert request(server.url + f"api/runs?token={server.token}", "POST", body=goal)[0] == 401  # not in the URL
    status, out = request(server.url + "api/runs", "POST", {"X-Swarm-Token": server.token, "Origin": "http://evil.example"},
                          body=goal)
    assert status == 403 and "refused" in out["error"]
    assert engine.store.runs() == []
    status, _ = request(server.url + "api/runs", "POST", {"Authorization": f"Bearer {server.token}"}, body=goal)
    assert status == 201


@pytest.mark.parametrize("body, words", [
    ({"goal": "  "}, '"goal" must be'),
    ({"goal": "x", "script": "no_such_script"}, "no_such_script"),
    ({"goal": "x", "budgets": {"max_nodes": 0}}, "max_nodes"),
    ({"goal": "x", "budgets": {"max_apples": 3}}, "max_apples"),
    ({"goal": "x", "colour": "red"}, "colour"),
])
def test_a_bad_submission_is_a_400_saying_what_is_wrong_and_records_nothing(engine, server, body, words):
    status, out = api(server, "POST", "api/runs", body)
    assert status == 400 and words in out["error"], out
    assert engine.store.runs() == []


# --- pause, resume, cancel ------------------------------------------------------------------------


def test_pause_then_resume_a_run_the_server_drives(engine, server):
    run_id = api(server, "POST", "api/runs", {"goal": "ten steps", "script": "slow"})[1]["run_id"]
    wait_for(lambda: engine.store.run(run_id)["status"] == "running", scaled(20), "the run to start")
    status, out = api(server, "POST", f"api/runs/{run_id}/pause", {})
    assert status == 200 and out == {"run_id": run_id, "status": "requested"}
    wait_for(lambda: engine.store.run(run_id)["status"] == "paused", scaled(20), "the run to pause")
    kinds = [e["kind"] for e in engine.store.events(run_id)]
    assert "paused" in kinds and not ended(engine, run_id)
    status, out = api(server, "POST", f"api/runs/{run_id}/resume")
    assert status == 200 and out["status"] in ("unpaused", "requested") and out["driven_here"] is True
    wait_for(lambda: ended(engine, run_id), scaled(30), "the resumed run to end")
    assert engine.store.run(run_id)["status"] == "done"


def test_cancel_a_run_nobody_drives_is_done_on_the_servers_loop(engine, server):
    run_id = engine.create_run("never started", script="plan")
    status, out = api(server, "POST", f"api/runs/{run_id}/cancel", {})
    assert status == 200 and out == {"outcome": "cancelled"}
    assert engine.store.run(run_id)["status"] == "cancelled"


def test_resume_of_an_ended_run_says_so(engine, server):
    run_id = api(server, "POST", "api/runs", {"goal": "hi"})[1]["run_id"]
    wait_for(lambda: ended(engine, run_id), scaled(20), "the run to end")
    status, out = api(server, "POST", f"api/runs/{run_id}/resume")
    assert status == 400 and "already ended" in out["error"]


# --- history: checkout, diff -------------------------------------------------------------------


def test_checkout_and_diff(engine, server):
    ids = [api(server, "POST", "api/runs", {"goal": "two", "script": "plan"})[1]["run_id"] for _ in range(2)]
    wait_for(lambda: all(ended(engine, r) for r in ids), scaled(30), "both runs to end")
    first = engine.store.events(ids[0])
    spawn = next(e["seq"] for e in first if e["kind"] == "spawn" and e["node_id"] == "1.1")
    status, then = api(server, "GET", f"api/runs/{ids[0]}/checkout?at={spawn}")
    assert status == 200 and then["at_event"] == spawn and {n["id"] for n in then["nodes"]} == {"1", "1.1"}
    status, now = api(server, "GET", f"api/runs/{ids[0]}/checkout")
    assert status == 200 and now["run"]["status"] == "done" and len(now["nodes"]) == 3
    status, diff = api(server, "GET", f"api/runs/{ids[0]}/diff?with={ids[1]}")
    assert status == 200 and diff == api(server, "GET", f"api/compare?a={ids[0]}&b={ids[1]}")[1]
    assert api(server, "GET", f"api/runs/{ids[0]}/diff")[0] == 400


# --- approvals -----------------------------------------------------------------------------------


def waiting_run(engine) -> str:
    run_id = engine.create_run("plan a trip", script="trip")
    drive_in_thread(engine, run_id)
    wait_for(lambda: engine.store.approvals(run_id), scaled(15), "the approval request")
    wait_for(lambda: engine.store.run(run_id)["status"] == "awaiting_approval", scaled(15), "the run to pause for it")
    return run_id


def test_approve_by_its_own_endpoint_lets_the_run_go_on(engine, server):
    run_id = waiting_run(engine)
    status, pending = api(server, "GET", f"api/approvals?run={run_id}")
    assert status == 200 and len(pending) == 1 and pending[0]["question"].startswith("Which city")
    number = pending[0]["id"]
    status, out = api(server, "POST", f"api/approvals/{number}/approve", {"edited": "Porto"})
    assert status == 200 and out["run_id"] == run_id
    wait_for(lambda: ended(engine, run_id), scaled(20), "the run to finish after the approval")
    assert "Porto" in json.dumps(json.loads(engine.store.run(run_id)["result"]))
    status, out = api(server, "POST", f"api/approvals/{number}/approve", {})
    assert status == 409 and "already" in out["error"]


def test_reject_needs_a_reason_and_ends_the_branch_with_it(engine, server):
    run_id = waiting_run(engine)
    number = api(server, "GET", "api/approvals")[1][0]["id"]
    status, out = api(server, "POST", f"api/approvals/{number}/reject", {"reason": "  "})
    assert status == 400 and "reason" in out["error"]
    status, out = api(server, "POST", f"api/approvals/{number}/reject", {"reason": "too far"})
    assert status == 200
    wait_for(lambda: ended(engine, run_id), scaled(20), "the run to end after the rejection")
    assert "too far" in engine.store.run(run_id)["result"]


def test_an_unknown_approval_is_a_404(server):
    status, out = api(server, "POST", "api/approvals/99999999999999999999999/approve", {})
    assert status == 404 and "swarm approvals" in out["error"]


# --- the document ---------------------------------------------------------------------------------


def test_the_served_openapi_document_is_the_committed_one(server):
    status, served = api(server, "GET", "api/openapi.json")
    assert status == 200
    assert served == json.loads(COMMITTED.read_text(encoding="utf-8")), \
        "swarm/ui/openapi.json is out of date: run `python -m swarm.ui.openapi --write`"


def test_every_api_route_is_in_the_document():
    from swarm.ui.app import ROUTES, STATIC

    documented = {(path, method.upper()) for path, ops in document()["paths"].items() for method in ops}
    served = {(r.path, m) for r in ROUTES if r.path not in STATIC and r.path != "/openapi.json"
              for m in r.methods if m != "HEAD"}
    assert served == documented


def test_the_document_is_also_where_openapi_tools_look_first(server):
    status, body = request(server.url + "openapi.json")
    assert status == 200 and body == json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_the_document_needs_the_token_like_the_rest_of_the_api(server):
    assert request(server.url + "api/openapi.json")[0] == 401


# --- swarm submit ---------------------------------------------------------------------------------


def test_swarm_submit_hands_the_goal_to_the_server_with_the_token_it_made(engine, server, capsys):
    store = str(engine.store.path)
    code = main(["--store", store, "submit", "submitted from the shell", "--max-nodes", "4", "--url", server.url, "--wait"])
    out = capsys.readouterr()
    assert code == 0, out.err
    run_id = out.out.split()[1]
    assert out.out.strip() == f"run {run_id} done"
    assert json.loads(engine.store.run(run_id)["budgets"]) == {"max_nodes": 4}
    assert engine.store.run(run_id)["goal"] == "submitted from the shell"


def test_swarm_submit_without_a_server_says_how_to_start_one(engine, capsys):
    (engine.store.path.parent / ".swarm-ui-token").write_text("x" * 43 + "\n")
    code = main(["--store", str(engine.store.path), "submit", "hello", "--url", "http://127.0.0.1:9/"])
    assert code == 2 and "start one with `swarm ui`" in capsys.readouterr().err
    assert engine.store.runs() == []


def test_swarm_submit_with_a_wrong_token_is_refused_and_records_nothing(engine, server, capsys):
    code = main(["--store", str(engine.store.path), "submit", "hello", "--url", server.url, "--token", "wrong"])
    assert code == 2 and "wrong UI token" in capsys.readouterr().err
    assert engine.store.runs() == []


# --- swarm ui as a process ------------------------------------------------------------------------


def test_swarm_ui_drives_a_submitted_goal_and_sigterm_leaves_it_resumable(tmp_path, make_engine, scripted_model):
    """A goal handed to the `swarm ui` process by `swarm submit` runs there (its model call still waiting)
    when SIGTERM comes: the server stops cleanly (exit 0) and the run is recorded as interrupted."""
    import os
    import subprocess
    import sys

    model = scripted_model([{"reply": "too late", "delay_s": 60}])
    engine = make_engine()
    store = engine.store.path
    env = {**os.environ, "OPENAI_BASE_URL": model.url, "SWARM_MODEL_MAX_RETRIES": "0", "SWARM_STORE": str(store),
           "SWARM_STORE_URL": engine.config.store.url}  # a PostgreSQL store by its URL
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "ui", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        url = proc.stdout.readline().split(" at ", 1)[1].split("#token=")[0]
        submitted = subprocess.run([sys.executable, "-m", "swarm.cli", "submit", "write one line", "--script", "write_text",
                                    "--url", url], capture_output=True, text=True, env=env, cwd=tmp_path,
                                   timeout=scaled(60))
        assert submitted.returncode == 0, submitted.stderr
        run_id = submitted.stdout.strip()
        from swarm.store import open_store

        watch = open_store(engine.config)
        wait_for(lambda: watch.llm_calls(run_id) or watch.run(run_id)["status"] == "running", scaled(30),
                 "the run to be driven by the server")
        proc.terminate()
        assert proc.wait(timeout=scaled(30)) == 0, proc.stderr.read()
        run = watch.run(run_id)
        assert run["status"] == "interrupted" and not run.get("owner_pid"), run
        watch.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_change_that_needs_no_body_may_be_sent_without_one(engine, server):
    """As `curl -X POST .../pause` sends it: no body, no Content-Type."""
    run_id = engine.create_run("not started yet", script="plan")
    status, out = request(server.url + f"api/runs/{run_id}/pause", "POST", {"X-Swarm-Token": server.token})
    assert status == 200 and out == {"run_id": run_id, "status": "paused"}
    assert engine.store.run(run_id)["status"] == "paused"


def test_a_resume_that_meets_the_servers_loop_as_it_ends_drives_the_run_again_after(engine, server):
    """Bug: resumed while the server's own task for the run was still ending (its loop had paused), the
    run was left unpaused with nobody driving it. Here a stand-in future is that task, still ending."""
    import concurrent.futures

    run_id = engine.create_run("ten steps", script="slow")
    assert api(server, "POST", f"api/runs/{run_id}/pause")[1]["status"] == "paused"  # nobody drives it
    made: concurrent.futures.Future = concurrent.futures.Future()
    server.loop.call_soon_threadsafe(lambda: made.set_result(server.loop.create_future()))
    ending = made.result(timeout=scaled(5))
    server.actions.tasks[run_id] = ending
    status, out = api(server, "POST", f"api/runs/{run_id}/resume")
    assert status == 200 and out["status"] == "unpaused"
    assert engine.store.run(run_id)["status"] == "paused"  # not driven yet: "its" task has not ended
    server.loop.call_soon_threadsafe(ending.set_result, None)
    wait_for(lambda: ended(engine, run_id), scaled(30), "the run to be driven once the task ended")
    assert engine.store.run(run_id)["status"] == "done"
